/**
 * Issue 18's objects in fresh namespaces, without traffic (the end-to-end
 * suites send it): a backend in mode dscp on a tunnel netfwd does not own
 * (tunnel.external), with a service on a LAN host and returnPath.sources; a
 * frontend whose peer has routes and a forward to a host behind it. Checked
 * with `ip -j`, `nft -j` and `wg show dump`; a second apply writes nothing;
 * `down` leaves the external interface, its addresses and a foreign route
 * as they were, and puts the sysctls back.
 */

import { execFileSync } from 'node:child_process';
import { forwardService, TunnelAbsentError } from '../../src/forward/index.js';
import type { BackendSpec, FrontendSpec } from '../../src/forward/spec/spec.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { e2eSkipReason, inNetns, snapshot, sysctlIn, uniqueTag, wgBackend } from '../helpers/e2e.js';
import { freshNetns, kernelTest, toolPath } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const test = e2eSkipReason() ? base.skip : base;

const ip = (ns: string, ...args: string[]) => execFileSync(toolPath('ip'), ['-n', ns, ...args], { encoding: 'utf8' });
const ipj = (ns: string, ...args: string[]): Array<Record<string, unknown>> => {
  const text = ip(ns, '-j', ...args).trim();
  return text ? JSON.parse(text) : [];
};
const nftText = (ns: string) => inNetns(ns, 'nft', ['list', 'ruleset']);

function externalBackend(ns: string, ifname: string): BackendSpec {
  return {
    role: 'backend',
    netns: ns,
    tunnel: { interface: ifname, external: true, addresses: ['10.0.0.2/24', 'fd00::2/64'] },
    returnPath: { mode: 'dscp', dscp: 42, mark: 42, table: 42, sources: ['203.0.113.192/27'] },
    services: [
      { protocol: 'tcp', port: 443, host: ['198.51.100.131', '2001:db8:100::3'] },
      { protocol: 'tcp', port: 9735 },
    ],
  };
}

test('backend, external tunnel in mode dscp: refused while the interface is missing, then rules, table, tag chain; idempotent; down leaves the interface', async (t) => {
  const ns = freshNetns(t, 'nfbx');
  const ifname = `tun${uniqueTag()}`.slice(0, 15);
  const fwd = forwardService(externalBackend(ns, ifname));
  // The interface is another program's: netfwd does not make it.
  const absent = await t.throwsAsync(() => fwd.apply(), { instanceOf: TunnelAbsentError });
  t.regex(absent.message, /does not exist: tunnel.external/);
  t.deepEqual(
    ipj(ns, 'link', 'show').map((l) => l.ifname),
    ['lo'],
    'nothing was created',
  );
  const status0 = await fwd.status();
  t.true(status0.drift[0]!.includes('does not exist'));

  // A persistent TUN device standing in for OpenVPN's tun0, with an address of its own and a foreign route through it.
  ip(ns, 'tuntap', 'add', 'dev', ifname, 'mode', 'tun');
  ip(ns, 'link', 'set', ifname, 'up');
  ip(ns, 'addr', 'add', '10.0.0.2/24', 'dev', ifname);
  ip(ns, '-6', 'addr', 'add', 'fd00::2/64', 'dev', ifname, 'nodad');
  ip(ns, 'route', 'add', '192.0.2.0/25', 'dev', ifname);
  const linkBefore = JSON.stringify(ipj(ns, '-d', 'link', 'show', ifname));
  const addrBefore = JSON.stringify(ipj(ns, 'addr', 'show', ifname));
  const forwardBefore = [sysctlIn(ns, 'net.ipv4.ip_forward'), sysctlIn(ns, 'net.ipv6.conf.all.forwarding')];
  const rpBefore = sysctlIn(ns, `net.ipv4.conf.${ifname}.rp_filter`);
  const before = snapshot(ns);

  const r1 = await fwd.apply();
  t.true(r1.plan.changes.length > 0);
  // Not the link, not its addresses, no WireGuard.
  t.false(
    r1.plan.changes.some((c) => c.kind === 'link' || c.kind === 'address' || c.kind === 'wireguard'),
    r1.plan.toString(),
  );
  t.is(JSON.stringify(ipj(ns, '-d', 'link', 'show', ifname)), linkBefore);
  t.is(JSON.stringify(ipj(ns, 'addr', 'show', ifname)), addrBefore);

  // Rules: fwmark 42 and the source network, both families (the sources only IPv4).
  const rules4 = ipj(ns, '-4', 'rule', 'show', 'table', '42');
  t.true(rules4.some((r) => r.fwmark === '0x2a' && r.priority === 100));
  t.true(rules4.some((r) => r.src === '203.0.113.192' && r.srclen === 27 && r.priority === 100));
  t.true(ipj(ns, '-6', 'rule', 'show', 'table', '42').some((r) => r.fwmark === '0x2a'));
  // Table 42: default through the external tunnel, the leak guard, the sources' own network direct.
  const routes4 = ipj(ns, '-4', 'route', 'show', 'table', '42');
  t.true(routes4.some((r) => r.dst === 'default' && r.dev === ifname && r.prefsrc === '10.0.0.2'));
  t.true(routes4.some((r) => r.dst === 'default' && r.type === 'unreachable'));
  t.true(routes4.some((r) => r.dst === '203.0.113.192/27' && r.type === 'throw'));
  // Forwarding on for the LAN host's families; loose reverse-path filter on the tunnel.
  t.is(sysctlIn(ns, 'net.ipv4.ip_forward'), '1');
  t.is(sysctlIn(ns, 'net.ipv6.conf.all.forwarding'), '1');
  t.is(sysctlIn(ns, `net.ipv4.conf.${ifname}.rp_filter`), '2');

  // nftables, as nft itself prints it.
  const text = nftText(ns);
  t.regex(text, /chain tag \{\s*type filter hook forward priority mangle; policy accept;/);
  t.regex(text, new RegExp(`iifname "${ifname}" oifname != "${ifname}" ct direction original ip dscp != 0x2a ip dscp set 0x2a`));
  t.regex(text, new RegExp(`iifname "${ifname}" oifname != "${ifname}" ct direction original ip6 dscp != 0x2a ip6 dscp set 0x2a`));
  t.regex(text, new RegExp(`oifname "${ifname}" ct mark 0x0000002a ip dscp 0x2a ip dscp set cs0`));
  t.regex(text, /ct direction reply ct mark 0x0000002a meta mark set ct mark/);
  t.regex(text, /ct direction reply ct mark 0x0000002a drop/);
  t.regex(text, new RegExp(`iifname "${ifname}" ip daddr \\. meta l4proto \\. th dport @host_services4 accept`));
  t.regex(text, /elements = \{ 198\.51\.100\.131 \. tcp \. 443 \}/);
  t.regex(text, /elements = \{ 2001:db8:100::3 \. tcp \. 443 \}/);
  t.regex(text, new RegExp(`oifname "${ifname}" ip saddr @sources4 ip saddr != 10\\.0\\.0\\.2 masquerade`));
  // The local service only in the local set.
  t.regex(text, /set services \{[^}]*elements = \{ tcp \. 9735 \}/s);

  // A second apply: nothing to do, nothing written.
  const r2 = await fwd.apply();
  t.deepEqual(r2.plan.lines(), []);
  t.is(r2.netlinkWrites, 0);
  const status = await fwd.status();
  t.deepEqual(status.drift, []);
  t.false(
    status.warnings.some((w) => w.includes('no address')),
    status.warnings.join('\n'),
  );

  // Down: the interface, its addresses and the foreign route stay; netfwd's objects go; the sysctls come back.
  await fwd.down();
  t.is(JSON.stringify(ipj(ns, '-d', 'link', 'show', ifname)), linkBefore);
  t.is(JSON.stringify(ipj(ns, 'addr', 'show', ifname)), addrBefore);
  t.deepEqual([sysctlIn(ns, 'net.ipv4.ip_forward'), sysctlIn(ns, 'net.ipv6.conf.all.forwarding')], forwardBefore);
  t.is(sysctlIn(ns, `net.ipv4.conf.${ifname}.rp_filter`), rpBefore);
  t.deepEqual(snapshot(ns), before);
});

test('frontend: peer routes in the main table and allowed IPs, a forward to a host behind the peer, containment of the routed networks; down removes the routes', async (t) => {
  const ns = freshNetns(t, 'nffr');
  const ifname = `nf${uniqueTag()}f`;
  const peerKey = publicKey(generatePrivateKey());
  const spec: FrontendSpec = {
    role: 'frontend',
    netns: ns,
    tunnel: {
      interface: ifname,
      addresses: ['10.0.0.1/24', 'fd00::1/64'],
      listenPort: 51820,
      privateKey: generatePrivateKey().toBase64(),
      peers: [{ name: 'home', publicKey: peerKey, addresses: ['10.0.0.2', 'fd00::2'], routes: ['198.51.100.128/25', '2001:db8:100::/64'] }],
    },
    public: { addresses: ['203.0.113.2', '2001:db8:2::2'] },
    forwards: [
      { protocol: 'tcp', port: 443, to: { address: ['198.51.100.131', '2001:db8:100::3'] } },
      { protocol: 'tcp', port: 9735, to: { peer: 'home' } },
    ],
  };
  const before = snapshot(ns);
  const fwd = forwardService(spec, { implementation: wgBackend() });
  await fwd.apply();
  const dump = inNetns(ns, 'wg', ['show', ifname, 'allowed-ips']).trim();
  for (const a of ['10.0.0.2/32', 'fd00::2/128', '198.51.100.128/25', '2001:db8:100::/64']) t.true(dump.includes(a), dump);
  const r4 = ipj(ns, '-4', 'route', 'show', 'table', 'main', 'proto', '233');
  t.deepEqual(
    r4.map((r) => [r.dst, r.dev]),
    [['198.51.100.128/25', ifname]],
  );
  t.deepEqual(
    ipj(ns, '-6', 'route', 'show', 'table', 'main', 'proto', '233').map((r) => [r.dst, r.dev]),
    [['2001:db8:100::/64', ifname]],
  );
  const text = nftText(ns);
  t.regex(text, /203\.0\.113\.2 \. tcp \. 443 counter packets 0 bytes 0 : 198\.51\.100\.131 \. 443/);
  t.regex(text, /2001:db8:2::2 \. tcp \. 443 counter packets 0 bytes 0 : 2001:db8:100::3 \. 443/);
  // Into the tunnel only the forwards' targets (the stats set holds the LAN host and port).
  t.regex(text, /set stats4 \{[^}]*198\.51\.100\.131 \. tcp \. 443/s);
  t.regex(text, new RegExp(`oifname != "${ifname}" ip daddr @behind4 drop`));
  t.regex(text, /set behind4 \{[^}]*elements = \{ 198\.51\.100\.128\/25 \}/s);
  const again = await fwd.apply();
  t.is(again.netlinkWrites, 0);
  t.deepEqual(again.plan.lines(), []);
  await fwd.down();
  t.deepEqual(snapshot(ns), before);
});

test('backend in mode uid: a service port that another table DNATs (Docker’s published port, iptables-nft and native nft) is warned about until returnPath.sources is set', async (t) => {
  const ns = freshNetns(t, 'nfdw');
  const ifname = `nf${uniqueTag()}b`;
  const spec: BackendSpec = {
    role: 'backend',
    netns: ns,
    tunnel: {
      interface: ifname,
      addresses: ['10.0.0.2/24'],
      privateKey: generatePrivateKey().toBase64(),
      peer: { publicKey: publicKey(generatePrivateKey()), endpoint: '192.0.2.1:51820' },
    },
    returnPath: { mode: 'uid', uids: ['1000'] },
    services: [
      { protocol: 'tcp', port: 9735 },
      { protocol: 'udp', port: 5353 },
    ],
  };
  const quiet = (await forwardService(spec).plan()).warnings;
  t.false(
    quiet.some((w) => w.includes('DNATed')),
    quiet.join('\n'),
  );
  // Docker 20.10's rule as iptables-nft writes it (an xt DNAT target), and a native one.
  inNetns(ns, 'iptables', ['-t', 'nat', '-N', 'DOCKER']);
  inNetns(ns, 'iptables', [
    '-t',
    'nat',
    '-A',
    'DOCKER',
    '!',
    '-i',
    'docker0',
    '-p',
    'tcp',
    '--dport',
    '9735',
    '-j',
    'DNAT',
    '--to-destination',
    '203.0.113.130:9735',
  ]);
  inNetns(
    ns,
    'nft',
    ['-f', '-'],
    'table ip other {\n chain pre {\n  type nat hook prerouting priority dstnat;\n  udp dport 5353 dnat to 203.0.113.131\n }\n}\n',
  );
  const warned = (await forwardService(spec).plan()).warnings.filter((w) => w.includes('DNATed'));
  t.is(warned.length, 2, warned.join('\n'));
  t.regex(warned.join('\n'), /TCP port 9735 \(a service\) is DNATed by table ip nat chain DOCKER/);
  t.regex(warned.join('\n'), /UDP port 5353 \(a service\) is DNATed by table ip other chain pre.*returnPath\.sources/);
  const covered = (await forwardService({ ...spec, returnPath: { mode: 'uid', uids: ['1000'], sources: ['203.0.113.128/25'] } }).plan())
    .warnings;
  t.false(covered.some((w) => w.includes('DNATed')));
  const connmark = (await forwardService({ ...spec, returnPath: { mode: 'connmark' } }).plan()).warnings;
  t.false(connmark.some((w) => w.includes('DNATed')));
});

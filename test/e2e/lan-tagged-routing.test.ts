/**
 * The tagged-routing recipe's LAN with real TCP connections, IPv4 and IPv6:
 *
 *              uplink (192.0.2.254, 2001:db8:200::254)       — counts what leaves the home
 *                 │ up0
 *              router (198.51.100.1, 2001:db8:100::1 on br0) — role lan-router
 *                 │ br0
 *   switch ── a bridge (br_netfilter off: it only plays a switch)
 *        │                                  │
 *   backend (198.51.100.130, 2001:db8:100::2)   service host (198.51.100.3, 2001:db8:100::3)
 *   the VPN client: tags its SYNs (DSCP 42)     role service-host, a whoami server on 8080
 *   with its own nft rule, from the internet
 *   client's address (203.0.113.10,
 *   2001:db8:300::10, on its lo)
 *
 * The backend reaches the service host directly; the service host answers the
 * client's address through its default gateway, the router. Proved with nft
 * counters in every namespace (the tests' own tables) and netfwd's status:
 * without the roles the reply leaves by the uplink; with them the SYN-ACK is
 * tagged, the router sends it to the backend and the connection completes,
 * zero packets for the client leave by the uplink — also with a foreign
 * `ct state invalid drop` table on the router, without the route to the
 * backend, and without the rule as well — and the router sends no redirect;
 * the kernel sends one as soon as either send_redirects is 1, which is why
 * the role turns both off.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import anyTest, { type TestFn } from 'ava';
import { type LanRole, lanRole } from '../../src/forward/index.js';
import { whoami } from '../../src/lab/probes.js';
import { endProcessesIn } from '../../src/lab/topology.js';
import { netns } from '../../src/netns/index.js';
import { type NetnsTask, runInNetns, startInNetns } from '../../src/netns/run-in-netns.js';
import { installCounters, readCounters, resetCounters, sysctlIn } from '../helpers/e2e.js';
import { kernelSkipReason, toolPath, uniqueNetnsName } from '../helpers/kernel.js';

const skip = kernelSkipReason(['ip', 'nft']);
if (skip) process.stderr.write(`skipping the tagged-routing LAN tests: ${skip}\n`);
// One topology for the file's tests, in order; without root (or the tools) they skip and no hook runs.
const test = (skip ? anyTest.skip : anyTest.serial) as TestFn;

const PORT = 8080;
const CLIENT = { 4: '203.0.113.10', 6: '2001:db8:300::10' } as const;
const SERVICE = { 4: '198.51.100.3', 6: '2001:db8:100::3' } as const;
const FAMILIES = [4, 6] as const;

const names = {
  sw: uniqueNetnsName('nfdscp-sw'),
  rt: uniqueNetnsName('nfdscp-rt'),
  be: uniqueNetnsName('nfdscp-be'),
  sv: uniqueNetnsName('nfdscp-sv'),
  up: uniqueNetnsName('nfdscp-up'),
};
type Host = keyof typeof names;

const ip = (host: Host, ...args: string[]) => execFileSync(toolPath('ip'), ['-n', names[host], ...args], { encoding: 'utf8' });
const nftFile = (host: Host, text: string) =>
  execFileSync(toolPath('ip'), ['netns', 'exec', names[host], toolPath('nft'), '-f', '-'], { input: text, encoding: 'utf8' });
const nft = (host: Host, ...args: string[]) =>
  execFileSync(toolPath('ip'), ['netns', 'exec', names[host], toolPath('nft'), ...args], { encoding: 'utf8' });

let server: NetnsTask<number> | undefined;
let router: LanRole;
let serviceHost: LanRole;

function build(): void {
  for (const n of Object.values(names)) netns.create(n);
  for (const h of Object.keys(names) as Host[]) {
    // Addresses usable at once: no duplicate address detection (link-local ones included).
    for (const scope of ['all', 'default']) sysctlIn(names[h], `net.ipv6.conf.${scope}.accept_dad`, '0');
    ip(h, 'link', 'set', 'lo', 'up');
  }
  // The switch: a bridge, with br_netfilter's hooks off in its namespace (this host loads br_netfilter).
  for (const key of ['bridge-nf-call-iptables', 'bridge-nf-call-ip6tables', 'bridge-nf-call-arptables'])
    if (existsSync(`/proc/sys/net/bridge/${key}`)) sysctlIn(names.sw, `net.bridge.${key}`, '0');
  ip('sw', 'link', 'add', 'lan', 'type', 'bridge');
  ip('sw', 'link', 'set', 'lan', 'up');
  const lanIf: Record<'rt' | 'be' | 'sv', string> = { rt: 'br0', be: 'eth0', sv: 'eth0' };
  for (const h of ['rt', 'be', 'sv'] as const) {
    ip('sw', 'link', 'add', `p-${h}`, 'type', 'veth', 'peer', 'name', lanIf[h], 'netns', names[h]);
    ip('sw', 'link', 'set', `p-${h}`, 'master', 'lan', 'up');
    ip(h, 'link', 'set', lanIf[h], 'up');
  }
  ip('rt', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', names.up);
  ip('rt', 'link', 'set', 'up0', 'up');
  ip('up', 'link', 'set', 'eth0', 'up');
  const addr = (h: Host, dev: string, ...cidrs: string[]) => {
    for (const c of cidrs) ip(h, 'addr', 'add', c, 'dev', dev, ...(c.includes(':') ? ['nodad'] : []));
  };
  addr('rt', 'br0', '198.51.100.1/24', '2001:db8:100::1/64');
  addr('rt', 'up0', '192.0.2.1/24', '2001:db8:200::1/64');
  addr('be', 'eth0', '198.51.100.130/24', '2001:db8:100::2/64');
  addr('be', 'lo', `${CLIENT[4]}/32`, `${CLIENT[6]}/128`);
  addr('sv', 'eth0', `${SERVICE[4]}/24`, `${SERVICE[6]}/64`);
  addr('up', 'eth0', '192.0.2.254/24', '2001:db8:200::254/64');
  ip('rt', 'route', 'add', 'default', 'via', '192.0.2.254');
  ip('rt', '-6', 'route', 'add', 'default', 'via', '2001:db8:200::254');
  for (const h of ['be', 'sv'] as const) {
    ip(h, 'route', 'add', 'default', 'via', '198.51.100.1');
    ip(h, '-6', 'route', 'add', 'default', 'via', '2001:db8:100::1');
  }
  sysctlIn(names.rt, 'net.ipv4.ip_forward', '1');
  sysctlIn(names.rt, 'net.ipv6.conf.all.forwarding', '1');
  // The backend's part, as netfwd's backend in mode dscp does it: what it sends to the service is tagged.
  nftFile(
    'be',
    `table inet tag {\n  chain out {\n    type filter hook output priority mangle; policy accept;\n` +
      `    ip daddr ${SERVICE[4]} tcp dport ${PORT} ip dscp set 42\n    ip6 daddr ${SERVICE[6]} tcp dport ${PORT} ip6 dscp set 42\n  }\n}\n`,
  );
  installCounters(names.be, 'probe', [
    { name: 'tagged4', match: `iifname "eth0" ip daddr ${CLIENT[4]} ip dscp 42`, hook: 'prerouting' },
    { name: 'tagged6', match: `iifname "eth0" ip6 daddr ${CLIENT[6]} ip6 dscp 42`, hook: 'prerouting' },
  ]);
  installCounters(names.sv, 'probe', [
    {
      name: 'synack4',
      match: `oifname "eth0" ip saddr ${SERVICE[4]} tcp flags & (syn | ack) == syn | ack ip dscp 42`,
      hook: 'postrouting',
    },
    {
      name: 'synack6',
      match: `oifname "eth0" ip6 saddr ${SERVICE[6]} tcp flags & (syn | ack) == syn | ack ip6 dscp 42`,
      hook: 'postrouting',
    },
    { name: 'untagged4', match: `oifname "eth0" ip saddr ${SERVICE[4]} tcp sport ${PORT} ip dscp != 42`, hook: 'postrouting' },
    { name: 'untagged6', match: `oifname "eth0" ip6 saddr ${SERVICE[6]} tcp sport ${PORT} ip6 dscp != 42`, hook: 'postrouting' },
  ]);
  installCounters(names.rt, 'probe', [
    { name: 'toBackend4', match: `oifname "br0" ip daddr ${CLIENT[4]} ip dscp 42`, hook: 'postrouting' },
    { name: 'toBackend6', match: `oifname "br0" ip6 daddr ${CLIENT[6]} ip6 dscp 42`, hook: 'postrouting' },
    { name: 'uplink4', match: `oifname "up0" ip daddr ${CLIENT[4]}`, hook: 'postrouting' },
    { name: 'uplink6', match: `oifname "up0" ip6 daddr ${CLIENT[6]}`, hook: 'postrouting' },
    { name: 'uplinkTagged4', match: 'oifname "up0" ip dscp 42', hook: 'postrouting' },
    { name: 'uplinkTagged6', match: 'oifname "up0" ip6 dscp 42', hook: 'postrouting' },
    { name: 'redirect4', match: 'icmp type redirect', hook: 'output-first' },
    { name: 'redirect6', match: 'icmpv6 type nd-redirect', hook: 'output-first' },
  ]);
  // The second oracle, outside the home: anything for the client that arrives there.
  installCounters(names.up, 'probe', [
    { name: 'client4', match: `ip daddr ${CLIENT[4]}`, hook: 'prerouting' },
    { name: 'client6', match: `ip6 daddr ${CLIENT[6]}`, hook: 'prerouting' },
  ]);
}

/** A TCP connection from the internet client's address (on the backend) to the service host: what the server said, or "(timeout)". */
async function connect(family: 4 | 6, timeoutMs = 2500): Promise<string> {
  return runInNetns(
    names.be,
    async (arg: { host: string; port: number; local: string; timeoutMs: number }) => {
      const net = await import('node:net');
      return new Promise<string>((resolve) => {
        const c = net.connect({ host: arg.host, port: arg.port, localAddress: arg.local });
        let data = '';
        const timer = setTimeout(() => {
          c.destroy();
          resolve('(timeout)');
        }, arg.timeoutMs);
        c.on('data', (d) => (data += d));
        c.on('end', () => {
          clearTimeout(timer);
          resolve(data.trim());
        });
        c.on('error', (err: NodeJS.ErrnoException) => {
          clearTimeout(timer);
          resolve(`(error ${err.code})`);
        });
      });
    },
    { host: SERVICE[family], port: PORT, local: CLIENT[family], timeoutMs },
  );
}

function resetAll(): void {
  for (const h of ['be', 'sv', 'rt', 'up'] as const) resetCounters(names[h], 'probe');
}

const counts = () => ({
  be: readCounters(names.be, 'probe'),
  sv: readCounters(names.sv, 'probe'),
  rt: readCounters(names.rt, 'probe'),
  up: readCounters(names.up, 'probe'),
});

if (!skip)
  anyTest.before(async () => {
    build();
    server = startInNetns(names.sv, whoami, PORT);
    await server.result;
    router = lanRole({ role: 'lan-router', interface: 'br0', via: ['198.51.100.130', '2001:db8:100::2'], netns: names.rt });
    serviceHost = lanRole({ role: 'service-host', interface: 'eth0', netns: names.sv });
  });

if (!skip)
  anyTest.after.always(async () => {
    await server?.stop();
    for (const r of [router, serviceHost]) await r?.down().catch(() => undefined);
    const all = Object.values(names);
    await endProcessesIn(all);
    for (const n of all) if (netns.exists(n)) netns.remove(n);
  });

test('without the roles, the reply takes the router’s default route and leaves by the uplink', async (t) => {
  for (const f of FAMILIES) {
    resetAll();
    t.is(await connect(f), '(timeout)');
    const c = counts();
    t.true(c.sv[`untagged${f}`]! > 0, 'the service host answers, untagged');
    t.true(c.rt[`uplink${f}`]! > 0 && c.up[`client${f}`]! > 0, `IPv${f}: the SYN-ACK leaves by the uplink`);
  }
  // The service host's role alone tags the replies, and the router leaks them tagged: the uplink counters see the tag.
  await serviceHost.apply();
  for (const f of FAMILIES) {
    resetAll();
    t.is(await connect(f), '(timeout)');
    const c = counts();
    t.true(c.sv[`synack${f}`]! > 0, `IPv${f}: the SYN-ACK is tagged`);
    t.true(c.rt[`uplinkTagged${f}`]! > 0, `IPv${f}: a tagged reply left by the uplink without the router's role`);
  }
});

test('with both roles the SYN-ACK is tagged, routed to the VPN client, the connection completes, and nothing leaves by the uplink', async (t) => {
  const applied = await router.apply();
  t.false(applied.plan.empty);
  t.is((await serviceHost.apply()).netlinkWrites, 0);
  for (const f of FAMILIES) {
    resetAll();
    t.is(await connect(f), CLIENT[f], `IPv${f}: the server saw the client's address and answered it`);
    const c = counts();
    t.true(c.sv[`synack${f}`]! > 0, `IPv${f}: the SYN-ACK left the service host tagged`);
    t.is(c.sv[`untagged${f}`], 0, `IPv${f}: every reply was tagged`);
    t.true(c.rt[`toBackend${f}`]! > 0, `IPv${f}: the router sent the tagged replies to the VPN client`);
    t.true(c.be[`tagged${f}`]! > 0, `IPv${f}: the VPN client received them`);
    t.is(c.rt[`uplink${f}`], 0);
    t.is(c.up[`client${f}`], 0);
    t.is(c.rt[`redirect${f}`], 0, `IPv${f}: no redirect from the router`);
  }
  const rs = await router.status();
  t.true(rs.counters.tagged.ipv4!.packets > 0 && rs.counters.tagged.ipv6!.packets > 0);
  t.is(rs.counters.leakDropped?.packets, 0);
  t.deepEqual(rs.drift, []);
  const ss = await serviceHost.status();
  t.true(ss.counters.tagged.ipv4!.packets > 0 && ss.counters.replies!.ipv4!.packets > 0);
  t.true(ss.counters.tagged.ipv6!.packets > 0 && ss.counters.replies!.ipv6!.packets > 0);
});

test('a router that drops ct state invalid still carries the tagged replies (they are untracked)', async (t) => {
  nftFile(
    'rt',
    'table inet fw {\n  chain forward {\n    type filter hook forward priority filter; policy accept;\n    ct state invalid counter drop\n  }\n}\n',
  );
  for (const f of FAMILIES) {
    resetAll();
    t.is(await connect(f), CLIENT[f]);
    t.is(counts().up[`client${f}`], 0);
  }
  t.regex(nft('rt', 'list', 'table', 'inet', 'fw'), /ct state invalid counter packets 0 bytes 0 drop/);
  // Without notrack the router's conntrack would call them invalid: the foreign table shows what it would do.
  nft('rt', 'delete', 'table', 'inet', 'netfwd-br0');
  resetAll();
  t.is(await connect(4), '(timeout)');
  t.regex(nft('rt', 'list', 'table', 'inet', 'fw'), /ct state invalid counter packets [1-9]\d* bytes \d+ drop/);
  t.is(counts().up.client4, 0, 'dropped as invalid; the foreign table stays for the next tests');
  t.false((await router.apply()).plan.empty, 'up puts the table back');
});

test('leak guard: without the route to the VPN client the replies fail, without the rule the forward chain drops them — none leaves by the uplink', async (t) => {
  ip('rt', '-4', 'route', 'del', 'default', 'via', '198.51.100.130', 'table', '42');
  ip('rt', '-6', 'route', 'del', 'default', 'via', '2001:db8:100::2', 'table', '42');
  for (const f of FAMILIES) {
    resetAll();
    t.is(await connect(f), '(timeout)');
    const c = counts();
    t.true(c.sv[`synack${f}`]! > 0);
    t.is(c.rt[`toBackend${f}`], 0);
    t.is(c.rt[`uplink${f}`], 0, `IPv${f}: the unreachable route, not the main table`);
    t.is(c.up[`client${f}`], 0);
  }
  ip('rt', '-4', 'rule', 'del', 'priority', '100');
  ip('rt', '-6', 'rule', 'del', 'priority', '100');
  const before = (await router.status()).counters.leakDropped!.packets;
  for (const f of FAMILIES) {
    resetAll();
    t.is(await connect(f), '(timeout)');
    const c = counts();
    t.is(c.rt[`uplink${f}`], 0, `IPv${f}: marked, routed to the uplink, dropped in forward`);
    t.is(c.up[`client${f}`], 0);
  }
  const s = await router.status();
  t.true(s.counters.leakDropped!.packets > before, 'the leak guard chain dropped them');
  t.is(s.drift.length, 4, s.drift.join('\n'));
  const repair = await router.apply();
  t.is(repair.plan.changes.length, 4);
  for (const f of FAMILIES) t.is(await connect(f), CLIENT[f]);
});

test('the kernel sends an ICMP redirect when either send_redirects is 1: the role keeps both at 0', async (t) => {
  sysctlIn(names.rt, 'net.ipv4.conf.all.send_redirects', '1'); // br0's stays 0
  resetAll();
  t.is(await connect(4), CLIENT[4]);
  t.true(counts().rt.redirect4! > 0, 'all=1, br0=0: redirected (IN_DEV_TX_REDIRECTS is the OR of the two)');
  const plan = await router.plan();
  t.deepEqual(
    plan.lines().filter((l) => l.includes('send_redirects')),
    ['~ sysctl net.ipv4.conf.all.send_redirects: 1 → 0 (no ICMP redirects for the tagged replies the router sends back into the LAN)'],
  );
  await router.apply();
  // The first redirect left an exception on the service host (its replies to the client now go to the VPN client directly): flush it.
  ip('sv', 'route', 'flush', 'cache');
  resetAll();
  t.is(await connect(4), CLIENT[4]);
  t.is(counts().rt.redirect4, 0);
  t.true(counts().rt.toBackend4! > 0, 'through the router again');
});

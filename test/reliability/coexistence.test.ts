/**
 * Coexistence with a realistic foreign setup in the same namespace:
 *   - a firewalld-style `inet` table with policy-drop base chains on input
 *     and forward (built with `nft -f`),
 *   - Docker-style chains made by Debian's iptables with the nf_tables
 *     backend (`iptables-nft`, `ip6tables-nft`): FORWARD policy drop,
 *     DOCKER, DOCKER-USER (with an xt compat match), DOCKER-ISOLATION, a
 *     MASQUERADE and a DNAT rule, and a docker0 link,
 *   - the user's own routes and rules with other protocol numbers, some of
 *     them in netfwd's own routing table 5000 and at netfwd's rule priority.
 * A frontend and a backend spec are applied and removed again and again
 * (up/down/up...): every foreign object stays byte-identical as `nft -j`,
 * `iptables-nft-save` and `ip -j -d` print it, and after each down the whole
 * namespace is what it was before the first up. Status warns about the
 * foreign drop policies that would drop what netfwd forwards or delivers;
 * plan should too.
 *
 * 3 cycles in CI, 100 with NETFWD_LONG=1 (NETFWD_CYCLES=N).
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { forwardService } from '../../src/forward/index.js';
import type { ServiceForwardSpec } from '../../src/forward/spec/spec.js';
import { netns } from '../../src/netns/index.js';
import { NETFWD_PROTOCOL } from '../../src/route/index.js';
import { kernelTest, run, uniqueNetnsName } from '../helpers/kernel.js';
import {
  backendSpec,
  count,
  figure,
  frontendSpec,
  inNetns,
  keyPair,
  removeNetns,
  snapshot,
  snapshotDiff,
  uniqueInterface,
} from './helpers.js';

const test = kernelTest(['ip', 'nft', 'wg', 'wireguard-go', 'iptables-nft', 'ip6tables-nft']);
const CLI = join(import.meta.dirname, '../../dist/cli.js');

/** A firewalld-like zone firewall, in our own words: drop by default on input and forward. */
const FIREWALLD_STYLE = `
table inet fwzone {
  set trusted_sources { type ipv4_addr; flags interval; elements = { 198.51.100.0/25 } }
  chain filter_INPUT {
    type filter hook input priority filter + 10; policy drop;
    ct state { established, related } accept
    ct state invalid drop
    iifname "lo" accept
    jump filter_INPUT_ZONES
    reject with icmpx admin-prohibited
  }
  chain filter_FORWARD {
    type filter hook forward priority filter + 10; policy drop;
    ct state { established, related } accept
    ct state invalid drop
    iifname "lo" accept
    ip saddr @trusted_sources accept
    reject with icmpx admin-prohibited
  }
  chain filter_OUTPUT {
    type filter hook output priority filter + 10; policy accept;
    oifname "lo" accept
  }
  chain filter_INPUT_ZONES {
    iifname "eth0" goto filter_IN_public
    goto filter_IN_public
  }
  chain filter_IN_public {
    meta l4proto { icmp, ipv6-icmp } accept
    tcp dport 22 ct state new,untracked accept
    udp dport 546 ip6 daddr fe80::/64 ct state new,untracked accept
  }
}
`;

const IPTABLES_NFT: string[][] = [
  ['iptables-nft', '-N', 'DOCKER'],
  ['iptables-nft', '-N', 'DOCKER-USER'],
  ['iptables-nft', '-N', 'DOCKER-ISOLATION-STAGE-1'],
  ['iptables-nft', '-P', 'FORWARD', 'DROP'],
  ['iptables-nft', '-A', 'FORWARD', '-j', 'DOCKER-USER'],
  ['iptables-nft', '-A', 'FORWARD', '-j', 'DOCKER-ISOLATION-STAGE-1'],
  ['iptables-nft', '-A', 'FORWARD', '-o', 'docker0', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT'],
  ['iptables-nft', '-A', 'FORWARD', '-o', 'docker0', '-j', 'DOCKER'],
  ['iptables-nft', '-A', 'FORWARD', '-i', 'docker0', '!', '-o', 'docker0', '-j', 'ACCEPT'],
  ['iptables-nft', '-A', 'DOCKER-ISOLATION-STAGE-1', '-j', 'RETURN'],
  // An xt compat match (no native translation): the listing must cope with it.
  ['iptables-nft', '-A', 'DOCKER-USER', '-m', 'hashlimit', '--hashlimit-above', '100/sec', '--hashlimit-name', 'user', '-j', 'DROP'],
  ['iptables-nft', '-A', 'DOCKER-USER', '-j', 'RETURN'],
  ['iptables-nft', '-t', 'nat', '-N', 'DOCKER'],
  ['iptables-nft', '-t', 'nat', '-A', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DOCKER'],
  ['iptables-nft', '-t', 'nat', '-A', 'POSTROUTING', '-s', '192.0.2.128/25', '!', '-o', 'docker0', '-j', 'MASQUERADE'],
  ['iptables-nft', '-t', 'nat', '-A', 'DOCKER', '-i', 'docker0', '-j', 'RETURN'],
  [
    'iptables-nft',
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
    '8443',
    '-j',
    'DNAT',
    '--to-destination',
    '192.0.2.130:443',
  ],
  ['ip6tables-nft', '-N', 'DOCKER'],
  ['ip6tables-nft', '-N', 'DOCKER-USER'],
  ['ip6tables-nft', '-P', 'FORWARD', 'DROP'],
  ['ip6tables-nft', '-A', 'FORWARD', '-j', 'DOCKER-USER'],
  ['ip6tables-nft', '-A', 'FORWARD', '-o', 'docker0', '-j', 'DOCKER'],
  ['ip6tables-nft', '-A', 'DOCKER-USER', '-j', 'RETURN'],
];

/** The user's own links, addresses, routes and rules: other protocol numbers, netfwd's table and priority too. */
const IP_COMMANDS: string[][] = [
  ['link', 'set', 'lo', 'up'],
  // A veth pair rather than a bridge: a bridge's timers (in `ip -d link`) move
  // by themselves. No link-local addresses, whose arrival is asynchronous.
  ['link', 'add', 'docker0', 'type', 'veth', 'peer', 'name', 'veth0c1a2b'],
  ['link', 'set', 'docker0', 'addrgenmode', 'none'],
  ['link', 'set', 'veth0c1a2b', 'addrgenmode', 'none'],
  ['link', 'set', 'veth0c1a2b', 'up'],
  ['link', 'set', 'docker0', 'up'],
  ['addr', 'add', '192.0.2.129/25', 'dev', 'docker0'],
  ['-6', 'addr', 'add', '2001:db8:d0c::1/64', 'dev', 'docker0', 'nodad'],
  ['route', 'add', '198.51.100.0/24', 'via', '192.0.2.130', 'proto', '42', 'table', '100'],
  ['route', 'add', 'blackhole', '203.0.113.128/25', 'proto', 'static', 'table', '5000'],
  ['route', 'add', 'prohibit', '198.51.100.128/25', 'proto', 'boot', 'metric', '7'],
  ['-6', 'route', 'add', '2001:db8:99::/48', 'dev', 'docker0', 'proto', '99'],
  ['-6', 'route', 'add', 'unreachable', '2001:db8:98::/48', 'proto', 'static', 'table', '5000'],
  ['rule', 'add', 'pref', '200', 'from', '192.0.2.128/25', 'lookup', '100', 'proto', '42'],
  ['rule', 'add', 'pref', '100', 'fwmark', '0x99', 'lookup', '5000', 'proto', 'static'],
  ['-6', 'rule', 'add', 'pref', '300', 'from', '2001:db8:d0c::/64', 'lookup', '100', 'proto', '99'],
];

function buildForeign(ns: string): void {
  // Docker turns forwarding on. (Were it off, netfwd's frontend would turn it on,
  // and the kernel would then add subnet-router anycast routes to every IPv6 link:
  // a documented effect of the sysctl, not a change to the foreign objects.)
  netns.sysctl(ns, 'net.ipv4.ip_forward', 1);
  netns.sysctl(ns, 'net.ipv6.conf.all.forwarding', 1);
  for (const c of IP_COMMANDS) run('ip', ['-n', ns, ...c]);
  inNetns(ns, 'nft', ['-f', '-'], { input: FIREWALLD_STYLE });
  for (const [cmd, ...args] of IPTABLES_NFT) inNetns(ns, cmd!, args);
}

/** Everything in the namespace that is not netfwd's: its table, its routes and rules (protocol 233), its links left out. */
function foreignState(ns: string, ours: readonly string[]): Record<string, string> {
  const snap = snapshot(ns);
  const notOurs = (text: string) =>
    JSON.stringify(
      (JSON.parse(text) as Array<Record<string, unknown>>).filter(
        (o) =>
          !ours.includes(String(o.ifname ?? o.dev ?? '')) &&
          String(o.protocol ?? '') !== String(NETFWD_PROTOCOL) &&
          !(o.table === '5000' && String(o.protocol) === String(NETFWD_PROTOCOL)),
      ),
    );
  const nft = (
    JSON.parse(snap.nft!) as { nftables: Array<Record<string, { table?: string; name?: string; family?: string }>> }
  ).nftables.filter((item) =>
    Object.values(item).every(
      (v) => !(v.family === 'inet' && ((v.table ?? '').startsWith('netfwd-') || (item.table && (v.name ?? '').startsWith('netfwd-')))),
    ),
  );
  const save = (cmd: string) =>
    inNetns(ns, cmd, [])
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n');
  return {
    link: notOurs(snap.link!),
    addr: notOurs(snap.addr!),
    route4: notOurs(snap.route4!),
    route6: notOurs(snap.route6!),
    rule4: notOurs(snap.rule4!),
    rule6: notOurs(snap.rule6!),
    nft: JSON.stringify(nft, null, 1),
    'iptables-nft-save': save('iptables-nft-save'),
    'ip6tables-nft-save': save('ip6tables-nft-save'),
  };
}

function setup(t: ExecutionContext) {
  const ns = uniqueNetnsName('nfrx');
  netns.create(ns);
  const keys = keyPair();
  const fwg = uniqueInterface('x');
  const bwg = uniqueInterface('y');
  t.teardown(() => removeNetns(ns, [fwg, bwg]));
  buildForeign(ns);
  const specs: ServiceForwardSpec[] = [frontendSpec(ns, fwg, keys), backendSpec(ns, bwg, keys)];
  return { ns, fwg, bwg, specs };
}

test('foreign tables, chains, routes and rules stay byte-identical through up/down cycles', async (t) => {
  const cycles = count('CYCLES', 3, 100);
  const { ns, fwg, bwg, specs } = setup(t);
  const ours = [fwg, bwg];
  const pristine = snapshot(ns, ours);
  const foreign = foreignState(ns, ours);
  t.true(foreign.nft!.includes('fwzone') && foreign.nft!.includes('DOCKER-USER') && foreign['iptables-nft-save']!.includes('MASQUERADE'));
  const fwds = specs.map((s) => forwardService(s));
  const t0 = Date.now();
  let checks = 0;
  for (let c = 1; c <= cycles; c++) {
    for (const f of fwds) await f.apply();
    const up = foreignState(ns, ours);
    const upDiff = snapshotDiff(foreign, up);
    if (upDiff) {
      t.fail(`cycle ${c}: foreign state changed after up:\n${upDiff}`);
      return;
    }
    // netfwd's own state is there, and complete.
    for (const f of fwds) {
      if (!(await f.plan()).empty) {
        t.fail(`cycle ${c}: up did not converge`);
        return;
      }
    }
    for (const f of [...fwds].reverse()) await f.down();
    const downDiff = snapshotDiff(pristine, snapshot(ns, ours));
    if (downDiff) {
      t.fail(`cycle ${c}: after down the namespace differs from before the first up:\n${downDiff}`);
      return;
    }
    checks += 2;
  }
  // ...and up once more, the last "up" of up/down/up.
  for (const f of fwds) await f.apply();
  t.is(snapshotDiff(foreign, foreignState(ns, ours)), '');
  figure(
    t,
    `coexistence: ${cycles} up/down cycles of a frontend and a backend, ${checks + 1} comparisons of the foreign state, in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
});

test('status warns about foreign policy-drop chains on the forward and input hooks (frontend) and the input hook (backend)', async (t) => {
  const { specs } = setup(t);
  const [frontend, backend] = specs.map((s) => forwardService(s));
  await frontend!.apply();
  await backend!.apply();
  const fw = (await frontend!.status()).warnings.join('\n');
  const bw = (await backend!.status()).warnings.join('\n');
  t.log(`frontend warnings:\n${fw}\nbackend warnings:\n${bw}`);
  t.regex(fw, /fwzone.*filter_FORWARD.*policy drop/);
  t.regex(fw, /ip filter.*FORWARD.*policy drop/);
  t.regex(fw, /ip6 filter.*FORWARD.*policy drop/);
  // The frontend's WireGuard port arrives on the input hook.
  t.regex(fw, /fwzone.*filter_INPUT.*policy drop\) may drop the tunnel's WireGuard packets/);
  t.regex(bw, /fwzone.*filter_INPUT.*policy drop/);
  t.notRegex(fw, /netfwd-/);
});

// `netfwd plan` warns about the foreign chains that will drop the forwarded
// traffic, as status does (text after the plan; --json: a warnings array).
test('plan warns about foreign policy-drop chains that would drop the forwarded traffic', async (t) => {
  if (!existsSync(CLI)) {
    t.fail('dist/cli.js missing (npm run build)');
    return;
  }
  const { specs } = setup(t);
  const dir = mkdtempSync(join(tmpdir(), 'netfwd-coexist-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'frontend.json');
  writeFileSync(file, JSON.stringify(specs[0]), { mode: 0o600 });
  const text = spawnSync(process.execPath, [CLI, 'plan', '-c', file], { encoding: 'utf8' });
  const json = spawnSync(process.execPath, [CLI, 'plan', '-c', file, '--json'], { encoding: 'utf8' });
  t.is(text.status, 0, text.stderr);
  t.regex(text.stdout + text.stderr, /warning.*filter_FORWARD.*policy drop/i);
  t.regex(json.stdout, /"warnings"/);
  const warnings = (JSON.parse(json.stdout) as { warnings: string[] }).warnings.join('\n');
  t.regex(warnings, /fwzone.*filter_FORWARD.*policy drop/);
  // The zone firewall's input chain drops by default too: it would drop the WireGuard port.
  t.regex(warnings, /fwzone.*filter_INPUT.*policy drop\) may drop the tunnel's WireGuard packets \(udp port 51820\)/);
});

/**
 * A backend with several tunnels (`tunnels`, one frontend each) in a fresh
 * namespace, without traffic (test/e2e/two-frontends.test.ts sends it): one
 * link, table and mark per tunnel, the replies' rules at the priority, the
 * services' own traffic one priority later into the egress tunnel's table;
 * `apply({ health: { egressTunnel } })` moves only those rules, and a plain
 * `apply` afterwards keeps them there. Checked with `ip -j`, `nft -j` and
 * `wg show dump`; a second apply writes nothing; `down` leaves nothing.
 */

import { execFileSync } from 'node:child_process';
import { EgressHealth } from '../../src/forward/health/egress.js';
import { forwardService, ServiceForward, validateSpec } from '../../src/forward/index.js';
import { openKernelIn } from '../../src/forward/plan/context.js';
import type { BackendSpec, ReturnPathSpec } from '../../src/forward/spec/spec.js';
import { Supervisor, type SupervisorEvent } from '../../src/forward/supervisor.js';
import { ConfigError } from '../../src/index.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { e2eSkipReason, inNetns, uniqueTag, wgBackend } from '../helpers/e2e.js';
import { freshNetns, kernelTest, toolPath } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const test = e2eSkipReason() ? base.skip : base;

const ipj = (ns: string, ...args: string[]): Array<Record<string, unknown>> => {
  const text = execFileSync(toolPath('ip'), ['-n', ns, '-j', '-d', ...args], { encoding: 'utf8' }).trim();
  return text ? JSON.parse(text) : [];
};

const key = () => publicKey(generatePrivateKey());

function spec(ns: string, tag: string, mode: 'uid' | 'mark' | 'connmark' | 'snat' = 'uid'): BackendSpec {
  const privateKey = generatePrivateKey().toBase64();
  const returnPath: ReturnPathSpec =
    mode === 'uid'
      ? { mode, uids: ['1000-1001'], table: 5100, priority: 300 }
      : mode === 'mark'
        ? { mode, uids: [1000], table: 5100, priority: 300 }
        : mode === 'connmark'
          ? { mode, table: 5100, priority: 300 }
          : { mode };
  return {
    role: 'backend',
    netns: ns,
    tunnels: [
      {
        interface: `wga${tag}`.slice(0, 15),
        addresses: ['10.0.1.2/24', 'fd00:1::2/64'],
        privateKey,
        peer: { publicKey: key(), endpoint: '198.51.100.1:51820' },
      },
      {
        interface: `wgb${tag}`.slice(0, 15),
        addresses: ['10.0.2.2/24'],
        privateKey,
        peer: { publicKey: key(), endpoint: '198.51.100.2:51820' },
        checkAddress: '10.0.2.254',
      },
    ],
    returnPath,
    services: [{ protocol: 'tcp', port: 8080 }],
  };
}

const rulesAt = (ns: string, family: '-4' | '-6') =>
  (
    ipj(ns, family, 'rule', 'show') as Array<{
      priority: number;
      src: string;
      srclen?: number;
      fwmark?: string;
      uid_start?: number;
      uid_end?: number;
      table: string;
    }>
  )
    .filter((r) => r.priority >= 300 && r.priority <= 301)
    .map(
      (r) =>
        `${r.priority} ${r.src !== 'all' ? `from ${r.src}/${r.srclen ?? (r.src.includes(':') ? 128 : 32)}` : ''}${r.fwmark ? `fwmark ${r.fwmark}` : ''}${r.uid_start !== undefined ? `uidrange ${r.uid_start}-${r.uid_end}` : ''} → ${r.table}`,
    );

test('several tunnels, mode uid: a link, table and mark each; egress rules follow health and stay; idempotent; down leaves nothing', async (t) => {
  const ns = freshNetns(t, 'nfbt');
  const tag = uniqueTag();
  const s = spec(ns, tag);
  const [a, b] = [s.tunnels![0]!.interface, s.tunnels![1]!.interface];
  const fwd = forwardService(s, { implementation: wgBackend() });
  const first = await fwd.apply();
  t.log(first.plan.lines().join('\n'));

  // Both links with their own peer (wg show dump: the interface line, then one line per peer).
  for (const [ifname, endpoint] of [
    [a, '198.51.100.1:51820'],
    [b, '198.51.100.2:51820'],
  ] as const) {
    const dump = inNetns(ns, 'wg', ['show', ifname, 'dump']).trim().split('\n');
    t.is(dump.length, 2, `${ifname}: one peer`);
    t.is(dump[1]!.split('\t')[2], endpoint);
  }
  t.deepEqual(
    (ipj(ns, 'addr', 'show', 'dev', b) as Array<{ addr_info: Array<{ local: string; prefixlen: number; scope: string }> }>)[0]!.addr_info
      .filter((x) => x.scope === 'global')
      .map((x) => `${x.local}/${x.prefixlen}`),
    ['10.0.2.2/24'],
  );
  // Replies: fwmark 5100 → 5100 (tunnel a), 5101 → 5101 (tunnel b); what leaves from a tunnel's own address
  // (netfwd run's check) by that tunnel's table; egress (uids) one priority later → a's table.
  const v4 = (egress: number) => [
    '300 fwmark 0x13ec → 5100',
    '300 fwmark 0x13ed → 5101',
    '300 from 10.0.1.2/32 → 5100',
    '300 from 10.0.2.2/32 → 5101',
    `301 uidrange 1000-1001 → ${egress}`,
  ];
  const v6 = (egress: number) => [
    '300 fwmark 0x13ec → 5100',
    '300 fwmark 0x13ed → 5101',
    '300 from fd00:1::2/128 → 5100',
    `301 uidrange 1000-1001 → ${egress}`,
  ];
  t.deepEqual(rulesAt(ns, '-4'), v4(5100));
  t.deepEqual(rulesAt(ns, '-6'), v6(5100));
  const routes = (table: string, family: '-4' | '-6') =>
    (ipj(ns, family, 'route', 'show', 'table', table) as Array<{ dst: string; dev?: string; type?: string; prefsrc?: string }>).map(
      (r) => `${r.type ?? 'unicast'} ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}${r.prefsrc ? ` src ${r.prefsrc}` : ''}`,
    );
  t.deepEqual(routes('5100', '-4'), [`unicast default dev ${a} src 10.0.1.2`, 'unreachable default']);
  t.deepEqual(routes('5101', '-4'), [`unicast default dev ${b} src 10.0.2.2`, 'unreachable default']);
  // Tunnel b has no IPv6: its table sends selected IPv6 nowhere (never the main table).
  t.deepEqual(routes('5101', '-6'), ['unreachable default dev lo']);

  // nftables: each tunnel marks its own new connections; a reply of one tunnel's connection leaves by no other interface.
  const ruleset = inNetns(ns, 'nft', ['list', 'ruleset']);
  t.regex(ruleset, new RegExp(`iifname "${a}" ct state new ct mark set 0x000013ec`));
  t.regex(ruleset, new RegExp(`iifname "${b}" ct state new ct mark set 0x000013ed`));
  t.regex(ruleset, new RegExp(`ct direction reply ct mark 0x000013ec oifname != "${a}" drop`));
  // This machine's own new connections leaving by a tunnel carry its mark (what the kernel sends for them later is routed by it).
  t.regex(ruleset, new RegExp(`oifname "${b}" ct state new fib saddr type local ct mark set 0x000013ed`));
  t.regex(ruleset, new RegExp(`ct direction reply ct mark 0x000013ed oifname != "${b}" drop`));
  t.regex(ruleset, new RegExp(`iifname "${b}" meta l4proto . th dport @services accept`));

  const again = await fwd.apply();
  t.true(again.plan.empty, again.plan.lines().join('\n'));
  t.is(again.netlinkWrites, 0);

  // netfwd run found tunnel a dead: the egress rules move to b — and nothing else changes.
  const moved = await fwd.apply({ health: { egressTunnel: b } });
  t.log(moved.plan.lines().join('\n'));
  t.true(
    moved.plan.steps.every((st) => st.kind === 'rule'),
    moved.plan.lines().join('\n'),
  );
  t.deepEqual(rulesAt(ns, '-4'), v4(5101));
  // status --probe asks the kernel for the selected traffic's route: by tunnel b now, which counts as through the tunnel.
  const probed = await fwd.status({ probe: true });
  const v4route = probed.probe!.egress.find((r) => r.family === 4)!;
  t.like(v4route, { interface: b, source: '10.0.2.2', table: 5101, throughTunnel: true });
  // `up` without measurements keeps what the kernel holds.
  const kept = await fwd.apply();
  t.true(kept.plan.empty, kept.plan.lines().join('\n'));
  // Back to a.
  await fwd.apply({ health: { egressTunnel: a } });
  t.deepEqual(rulesAt(ns, '-6'), v6(5100));

  // The first tunnel names the configuration: its state file and nftables table.
  t.regex(ruleset, new RegExp(`table inet netfwd-${a}`));

  await fwd.down();
  t.deepEqual(
    ipj(ns, 'link', 'show').map((l) => l.ifname),
    ['lo'],
  );
  t.deepEqual(rulesAt(ns, '-4'), []);
  t.deepEqual(routes('5100', '-4'), []);
  t.deepEqual(routes('5101', '-4'), []);
  t.is(inNetns(ns, 'nft', ['list', 'ruleset']).trim(), '');
});

test('several tunnels, mode mark: the services mark routes by the egress table, each tunnel marks its own connections', async (t) => {
  const ns = freshNetns(t, 'nfbm');
  const s = spec(ns, uniqueTag(), 'mark');
  const fwd = forwardService(s, { implementation: wgBackend() });
  await fwd.apply();
  // returnPath.mark defaults to the table (5100) and selects the services; the tunnels' marks follow it: 5101, 5102.
  t.deepEqual(rulesAt(ns, '-4'), [
    '300 fwmark 0x13ed → 5100',
    '300 fwmark 0x13ee → 5101',
    '300 from 10.0.1.2/32 → 5100',
    '300 from 10.0.2.2/32 → 5101',
    '301 fwmark 0x13ec → 5100',
  ]);
  const ruleset = inNetns(ns, 'nft', ['list', 'ruleset']);
  // The services' sockets get the egress mark; a tunnel's own connections get their mark back from conntrack first.
  t.regex(
    ruleset,
    /ct mark 0x000013ed meta mark set ct mark[\s\S]*ct mark 0x000013ee meta mark set ct mark[\s\S]*meta skuid 1000 meta mark set 0x000013ec/,
  );
  // Traffic leaving by either tunnel gets that tunnel's address.
  t.regex(ruleset, new RegExp(`oifname "${s.tunnels![1]!.interface}" ip saddr != 10.0.2.2 masquerade`));
  t.true((await fwd.apply()).plan.empty);
  await fwd.down();
  t.deepEqual(rulesAt(ns, '-4'), []);
});

test('several tunnels, validation: the spec is refused before anything is touched', (t) => {
  const s = spec('x', 'v');
  const refused = (mutate: (x: BackendSpec) => void, field: string, message: RegExp) => {
    const copy = structuredClone(s) as BackendSpec;
    mutate(copy);
    const err = t.throws(() => validateSpec(copy), { instanceOf: ConfigError });
    t.is(err.field, field, err.message);
    t.regex(err.message, message);
  };
  refused((x) => (x.tunnel = x.tunnels![0]), 'tunnels', /together with tunnel/);
  refused((x) => (x.tunnels = [x.tunnels![0]!]), 'tunnels', /2 to 8/);
  refused((x) => (x.tunnels![1]!.interface = x.tunnels![0]!.interface), 'tunnels[1].interface', /also tunnels\[0\]/);
  refused((x) => (x.tunnels![1]!.addresses = ['10.0.1.3/24']), 'tunnels[1].addresses', /overlaps tunnels\[0\]/);
  refused((x) => (x.tunnels![1]!.table = 5100), 'tunnels[1].table', /also tunnels\[0\]/);
  refused((x) => (x.tunnels![1]!.checkAddress = '10.0.9.1'), 'tunnels[1].checkAddress', /not inside/);
  refused((x) => (x.tunnels![1]!.checkAddress = '10.0.2.2'), 'tunnels[1].checkAddress', /own tunnel address/);
  refused(
    (x) => {
      x.returnPath = { mode: 'snat' };
      x.tunnels![0]!.table = 7;
    },
    'tunnels[0].table',
    /not used in mode snat/,
  );
  refused(
    (x) => {
      (x.tunnel as unknown) = { ...x.tunnels![0], table: 5 };
      delete x.tunnels;
    },
    'tunnel.table',
    /only items of tunnels/,
  );
  const mark = validateSpec(spec('x', 'w', 'mark'));
  t.deepEqual(
    mark.tunnels.map((x) => [x.table, x.mark]),
    [
      [5100, 5101],
      [5101, 5102],
    ],
  );
  t.deepEqual(mark.tunnels[0]!.checkAddress, { family: 4, address: '10.0.1.1' });
  t.deepEqual(mark.tunnels[1]!.checkAddress, { family: 4, address: '10.0.2.254' });
});

test('several tunnels under netfwd run: the egress moves to the first tunnel whose frontend answers its check, also past the repair bound; status says which answer', async (t) => {
  const ns = freshNetns(t, 'nfbs');
  const s = spec(ns, uniqueTag());
  const [a, b] = [s.tunnels![0]!.interface, s.tunnels![1]!.interface];
  // No frontends here: tunnel a's check (10.0.1.1 through wga, no handshake) gets no answer; tunnel
  // b's check address is this machine's own (on lo), which answers with a reset, like a live frontend.
  s.tunnels![1]!.checkAddress = '10.0.2.9';
  execFileSync(toolPath('ip'), ['-n', ns, 'link', 'set', 'lo', 'up']);
  execFileSync(toolPath('ip'), ['-n', ns, 'addr', 'add', '10.0.2.9/32', 'dev', 'lo']);
  const events: SupervisorEvent[] = [];
  const sup = new Supervisor(validateSpec(s), {
    implementation: wgBackend(),
    tunnelCheckMs: 500,
    tunnelCheckTimeoutMs: 300,
    // Every repair is past the bound: moving the egress is not a repair, so it still happens.
    maxRepairs: 0,
    recheckMs: 0,
    log: (e) => events.push(e),
  });
  t.teardown(() => sup.stop({ down: true }));
  await sup.start();
  await sup.ready;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && !rulesAt(ns, '-4').includes('301 uidrange 1000-1001 → 5101'))
    await new Promise((r) => setTimeout(r, 200));
  t.true(rulesAt(ns, '-4').includes('301 uidrange 1000-1001 → 5101'), `egress rules: ${rulesAt(ns, '-4').join('; ')}`);
  t.true(rulesAt(ns, '-6').includes('301 uidrange 1000-1001 → 5101'));
  t.like(events.find((e) => e.event === 'egress-moved')?.details, { to: b, reason: 'first check' });
  t.like(events.find((e) => e.event === 'tunnel-up')?.details, { interface: b });
  t.false(
    events.some((e) => e.event === 'repairs-throttled'),
    JSON.stringify(events.filter((e) => e.level !== 'debug')),
  );
  const st = await forwardService(s, { implementation: wgBackend() }).status();
  t.deepEqual(
    st.tunnels!.map((x) => [x.interface, x.check.alive, x.egress]),
    [
      [a, false, false],
      [b, true, true],
    ],
  );
  t.regex(st.tunnels![0]!.check.result, /^timeout/);
});

test('tunnel health: down at the first unanswered check, up again only after two answered ones in a row (one at start)', async (t) => {
  const ns = freshNetns(t, 'nfbh');
  const s = spec(ns, uniqueTag());
  s.tunnels![1]!.checkAddress = '10.0.2.9';
  const b = s.tunnels![1]!.interface;
  const config = validateSpec(s);
  await new ServiceForward(config, { implementation: wgBackend() }).apply();
  t.teardown(() => new ServiceForward(config, { implementation: wgBackend() }).down());
  const ip = (...args: string[]) => execFileSync(toolPath('ip'), ['-n', ns, ...args]);
  ip('link', 'set', 'lo', 'up');
  const answering = (on: boolean) => ip('addr', on ? 'add' : 'del', '10.0.2.9/32', 'dev', 'lo');
  const k = await openKernelIn(ns, { implementation: wgBackend() });
  t.teardown(() => k.close());
  if (config.role !== 'backend') throw new Error('a backend');
  const health = new EgressHealth(config, 300);
  const state = async () => {
    await health.check(k);
    return health.tunnels.get(b)!.healthy;
  };
  answering(true);
  t.true(await state(), 'at start one answer is enough');
  answering(false);
  t.false(await state(), 'down at the first unanswered check');
  t.regex(health.tunnels.get(b)!.reason, /^timeout/);
  answering(true);
  t.false(await state(), 'one answer after being down is not enough');
  t.true(await state(), 'two in a row are');
  t.is(health.egress, b, 'tunnel a never answered (no frontend): b carries the egress');
});

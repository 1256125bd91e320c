/**
 * Several targets per forward (issue 19): validation of `to` lists, `balance`
 * and `check`, and the DNAT elements the frontend's table gets for given
 * health, or — without measurements — for what the kernel holds now.
 */
import test from 'ava';
import { ConfigError } from '../../src/errors.js';
import { desiredNftables, HASH_BUCKETS } from '../../src/forward/plan/nftables-desired.js';
import { nftTableName } from '../../src/forward/plan/ownership.js';
import type { NormalizedFrontend } from '../../src/forward/spec/normalized-config.js';
import type { ForwardSpec, FrontendSpec } from '../../src/forward/spec/spec.js';
import { validateSpec } from '../../src/forward/spec/validate/index.js';
import type { NftRuleset } from '../../src/nft/index.js';
import { frontendSpec } from '../fixtures/invalid-specs/base.js';

const FACTS = { uplinks: ['eth0'], refused: { 4: [], 6: [] } };

function spec(forwards: ForwardSpec[], peers?: FrontendSpec['tunnel']['peers']): FrontendSpec {
  const s = frontendSpec();
  s.tunnel.peers[1]!.addresses = ['10.0.0.3', 'fd00::3'];
  if (peers) s.tunnel.peers = peers;
  (s.tunnel.peers[0] as { routes?: string[] }).routes = ['198.51.100.128/25'];
  s.public = { interface: 'eth0' };
  s.forwards = forwards;
  return s;
}

const frontend = (forwards: ForwardSpec[]) => validateSpec(spec(forwards)) as NormalizedFrontend;

function refused(t: import('ava').ExecutionContext, forwards: ForwardSpec[], field: string, message: RegExp): void {
  const err = t.throws(() => frontend(forwards), { instanceOf: ConfigError });
  t.is((err as ConfigError).field, field);
  t.regex(err!.message, message);
}

test('a list of targets normalises in order, with keys, names, sources and the defaults', (t) => {
  const c = frontend([
    { protocol: 'tcp+udp', port: 443, to: [{ address: '198.51.100.131', port: 8443 }, { peer: 'home' }, { peer: 'office' }] },
    { protocol: 'tcp', port: 80, to: { peer: 'office' }, balance: 'hash', check: { port: 81, intervalSeconds: 1 } },
  ]);
  const [tcp, udp, one] = c.forwards;
  t.deepEqual(
    tcp!.targets.map((x) => [x.name, x.key, x.source, x.addresses, x.ports.from, x.behindPeer]),
    [
      ['home/198.51.100.131', 'forwards[0] home/198.51.100.131', 'forwards[0].to[0]', { 4: '198.51.100.131' }, 8443, true],
      ['home', 'forwards[0] home', 'forwards[0].to[1]', { 4: '10.0.0.2' }, 443, false],
      ['office', 'forwards[0] office', 'forwards[0].to[2]', { 4: '10.0.0.3' }, 443, false],
    ],
    'the families of the first target (the host has IPv4 only)',
  );
  t.is(tcp!.balance, 'failover');
  t.is(tcp!.check, undefined);
  t.is(udp!.protocol, 'udp');
  t.deepEqual(udp!.targets, tcp!.targets, 'tcp+udp: the same targets for both');
  // The first target keeps meaning what the single-target fields always meant.
  t.is(tcp!.peer, 'home');
  t.true(tcp!.behindPeer);
  t.deepEqual(tcp!.peerAddresses, tcp!.targets[0]!.addresses);
  t.deepEqual(tcp!.targetPorts, { from: 8443, to: 8443 });
  t.is(one!.balance, 'hash');
  t.deepEqual(one!.check, { protocol: 'tcp', port: 81, intervalSeconds: 1, timeoutMs: 1000 }, 'the timeout is at most the interval');
  t.deepEqual(
    one!.targets.map((x) => x.source),
    ['forwards[1].to'],
  );
});

test('the forward has the families of its first target (and the public side); a dual-stack forward refuses a single-family target', (t) => {
  // The host behind home has IPv4 only: as the first target the forward is IPv4 only, and office's IPv6 is not used.
  const c = frontend([{ protocol: 'tcp', port: 443, to: [{ address: '198.51.100.131' }, { peer: 'office' }] }]);
  t.deepEqual(c.forwards[0]!.families, [4]);
  t.deepEqual(c.forwards[0]!.targets[1]!.addresses, { 4: '10.0.0.3' });
  refused(
    t,
    [{ protocol: 'tcp', port: 443, to: [{ peer: 'office' }, { address: '198.51.100.131' }] }],
    'forwards[0].to[1]',
    /no IPv6 address/,
  );
});

test('bad target lists, balances and checks are ConfigErrors naming the field', (t) => {
  refused(t, [{ protocol: 'tcp', port: 443, to: [] }], 'forwards[0].to', /is empty/);
  refused(
    t,
    [{ protocol: 'tcp', port: 443, to: [{ peer: 'home' }, { peer: 'nobody' }] }],
    'forwards[0].to[1].peer',
    /no peer is named "nobody"/,
  );
  refused(
    t,
    [{ protocol: 'tcp', port: 443, to: [{ peer: 'home' }, { peer: 'office' }, { peer: 'home', port: 443 }] }],
    'forwards[0].to[2]',
    /same target as forwards\[0\]\.to\[0\]/,
  );
  refused(
    t,
    [{ protocol: 'tcp', port: '80-81', to: [{ peer: 'home' }, { peer: 'office', port: 8080 }] }],
    'forwards[0].to[1].port',
    /has 1 port\(s\) but port 80-81 has 2/,
  );
  refused(t, [{ protocol: 'tcp', port: 443, to: Array.from({ length: 13 }, () => ({ peer: 'home' })) }], 'forwards[0].to', /at most 12/);
  refused(
    t,
    [{ protocol: 'tcp', port: 443, to: { peer: 'home' }, balance: 'random' as 'hash' }],
    'forwards[0].balance',
    /is not a balance/,
  );
  refused(
    t,
    [{ protocol: 'tcp', port: 443, to: { peer: 'home' }, check: { protocol: 'icmp' as 'tcp' } }],
    'forwards[0].check.protocol',
    /not tcp or udp/,
  );
  refused(
    t,
    [{ protocol: 'tcp', port: 443, to: { peer: 'home' }, check: { intervalSeconds: 0 } }],
    'forwards[0].check.intervalSeconds',
    /out of range/,
  );
  refused(
    t,
    [{ protocol: 'tcp', port: 443, to: { peer: 'home' }, check: { intervalSeconds: 1, timeoutMs: 1500 } }],
    'forwards[0].check.timeoutMs',
    /out of range/,
  );
  refused(t, [{ protocol: 'tcp', port: 443, to: { peer: 'home' }, check: { every: 3 } as never }], 'forwards[0].check.every', /.+/);
  refused(
    t,
    [{ protocol: 'tcp', port: 443, to: [{ peer: 'home' }, { peer: 'office', host: 'x' } as never] }],
    'forwards[0].to[1].host',
    /.+/,
  );
});

/** The DNAT elements (sets named dnat*) that are not empty. */
function dnat(config: NormalizedFrontend, downTargets?: string[], listed?: NftRuleset | null) {
  const d = desiredNftables(config, FACTS, { ...(downTargets ? { health: { downTargets: new Set(downTargets) } } : {}), listed });
  return Object.fromEntries([...d.elements].filter(([name, els]) => name.startsWith('dnat') && els.length > 0));
}

const two = () =>
  frontend([{ protocol: 'tcp', port: 443, address: '203.0.113.1', to: [{ peer: 'home', port: 8443 }, { peer: 'office' }] }]);

test('failover: the first healthy target; all down: the first; measured health overrides what the kernel holds', (t) => {
  const c = two();
  const home = { dnat4: [{ key: ['203.0.113.1', 'tcp', 443], data: ['10.0.0.2', 8443] }] };
  const office = { dnat4: [{ key: ['203.0.113.1', 'tcp', 443], data: ['10.0.0.3', 443] }] };
  t.deepEqual(dnat(c), home, 'no measurement, no table: the first');
  t.deepEqual(dnat(c, []), home);
  t.deepEqual(dnat(c, ['forwards[0] home']), office, 'home down: office');
  t.deepEqual(dnat(c, ['forwards[0] office']), home);
  t.deepEqual(dnat(c, ['forwards[0] home', 'forwards[0] office']), home, 'every target down: the first, never another host');
  t.deepEqual(dnat(c, [], listedWith(c, office.dnat4)), home, 'measured up again: back to the first');
});

/** netfwd's table as nft.list() would give it, with these elements in dnat4 (or `set`). */
function listedWith(c: NormalizedFrontend, elements: Array<{ key: unknown[]; data: unknown }>, set = 'dnat4'): NftRuleset {
  return {
    tables: [],
    chains: [],
    rules: [],
    sets: [{ table: nftTableName(c.tunnel.interface), name: set, elements }],
  } as unknown as NftRuleset;
}

test('without measurements (netfwd up) the target the kernel points at stays when it is still a target, else the first', (t) => {
  const c = two();
  const office = [{ key: ['203.0.113.1', 'tcp', 443], data: ['10.0.0.3', 443] }];
  t.deepEqual(dnat(c, undefined, listedWith(c, office)), { dnat4: office }, 'failed over to office: up keeps it');
  const stranger = [{ key: ['203.0.113.1', 'tcp', 443], data: ['10.0.0.9', 443] }];
  t.deepEqual(dnat(c, undefined, listedWith(c, stranger)).dnat4![0]!.data, ['10.0.0.2', 8443], 'an address that is no target: the first');
  const oldPort = [{ key: ['203.0.113.1', 'tcp', 443], data: ['10.0.0.3', 444] }];
  t.deepEqual(
    dnat(c, undefined, listedWith(c, oldPort)).dnat4![0]!.data,
    ['10.0.0.2', 8443],
    'office at a port it no longer has: the first',
  );
});

test('every target is in the stats sets, whichever is chosen (the forward chain admits DNATs to each)', (t) => {
  const d = desiredNftables(two(), FACTS, { health: { downTargets: new Set(['forwards[0] home']) } });
  t.deepEqual(d.elements.get('stats4'), [{ key: ['10.0.0.2', 'tcp', 8443] }, { key: ['10.0.0.3', 'tcp', 443] }]);
});

const hashed = (n: 2 | 3) =>
  frontend([
    {
      protocol: 'tcp',
      port: 443,
      balance: 'hash',
      to: (n === 3
        ? [{ address: '198.51.100.131' }, { peer: 'home' }, { peer: 'office' }]
        : [{ peer: 'home' }, { peer: 'office' }]) as ForwardSpec['to'],
    },
  ]);

/** The target address of each bucket of the IPv4 any-address hash map. */
function buckets(c: NormalizedFrontend, down?: string[], listed?: NftRuleset): string[] {
  const els = dnat(c, down, listed).dnat4_any_hash as Array<{ key: [string, number, number]; data: [string, number] }>;
  return els.sort((a, b) => a.key[2] - b.key[2]).map((el) => el.data[0]);
}

test('hash: bucket b goes to target b mod N; a target down gives only its buckets to the healthy ones', (t) => {
  const c = hashed(3);
  t.deepEqual(c.forwards[0]!.families, [4], 'the host behind home (the first target) has IPv4 only');
  const all = buckets(c, []);
  t.is(all.length, HASH_BUCKETS);
  t.deepEqual(
    all,
    Array.from({ length: HASH_BUCKETS }, (_, b) => ['198.51.100.131', '10.0.0.2', '10.0.0.3'][b % 3]),
  );
  const officeDown = buckets(c, ['forwards[0] office']);
  for (let b = 0; b < HASH_BUCKETS; b++) {
    if (all[b] !== '10.0.0.3') t.is(officeDown[b], all[b], `bucket ${b} of a healthy target stays`);
    else t.not(officeDown[b], '10.0.0.3', `bucket ${b} of the down target moves`);
  }
  const movedTo = officeDown.filter((_, b) => all[b] === '10.0.0.3');
  t.deepEqual([...new Set(movedTo)].sort(), ['10.0.0.2', '198.51.100.131'], 'its buckets spread over both healthy targets');
  t.deepEqual(buckets(c, ['forwards[0] home', 'forwards[0] office', 'forwards[0] home/198.51.100.131']), all, 'all down: as if all up');
  t.deepEqual(buckets(c, []), all, 'back up: each bucket home again');
});

test('hash: without measurements the buckets keep what the kernel holds; only the single-target-or-failover maps are used otherwise', (t) => {
  const c = hashed(2);
  const moved = buckets(c, ['forwards[0] home']);
  t.deepEqual(new Set(moved), new Set(['10.0.0.3']));
  const listed = listedWith(
    c,
    Array.from({ length: HASH_BUCKETS }, (_, b) => ({ key: ['tcp', 443, b], data: ['10.0.0.3', 443] })),
    'dnat4_any_hash',
  );
  t.deepEqual(buckets(c, undefined, listed), moved, 'up keeps the failed-over buckets');
  t.deepEqual(Object.keys(dnat(c)).sort(), ['dnat4_any_hash', 'dnat6_any_hash']);
  // The hash maps and their rules exist only while a forward spreads by hash.
  const d = desiredNftables(two(), FACTS);
  t.false(d.sets.some((s) => s.name.endsWith('_hash')));
  t.true(desiredNftables(c, FACTS).sets.some((s) => s.name === 'dnat4_any_hash'));
  // With one target, balance: hash changes nothing.
  const single = frontend([{ protocol: 'tcp', port: 443, balance: 'hash', to: { peer: 'home' } }]);
  t.false(desiredNftables(single, FACTS).sets.some((s) => s.name.endsWith('_hash')));
});

/**
 * rt.rules against the real kernel, each test in its own namespace, checked
 * with `ip -j -d rule` (iproute2) as the oracle, both families.
 */
import type { ExecutionContext } from 'ava';
import { NetlinkError, ValidationError } from '../../src/errors.js';
import { NETFWD_PROTOCOL, protocolName, Route, type Rule, type RuleSpec } from '../../src/route/index.js';
import { freshNetns, ipJson, kernelTest } from '../helpers/kernel.js';

const test = kernelTest(['ip']);

async function setup(t: ExecutionContext): Promise<{ ns: string; rt: Route }> {
  const ns = freshNetns(t);
  const rt = await Route.open({ netns: ns });
  t.teardown(() => rt.close());
  return { ns, rt };
}

const ipRules = (ns: string, family: 4 | 6) => ipJson<any[]>(ns, [`-${family}`, '-d', 'rule', 'show']);

const TABLE_NAMES: Record<number, string> = { 253: 'default', 254: 'main', 255: 'local' };
/** A listed rule in the shape of `ip -j -d rule` output. */
function asIp(r: Rule) {
  const out: Record<string, unknown> = { priority: r.priority };
  if (r.invert) out.not = null;
  out.src = r.from ? r.from.split('/')[0] : 'all';
  if (r.from && !r.from.endsWith(r.family === 4 ? '/32' : '/128')) out.srclen = Number(r.from.split('/')[1]);
  if (r.to) out.dst = r.to.split('/')[0];
  if (r.to && !r.to.endsWith(r.family === 4 ? '/32' : '/128')) out.dstlen = Number(r.to.split('/')[1]);
  if (r.fwmark !== undefined) out.fwmark = `0x${r.fwmark.toString(16)}`;
  if (r.fwmask !== undefined && r.fwmask !== 0xffffffff) out.fwmask = `0x${r.fwmask.toString(16)}`;
  if (r.iif) out.iif = r.iif;
  if (r.oif) out.oif = r.oif;
  if (r.uidRange) {
    out.uid_start = r.uidRange[0];
    out.uid_end = r.uidRange[1];
  }
  if (r.ipProto !== undefined) out.ipproto = r.ipProto === 6 ? 'tcp' : r.ipProto === 17 ? 'udp' : String(r.ipProto);
  if (r.destinationPorts)
    out.dport =
      r.destinationPorts[0] === r.destinationPorts[1] ? r.destinationPorts[0] : `${r.destinationPorts[0]}-${r.destinationPorts[1]}`;
  if (r.action === 'lookup') out.table = TABLE_NAMES[r.table!] ?? String(r.table);
  if (r.suppressPrefixLength !== undefined) out.suppress_prefixlen = r.suppressPrefixLength;
  if (r.action !== 'lookup') out.action = r.action;
  out.protocol = r.protocol === NETFWD_PROTOCOL ? String(NETFWD_PROTOCOL) : protocolName(r.protocol); // ip has no name for 233
  return out;
}
/** ip's rule, with keys ordered as asIp orders them. */
function ipView(j: any) {
  const keys = [
    'priority',
    'not',
    'src',
    'srclen',
    'dst',
    'dstlen',
    'fwmark',
    'fwmask',
    'iif',
    'oif',
    'uid_start',
    'uid_end',
    'ipproto',
    'dport',
    'table',
    'suppress_prefixlen',
    'action',
    'protocol',
  ];
  const out: Record<string, unknown> = {};
  for (const k of keys) if (k in j) out[k] = j[k];
  return out;
}

const rules4: RuleSpec[] = [
  { priority: 100, uidRange: [1000, 1001], table: 5000, protocol: NETFWD_PROTOCOL },
  { priority: 101, fwmark: 0x2a, table: 5000, protocol: NETFWD_PROTOCOL },
  { priority: 102, fwmark: 0x100, fwmask: 0xff00, table: 5000 },
  { priority: 103, table: 'main', suppressPrefixLength: 0, protocol: NETFWD_PROTOCOL },
  { priority: 104, table: 5000, suppressPrefixLength: 0 },
  { priority: 105, from: '192.0.2.0/24', to: '198.51.100.0/24', iif: 'lo', table: 5000 },
  { priority: 106, invert: true, from: '10.0.0.0/24', table: 5000, protocol: 'static' },
  { priority: 107, action: 'unreachable' },
  { priority: 108, action: 'blackhole', to: '203.0.113.0/24' },
  { priority: 109, action: 'prohibit', oif: 'lo' },
  { priority: 110, ipProto: 6, destinationPorts: [9735, 9735], table: 5000 },
  { priority: 111, uidRange: [0, 0], table: 100 },
];
const rules6: RuleSpec[] = [
  { priority: 100, family: 6, uidRange: [1000, 1001], table: 5000, protocol: NETFWD_PROTOCOL },
  { priority: 101, family: 6, fwmark: 0x2a, fwmask: 0xff, table: 5000 },
  { priority: 103, family: 6, table: 'main', suppressPrefixLength: 0 },
  { priority: 105, from: '2001:db8::/32', to: '2001:db8:1::/48', oif: 'lo', table: 5000, invert: true, protocol: NETFWD_PROTOCOL },
  { priority: 107, family: 6, action: 'unreachable' },
  { priority: 108, from: 'fd00::/64', action: 'prohibit' },
];

test('rules with every selector, both families, as ip shows them; removing the listed ones restores the dump', async (t) => {
  const { ns, rt } = await setup(t);
  const before4 = ipRules(ns, 4);
  const before6 = ipRules(ns, 6);
  for (const r of [...rules4, ...rules6]) await rt.rules.add(r);
  const ip4 = ipRules(ns, 4);
  const ip6 = ipRules(ns, 6);
  t.is(ip4.length, before4.length + rules4.length);
  t.is(ip6.length, before6.length + rules6.length);
  // Spot checks straight from ip.
  t.like(
    ip4.find((r) => r.priority === 100),
    { uid_start: 1000, uid_end: 1001, table: '5000', protocol: '233' },
  );
  t.like(
    ip4.find((r) => r.priority === 101),
    { fwmark: '0x2a', table: '5000' },
  );
  t.like(
    ip4.find((r) => r.priority === 103),
    { table: 'main', suppress_prefixlen: 0 },
  );
  t.like(
    ip4.find((r) => r.priority === 107),
    { action: 'unreachable' },
  );
  t.like(
    ip6.find((r) => r.priority === 105),
    { not: null, src: '2001:db8::', srclen: 32, dst: '2001:db8:1::', dstlen: 48, oif: 'lo', table: '5000' },
  );

  const listed = await rt.rules.list();
  t.deepEqual(listed.filter((r) => r.family === 4).map(asIp), ip4.map(ipView));
  t.deepEqual(listed.filter((r) => r.family === 6).map(asIp), ip6.map(ipView));
  t.deepEqual(
    await rt.rules.list({ family: 6 }),
    listed.filter((r) => r.family === 6),
  );
  const owned = await rt.rules.list({ protocol: NETFWD_PROTOCOL });
  t.deepEqual(
    owned.map((r) => `${r.family}:${r.priority}`),
    ['4:100', '4:101', '4:103', '6:100', '6:105'],
  );
  t.deepEqual(
    (await rt.rules.list({ table: 100 })).map((r) => r.priority),
    [111],
  );

  const mine = listed.filter((r) => r.priority >= 100 && r.priority < 200);
  for (const r of mine) await rt.rules.remove(r);
  t.deepEqual(ipRules(ns, 4), before4);
  t.deepEqual(ipRules(ns, 6), before6);
});

test('remove takes exactly the rule described among rules of the same priority', async (t) => {
  const { ns, rt } = await setup(t);
  await rt.rules.add({ priority: 200, fwmark: 1, table: 5000 });
  await rt.rules.add({ priority: 200, fwmark: 2, table: 5000 });
  await rt.rules.add({ priority: 200, uidRange: [5, 6], table: 5001 });
  const two = (await rt.rules.list({ family: 4 })).find((r) => r.fwmark === 2)!;
  await rt.rules.remove(two);
  t.deepEqual(
    ipRules(ns, 4)
      .filter((r) => r.priority === 200)
      .map((r) => r.fwmark ?? r.uid_start),
    ['0x1', 5],
  );
  const e = await t.throwsAsync(rt.rules.remove(two), { instanceOf: NetlinkError });
  t.is(e!.code, 'ENOENT');
  const dup = await t.throwsAsync(rt.rules.add({ priority: 200, fwmark: 1, table: 5000 }), { instanceOf: NetlinkError });
  t.is(dup!.code, 'EEXIST');
});

test('bad rules are refused before anything is sent', async (t) => {
  const { ns, rt } = await setup(t);
  const before = rt.connection.stats.messages;
  const bad: RuleSpec[] = [
    { priority: 1, table: 5000, uidRange: [2000, 1000] },
    { priority: 1, table: 0 },
    { priority: 1, table: 252 },
    { priority: 1, action: 'unreachable', table: 5000 },
    { priority: 1, table: 5000, iif: 'sixteen-bytes-xx' },
    { priority: 1, table: 5000, from: '192.0.2.0/33' },
  ];
  for (const r of bad) await t.throwsAsync(rt.rules.add(r), { instanceOf: ValidationError });
  t.is(rt.connection.stats.messages, before);
  t.false(ipRules(ns, 4).some((r) => r.priority === 1));
});

test('addMany and removeMany: 2000 rules pipelined, failures reported with their input', async (t) => {
  const { ns, rt } = await setup(t);
  const specs: RuleSpec[] = [];
  for (let i = 0; i < 1000; i++) {
    specs.push({ priority: 1000 + i, fwmark: i + 1, table: 5000, protocol: NETFWD_PROTOCOL });
    specs.push({ priority: 1000 + i, family: 6, uidRange: [i, i], table: 5000, protocol: NETFWD_PROTOCOL });
  }
  specs.push({ ...specs[10]! }); // duplicate: EEXIST
  specs.push({ priority: 5, table: 5000, uidRange: [9, 1] }); // invalid: not sent
  const report = await rt.rules.addMany(specs);
  t.is(report.applied, 2000);
  t.deepEqual(
    report.failed.map((f) => [f.index, f.error.constructor.name]),
    [
      [2000, 'NetlinkError'],
      [2001, 'ValidationError'],
    ],
  );
  t.is((report.failed[0]!.error as NetlinkError).code, 'EEXIST');
  t.is(report.failed[0]!.input, specs[2000]!);
  t.is(ipRules(ns, 4).filter((r) => r.protocol === '233').length, 1000);
  t.is(ipRules(ns, 6).filter((r) => r.protocol === '233').length, 1000);
  const owned = await rt.rules.list({ protocol: NETFWD_PROTOCOL });
  t.is(owned.length, 2000);
  const gone = await rt.rules.removeMany(owned);
  t.is(gone.applied, 2000);
  t.deepEqual(gone.failed, []);
  t.is(ipRules(ns, 4).filter((r) => r.protocol === '233').length, 0);
  t.is(ipRules(ns, 6).filter((r) => r.protocol === '233').length, 0);
});

test('policy routing works end to end: a uid rule sends a lookup to table 5000', async (t) => {
  const { ns, rt } = await setup(t);
  await rt.links.set('lo', { up: true });
  await rt.links.add({ name: 'vA', kind: 'veth', peer: { name: 'vB' }, up: true });
  await rt.links.set('vB', { up: true });
  await rt.addresses.add({ link: 'vA', address: '192.0.2.1/24' });
  await rt.routes.add({ destination: 'default', gateway: '192.0.2.254', table: 5000 });
  await rt.rules.add({ priority: 100, uidRange: [4242, 4242], table: 5000 });
  const get = (uid: string) => ipJson<any[]>(ns, ['route', 'get', '198.51.100.1', 'uid', uid])[0];
  t.is(get('4242').gateway, '192.0.2.254');
  t.throws(() => get('4243'), { message: /Network is unreachable/ }, 'other uids do not match (main has no default)');
});

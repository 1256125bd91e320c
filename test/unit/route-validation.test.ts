/**
 * Bad input is refused with a typed ValidationError naming the field, before
 * anything reaches the kernel (the API runs here on a connection stub that
 * fails the test if it is used); and what the encoders write decodes back to
 * the same values (encode → decode round trips, both families).
 */
import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import type { Connection } from '../../src/netlink/connection.js';
import { Addresses, addressAddRequest, decodeAddress, validateAddressSpec } from '../../src/route/addresses.js';
import { NETFWD_PROTOCOL } from '../../src/route/constants.js';
import {
  decodeLink,
  type LinkSpec,
  Links,
  linkAddRequest,
  linkSetRequest,
  validateLinkChange,
  validateLinkSpec,
} from '../../src/route/links.js';
import { checkMonitorKinds } from '../../src/route/monitor.js';
import { parseRtProtos, protocolName, protocolNumber } from '../../src/route/protocols.js';
import { decodeRoute, type RouteSpec, routeAddRequest, routeRemoveRequest, validateRouteSpec } from '../../src/route/route-message.js';
import { Routes } from '../../src/route/routes.js';
import { decodeRule, type RuleSpec, Rules, ruleAddRequest, validateRuleSpec } from '../../src/route/rules.js';

/** A connection that must never be used. */
function untouchable(t: { fail(m: string): void }): Connection {
  const no = (what: string) => () => {
    t.fail(`${what} was called: input reached the kernel`);
    throw new Error('unreachable');
  };
  return { request: no('request'), dump: no('dump'), dumpAll: no('dumpAll'), bulk: no('bulk') } as unknown as Connection;
}

const badRoutes: Array<[string, RouteSpec, string]> = [
  ['invalid CIDR', { destination: '192.0.2.0/33', link: 'eth0' }, 'destination'],
  ['garbage destination', { destination: 'not-a-prefix', link: 'eth0' }, 'destination'],
  ['host bits set', { destination: '192.0.2.1/24', link: 'eth0' }, 'destination'],
  ['IPv6 gateway for an IPv4 route', { destination: '198.51.100.0/24', gateway: '2001:db8::1' }, 'gateway'],
  ['IPv4 gateway for an IPv6 route', { destination: '2001:db8::/32', gateway: '192.0.2.1' }, 'gateway'],
  ['source of the wrong family', { destination: '2001:db8::/32', link: 'eth0', source: '192.0.2.1' }, 'source'],
  ['family contradicting the destination', { destination: '192.0.2.0/24', family: 6, link: 'eth0' }, 'destination'],
  ['table 0', { destination: '192.0.2.0/24', link: 'eth0', table: 0 }, 'table'],
  ['table 252 (compat)', { destination: '192.0.2.0/24', link: 'eth0', table: 252 }, 'table'],
  ['table above 2^32-1', { destination: '192.0.2.0/24', link: 'eth0', table: 2 ** 32 }, 'table'],
  ['fractional table', { destination: '192.0.2.0/24', link: 'eth0', table: 1.5 }, 'table'],
  ['link name over 15 bytes', { destination: '192.0.2.0/24', link: 'a-very-long-name0' }, 'link'],
  ['unicast without nexthop', { destination: '192.0.2.0/24' }, 'gateway'],
  ['blackhole with a gateway', { destination: '192.0.2.0/24', type: 'blackhole', gateway: '192.0.2.1' }, 'gateway'],
  ['throw with a link', { destination: '192.0.2.0/24', type: 'throw', link: 'eth0' }, 'link'],
  ['unknown type', { destination: '192.0.2.0/24', type: 'bogus' as never, link: 'eth0' }, 'type'],
  ['unknown protocol name', { destination: '192.0.2.0/24', link: 'eth0', protocol: 'nonesuch' }, 'protocol'],
  ['protocol above 255', { destination: '192.0.2.0/24', link: 'eth0', protocol: 256 }, 'protocol'],
  ['negative metric', { destination: '192.0.2.0/24', link: 'eth0', metric: -1 }, 'metric'],
  ['mtu too small', { destination: '192.0.2.0/24', link: 'eth0', mtu: 10 }, 'mtu'],
];
for (const [name, spec, field] of badRoutes) {
  test(`route validation: ${name}`, async (t) => {
    t.is(t.throws(() => validateRouteSpec(spec), { instanceOf: ValidationError })!.field, field);
    const routes = new Routes(untouchable(t), new Links(untouchable(t)));
    const e = await t.throwsAsync(routes.add(spec), { instanceOf: ValidationError });
    t.is(e!.field, field);
    t.truthy(e!.message.length > 0);
  });
}

const badRules: Array<[string, RuleSpec, string]> = [
  ['reversed uid range', { priority: 1, table: 5000, uidRange: [2000, 1000] }, 'uidRange'],
  ['uid range not a pair', { priority: 1, table: 5000, uidRange: [1] as never }, 'uidRange'],
  ['table 0', { priority: 1, table: 0 }, 'table'],
  ['table 252', { priority: 1, table: 252 }, 'table'],
  ['lookup without table', { priority: 1 }, 'table'],
  ['table on an unreachable rule', { priority: 1, action: 'unreachable', table: 5000 }, 'table'],
  ['unknown action', { priority: 1, action: 'drop' as never }, 'action'],
  ['fwmask without fwmark', { priority: 1, table: 5000, fwmask: 0xff }, 'fwmask'],
  ['fwmark too large', { priority: 1, table: 5000, fwmark: 2 ** 32 }, 'fwmark'],
  ['iif name over 15 bytes', { priority: 1, table: 5000, iif: 'sixteen-bytes-xx' }, 'iif'],
  ['oif with a slash', { priority: 1, table: 5000, oif: 'a/b' }, 'oif'],
  ['from and to of different families', { priority: 1, table: 5000, from: '192.0.2.0/24', to: '2001:db8::/32' }, 'to'],
  ['invalid CIDR', { priority: 1, table: 5000, from: '192.0.2.0/40' }, 'from'],
  ['suppress_prefixlength above 32 for IPv4', { priority: 1, table: 'main', suppressPrefixLength: 33 }, 'suppressPrefixLength'],
  ['reversed port range', { priority: 1, table: 5000, destinationPorts: [9000, 80] }, 'destinationPorts'],
  ['goto without target', { priority: 1, action: 'goto' }, 'goto'],
];
for (const [name, spec, field] of badRules) {
  test(`rule validation: ${name}`, async (t) => {
    t.is(t.throws(() => validateRuleSpec(spec), { instanceOf: ValidationError })!.field, field);
    const rules = new Rules(untouchable(t));
    t.is((await t.throwsAsync(rules.add(spec), { instanceOf: ValidationError }))!.field, field);
  });
}

const badLinks: Array<[string, LinkSpec, string]> = [
  ['name over 15 bytes', { name: 'abcdefghijklmnop', kind: 'bridge' }, 'name'],
  ['multibyte name over 15 bytes', { name: 'ééééééééé', kind: 'bridge' }, 'name'],
  ['empty name', { name: '', kind: 'bridge' }, 'name'],
  ['name with whitespace', { name: 'a b', kind: 'bridge' }, 'name'],
  ['unknown kind', { name: 'x0', kind: 'tap' as never }, 'kind'],
  ['veth without peer', { name: 'v0', kind: 'veth' } as never, 'peer'],
  ['veth peer name too long', { name: 'v0', kind: 'veth', peer: { name: 'abcdefghijklmnop' } }, 'peer.name'],
  ['veth peer with the same name', { name: 'v0', kind: 'veth', peer: { name: 'v0' } }, 'peer.name'],
  ['peer on a bridge', { name: 'b0', kind: 'bridge', peer: { name: 'x' } } as never, 'peer'],
  ['bad MAC', { name: 'b0', kind: 'bridge', address: '02:00:00:00:00' }, 'address'],
  ['mtu too small', { name: 'b0', kind: 'bridge', mtu: 20 }, 'mtu'],
  ['macvlan without parent', { name: 'm0', kind: 'macvlan' } as never, 'parent'],
];
for (const [name, spec, field] of badLinks) {
  test(`link validation: ${name}`, async (t) => {
    t.is(t.throws(() => validateLinkSpec(spec), { instanceOf: ValidationError })!.field, field);
    t.is((await t.throwsAsync(new Links(untouchable(t)).add(spec), { instanceOf: ValidationError }))!.field, field);
  });
}

test('link change validation', async (t) => {
  const links = new Links(untouchable(t));
  t.is((await t.throwsAsync(links.set('abcdefghijklmnop', { up: true }), { instanceOf: ValidationError }))!.field, 'name');
  t.is((await t.throwsAsync(links.set('eth0', { mtu: 1 }), { instanceOf: ValidationError }))!.field, 'mtu');
  t.is((await t.throwsAsync(links.set('eth0', { master: 'x'.repeat(16) }), { instanceOf: ValidationError }))!.field, 'master');
  t.is((await t.throwsAsync(links.set('eth0', { up: 'yes' as never }), { instanceOf: ValidationError }))!.field, 'up');
  t.is((await t.throwsAsync(links.set('eth0', { netns: '' }), { instanceOf: ValidationError }))!.field, 'netns');
  t.is((await t.throwsAsync(links.get('x'.repeat(16)), { instanceOf: ValidationError }))!.field, 'name');
  t.notThrows(() => validateLinkChange('eth0', { alias: null, master: null, up: false }));
});

test('address validation', async (t) => {
  const addresses = new Addresses(untouchable(t), new Links(untouchable(t)));
  const cases: Array<[Parameters<typeof validateAddressSpec>[0], string]> = [
    [{ link: 'eth0', address: '192.0.2.1/33' }, 'address'],
    [{ link: 'eth0', address: '300.0.2.1/24' }, 'address'],
    [{ link: 'eth0', address: '192.0.2.1', peer: '2001:db8::1' }, 'peer'],
    [{ link: 'x'.repeat(16), address: '192.0.2.1/24' }, 'link'],
    [{ link: 'eth0', address: '2001:db8::1/64', broadcast: '192.0.2.255' }, 'broadcast'],
    [{ link: 'eth0', address: '192.0.2.1/24', scope: 'galaxy' as never }, 'scope'],
  ];
  for (const [spec, field] of cases) {
    t.is(t.throws(() => validateAddressSpec(spec), { instanceOf: ValidationError })!.field, field);
    t.is((await t.throwsAsync(addresses.add(spec), { instanceOf: ValidationError }))!.field, field);
  }
  t.is((await t.throwsAsync(addresses.list({ family: 5 as never }), { instanceOf: ValidationError }))!.field, 'family');
});

test('bulk: invalid inputs are reported as failures and never sent', async (t) => {
  const sent: unknown[] = [];
  const conn = {
    async bulk(reqs: Iterable<unknown>) {
      for (const r of reqs) sent.push(r);
      return { sent: sent.length, failed: [] };
    },
  } as unknown as Connection;
  const routes = new Routes(conn, new Links(untouchable(t)));
  const specs: RouteSpec[] = [
    { destination: '192.0.2.0/24', type: 'blackhole', table: 5000 },
    { destination: '192.0.2.0/99', type: 'blackhole', table: 5000 },
    { destination: '198.51.100.0/24', type: 'blackhole', table: 0 },
    { destination: '203.0.113.0/24', type: 'blackhole', table: 5000 },
  ];
  const report = await routes.addMany(specs);
  t.is(sent.length, 2);
  t.is(report.total, 4);
  t.is(report.applied, 2);
  t.deepEqual(
    report.failed.map((f) => [f.index, f.input, (f.error as ValidationError).field]),
    [
      [1, specs[1], 'destination'],
      [2, specs[2], 'table'],
    ],
  );
  const rules = new Rules(conn);
  const r = await rules.addMany([{ priority: 1, table: 5000, uidRange: [5, 1] }]);
  t.is(r.failed[0]!.error.constructor, ValidationError);
});

test('monitor kinds are checked', (t) => {
  t.throws(() => checkMonitorKinds([]), { instanceOf: ValidationError });
  t.is(t.throws(() => checkMonitorKinds(['link', 'neigh']), { instanceOf: ValidationError })!.field, 'kinds[1]');
  t.deepEqual([...checkMonitorKinds(['route', 'rule'])], ['route', 'rule']);
});

test('protocols: numbers, rt_protos names, netfwd', (t) => {
  t.is(protocolNumber('static'), 4);
  t.is(protocolNumber('boot'), 3);
  t.is(protocolNumber('kernel'), 2);
  t.is(protocolNumber('netfwd'), NETFWD_PROTOCOL);
  t.is(protocolNumber(233), 233);
  t.is(protocolNumber('42'), 42);
  t.is(protocolName(4), 'static');
  t.is(protocolName(233), 'netfwd');
  t.is(protocolName(77), '77');
  const m = new Map<string, number>();
  parseRtProtos('# comment\n  200  mine # trailing\n0x10 hexy\nbad line here\n300 toolarge\n', m);
  t.deepEqual(
    [...m],
    [
      ['mine', 200],
      ['hexy', 16],
    ],
  );
});

// ---------------------------------------------------------------- round trips

const roundTripRoutes: RouteSpec[] = [
  { destination: '198.51.100.0/24', gateway: '192.0.2.254', table: 5000, metric: 7, protocol: NETFWD_PROTOCOL, mtu: 1400, advmss: 1360 },
  { destination: 'default', type: 'unreachable', table: 5000, metric: 4294967295 },
  { destination: 'default', gateway: 'fd00::1', table: 5000, onlink: true },
  { destination: '2001:db8:1::/48', gateway: '2001:db8::fe', table: 'main', source: '2001:db8::1' },
  { destination: '192.0.2.128/25', type: 'throw', table: 100, protocol: 'static' },
  { destination: '203.0.113.7', type: 'blackhole', table: 2 ** 32 - 1 },
  { destination: '2001:db8::/32', type: 'prohibit', table: 5000, scope: 'global' },
];
for (const spec of roundTripRoutes) {
  test(`round trip: route ${spec.type ?? 'unicast'} ${spec.destination} table ${spec.table}`, (t) => {
    const r = decodeRoute(routeAddRequest(spec, spec.gateway ? undefined : undefined).payload)!;
    const table = spec.table === 'main' ? 254 : (spec.table as number);
    t.is(r.table, table);
    t.is(
      r.destination,
      spec.destination === 'default' ? 'default' : spec.destination.includes('/') ? spec.destination : `${spec.destination}/32`,
    );
    t.is(r.gateway, spec.gateway);
    t.is(r.type, spec.type ?? 'unicast');
    t.is(r.metric, spec.metric);
    t.is(r.protocol, spec.protocol === undefined ? 3 : protocolNumber(spec.protocol));
    t.is(r.source, spec.source);
    t.is(r.mtu, spec.mtu);
    t.is(r.advmss, spec.advmss);
    t.is(r.onlink, spec.onlink);
    // What list() returns can be fed back in.
    t.notThrows(() => routeAddRequest(r));
    t.notThrows(() => routeRemoveRequest(r));
    t.deepEqual(decodeRoute(routeAddRequest(r).payload), r);
  });
}

const roundTripRules: RuleSpec[] = [
  { priority: 100, uidRange: [1000, 1001], table: 5000, protocol: NETFWD_PROTOCOL },
  { priority: 101, fwmark: 0x2a, fwmask: 0xff, table: 5000, family: 6 },
  { priority: 102, table: 'main', suppressPrefixLength: 0 },
  { priority: 103, invert: true, from: '2001:db8::/32', to: '2001:db8:1::/48', iif: 'lo', oif: 'wg0', table: 5000 },
  { priority: 104, action: 'blackhole' },
  { priority: 105, action: 'goto', goto: 200 },
  { priority: 106, table: 7, ipProto: 6, sourcePorts: [1000, 2000], destinationPorts: [9735, 9735], tos: 0x10 },
  { priority: 0, from: '192.0.2.0/24', table: 'local' },
];
for (const spec of roundTripRules) {
  test(`round trip: rule priority ${spec.priority}`, (t) => {
    const r = decodeRule(ruleAddRequest(spec).payload)!;
    t.is(r.priority, spec.priority!);
    t.is(r.action, spec.action ?? 'lookup');
    t.is(r.invert, spec.invert === true);
    t.deepEqual(r.uidRange, spec.uidRange);
    t.is(r.fwmark, spec.fwmark);
    t.is(r.fwmask, spec.fwmask);
    t.is(r.suppressPrefixLength, spec.suppressPrefixLength);
    t.is(r.from, spec.from);
    t.is(r.to, spec.to);
    t.is(r.iif, spec.iif);
    t.is(r.oif, spec.oif);
    t.is(r.goto, spec.goto);
    t.is(r.ipProto, spec.ipProto);
    t.deepEqual(r.sourcePorts, spec.sourcePorts);
    t.deepEqual(r.destinationPorts, spec.destinationPorts);
    t.is(r.protocol, spec.protocol === undefined ? 0 : protocolNumber(spec.protocol));
    t.is(r.family, spec.family ?? (spec.from?.includes(':') ? 6 : 4));
    t.deepEqual(decodeRule(ruleAddRequest(r).payload), r, 'a listed rule encodes back to itself');
  });
}

test('round trip: addresses', (t) => {
  const names = new Map([[3, 'vA']]);
  const a = decodeAddress(
    addressAddRequest({ link: 'vA', address: '192.0.2.1/24', broadcast: '192.0.2.255', label: 'vA:1', metric: 5 }, 3).payload,
    names,
  )!;
  t.like(a, { family: 4, link: 'vA', address: '192.0.2.1/24', broadcast: '192.0.2.255', label: 'vA:1', metric: 5, scope: 'global' });
  const p = decodeAddress(
    addressAddRequest({ link: 'vA', address: 'fd00::1', peer: 'fd00::2/128', noDad: true, noPrefixRoute: true }, 3).payload,
    names,
  )!;
  t.like(p, { family: 6, address: 'fd00::1/128', peer: 'fd00::2' });
  t.deepEqual(p.flags, ['nodad', 'noprefixroute']);
  const lo = decodeAddress(addressAddRequest({ link: 'lo', address: '127.0.0.2/8' }, 1).payload)!;
  t.is(lo.scope, 'host');
});

test('round trip: links', (t) => {
  const l = decodeLink(
    linkAddRequest({ name: 'v0', kind: 'veth', peer: { name: 'v1', mtu: 1400 }, mtu: 1420, address: '02:00:00:00:00:01', up: true })
      .payload,
  );
  t.like(l, { name: 'v0', kind: 'veth', mtu: 1420, address: '02:00:00:00:00:01', up: true });
  const m = decodeLink(linkAddRequest({ name: 'm0', kind: 'macvlan', parent: 'eth0', mode: 'private' }, { parentIndex: 2 }).payload);
  t.like(m, { kind: 'macvlan', macvlanMode: 'private', parentIndex: 2 });
  const s = decodeLink(linkSetRequest('v0', { alias: 'netfwd', master: 'br0', up: false }, { masterIndex: 9 }).payload);
  t.like(s, { name: 'v0', alias: 'netfwd', masterIndex: 9, up: false });
  t.is(decodeLink(linkSetRequest('v0', { alias: null }).payload).alias, undefined, 'a zero-length alias removes it');
});

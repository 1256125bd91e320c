/**
 * The rtnetlink request builders against the bytes iproute2 6.1 sends, and the
 * decoders against replies Linux 6.18 sent to `ip -d ... show`, compared with
 * `ip -j -d` output for the same state. All vectors are in
 * test/fixtures/route-golden.json, captured by test/fixtures/route-capture.mjs
 * (strace -e trace=sendmsg -e write=3 / -e trace=recvmsg -e read=3, in a
 * scratch namespace where lo=1, vB=2, vA=3, br0=4, ifb0=5).
 *
 * iproute2 omits NLA_F_NESTED on IFLA_LINKINFO, IFLA_INFO_DATA,
 * VETH_INFO_PEER and RTA_METRICS, while the codec always sets it: the flag is
 * cleared from our bytes before comparing, and the tests check it was there.
 */

import { readFileSync } from 'node:fs';
import test from 'ava';
import { NLM_F_ACK, NLM_F_REQUEST } from '../../src/netlink/constants.js';
import { frame, parseDatagram, type Request } from '../../src/netlink/message.js';
import { Writer } from '../../src/netlink/writer.js';
import { addressAddRequest, addressRemoveRequest, decodeAddress } from '../../src/route/addresses.js';
import * as C from '../../src/route/constants.js';
import { decodeLink, linkAddRequest, linkRemoveRequest, linkSetRequest } from '../../src/route/links.js';
import { protocolName } from '../../src/route/protocols.js';
import { decodeRoute, routeAddRequest, routeRemoveRequest } from '../../src/route/route-message.js';
import { decodeRule, ruleAddRequest, ruleRemoveRequest } from '../../src/route/rules.js';

interface Golden {
  requests: Array<{ command: string; status: number; messages: string[] }>;
  replies: Array<{ command: string; datagrams: string[]; json: any[] }>;
}
const golden = JSON.parse(readFileSync(new URL('../fixtures/route-golden.json', import.meta.url), 'utf8')) as Golden;

function captured(command: string): Buffer {
  const r = golden.requests.find((x) => x.command === command);
  if (!r || r.messages.length !== 1) throw new Error(`no single captured message for ${command}`);
  return Buffer.from(r.messages[0]!, 'hex');
}

/** Headers before the attributes, by message type. */
const HEADER_SIZE: Record<number, number> = { 16: 16, 17: 16, 20: 8, 21: 8, 24: 12, 25: 12, 32: 12, 33: 12 };

/** Clears NLA_F_NESTED in place, returning how many nests carried it. */
function clearNested(buf: Buffer, start: number, end: number, path: number[] = []): number {
  let n = 0;
  let at = start;
  while (at + 4 <= end) {
    const len = buf.readUInt16LE(at);
    const type = buf.readUInt16LE(at + 2);
    if (len < 4) break;
    if (type & 0x8000) {
      n++;
      buf.writeUInt16LE(type & 0x7fff, at + 2);
      const p = [...path, type & 0x3fff];
      // VETH_INFO_PEER (in IFLA_LINKINFO/IFLA_INFO_DATA) starts with an ifinfomsg.
      const skip = p.join('.') === '18.2.1' ? 16 : 0;
      n += clearNested(buf, at + 4 + skip, at + len, p);
    }
    at += (len + 3) & ~3;
  }
  return n;
}

/** Frames our request as the kernel would receive it, with ip's sequence number. */
function ours(req: Request, seqFrom: Buffer): { bytes: Buffer; nests: number } {
  const w = new Writer();
  frame(w, req.type, req.flags | NLM_F_REQUEST | NLM_F_ACK, seqFrom.readUInt32LE(8), req.payload);
  const bytes = w.finish();
  const nests = clearNested(bytes, 16 + HEADER_SIZE[req.type]!, bytes.length);
  return { bytes, nests };
}

const cases: Array<[command: string, build: () => Request, nests?: number]> = [
  ['ip link add vA type veth peer name vB', () => linkAddRequest({ name: 'vA', kind: 'veth', peer: { name: 'vB' } }), 3],
  ['ip link add br0 type bridge', () => linkAddRequest({ name: 'br0', kind: 'bridge' }), 1],
  ['ip link add d0 type dummy', () => linkAddRequest({ name: 'd0', kind: 'dummy' }), 1],
  ['ip link add wg0 type wireguard', () => linkAddRequest({ name: 'wg0', kind: 'wireguard' }), 1],
  ['ip link add ifb0 type ifb', () => linkAddRequest({ name: 'ifb0', kind: 'ifb' }), 1],
  // ip had the namespace open as fd 4.
  [
    'ip link add vC type veth peer name vD netns rtcap-other',
    () => linkAddRequest({ name: 'vC', kind: 'veth', peer: { name: 'vD', netns: 'rtcap-other' } }, { peerNetnsFd: 4 }),
    3,
  ],
  ['ip link set vA up', () => linkSetRequest('vA', { up: true }, { index: 3 })],
  ['ip link set vA mtu 1400', () => linkSetRequest('vA', { mtu: 1400 }, { index: 3 })],
  ['ip link set vA alias netfwd:test', () => linkSetRequest('vA', { alias: 'netfwd:test' }, { index: 3 })],
  ['ip link set vA master br0', () => linkSetRequest('vA', { master: 'br0' }, { index: 3, masterIndex: 4 })],
  ['ip link set vA nomaster', () => linkSetRequest('vA', { master: null }, { index: 3 })],
  ['ip link del ifb0', () => linkRemoveRequest('ifb0', 5)],
  ['ip address add 192.0.2.1/24 dev vA', () => addressAddRequest({ link: 'vA', address: '192.0.2.1/24' }, 3)],
  ['ip address add 2001:db8::1/64 dev vA', () => addressAddRequest({ link: 'vA', address: '2001:db8::1/64' }, 3)],
  ['ip address add 10.0.0.1 peer 10.0.0.2/32 dev vA', () => addressAddRequest({ link: 'vA', address: '10.0.0.1', peer: '10.0.0.2/32' }, 3)],
  [
    'ip address del 10.0.0.1 peer 10.0.0.2/32 dev vA',
    () => addressRemoveRequest({ link: 'vA', address: '10.0.0.1', peer: '10.0.0.2/32' }, 3),
  ],
  [
    'ip route add 198.51.100.0/24 via 192.0.2.254 table 5000',
    () => routeAddRequest({ destination: '198.51.100.0/24', gateway: '192.0.2.254', table: 5000 }),
  ],
  [
    'ip route add blackhole 203.0.113.0/24 table 5000 metric 100',
    () => routeAddRequest({ destination: '203.0.113.0/24', type: 'blackhole', table: 5000, metric: 100 }),
  ],
  [
    'ip route add unreachable default table 5000 metric 4294967295',
    () => routeAddRequest({ destination: 'default', type: 'unreachable', table: 5000, metric: 4294967295 }),
  ],
  [
    'ip route add throw 192.0.2.128/25 table 5000 proto 233',
    () => routeAddRequest({ destination: '192.0.2.128/25', type: 'throw', table: 5000, protocol: 233 }),
  ],
  [
    'ip route add 203.0.113.0/24 dev vA src 192.0.2.1',
    () => routeAddRequest({ destination: '203.0.113.0/24', link: 'vA', source: '192.0.2.1' }, 3),
  ],
  [
    'ip route replace 198.51.100.0/24 via 192.0.2.253 table 5000 mtu 1400 advmss 1360',
    () =>
      routeAddRequest({ destination: '198.51.100.0/24', gateway: '192.0.2.253', table: 5000, mtu: 1400, advmss: 1360 }, undefined, true),
    1,
  ],
  [
    'ip -6 route add 2001:db8:1::/48 via 2001:db8::fe dev vA table 5000 proto 233 metric 10',
    () =>
      routeAddRequest(
        { destination: '2001:db8:1::/48', gateway: '2001:db8::fe', link: 'vA', table: 5000, protocol: 'netfwd', metric: 10 },
        3,
      ),
  ],
  [
    'ip -6 route add prohibit 2001:db8:2::/48 table 5000',
    () => routeAddRequest({ destination: '2001:db8:2::/48', type: 'prohibit', table: 5000 }),
  ],
  ['ip route del 198.51.100.0/24 table 5000', () => routeRemoveRequest({ destination: '198.51.100.0/24', table: 5000 })],
  ['ip rule add priority 100 uidrange 1000-1001 table 5000', () => ruleAddRequest({ priority: 100, uidRange: [1000, 1001], table: 5000 })],
  [
    'ip rule add priority 101 fwmark 0x2a/0xff table 5000',
    () => ruleAddRequest({ priority: 101, fwmark: 0x2a, fwmask: 0xff, table: 5000 }),
  ],
  [
    'ip rule add priority 102 table main suppress_prefixlength 0',
    () => ruleAddRequest({ priority: 102, table: 'main', suppressPrefixLength: 0 }),
  ],
  [
    'ip -6 rule add priority 103 not from 2001:db8::/32 to 2001:db8:1::/48 iif lo oif vA table 5000 proto 233',
    () =>
      ruleAddRequest({
        priority: 103,
        invert: true,
        from: '2001:db8::/32',
        to: '2001:db8:1::/48',
        iif: 'lo',
        oif: 'vA',
        table: 5000,
        protocol: 233,
      }),
  ],
  ['ip rule add priority 104 unreachable', () => ruleAddRequest({ priority: 104, action: 'unreachable' })],
  ['ip rule add priority 105 fwmark 7 lookup 100', () => ruleAddRequest({ priority: 105, fwmark: 7, table: 100 })],
  [
    'ip rule del priority 100 uidrange 1000-1001 table 5000',
    () => ruleRemoveRequest({ priority: 100, uidRange: [1000, 1001], table: 5000 }),
  ],
];

for (const [command, build, nests = 0] of cases) {
  test(`golden: ${command}`, (t) => {
    const expected = captured(command);
    const got = ours(build(), expected);
    t.is(got.bytes.toString('hex'), expected.toString('hex'));
    t.is(got.nests, nests, 'every nest carried NLA_F_NESTED');
  });
}

test('the captured dummy and wireguard creations failed with "Unknown device type" on this kernel', (t) => {
  for (const cmd of ['ip link add d0 type dummy', 'ip link add wg0 type wireguard']) {
    const r = golden.requests.find((x) => x.command === cmd)!;
    t.not(r.status, 0);
  }
});

// ---------------------------------------------------------------- replies

function replyMessages(command: string, type: number): Buffer[] {
  const r = golden.replies.find((x) => x.command === command)!;
  const out: Buffer[] = [];
  for (const d of r.datagrams) for (const m of parseDatagram(Buffer.from(d, 'hex'))) if (m.type === type) out.push(m.data);
  return out;
}
const replyJson = (command: string) => golden.replies.find((x) => x.command === command)!.json;

test('decode: links match ip -j -d link show', (t) => {
  const links = replyMessages('ip -d link show', C.RTM_NEWLINK).map((m) => decodeLink(m));
  const names = new Map(links.map((l) => [l.index, l.name]));
  const json = replyJson('ip -d link show');
  t.is(links.length, json.length);
  for (const j of json) {
    const l = decodeLink(replyMessages('ip -d link show', C.RTM_NEWLINK).find((m) => decodeLink(m).index === j.ifindex)!, names);
    t.is(l.name, j.ifname);
    t.is(l.mtu, j.mtu);
    t.deepEqual(l.flags, j.flags);
    t.is(l.operstate.toUpperCase(), j.operstate);
    t.is(l.kind, j.linkinfo?.info_kind);
    t.is(l.slaveKind, j.linkinfo?.info_slave_kind);
    t.is(l.alias, j.ifalias);
    t.is(l.master, j.master);
    t.is(l.address, j.address);
    t.is(l.txqlen, j.txqlen);
    if (j.link) t.is(names.get(l.parentIndex!), j.link);
  }
  const vA = links.find((l) => l.name === 'vA')!;
  t.is(vA.kind, 'veth');
  t.is(vA.alias, 'netfwd:test');
  t.true(vA.up);
});

test('decode: addresses match ip -j -d address show', (t) => {
  const links = replyMessages('ip -d link show', C.RTM_NEWLINK).map((m) => decodeLink(m));
  const names = new Map(links.map((l) => [l.index, l.name]));
  const addrs = replyMessages('ip -d address show', C.RTM_NEWADDR).map((m) => decodeAddress(m, names)!);
  const expected = replyJson('ip -d address show').flatMap((l: any) => l.addr_info.map((a: any) => ({ ...a, ifname: l.ifname })));
  t.is(addrs.length, expected.length);
  for (const j of expected) {
    const a = addrs.find((x) => x.local === j.local && x.link === j.ifname)!;
    t.truthy(a, `${j.local} on ${j.ifname}`);
    t.is(a.family, j.family === 'inet' ? 4 : 6);
    t.is(a.prefixLength, j.prefixlen);
    t.is(a.peer, j.address);
    t.is(a.scope, j.scope);
    t.is(a.label, j.label);
    t.is(a.validLifetime, j.valid_life_time);
    t.is(a.flags.includes('tentative'), j.tentative === true);
  }
  t.true(addrs.some((a) => a.address === '192.0.2.1/24' && a.link === 'vA'));
  t.true(addrs.some((a) => a.address === '2001:db8::1/64'));
});

function routeLikeIp(r: ReturnType<typeof decodeRoute> & object) {
  const dst = r.destination === 'default' ? 'default' : r.destination.replace(/\/(32|128)$/, '');
  return {
    type: r.type,
    dst,
    gateway: r.gateway,
    dev: r.link,
    protocol: r.protocol === 233 ? '233' : protocolName(r.protocol), // ip has no name for 233
    scope: r.scope,
    metric: r.metric,
  };
}

test('decode: routes of table 5000 match ip -j -d route show table 5000, both families', (t) => {
  const names = new Map([
    [1, 'lo'],
    [2, 'vB'],
    [3, 'vA'],
  ]);
  for (const command of ['ip -d route show table 5000', 'ip -d -6 route show table 5000']) {
    const routes = replyMessages(command, C.RTM_NEWROUTE).map((m) => decodeRoute(m, names)!);
    for (const r of routes) t.is(r.table, 5000);
    const json = replyJson(command).map((j: any) => ({
      type: j.type,
      dst: j.dst,
      gateway: j.gateway,
      // IPv6 reports reject routes with dev lo; the decoder leaves it out.
      dev: ['unreachable', 'blackhole', 'prohibit', 'throw'].includes(j.type) ? undefined : j.dev,
      protocol: j.protocol,
      scope: j.scope,
      metric: j.metric,
    }));
    t.deepEqual(routes.map(routeLikeIp), json, command);
  }
});

test('decode: rules match ip -j -d rule show, both families', (t) => {
  const tableName = (n?: number) =>
    n === 255 ? 'local' : n === 254 ? 'main' : n === 253 ? 'default' : n === undefined ? undefined : String(n);
  for (const command of ['ip -d rule show', 'ip -d -6 rule show']) {
    const rules = replyMessages(command, C.RTM_NEWRULE).map((m) => decodeRule(m)!);
    const got = rules.map((r) => ({
      priority: r.priority,
      not: r.invert ? null : undefined,
      src: r.from ? r.from.split('/')[0] : 'all',
      srclen: r.from ? Number(r.from.split('/')[1]) : undefined,
      dst: r.to?.split('/')[0],
      dstlen: r.to ? Number(r.to.split('/')[1]) : undefined,
      iif: r.iif,
      oif: r.oif,
      fwmark: r.fwmark !== undefined ? `0x${r.fwmark.toString(16)}` : undefined,
      fwmask: r.fwmask !== undefined && r.fwmask !== 0xffffffff ? `0x${r.fwmask.toString(16)}` : undefined,
      table: r.action === 'lookup' ? tableName(r.table) : undefined,
      suppress_prefixlen: r.suppressPrefixLength,
      action: r.action === 'lookup' ? undefined : r.action,
      protocol: r.protocol === 233 ? '233' : protocolName(r.protocol), // ip has no name for 233
    }));
    const json = replyJson(command).map((j: any) => ({
      priority: j.priority,
      not: 'not' in j ? null : undefined,
      src: j.src,
      srclen: j.srclen,
      dst: j.dst,
      dstlen: j.dstlen,
      iif: j.iif,
      oif: j.oif,
      fwmark: j.fwmark,
      fwmask: j.fwmask,
      table: j.table,
      suppress_prefixlen: j.suppress_prefixlen,
      action: j.action,
      protocol: j.protocol,
    }));
    t.deepEqual(got, json, command);
  }
  const fw = replyMessages('ip -d rule show', C.RTM_NEWRULE)
    .map((m) => decodeRule(m)!)
    .find((r) => r.priority === 105)!;
  t.is(fw.fwmask, 0xffffffff, 'the kernel reports a full mask when only a mark was given');
});

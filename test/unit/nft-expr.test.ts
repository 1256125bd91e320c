/**
 * src/nft without a kernel: expression codecs both ways, the builder's
 * canonical forms and validation, transactions (input checked before
 * anything is sent, element lists split under the 64 KiB attribute limit),
 * and text rendering details.
 */
import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import { NFT_MSG_NEWRULE, NFT_MSG_NEWSETELEM } from '../../src/nft/constants.js';
import { DATATYPES, fastIPv4 } from '../../src/nft/datatype.js';
import { delinearize } from '../../src/nft/delinearize.js';
import { regSlot, slotReg } from '../../src/nft/expr/common.js';
import { type NftExpr, decodeExprs, encodeExprs, exprDebug } from '../../src/nft/expr/index.js';
import { linearize } from '../../src/nft/linearize.js';
import { locateInRule, msgType } from '../../src/nft/messages.js';
import { nftExpr as x } from '../../src/nft/builder.js';
import { elementRecords, recordsToElements } from '../../src/nft/sets/elements.js';
import { prepareElements } from '../../src/nft/sets/prepared.js';
import { durationText } from '../../src/nft/element-text.js';
import { nftRuleText, priorityText, ruleText } from '../../src/nft/text.js';
import { NftTransaction, parsePriority } from '../../src/nft/transaction.js';
import type { NftStmt } from '../../src/nft/types.js';
import { Writer } from '../../src/netlink/writer.js';

const roundTrip = (exprs: NftExpr[]) => {
  const w = new Writer();
  encodeExprs(w, exprs);
  return decodeExprs(w.finish());
};

test('every expression codec decodes what it encodes', (t) => {
  const exprs: NftExpr[] = [
    { name: 'payload', dreg: 1, base: 1, offset: 12, len: 4 },
    { name: 'payload', sreg: 1, base: 2, offset: 2, len: 2, csumType: 1, csumOffset: 16, csumFlags: 1 },
    { name: 'cmp', sreg: 1, op: 'gte', data: Buffer.from([1, 2]) },
    { name: 'bitwise', sreg: 1, dreg: 1, len: 4, mask: Buffer.from('ffffff00', 'hex'), xor: Buffer.alloc(4) },
    { name: 'bitwise', sreg: 1, dreg: 1, len: 4, op: 1, data: Buffer.from('00000004', 'hex') },
    { name: 'byteorder', sreg: 1, dreg: 1, op: 'hton', len: 4, size: 4 },
    { name: 'range', sreg: 1, op: 'neq', from: Buffer.from([0, 1]), to: Buffer.from([0, 9]) },
    { name: 'lookup', sreg: 1, set: 'ports', setId: 3, flags: 1 },
    { name: 'lookup', sreg: 1, dreg: 0, set: 'vm' },
    { name: 'immediate', dreg: 0, verdict: { code: -3, chain: 'other' } },
    { name: 'immediate', dreg: 2, data: Buffer.from([0x1f, 0x90]) },
    { name: 'meta', key: 3, sreg: 1 },
    { name: 'ct', key: 19, dreg: 1, dir: 0 },
    { name: 'socket', key: 3, dreg: 1, level: 2 },
    { name: 'rt', key: 3, dreg: 1 },
    { name: 'exthdr', dreg: 1, type: 2, offset: 2, len: 2, op: 1, flags: 0 },
    { name: 'exthdr', sreg: 1, type: 2, offset: 2, len: 2, op: 1 },
    { name: 'fib', dreg: 1, result: 1, flags: 0x29 },
    { name: 'nat', type: 'dnat', family: 2, regAddrMin: 1, regAddrMax: 2, regProtoMin: 3, regProtoMax: 4, flags: 2 },
    { name: 'masq', flags: 2, regProtoMin: 1, regProtoMax: 2 },
    { name: 'redir', regProtoMin: 1, flags: 2 },
    { name: 'counter', packets: 5n, bytes: 300n },
    { name: 'objref', objType: 1, objName: 'fw' },
    { name: 'log', prefix: 'x ', group: 2, snaplen: 64, qthreshold: 3 },
    { name: 'limit', rate: 10n, unit: 60n, burst: 5, type: 0, flags: 1 },
    { name: 'reject', type: 2, code: 3 },
    { name: 'notrack' },
    { name: 'match', xtName: 'conntrack', rev: 3, info: Buffer.from('0102', 'hex') },
    { name: 'dynset', setName: 'm', op: 1, sregKey: 1, timeout: 60000n },
    { name: 'quota', bytes: 100n, flags: 1, consumed: 5n },
    { name: 'unknown', exprName: 'numgen', data: Buffer.from('0800010000000001', 'hex') },
  ];
  t.deepEqual(roundTrip(exprs), exprs);
  for (const e of exprs) t.true(exprDebug(e).length > 0);
});

test('a known expression with attributes it cannot read is kept as opaque bytes', (t) => {
  // cmp without NFTA_CMP_DATA
  const w = new Writer();
  encodeExprs(w, [{ name: 'unknown', exprName: 'cmp', data: Buffer.from('0800010000000001', 'hex') }]);
  const [e] = decodeExprs(w.finish());
  t.like(e, { name: 'unknown', exprName: 'cmp' });
});

test('registers: 16-byte names when aligned, 32-bit names otherwise', (t) => {
  t.is(slotReg(0), 1);
  t.is(slotReg(1), 9);
  t.is(slotReg(4), 2);
  t.is(slotReg(5), 13);
  for (const reg of [1, 2, 3, 4, 8, 9, 15, 23]) t.is(slotReg(regSlot(reg)), reg === 8 ? 1 : reg === 12 ? 2 : reg);
  t.is(regSlot(0), -1);
});

test('builder values come out canonical (as decoding gives them)', (t) => {
  t.deepEqual(x.meta.l4proto.eq(6), { type: 'match', key: 'meta l4proto', op: 'eq', value: 'tcp' });
  t.deepEqual(x.meta.iifname.eq('wg0'), { type: 'match', key: 'iifname', op: 'eq', value: 'wg0' });
  t.deepEqual(x.ip.saddr.eq('10.0.0.7/24'), { type: 'match', key: 'ip saddr', op: 'eq', value: '10.0.0.0/24' });
  t.deepEqual(x.tcp.dport.eq('0x50'), { type: 'match', key: 'tcp dport', op: 'eq', value: 80 });
  t.deepEqual(x.ct.state.any('related', 'established'), { type: 'match', key: 'ct state', op: 'any', value: 'established,related' });
  t.deepEqual(x.tcp.dport.in([80]), { type: 'match', key: 'tcp dport', op: 'eq', value: 80 }, 'one element: a plain comparison, as nft does');
  t.deepEqual(x.tcp.dport.in([443, 22]).value, { elements: [{ key: 22 }, { key: 443 }] });
  t.deepEqual(x.meta.mark.set(x.ct.mark), { type: 'set', key: 'meta mark', from: 'ct mark' });
  t.deepEqual(x.dnat({ addr: '2001:db8::1' }), { type: 'nat', kind: 'dnat', family: 'ip6', addr: '2001:db8::1' });
  t.deepEqual(x.masquerade({ flags: ['persistent', 'random'] }), { type: 'masquerade', flags: ['random', 'persistent'] });
  t.deepEqual(x.log({ level: 'warn' }), { type: 'log' }, 'warn is the default level');
  t.deepEqual(x.limit({ rate: 5, per: 'second' }), { type: 'limit', rate: 5, per: 'second', burst: 5 });
});

test('the builder and the linearizer reject bad input with the path of the field', (t) => {
  t.throws(() => x.key('ip sadr').eq('1.2.3.4'), { instanceOf: ValidationError, message: /unknown selector "ip sadr"/ });
  t.throws(() => x.ip.saddr.eq('10.0.0.256'), { instanceOf: ValidationError, message: /invalid IPv4 address/ });
  t.throws(() => x.tcp.dport.eq(70000), { instanceOf: ValidationError });
  t.throws(() => x.ip.saddr.eq('10.0.0.0/33'), { instanceOf: ValidationError, message: /prefix length/ });
  t.throws(() => x.meta.mark.range(10, 1), { instanceOf: ValidationError, message: /range start is above/ });
  const err = t.throws(() => linearize([x.accept(), { type: 'match', key: 'tcp dport', op: 'lt', value: { range: [1, 2] } }], { family: 'ip' }), {
    instanceOf: ValidationError,
  });
  t.is(err!.field, 'expr[1].op');
  t.throws(() => linearize([x.dnat({ map: { key: x.tcp.dport, map: '@m' } })], { family: 'inet' }), { instanceOf: ValidationError, message: /needs a family/ });
  t.throws(() => linearize([x.tcp.dport.in('@nosuch')], { family: 'ip', set: () => undefined }), { instanceOf: ValidationError, message: /unknown set "nosuch"/ });
  t.throws(() => linearize([{ type: 'set', key: 'tcp dport', value: 1 }], { family: 'ip' }), { instanceOf: ValidationError, message: /cannot be set/ });
});

test('transaction calls check their input when made, before anything is sent', (t) => {
  const tx = new NftTransaction();
  t.throws(() => tx.addTable({ family: 'ipx' as 'ip', name: 't' }), { instanceOf: ValidationError, message: /addTable.family/ });
  t.throws(() => tx.addTable({ family: 'ip', name: 't', comment: 'x'.repeat(200) }), { instanceOf: ValidationError, message: /too long/ });
  t.throws(() => tx.addChain({ family: 'ip', table: 't', name: 'c', type: 'filter', hook: 'ingress', priority: 0 }), { message: /unknown hook "ingress" for the ip family/ });
  t.throws(() => tx.addChain({ family: 'ip', table: 't', name: 'c', type: 'filter', hook: 'input', priority: 'fliter' }), { message: /invalid priority/ });
  t.throws(() => tx.addSet({ family: 'ip', table: 't', name: 's', keyType: 'ipv4_adr' }), { message: /unknown type "ipv4_adr"/ });
  const e = t.throws(() => tx.addSet({ family: 'ip', table: 't', name: 's', keyType: 'ipv4_addr', elements: [{ key: '10.0.0.1' }, { key: '10.0.0.0/24' }] }), {
    instanceOf: ValidationError,
  });
  t.is(e!.field, 'addSet.elements[1].key');
  t.throws(() => tx.addSet({ family: 'ip', table: 't', name: 's', keyType: 'ipv4_addr', flags: ['interval'], elements: [{ key: '10.0.0.0/24' }, { key: '10.0.0.5' }] }), {
    message: /overlaps/,
  });
  t.is(tx.ops.length, 0, 'nothing was recorded');
  // Rules that use unknown sets fail when the batch is built, still before sending.
  tx.addRule({ family: 'ip', table: 't', chain: 'c', expr: [x.ip.saddr.in('@nosuch')] });
  t.throws(() => tx.build([]), { message: /addRule#0.expr\[0\]\.value\.set: unknown set "nosuch"/ });
});

test('priorities: names with offsets, both ways', (t) => {
  t.is(parsePriority('dstnat', 'ip', 'p'), -100);
  t.is(parsePriority('filter + 10', 'inet', 'p'), 10);
  t.is(parsePriority('mangle - 5', 'ip', 'p'), -155);
  t.is(parsePriority('filter', 'bridge', 'p'), -200);
  t.is(priorityText(-105, 'ip', 'prerouting'), 'dstnat - 5');
  t.is(priorityText(10, 'inet', 'forward'), 'filter + 10');
  t.is(priorityText(100, 'ip', 'postrouting'), 'srcnat');
  t.is(priorityText(-400, 'ip', 'input'), '-400');
});

test('errors name the call: the description renders the rule only when asked', (t) => {
  const tx = new NftTransaction();
  tx.addTable({ family: 'inet', name: 'netfwd' });
  const op = tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.ct.status.any('dnat'), x.accept()], comment: 'dnat' });
  t.is(op.describe, 'tx call #1 addRule: inet netfwd fw: ct status dnat accept comment "dnat"');
  const { requests } = tx.build([]);
  t.is(requests[1]!.describe, op.describe);
  t.is(requests[1]!.type, msgType(NFT_MSG_NEWRULE));
  // Extended-ACK offsets map back to expression fields.
  const payload = requests[1]!.payload;
  const at = payload.indexOf(Buffer.from('ct\0'));
  t.regex(locateInRule(payload, at) ?? '', /^expressions\[0\]\.ct$/);
});

test('long element lists are split into several messages of one batch, each under 64 KiB', (t) => {
  const tx = new NftTransaction();
  const elements = Array.from({ length: 6000 }, (_, i) => ({ key: ['203.0.113.1', 'tcp', 1000 + i] as const, data: ['10.0.0.2', 1000 + i] as const }));
  tx.addSet({ family: 'inet', table: 't', name: 'm', keyType: ['ipv4_addr', 'inet_proto', 'inet_service'], dataType: ['ipv4_addr', 'inet_service'], flags: ['interval'], elements: elements.map((e) => ({ key: [...e.key], data: [...e.data] })) });
  const op = tx.addElements({ family: 'inet', table: 't', set: 'm', elements: [{ key: ['198.51.100.1', 'udp', 53], data: ['10.0.0.3', 53] }] });
  const { requests, owners } = tx.build([]);
  const elems = requests.filter((r) => r.type === msgType(NFT_MSG_NEWSETELEM));
  t.true(elems.length >= 5, `${elems.length} messages`);
  for (const r of elems) t.true(r.payload.length < 65535 + 64);
  t.is(owners.filter((o) => o === op.index).length, 1, 'one more element: one message');
  t.regex(elems[0]!.describe!, /\[elements 0\.\.\d+\]$/);
});

test('interval sets: start and end+1 records, leading end at 0 only when created, open end flagged', (t) => {
  const shape = { name: 's', keyTypes: [DATATYPES.inet_service], keyLens: [2], flags: 4 };
  const create = elementRecords(shape, [{ key: { range: [1000, 2000] } }, { key: { range: [65000, 65535] } }], 'e', 'create');
  t.deepEqual(
    create.map((r) => [r.flags ?? 0, r.key!.toString('hex')]),
    [
      [1, '0000'],
      [0, '03e8'],
      [1, '07d1'],
      [0, 'fde8'],
    ],
  );
  t.truthy(create[3]!.userdata, 'interval reaching the maximum carries the open flag');
  const add = elementRecords(shape, [{ key: 80 }], 'e', 'add');
  t.deepEqual(add.map((r) => r.key!.toString('hex')), ['0050', '0051']);
  t.deepEqual(recordsToElements(shape, [...create].reverse()).elements, [{ key: { range: [1000, 2000] } }, { key: { range: [65000, 65535] } }]);
  // host-order types are stored in network order
  const marks = elementRecords({ name: 'm', keyTypes: [DATATYPES.mark], keyLens: [4], flags: 4 }, [{ key: { range: [1, 2] } }], 'e', 'add');
  t.is(marks[0]!.key!.toString('hex'), '00000001');
  const p = prepareElements(shape, [{ key: 22 }], 'e', 'add');
  t.is(p.count, 2);
});

test('dependencies are dropped only when linearizing re-creates them', (t) => {
  const family = 'inet';
  const round = (stmts: NftStmt[]) => delinearize(linearize(stmts, { family }), { family });
  t.deepEqual(round([x.tcp.dport.eq(22)]), [x.tcp.dport.eq(22)]);
  t.deepEqual(round([x.meta.l4proto.eq('tcp'), x.counter(), x.tcp.dport.eq(22)]), [x.meta.l4proto.eq('tcp'), x.counter(), x.tcp.dport.eq(22)]);
  t.deepEqual(round([x.meta.l4proto.eq('udp'), x.th.dport.eq(53)]), [x.udp.dport.eq(53)], 'th after l4proto udp is udp, as nft lists it');
  t.deepEqual(round([x.ip6.saddr.eq('fd00::/64'), x.tcp.dport.eq(22)]), [x.ip6.saddr.eq('fd00::/64'), x.tcp.dport.eq(22)]);
});

test('text details', (t) => {
  t.is(durationText(3600000), '1h');
  t.is(durationText(90500), '1m30s500ms');
  t.is(ruleText([x.meta.mark.masked(0xff).eq(1)], 'ip'), 'meta mark & 0x000000ff == 0x00000001');
  t.is(ruleText([x.tcp.flags.masked('syn,rst').eq('syn')], 'ip'), 'tcp flags syn / syn,rst');
  t.is(ruleText([x.ct.status.none('dnat')], 'ip'), 'ct status ! dnat');
  t.is(ruleText([x.dnat({ addr: 'fd00::2', port: 80 })], 'ip6'), 'dnat to [fd00::2]:80');
  t.is(ruleText([x.counter('fwd-9735'), x.jump('x')], 'ip'), 'counter name "fwd-9735" jump x');
  t.is(ruleText([x.limit({ rate: 2048, per: 'minute', bytes: true })], 'ip'), 'limit rate 2 kbytes/minute');
  t.is(nftRuleText({ expr: [{ type: 'raw', exprs: [{ name: 'unknown', exprName: 'numgen', data: Buffer.from('01', 'hex') }] }], family: 'ip' }), '[ numgen 0x01 ]');
  t.is(ruleText([{ type: 'match', key: 'nonsense', op: 'eq', value: 1 } as NftStmt], 'ip'), '# match: key[0]: unknown selector "nonsense" (expected nft selector text such as "ip saddr", "tcp dport", "meta mark", "ct state", "socket cgroupv2 level 2" or "@th,16,16")');
});

test('the IPv4 fast path agrees with the strict parser', (t) => {
  for (const s of ['0.0.0.0', '255.255.255.255', '10.0.0.1', '1.2.3', '01.2.3.4', '1.2.3.4.', '256.1.1.1', '1..2.3', '']) {
    const fast = fastIPv4(s);
    let strict: Buffer | undefined;
    try {
      strict = DATATYPES.ipv4_addr.parse(s, 'a');
    } catch {
      strict = undefined;
    }
    if (fast) t.deepEqual(fast, strict, s);
    else t.true(strict === undefined || s === '', s);
  }
});

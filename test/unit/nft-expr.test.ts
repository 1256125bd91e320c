/**
 * src/nft/expr without a kernel: every expression codec both ways, opaque
 * bytes for what a codec cannot read, and register numbering.
 */
import test from 'ava';
import { Writer } from '../../src/netlink/writer.js';
import { regSlot, slotReg } from '../../src/nft/expr/common.js';
import { decodeExprs, encodeExprs, exprDebug, type NftExpr } from '../../src/nft/expr/index.js';

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

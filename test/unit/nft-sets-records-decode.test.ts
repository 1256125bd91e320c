/**
 * src/nft/sets/records.ts: element records decode the same whether a value nest is read in
 * place (the usual single NFTA_DATA_VALUE) or through the schema (anything else), and a
 * per-element counter is recognised by its name compared in place.
 */
import test from 'ava';
import { NLA_F_NESTED } from '../../src/netlink/constants.js';
import { Writer } from '../../src/netlink/writer.js';
import { decodeElemRecords, type ElemRecord, NFTA_SET_ELEM, writeElemRecord } from '../../src/nft/sets/records.js';
import { rng as seededRandom } from '../helpers/random.js';

/** The shared xorshift32 (test/helpers/random.ts) as raw 32-bit values: the test must not depend on luck. */
const rng = (seed: number): (() => number) => {
  const r = seededRandom(seed);
  return () => r(0x100000000);
};

const bytes = (next: () => number, n: number) => Buffer.from(Array.from({ length: n }, () => next() & 0xff));

test('keys, key ends and data of every length from 1 to 20 bytes round-trip (padding included)', (t) => {
  const next = rng(3);
  const records: ElemRecord[] = [];
  for (let len = 1; len <= 20; len++) {
    records.push({ key: bytes(next, len) });
    records.push({ key: bytes(next, len), data: bytes(next, (len % 7) + 1) });
    records.push({ key: bytes(next, len), keyEnd: bytes(next, len), flags: 1 });
  }
  records.push({ key: bytes(next, 4), verdict: { code: -3, chain: 'target' } });
  records.push({ key: bytes(next, 2), verdict: { code: 1 } });
  const w = new Writer(64);
  records.forEach((r, i) => writeElemRecord(w, r, i + 1));
  t.deepEqual(decodeElemRecords(w.finish()), records);
});

/** An NFTA_DATA nest built by hand from `inner` attributes: [type, bytes]. */
function nest(w: Writer, type: number, inner: Array<[number, Buffer]>): void {
  const a = w.beginAttr(type | NLA_F_NESTED);
  for (const [t, b] of inner) {
    const x = w.beginAttr(t);
    w.bytes(b);
    w.endAttr(x);
  }
  w.endAttr(a);
}

test('a value nest that is not one plain NFTA_DATA_VALUE goes through the schema: same value, or its error', (t) => {
  const value = Buffer.from([10, 0, 0, 2]);
  // The value flagged (net byte order bit) and followed by an unknown attribute: the schema reads the value.
  const w = new Writer(64);
  const el = w.beginAttr(1 | NLA_F_NESTED);
  nest(w, NFTA_SET_ELEM.key, [
    [1 | 0x4000, value],
    [9, Buffer.from([1, 2, 3, 4])],
  ]);
  w.endAttr(el);
  t.deepEqual(decodeElemRecords(w.finish()), [{ key: value }]);
  // A verdict without a code is still refused by the schema path.
  const v = new Writer(64);
  const el2 = v.beginAttr(1 | NLA_F_NESTED);
  nest(v, NFTA_SET_ELEM.key, [[1, value]]);
  const d = v.beginAttr(NFTA_SET_ELEM.data | NLA_F_NESTED);
  const verdict = v.beginAttr(2 | NLA_F_NESTED);
  v.endAttr(verdict);
  v.endAttr(d);
  v.endAttr(el2);
  t.throws(() => decodeElemRecords(v.finish()), { message: /verdict without a code/ });
});

/** One element with a key and an NFTA_SET_ELEM_EXPR of expression `name` carrying bytes and packets. */
function withExpr(name: Buffer): Buffer {
  const w = new Writer(128);
  const el = w.beginAttr(1 | NLA_F_NESTED);
  nest(w, NFTA_SET_ELEM.key, [[1, Buffer.from([0, 80])]]);
  const expr = w.beginAttr(NFTA_SET_ELEM.expr | NLA_F_NESTED);
  const n = w.beginAttr(1);
  w.bytes(name);
  w.endAttr(n);
  const data = w.beginAttr(2 | NLA_F_NESTED);
  const b = w.beginAttr(1);
  w.be64(2n ** 40n + 5n);
  w.endAttr(b);
  const p = w.beginAttr(2);
  w.be64(7n);
  w.endAttr(p);
  w.endAttr(data);
  w.endAttr(expr);
  w.endAttr(el);
  return w.finish();
}

test('counters: "counter" with or without its NUL is a counter; other names and prefixes are not', (t) => {
  const counter = { packets: 7, bytes: 2 ** 40 + 5 };
  t.deepEqual(decodeElemRecords(withExpr(Buffer.from('counter\0', 'latin1')))[0]!.counter, counter);
  t.deepEqual(decodeElemRecords(withExpr(Buffer.from('counter', 'latin1')))[0]!.counter, counter);
  t.deepEqual(decodeElemRecords(withExpr(Buffer.from('counter\0junk', 'latin1')))[0]!.counter, counter);
  for (const other of ['counters\0', 'count\0', 'quota\0', 'Counter\0', 'counte'])
    t.is(decodeElemRecords(withExpr(Buffer.from(other, 'latin1')))[0]!.counter, undefined, other);
});

/** Set elements on the wire: the kernel's element record (NFTA_SET_ELEM_*), written in libnftnl's order and decoded. */
import { DecodeError } from '../../errors.js';
import { walkAttributes } from '../../netlink/attributes.js';
import { NLA_F_NESTED } from '../../netlink/constants.js';
import type { Writer } from '../../netlink/writer.js';
import { dataAttrs } from '../expr/common.js';

export const NFTA_SET_ELEM = {
  key: 1,
  data: 2,
  flags: 3,
  timeout: 4,
  expiration: 5,
  userdata: 6,
  expr: 7,
  objref: 9,
  keyEnd: 10,
  expressions: 11,
} as const;

/** One kernel element. */
export interface ElemRecord {
  flags?: number;
  timeout?: bigint;
  expiration?: bigint;
  key?: Buffer;
  keyEnd?: Buffer;
  data?: Buffer;
  verdict?: { code: number; chain?: string };
  userdata?: Buffer;
  /** Decoded from per-element counter expressions. */
  counter?: { packets: number; bytes: number };
}

/** An NFTA_DATA nest holding `value` as attribute `type`. */
export function writeData(w: Writer, type: number, value: Buffer): void {
  const a = w.beginAttr(type | NLA_F_NESTED);
  const v = w.beginAttr(1);
  w.bytes(value);
  w.endAttr(v);
  w.endAttr(a);
}

/**
 * Writes one element nest in libnftnl's attribute order. libnftnl numbers the
 * nests 1, 2, 3, ... within a message (the kernel ignores the number).
 */
export function writeElemRecord(w: Writer, r: ElemRecord, n = 1): void {
  const el = w.beginAttr((n & 0x3fff) | NLA_F_NESTED);
  writeElemInner(w, r);
  w.endAttr(el);
}

/** The attributes of one element (inside its nest). */
export function writeElemInner(w: Writer, r: ElemRecord): void {
  if (r.flags !== undefined) {
    const a = w.beginAttr(NFTA_SET_ELEM.flags);
    w.be32(r.flags);
    w.endAttr(a);
  }
  if (r.timeout !== undefined) {
    const a = w.beginAttr(NFTA_SET_ELEM.timeout);
    w.be64(r.timeout);
    w.endAttr(a);
  }
  if (r.key) writeData(w, NFTA_SET_ELEM.key, r.key);
  if (r.keyEnd) writeData(w, NFTA_SET_ELEM.keyEnd, r.keyEnd);
  if (r.data) writeData(w, NFTA_SET_ELEM.data, r.data);
  else if (r.verdict) {
    const d = w.beginAttr(NFTA_SET_ELEM.data | NLA_F_NESTED);
    dataAttrs.encode(w, { verdict: r.verdict });
    w.endAttr(d);
  }
  if (r.userdata) {
    const a = w.beginAttr(NFTA_SET_ELEM.userdata);
    w.bytes(r.userdata);
    w.endAttr(a);
  }
}

/** NFTA_DATA_VALUE, unflagged: the attribute type of a plain value inside an NFTA_DATA nest. */
const NFTA_DATA_VALUE = 1;

/**
 * The value bytes when the nest is the usual one NFTA_DATA_VALUE attribute filling it (its
 * header read in place: a listing has two or three such nests per element, and the schema
 * decoder's generator and result object cost ~10 µs each on a cold JIT); else undefined.
 */
function plainValue(buf: Buffer, at: number, len: number): Buffer | undefined {
  if (len < 4) return undefined;
  const alen = buf[at]! | (buf[at + 1]! << 8);
  const type = buf[at + 2]! | (buf[at + 3]! << 8);
  if (type !== NFTA_DATA_VALUE || alen < 4 || ((alen + 3) & ~3) !== len) return undefined;
  return Buffer.from(buf.subarray(at + 4, at + alen));
}

function readValue(buf: Buffer, at: number, len: number, path: string): { value?: Buffer; verdict?: { code: number; chain?: string } } {
  const plain = plainValue(buf, at, len);
  if (plain) return { value: plain };
  const d = dataAttrs.decode(buf, at, at + len, path);
  if (d.verdict) {
    if (d.verdict.code === undefined) throw new DecodeError('verdict without a code', path);
    const v: { code: number; chain?: string } = { code: d.verdict.code };
    if (d.verdict.chain !== undefined) v.chain = d.verdict.chain;
    return { verdict: v };
  }
  return { value: d.value };
}

const COUNTER = Buffer.from('counter', 'latin1');

/** NFTA_EXPR_NAME is "counter" (NUL-terminated, or ending with the attribute), compared in place. */
function isCounterName(buf: Buffer, at: number, len: number): boolean {
  if (len < COUNTER.length || (len > COUNTER.length && buf[at + COUNTER.length] !== 0)) return false;
  for (let i = 0; i < COUNTER.length; i++) if (buf[at + i] !== COUNTER[i]) return false;
  return true;
}

function readCounter(buf: Buffer, at: number, len: number): { packets: number; bytes: number } | undefined {
  // NFTA_EXPR_NAME "counter", NFTA_EXPR_DATA { BYTES, PACKETS }
  let name: string | undefined;
  let packets = 0;
  let bytes = 0;
  for (const a of walkAttributes(buf, at, at + len, 'element.expr')) {
    if (a.type === 1) name = isCounterName(buf, a.at, a.len) ? 'counter' : buf.toString('latin1', a.at, a.at + a.len).replace(/\0.*$/, '');
    if (a.type === 2) {
      for (const c of walkAttributes(buf, a.at, a.at + a.len, 'element.expr.data')) {
        if (c.len !== 8) continue;
        if (c.type === 1) bytes = Number(buf.readBigUInt64BE(c.at));
        if (c.type === 2) packets = Number(buf.readBigUInt64BE(c.at));
      }
    }
  }
  return name === 'counter' ? { packets, bytes } : undefined;
}

/** Decodes NFTA_SET_ELEM_LIST_ELEMENTS content. */
export function decodeElemRecords(buf: Buffer, start = 0, end = buf.length): ElemRecord[] {
  const out: ElemRecord[] = [];
  for (const item of walkAttributes(buf, start, end, 'elements')) {
    const r: ElemRecord = {};
    const path = `elements[${out.length}]`;
    for (const a of walkAttributes(buf, item.at, item.at + item.len, path)) {
      switch (a.type) {
        case NFTA_SET_ELEM.flags:
          if (a.len !== 4) throw new DecodeError('flags of the wrong width', path);
          r.flags = buf.readUInt32BE(a.at);
          break;
        case NFTA_SET_ELEM.timeout:
          if (a.len === 8) r.timeout = buf.readBigUInt64BE(a.at);
          break;
        case NFTA_SET_ELEM.expiration:
          if (a.len === 8) r.expiration = buf.readBigUInt64BE(a.at);
          break;
        case NFTA_SET_ELEM.key:
          r.key = readValue(buf, a.at, a.len, `${path}.key`).value;
          break;
        case NFTA_SET_ELEM.keyEnd:
          r.keyEnd = readValue(buf, a.at, a.len, `${path}.key_end`).value;
          break;
        case NFTA_SET_ELEM.data: {
          const v = readValue(buf, a.at, a.len, `${path}.data`);
          if (v.verdict) r.verdict = v.verdict;
          else r.data = v.value;
          break;
        }
        case NFTA_SET_ELEM.userdata:
          r.userdata = Buffer.from(buf.subarray(a.at, a.at + a.len));
          break;
        case NFTA_SET_ELEM.expr:
          r.counter = readCounter(buf, a.at, a.len) ?? r.counter;
          break;
        case NFTA_SET_ELEM.expressions:
          for (const x of walkAttributes(buf, a.at, a.at + a.len, `${path}.expressions`)) {
            r.counter = readCounter(buf, x.at, x.len) ?? r.counter;
          }
          break;
      }
    }
    out.push(r);
  }
  return out;
}

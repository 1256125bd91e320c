/**
 * Sets and maps: declarations (types, flags, nft's userdata), elements to the
 * kernel's element records and back. Intervals follow nft: a concatenation
 * with intervals stores [key, key_end] per element; a single-field interval
 * set stores a start element and an end element (end + 1, INTERVAL_END).
 * Host-order types are stored in network order in interval sets.
 */
import { DecodeError, ValidationError } from '../errors.js';
import { walkAttributes } from '../netlink/attributes.js';
import { NLA_F_NESTED } from '../netlink/constants.js';
import { Writer } from '../netlink/writer.js';
import {
  NFT_DATA_VERDICT,
  NFT_SET_ANONYMOUS,
  NFT_SET_CONCAT,
  NFT_SET_CONSTANT,
  NFT_SET_ELEM_INTERVAL_END,
  NFT_SET_EVAL,
  NFT_SET_INTERVAL,
  NFT_SET_MAP,
  NFT_SET_TIMEOUT,
  SET_FLAGS,
  type NftSetFlag,
  UDATA_COMMENT,
  UDATA_SET_COMMENT,
  UDATA_SET_DATABYTEORDER,
  UDATA_SET_DATA_INTERVAL,
  UDATA_SET_DATA_TYPEOF,
  UDATA_SET_ELEM_FLAGS,
  UDATA_SET_KEYBYTEORDER,
  UDATA_SET_KEY_TYPEOF,
  UDATA_SET_MERGE_ELEMENTS,
} from './constants.js';
import { HOST_LE, type NftDatatype, concatTypeId, datatypeById, datatypeByName, pad4, splitTypeId } from './datatype.js';
import { dataAttrs, nestBegin, nestEnd } from './expr/common.js';
import { type KeyDef, concatTypeofUdata, keyByteorder, typeofUdata } from './keys.js';
import type { SetShape } from './linearize.js';
import { type UdataEntry, readUdataString, udataDecode, udataEncode, udataString, udataU32 } from './udata.js';
import { concatBytes, formatPart, fromBig, increment, isAtom, parsePart, splitConcat, toBig, valueParts } from './values.js';
import { verdictFromKernel, verdictToKernel } from './verdict.js';
import type { NftElement, NftSetType, NftValuePart, NftVerdict } from './types.js';

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

// ---------------------------------------------------------------- types

/** Resolves nft type names (`ipv4_addr`, or several for a concatenation). */
export function resolveTypes(t: NftSetType, field: string): NftDatatype[] {
  const names = typeof t === 'string' ? t.split(/\s*\.\s*/) : [...t];
  if (names.length === 0) throw new ValidationError(field, 'no type', 'an nft type name such as ipv4_addr');
  return names.map((n, i) => {
    const dt = typeof n === 'string' ? datatypeByName(n) : undefined;
    if (!dt || dt.name === 'verdict') {
      throw new ValidationError(
        names.length > 1 ? `${field}[${i}]` : field,
        `unknown type ${JSON.stringify(n)}`,
        'an nft type such as ipv4_addr, ipv6_addr, inet_proto, inet_service, mark, ifname, uid, gid, ether_addr, ct_state',
      );
    }
    return dt;
  });
}

export const typesLen = (types: readonly NftDatatype[]): number =>
  types.length === 1 ? types[0]!.len : types.reduce((n, t) => n + pad4(t.len), 0);

export function setFlagBits(flags: readonly NftSetFlag[] | undefined, field: string): number {
  let bits = 0;
  for (const [i, f] of (flags ?? []).entries()) {
    const b = SET_FLAGS[f as NftSetFlag];
    if (b === undefined) throw new ValidationError(`${field}[${i}]`, `unknown set flag ${JSON.stringify(f)}`, Object.keys(SET_FLAGS).join(', '));
    bits |= b;
  }
  return bits;
}

export function setFlagNames(bits: number): NftSetFlag[] {
  return (Object.entries(SET_FLAGS) as [NftSetFlag, number][]).filter(([, b]) => bits & b).map(([n]) => n);
}

const BYTEORDER_CODE = { host: 1, big: 2 } as const;

/** nft's userdata for a `type ...` set declaration. */
export function namedSetUdata(keyTypes: readonly NftDatatype[], dataTypes: readonly NftDatatype[] | 'verdict' | undefined, comment?: string): Buffer {
  const e: UdataEntry[] = [[UDATA_SET_KEYBYTEORDER, udataU32(keyTypes.length > 1 ? 0 : BYTEORDER_CODE[keyTypes[0]!.byteorder])]];
  if (dataTypes) {
    e.push([UDATA_SET_DATABYTEORDER, udataU32(dataTypes === 'verdict' || dataTypes.length > 1 ? 0 : BYTEORDER_CODE[dataTypes[0]!.byteorder])]);
  }
  if (keyTypes.length > 1) e.push([UDATA_SET_KEY_TYPEOF, concatTypeofUdata()]);
  if (dataTypes && dataTypes !== 'verdict' && dataTypes.length > 1) e.push([UDATA_SET_DATA_TYPEOF, concatTypeofUdata()]);
  if (dataTypes) e.push([UDATA_SET_DATA_INTERVAL, udataU32(0)]);
  if (comment !== undefined) e.push([UDATA_SET_COMMENT, udataString(comment)]);
  return udataEncode(e);
}

const EXPR_VERDICT = 1;

/** nft's userdata for an anonymous set or map written in a rule. */
export function inlineSetUdata(keyDefs: readonly KeyDef[], dataTypes: readonly NftDatatype[] | 'verdict' | undefined, flags: number): Buffer {
  const concat = keyDefs.length > 1;
  const interval = (flags & NFT_SET_INTERVAL) !== 0;
  const e: UdataEntry[] = [[UDATA_SET_KEYBYTEORDER, udataU32(concat ? 0 : BYTEORDER_CODE[keyByteorder(keyDefs[0]!)])]];
  if (dataTypes) {
    e.push([UDATA_SET_DATABYTEORDER, udataU32(dataTypes === 'verdict' || dataTypes.length > 1 ? 0 : BYTEORDER_CODE[dataTypes[0]!.byteorder])]);
  } else if (interval) e.push([UDATA_SET_MERGE_ELEMENTS, udataU32(1)]);
  let typeOf: Buffer | undefined;
  if (!dataTypes) {
    const hostPart = interval && keyDefs.some((d) => keyByteorder(d) === 'host' && d.len > 1);
    typeOf = typeofUdata(keyDefs, !hostPart);
  } else if (concat) typeOf = typeofUdata(keyDefs, true);
  if (typeOf) e.push([UDATA_SET_KEY_TYPEOF, typeOf]);
  if (dataTypes === 'verdict') e.push([UDATA_SET_DATA_TYPEOF, udataEncode([[0, udataU32(EXPR_VERDICT)], [1, Buffer.alloc(0)]])]);
  if (dataTypes) e.push([UDATA_SET_DATA_INTERVAL, udataU32(0)]);
  return udataEncode(e);
}

/** The comment stored in set userdata. */
export function setComment(udata: Buffer | undefined): string | undefined {
  if (!udata) return undefined;
  try {
    for (const [t, v] of udataDecode(udata)) if (t === UDATA_SET_COMMENT) return readUdataString(v);
  } catch {
    return undefined;
  }
  return undefined;
}

/** Types of a listed set: from its key type id and lengths. */
export function typesFromKernel(typeId: number | undefined, len: number, fieldLens?: number[]): NftDatatype[] {
  if (!(len > 0 && len <= 64) || (fieldLens && fieldLens.some((l) => !(l > 0 && l <= 64)))) throw new DecodeError(`set key or data of ${len} bytes`, 'set');
  if (typeId !== undefined) {
    const split = splitTypeId(typeId, len, fieldLens);
    if (split) return split;
  }
  if (fieldLens && fieldLens.length > 1) return fieldLens.map((l) => datatypeById(0, l));
  return [datatypeById(typeId ?? 0, len)];
}

export { concatTypeId };

// ---------------------------------------------------------------- elements → records

function isVerdict(v: unknown): v is NftVerdict {
  return typeof v === 'object' && v !== null && typeof (v as NftVerdict).verdict === 'string';
}

interface ParsedKey {
  from: Buffer[];
  to: Buffer[];
  isInterval: boolean;
}

function parseKey(shape: SetShape, value: unknown, field: string): ParsedKey {
  const parts = valueParts(shape.keyTypes, value, field);
  const from: Buffer[] = [];
  const to: Buffer[] = [];
  let isInterval = false;
  parts.forEach((p, i) => {
    const t = shape.keyTypes[i]!;
    const b = parsePart(t, p, shape.keyTypes.length > 1 ? `${field}[${i}]` : field);
    if (!b.from.equals(b.to)) isInterval = true;
    from.push(b.from);
    to.push(b.to);
  });
  return { from, to, isInterval };
}

function dataBytes(shape: SetShape, el: NftElement, field: string): Pick<ElemRecord, 'data' | 'verdict'> {
  if (!shape.dataTypes) {
    if (el.data !== undefined) throw new ValidationError(`${field}.data`, 'data given for a set', 'no data (only maps have data)');
    return {};
  }
  if (el.data === undefined) throw new ValidationError(`${field}.data`, 'missing map data', 'the value the key maps to');
  if (shape.dataTypes === 'verdict') {
    if (!isVerdict(el.data)) throw new ValidationError(`${field}.data`, 'not a verdict', "{ verdict: 'accept' } and the like");
    return { verdict: verdictToKernel(el.data, `${field}.data`) };
  }
  const types = shape.dataTypes;
  const parts = valueParts(types, el.data, `${field}.data`).map((p, i) => {
    const b = parsePart(types[i]!, p, types.length > 1 ? `${field}.data[${i}]` : `${field}.data`);
    if (!b.from.equals(b.to)) throw new ValidationError(`${field}.data`, 'ranges as map data are not supported', 'single values');
    return b.from;
  });
  return { data: concatBytes(parts) };
}

function elemUdata(el: NftElement, field: string, open = false): Buffer | undefined {
  const e: UdataEntry[] = [];
  if (el.comment !== undefined) {
    if (typeof el.comment !== 'string' || Buffer.byteLength(el.comment) > 127) throw new ValidationError(`${field}.comment`, 'too long', 'at most 127 bytes');
    e.push([UDATA_COMMENT, udataString(el.comment)]);
  }
  if (open) e.push([UDATA_SET_ELEM_FLAGS, udataU32(1)]);
  return e.length ? udataEncode(e) : undefined;
}

function timeoutOf(el: NftElement, shape: SetShape, field: string): bigint | undefined {
  if (el.timeout === undefined) return undefined;
  if (!(shape.flags & NFT_SET_TIMEOUT)) throw new ValidationError(`${field}.timeout`, 'the set has no timeout flag', "a set declared with flags ['timeout']");
  if (!Number.isInteger(el.timeout) || el.timeout < 0) throw new ValidationError(`${field}.timeout`, 'invalid timeout', 'milliseconds as a non-negative integer');
  return BigInt(el.timeout);
}

export type ElementMode = 'create' | 'add' | 'delete';

/**
 * The kernel records for elements. `create` is a set declared with its
 * elements (nft then also writes the leading interval end at 0); `delete`
 * needs both ends of an interval as well.
 */
export function elementRecords(shape: SetShape, elements: readonly NftElement[], field: string, mode: ElementMode): ElemRecord[] {
  const interval = (shape.flags & NFT_SET_INTERVAL) !== 0;
  const concat = shape.keyTypes.length > 1;
  if (!Array.isArray(elements)) throw new ValidationError(field, 'not a list', 'an array of elements');
  // Fast path: plain sets and maps (no intervals).
  if (!interval) {
    return elements.map((el, i) => {
      const f = `${field}[${i}]`;
      if (!el || typeof el !== 'object' || el.key === undefined) throw new ValidationError(f, 'not an element', '{ key, data? }');
      const k = parseKey(shape, el.key, `${f}.key`);
      if (k.isInterval) throw new ValidationError(`${f}.key`, 'a range or prefix in a set without the interval flag', "single values, or a set with flags ['interval']");
      const r: ElemRecord = { key: concatBytes(k.from) };
      const t = timeoutOf(el, shape, f);
      if (t !== undefined) r.timeout = t;
      if (mode !== 'delete') Object.assign(r, dataBytes(shape, el, f));
      const ud = mode !== 'delete' ? elemUdata(el, f) : undefined;
      if (ud) r.userdata = ud;
      return r;
    });
  }
  if (concat) {
    // Intervals of concatenations: [key, key_end], host-order fields in network order.
    return elements.map((el, i) => {
      const f = `${field}[${i}]`;
      const k = parseKey(shape, el.key, `${f}.key`);
      const r: ElemRecord = {
        key: concatBytes(k.from.map((b, j) => toBig(shape.keyTypes[j]!, b))),
        keyEnd: concatBytes(k.to.map((b, j) => toBig(shape.keyTypes[j]!, b))),
      };
      const t = timeoutOf(el, shape, f);
      if (t !== undefined) r.timeout = t;
      if (mode !== 'delete') Object.assign(r, dataBytes(shape, el, f));
      const ud = mode !== 'delete' ? elemUdata(el, f) : undefined;
      if (ud) r.userdata = ud;
      return r;
    });
  }
  // One field with intervals: sorted start/end records.
  const type = shape.keyTypes[0]!;
  const items = elements.map((el, i) => {
    const f = `${field}[${i}]`;
    const k = parseKey(shape, el.key, `${f}.key`);
    return { el, f, from: toBig(type, k.from[0]!), to: toBig(type, k.to[0]!) };
  });
  items.sort((a, b) => Buffer.compare(a.from, b.from));
  for (let i = 1; i < items.length; i++) {
    if (Buffer.compare(items[i]!.from, items[i - 1]!.to) <= 0) {
      throw new ValidationError(items[i]!.f, 'overlaps another element', 'intervals that do not overlap');
    }
  }
  const out: ElemRecord[] = [];
  if (mode === 'create' && items.length > 0 && items[0]!.from.some((b) => b !== 0)) {
    out.push({ flags: NFT_SET_ELEM_INTERVAL_END, key: Buffer.alloc(type.len) });
  }
  for (const it of items) {
    const end = increment(it.to);
    const start: ElemRecord = { key: it.from };
    const t = timeoutOf(it.el, shape, it.f);
    if (t !== undefined) start.timeout = t;
    if (mode !== 'delete') {
      Object.assign(start, dataBytes(shape, it.el, it.f));
      const ud = elemUdata(it.el, it.f, end === undefined);
      if (ud) start.userdata = ud;
    }
    out.push(start);
    if (end) out.push({ flags: NFT_SET_ELEM_INTERVAL_END, key: end });
  }
  return out;
}

// ---------------------------------------------------------------- prepared elements

/**
 * Elements encoded once, when the call is made: the attributes of each
 * element (without its nest header), back to back. Messages copy them, so a
 * large map is parsed and checked a single time.
 */
export interface PreparedElements {
  readonly count: number;
  /**
   * The elements one after the other, each a complete list-element nest: its
   * 4-byte header holds the length, and the nest type (the element's number
   * within its message) is written when the messages are cut.
   */
  readonly bytes: Buffer;
  /** End offset of each element in `bytes` (element i starts at ends[i - 1], or 0). */
  readonly ends: Uint32Array;
}

/** Reserves an element's nest header; `endElement` writes its length. */
function beginElement(w: Writer): number {
  if (w.pos + 4 > w.buf.length) w.ensure(4);
  const p = w.pos;
  // The type is written when the messages are cut; zero until then (no stale bytes).
  w.buf[p + 2] = 0;
  w.buf[p + 3] = 0;
  w.pos = p + 4;
  return p;
}

function endElement(w: Writer, start: number): number {
  const len = w.pos - start;
  if (len > 0xffff) throw new RangeError(`set element of ${len} bytes exceeds the 65535-byte netlink limit`);
  // Netlink headers are in host byte order (as nestBegin/nestEnd write them).
  w.buf[start] = len & 0xff;
  w.buf[start + 1] = len >>> 8;
  return w.pos;
}

const prepWriter = new Writer(64 * 1024);

function writeKeyFields(w: Writer, shape: SetShape, key: unknown, end: boolean, interval: boolean, field: string): boolean {
  const types = shape.keyTypes;
  const parts = valueParts(types, key, field);
  let isInterval = false;
  for (let i = 0; i < types.length; i++) {
    const t = types[i]!;
    const p = parts[i];
    const at = w.pos;
    if (t.write && t.write(p, w)) {
      if (interval && t.byteorder === 'host' && HOST_LE && t.len > 1) w.buf.subarray(at, w.pos).reverse();
      if (types.length > 1) w.align();
      continue;
    }
    let b: Buffer;
    if (isAtom(p) && !(t.prefixable && typeof p === 'string' && p.includes('/'))) b = t.parse(p, types.length > 1 ? `${field}[${i}]` : field);
    else {
      const pb = parsePart(t, p, types.length > 1 ? `${field}[${i}]` : field);
      if (!pb.from.equals(pb.to)) isInterval = true;
      b = end ? pb.to : pb.from;
    }
    w.bytes(b);
    if (interval && t.byteorder === 'host' && HOST_LE && b.length > 1) w.buf.subarray(at, w.pos).reverse();
    if (types.length > 1) w.align();
  }
  return isInterval;
}

/**
 * Plain key values written straight into the message: 0 when written, -1
 * (with nothing written) when a part needs the full parser (ranges,
 * prefixes, names it must check).
 */
function writeKeyFast(w: Writer, types: readonly NftDatatype[], key: unknown, interval: boolean): number {
  const n = types.length;
  if (n > 1 && !(Array.isArray(key) && key.length === n)) return -1;
  const start = w.pos;
  for (let i = 0; i < n; i++) {
    const t = types[i]!;
    const at = w.pos;
    if (!t.write || !t.write(n === 1 ? key : (key as unknown[])[i], w)) {
      w.pos = start;
      return -1;
    }
    if (interval && t.byteorder === 'host' && HOST_LE && t.len > 1) w.buf.subarray(at, w.pos).reverse();
    if (n > 1) padZeros(w);
  }
  return 0;
}

function padZeros(w: Writer): void {
  const pad = (4 - (w.pos & 3)) & 3;
  if (!pad) return;
  if (w.pos + pad > w.buf.length) w.ensure(pad);
  for (let i = 0; i < pad; i++) w.buf[w.pos++] = 0;
}

/** Map data of plain values written straight into the message; false (nothing written) otherwise. */
function writeDataFast(w: Writer, types: readonly NftDatatype[], data: unknown): boolean {
  const parts = types.length === 1 ? [data] : Array.isArray(data) && data.length === types.length ? data : undefined;
  if (!parts) return false;
  const start = w.pos;
  const a = nestBegin(w, NFTA_SET_ELEM.data | NLA_F_NESTED);
  const v = nestBegin(w, 1);
  for (let i = 0; i < types.length; i++) {
    const t = types[i]!;
    if (!t.write || !t.write(parts[i], w)) {
      w.pos = start;
      return false;
    }
    if (types.length > 1) padZeros(w);
  }
  nestEnd(w, v);
  nestEnd(w, a);
  return true;
}

/**
 * Where everything of an element goes when its key (and data) are plain
 * values of fixed-length types: the nest headers are the same for every
 * element, and the values are written at fixed offsets. The same bytes as
 * the general path (nestBegin/nestEnd, padZeros) writes.
 */
interface FixedLayout {
  keyTypes: readonly NftDatatype[];
  dataTypes: readonly NftDatatype[] | undefined;
  /** Deleting: any data given is ignored, as the general path does. */
  keysOnly: boolean;
  /** Offsets of the key parts, then of the data parts, from the element's start. */
  keyAt: number[];
  dataAt: number[];
  /** An element with every header and zero padding in place, the values still zero. */
  template: Buffer;
  size: number;
}

let fixedLayouts = true;
let fixedWritten = 0;
/** @internal Tests compare the fixed-layout path with the general one; returns how many elements it wrote so far. */
export function useFixedLayouts(on: boolean): number {
  fixedLayouts = on;
  return fixedWritten;
}

function fixedLayout(keyTypes: readonly NftDatatype[], data: NftSetShapeData, keysOnly: boolean): FixedLayout | undefined {
  if (data === 'verdict' && !keysOnly) return undefined;
  const dataTypes = data && data !== 'verdict' && !keysOnly ? data : undefined;
  const all = [...keyTypes, ...(dataTypes ?? [])];
  if (!all.every((t) => typeof t.write === 'function' && t.len > 0)) return undefined;
  const headers: Array<[number, number, number]> = [];
  // Element header at 0: its length is written with the rest, its type when the messages are cut.
  let at = 4;
  const place = (types: readonly NftDatatype[], attr: number, offsets: number[]) => {
    const outer = at;
    const inner = at + 4;
    at += 8;
    for (const t of types) {
      offsets.push(at);
      at += t.len;
      if (types.length > 1) at = pad4(at);
    }
    const rawLen = at - inner;
    headers.push([inner, rawLen, 1]);
    at = pad4(at);
    headers.push([outer, at - outer, attr | NLA_F_NESTED]);
  };
  const keyAt: number[] = [];
  const dataAt: number[] = [];
  place(keyTypes, NFTA_SET_ELEM.key, keyAt);
  if (dataTypes) place(dataTypes, NFTA_SET_ELEM.data, dataAt);
  headers.push([0, at, 0]);
  // Every element starts as this: its nest headers (lengths, types; the element's own type is
  // written when the messages are cut) and zero padding; the values are written over it.
  const template = Buffer.alloc(at);
  for (const [off, len, type] of headers) {
    template[off] = len & 0xff;
    template[off + 1] = len >>> 8;
    template[off + 2] = type & 0xff;
    template[off + 3] = type >>> 8;
  }
  return { keyTypes, dataTypes, keysOnly, keyAt, dataAt, template, size: at };
}

type NftSetShapeData = SetShape['dataTypes'];

/** Writes one element by `l`; false (with nothing written) when a value needs the general path. */
function writeFixedElement(w: Writer, l: FixedLayout, el: NftElement): boolean {
  const nk = l.keyTypes.length;
  const key = el.key;
  if (nk > 1 && !(Array.isArray(key) && key.length === nk)) return false;
  const nd = l.dataTypes ? l.dataTypes.length : 0;
  const data = el.data;
  if (l.dataTypes) {
    if (data === undefined || (nd > 1 && !(Array.isArray(data) && data.length === nd))) return false;
  } else if (data !== undefined && !l.keysOnly) return false;
  if (w.pos + l.size > w.buf.length) w.ensure(l.size);
  const start = w.pos;
  w.buf.set(l.template, start);
  for (let i = 0; i < nk; i++) {
    w.pos = start + l.keyAt[i]!;
    if (!l.keyTypes[i]!.write!(nk === 1 ? key : (key as unknown[])[i], w)) {
      w.pos = start;
      return false;
    }
  }
  for (let i = 0; i < nd; i++) {
    w.pos = start + l.dataAt[i]!;
    if (!l.dataTypes![i]!.write!(nd === 1 ? data : (data as unknown[])[i], w)) {
      w.pos = start;
      return false;
    }
  }
  w.pos = start + l.size;
  fixedWritten++;
  return true;
}

/** Encodes elements for `shape`; throws ValidationError (naming the element) before anything is sent. */
export function prepareElements(shape: SetShape, elements: readonly NftElement[], field: string, mode: ElementMode): PreparedElements {
  if (!Array.isArray(elements)) throw new ValidationError(field, 'not a list', 'an array of elements');
  const interval = (shape.flags & NFT_SET_INTERVAL) !== 0;
  const concat = shape.keyTypes.length > 1;
  const w = prepWriter;
  w.reset();
  if (interval && !concat) {
    const records = elementRecords(shape, elements, field, mode);
    const ends = new Uint32Array(records.length);
    records.forEach((r, i) => {
      const at = beginElement(w);
      writeElemInner(w, r);
      ends[i] = endElement(w, at);
    });
    return { count: records.length, bytes: w.finish(), ends };
  }
  const types = shape.keyTypes;
  const dataTypes = shape.dataTypes && shape.dataTypes !== 'verdict' ? shape.dataTypes : undefined;
  const ends = new Uint32Array(elements.length);
  const fixed = interval || !fixedLayouts ? undefined : fixedLayout(types, shape.dataTypes, mode === 'delete');
  // With a fixed layout the elements are written straight into a buffer of their exact size,
  // handed out as it is (no growth inside the loop, which would throw the optimised loop away,
  // and no copy at the end). An element that needs the general path makes the writer grow.
  const exact = fixed && elements.length > 0 ? Buffer.allocUnsafe(elements.length * fixed.size) : undefined;
  const writer = exact ? new Writer(0) : w;
  if (exact) writer.useBuffer(exact);
  // Paths are only put together when an error is thrown: this loop runs for every element.
  const path = (i: number) => `${field}[${i}]`;
  for (let i = 0; i < elements.length; i++) {
    const el = elements[i]!;
    if (!el || typeof el !== 'object' || el.key === undefined) throw new ValidationError(path(i), 'not an element', '{ key, data? }');
    if (fixed && el.timeout === undefined && el.comment === undefined && writeFixedElement(writer, fixed, el)) {
      ends[i] = writer.pos;
      continue;
    }
    const elementAt = beginElement(writer);
    if (el.timeout !== undefined) {
      const a = writer.beginAttr(NFTA_SET_ELEM.timeout);
      writer.be64(timeoutOf(el, shape, path(i))!);
      writer.endAttr(a);
    }
    const k = nestBegin(writer, NFTA_SET_ELEM.key | NLA_F_NESTED);
    const kv = nestBegin(writer, 1);
    const keyAt = writer.pos;
    let ranged = writeKeyFast(writer, types, el.key, interval) < 0 ? writeKeyFields(writer, shape, el.key, false, interval, `${path(i)}.key`) : false;
    const keyEnd = writer.pos;
    nestEnd(writer, kv);
    nestEnd(writer, k);
    if (ranged && !interval) throw new ValidationError(`${path(i)}.key`, 'a range or prefix in a set without the interval flag', "single values, or a set with flags ['interval']");
    if (interval) {
      const e = nestBegin(writer, NFTA_SET_ELEM.keyEnd | NLA_F_NESTED);
      const ev = nestBegin(writer, 1);
      if (ranged) writeKeyFields(writer, shape, el.key, true, interval, `${path(i)}.key`);
      else {
        // A single value: the end is the key itself.
        const len = keyEnd - keyAt;
        writer.ensure(len);
        writer.buf.copy(writer.buf, writer.pos, keyAt, keyEnd);
        writer.pos += len;
      }
      nestEnd(writer, ev);
      nestEnd(writer, e);
    }
    ranged = false;
    if (mode !== 'delete') {
      if (!(dataTypes && writeDataFast(writer, dataTypes, el.data))) {
        const d = dataBytes(shape, el, path(i));
        if (d.data) writeData(writer, NFTA_SET_ELEM.data, d.data);
        else if (d.verdict) {
          const a = writer.beginAttr(NFTA_SET_ELEM.data | NLA_F_NESTED);
          dataAttrs.encode(writer, { verdict: d.verdict });
          writer.endAttr(a);
        }
      }
      if (el.comment !== undefined) {
        const ud = elemUdata(el, path(i));
        const a = writer.beginAttr(NFTA_SET_ELEM.userdata);
        writer.bytes(ud!);
        writer.endAttr(a);
      }
    }
    ends[i] = endElement(writer, elementAt);
  }
  if (exact && writer.buf === exact && writer.pos === exact.length) return { count: elements.length, bytes: exact, ends };
  return { count: elements.length, bytes: writer.finish(), ends };
}

// ---------------------------------------------------------------- records on the wire

function writeData(w: Writer, type: number, value: Buffer): void {
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

function readValue(buf: Buffer, at: number, len: number, path: string): { value?: Buffer; verdict?: { code: number; chain?: string } } {
  const d = dataAttrs.decode(buf, at, at + len, path);
  if (d.verdict) {
    if (d.verdict.code === undefined) throw new DecodeError('verdict without a code', path);
    const v: { code: number; chain?: string } = { code: d.verdict.code };
    if (d.verdict.chain !== undefined) v.chain = d.verdict.chain;
    return { verdict: v };
  }
  return { value: d.value };
}

function readCounter(buf: Buffer, at: number, len: number): { packets: number; bytes: number } | undefined {
  // NFTA_EXPR_NAME "counter", NFTA_EXPR_DATA { BYTES, PACKETS }
  let name: string | undefined;
  let packets = 0;
  let bytes = 0;
  for (const a of walkAttributes(buf, at, at + len, 'element.expr')) {
    if (a.type === 1) name = buf.toString('latin1', a.at, a.at + a.len).replace(/\0.*$/, '');
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

// ---------------------------------------------------------------- records → elements

function sortKey(types: readonly NftDatatype[], key: unknown): Buffer {
  try {
    const parts = valueParts(types, key, 'key');
    return Buffer.concat(parts.map((p, i) => toBig(types[i]!, parsePart(types[i]!, p, 'key').from)));
  } catch {
    return Buffer.alloc(0);
  }
}

/** Elements in nft's listing order: by key value (network order, field by field). */
export function sortElements(types: readonly NftDatatype[], elements: readonly NftElement[]): NftElement[] {
  return elements
    .map((el) => ({ el, k: sortKey(types, el.key) }))
    .sort((a, b) => Buffer.compare(a.k, b.k))
    .map((x) => x.el);
}

function formatKey(shape: SetShape, from: Buffer, to: Buffer, big: boolean): NftElement['key'] | undefined {
  const lens = shape.keyTypes.map((t) => t.len);
  const a = splitConcat(from, lens);
  const b = splitConcat(to, lens);
  if (!a || !b) return undefined;
  const parts: NftValuePart[] = shape.keyTypes.map((t, i) => {
    const x = big ? fromBig(t, a[i]!) : a[i]!;
    const y = big ? fromBig(t, b[i]!) : b[i]!;
    return formatPart(t, x, y);
  });
  return shape.keyTypes.length === 1 ? parts[0]! : parts;
}

function formatData(shape: SetShape, r: ElemRecord): NftElement['data'] | undefined {
  if (!shape.dataTypes) return undefined;
  if (r.verdict) return verdictFromKernel(r.verdict);
  if (!r.data || shape.dataTypes === 'verdict') return undefined;
  const types = shape.dataTypes;
  const parts = splitConcat(r.data, types.map((t) => t.len));
  if (!parts) return undefined;
  const vals = parts.map((p, i) => types[i]!.value(p));
  return types.length === 1 ? vals[0]! : vals;
}

function decorate(el: NftElement, r: ElemRecord): NftElement {
  if (r.timeout !== undefined) el.timeout = Number(r.timeout);
  if (r.expiration !== undefined) el.expires = Number(r.expiration);
  if (r.counter) el.counter = r.counter;
  if (r.userdata) {
    try {
      for (const [t, v] of udataDecode(r.userdata)) if (t === UDATA_COMMENT) el.comment = readUdataString(v);
    } catch {
      /* foreign userdata */
    }
  }
  return el;
}

/**
 * Elements of a listed set, sorted by key as nft prints them. Records that
 * do not fit the set's types are skipped (and counted in `skipped`).
 */
export function recordsToElements(shape: SetShape, records: readonly ElemRecord[]): { elements: NftElement[]; skipped: number } {
  const interval = (shape.flags & NFT_SET_INTERVAL) !== 0;
  const concat = shape.keyTypes.length > 1;
  const out: NftElement[] = [];
  let skipped = 0;
  if (!interval || concat) {
    const sorted = [...records].filter((r) => r.key).sort((a, b) => Buffer.compare(a.key!, b.key!));
    for (const r of sorted) {
      const key = formatKey(shape, r.key!, r.keyEnd ?? r.key!, interval);
      if (key === undefined) {
        skipped++;
        continue;
      }
      const el: NftElement = { key };
      const data = formatData(shape, r);
      if (data !== undefined) el.data = data;
      out.push(decorate(el, r));
    }
    return { elements: sortElements(shape.keyTypes, out), skipped };
  }
  const type = shape.keyTypes[0]!;
  const sorted = [...records].filter((r) => r.key && r.key.length === type.len).sort((a, b) => Buffer.compare(a.key!, b.key!) || (a.flags ?? 0) - (b.flags ?? 0));
  skipped += records.length - sorted.length;
  for (let i = 0; i < sorted.length; i++) {
    const r = sorted[i]!;
    if ((r.flags ?? 0) & NFT_SET_ELEM_INTERVAL_END) continue;
    const next = sorted[i + 1];
    let to: Buffer;
    if (next && (next.flags ?? 0) & NFT_SET_ELEM_INTERVAL_END) {
      to = Buffer.from(next.key!);
      // end is exclusive
      for (let j = to.length - 1; j >= 0; j--) {
        if (to[j] !== 0) {
          to[j]!--;
          break;
        }
        to[j] = 0xff;
      }
    } else to = Buffer.alloc(type.len, 0xff);
    const el: NftElement = { key: formatPart(type, fromBig(type, r.key!), fromBig(type, to)) };
    const data = formatData(shape, r);
    if (data !== undefined) el.data = data;
    out.push(decorate(el, r));
  }
  return { elements: out, skipped };
}

export const ANON_FLAGS = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT;
export { NFT_SET_CONCAT, NFT_SET_INTERVAL, NFT_SET_MAP, NFT_SET_EVAL, NFT_DATA_VERDICT };

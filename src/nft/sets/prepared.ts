/**
 * Elements encoded once, when the call is made (PreparedElements): plain
 * values are written straight into the message, and sets of fixed-length
 * types use a fixed layout (one template per element, values at fixed offsets).
 */
import { ValidationError } from '../../errors.js';
import { NLA_F_NESTED } from '../../netlink/constants.js';
import { Writer } from '../../netlink/writer.js';
import { NFT_SET_INTERVAL } from '../constants.js';
import { HOST_LE, type NftDatatype, pad4 } from '../datatype.js';
import { dataAttrs, nestBegin, nestEnd } from '../expr/common.js';
import type { NftElement } from '../model.js';
import type { SetShape } from '../stmt/context.js';
import { isAtom, parsePart, valueParts } from '../values.js';
import { dataBytes, type ElementMode, elementRecords, elemUdata, timeoutOf } from './elements.js';
import { NFTA_SET_ELEM, writeData, writeElemInner } from './records.js';

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
    if (isAtom(p) && !(t.prefixable && typeof p === 'string' && p.includes('/')))
      b = t.parse(p, types.length > 1 ? `${field}[${i}]` : field);
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
    let ranged =
      writeKeyFast(writer, types, el.key, interval) < 0 ? writeKeyFields(writer, shape, el.key, false, interval, `${path(i)}.key`) : false;
    const keyEnd = writer.pos;
    nestEnd(writer, kv);
    nestEnd(writer, k);
    if (ranged && !interval)
      throw new ValidationError(
        `${path(i)}.key`,
        'a range or prefix in a set without the interval flag',
        "single values, or a set with flags ['interval']",
      );
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

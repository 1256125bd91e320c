/**
 * Elements ↔ kernel element records. Intervals follow nft: a concatenation
 * with intervals stores [key, key_end] per element; a single-field interval
 * set stores a start element and an end element (end + 1, INTERVAL_END).
 * Host-order types are stored in network order in interval sets.
 */
import { ValidationError } from '../../errors.js';
import { NFT_SET_ELEM_INTERVAL_END, NFT_SET_INTERVAL, NFT_SET_TIMEOUT, UDATA_COMMENT, UDATA_SET_ELEM_FLAGS } from '../constants.js';
import type { NftDatatype } from '../datatype.js';
import type { NftElement, NftValuePart, NftVerdict } from '../model.js';
import type { SetShape } from '../stmt/context.js';
import { readUdataString, type UdataEntry, udataDecode, udataEncode, udataString, udataU32 } from '../udata.js';
import { concatBytes, formatPart, fromBig, increment, parsePart, splitConcat, toBig, valueParts } from '../values.js';
import { verdictFromKernel, verdictToKernel } from '../verdict.js';
import type { ElemRecord } from './records.js';

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

export function dataBytes(shape: SetShape, el: NftElement, field: string): Pick<ElemRecord, 'data' | 'verdict'> {
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

export function elemUdata(el: NftElement, field: string, open = false): Buffer | undefined {
  const e: UdataEntry[] = [];
  if (el.comment !== undefined) {
    if (typeof el.comment !== 'string' || Buffer.byteLength(el.comment) > 127)
      throw new ValidationError(`${field}.comment`, 'too long', 'at most 127 bytes');
    e.push([UDATA_COMMENT, udataString(el.comment)]);
  }
  if (open) e.push([UDATA_SET_ELEM_FLAGS, udataU32(1)]);
  return e.length ? udataEncode(e) : undefined;
}

export function timeoutOf(el: NftElement, shape: SetShape, field: string): bigint | undefined {
  if (el.timeout === undefined) return undefined;
  if (!(shape.flags & NFT_SET_TIMEOUT))
    throw new ValidationError(`${field}.timeout`, 'the set has no timeout flag', "a set declared with flags ['timeout']");
  if (!Number.isInteger(el.timeout) || el.timeout < 0)
    throw new ValidationError(`${field}.timeout`, 'invalid timeout', 'milliseconds as a non-negative integer');
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
      if (k.isInterval)
        throw new ValidationError(
          `${f}.key`,
          'a range or prefix in a set without the interval flag',
          "single values, or a set with flags ['interval']",
        );
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

/**
 * The bytes sortElements orders a listed key by: its fields unpadded, host-order fields in
 * network order (`big`: an interval concatenation's record already holds them so). A key
 * whose fields do not fit the types sorts first (it is skipped when formatted).
 */
function listingOrderKey(types: readonly NftDatatype[], lens: readonly number[], key: Buffer, big: boolean): Buffer {
  const parts = splitConcat(key, lens);
  if (!parts) return Buffer.alloc(0);
  if (parts.length === 1) return big ? parts[0]! : toBig(types[0]!, parts[0]!);
  const out = Buffer.allocUnsafe(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    const p = big ? parts[i]! : toBig(types[i]!, parts[i]!);
    p.copy(out, at);
    at += p.length;
  }
  return out;
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
  const parts = splitConcat(
    r.data,
    types.map((t) => t.len),
  );
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
    // nft's order (sortElements' order) straight from the record bytes: each field in network
    // order, unpadded. Formatting every key and parsing it back to sort (as sortElements does
    // for elements given as values) cost ~10 µs an element cold: 200 ms for a 20 000-element listing.
    const lens = shape.keyTypes.map((t) => t.len);
    const sorted = records
      .filter((r) => r.key)
      .map((r) => ({ r, k: listingOrderKey(shape.keyTypes, lens, r.key!, interval) }))
      .sort((a, b) => Buffer.compare(a.k, b.k) || Buffer.compare(a.r.key!, b.r.key!));
    for (let i = 0; i < sorted.length; i++) {
      const r = sorted[i]!.r;
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
    return { elements: out, skipped };
  }
  const type = shape.keyTypes[0]!;
  const sorted = [...records]
    .filter((r) => r.key && r.key.length === type.len)
    .sort((a, b) => Buffer.compare(a.key!, b.key!) || (a.flags ?? 0) - (b.flags ?? 0));
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

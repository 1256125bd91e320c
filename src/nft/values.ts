/**
 * Values of selectors and set elements: API values (atoms, prefixes, ranges,
 * concatenations) to register bytes and back, in the canonical form both the
 * builder and the decoder produce, and as nft prints them.
 */
import { ValidationError } from '../errors.js';
import { HOST_LE, type NftAtom, type NftDatatype, pad4 } from './datatype.js';
import type { NftRange, NftSetSource, NftValue, NftValuePart } from './model.js';

/** One value part as bytes: `from === to` for a single value. */
export interface PartBytes {
  from: Buffer;
  to: Buffer;
  /** Prefix length when the part was written as a prefix. */
  prefix?: number;
}

export const isRange = (v: unknown): v is NftRange =>
  typeof v === 'object' && v !== null && !Buffer.isBuffer(v) && Array.isArray((v as NftRange).range) && (v as NftRange).range.length === 2;

/** A set source (`{ set }` or `{ elements }`) rather than a value. */
export function isSetSource(v: unknown): v is NftSetSource {
  return typeof v === 'object' && v !== null && !isRange(v) && !Array.isArray(v) && ('set' in v || 'elements' in v);
}

export function isAtom(v: unknown): v is NftAtom {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint';
}

/** The first and last address of the prefix; `addr` becomes the first (it is the parser's fresh buffer). */
function prefixBounds(addr: Buffer, bits: number): { from: Buffer; to: Buffer } {
  const from = addr;
  const to = Buffer.from(addr);
  for (let b = bits; b < addr.length * 8; b++) {
    from[b >> 3]! &= ~(0x80 >> (b & 7));
    to[b >> 3]! |= 0x80 >> (b & 7);
  }
  return { from, to };
}

/** Parses one part of a value for `type`. */
export function parsePart(type: NftDatatype, part: unknown, field: string): PartBytes {
  if (isRange(part)) {
    const from = type.parse(part.range[0], `${field}.range[0]`);
    const to = type.parse(part.range[1], `${field}.range[1]`);
    if (compareBig(type, from, to) > 0)
      throw new ValidationError(field, 'range start is above its end', 'a range whose first value is not above the second');
    return { from, to };
  }
  if (type.prefix && typeof part === 'string' && part.includes('/')) {
    const p = type.prefix(part, field);
    const { from, to } = prefixBounds(p.address, p.length);
    return p.length === p.address.length * 8 ? { from, to } : { from, to, prefix: p.length };
  }
  if (!isAtom(part)) throw new ValidationError(field, `invalid value ${JSON.stringify(part)}`, `a value of type ${type.name}`);
  const b = type.parse(part, field);
  return { from: b, to: b };
}

/** Bytes in network order for comparisons (host-order types are swapped on little-endian hosts). */
export function toBig(type: NftDatatype, b: Buffer): Buffer {
  return type.byteorder === 'host' && HOST_LE && b.length > 1 ? Buffer.from(b).reverse() : b;
}
export function fromBig(type: NftDatatype, b: Buffer): Buffer {
  return toBig(type, b);
}

function compareBig(type: NftDatatype, a: Buffer, b: Buffer): number {
  return Buffer.compare(toBig(type, a), toBig(type, b));
}

/** The prefix length if [from, to] is exactly a prefix, else undefined. */
export function asPrefix(from: Buffer, to: Buffer): number | undefined {
  let bits = 0;
  let i = 0;
  for (; i < from.length && from[i] === to[i]; i++) bits += 8;
  if (i === from.length) return bits;
  const x = from[i]! ^ to[i]!;
  let n = 0;
  while (n < 8 && !(x & (0x80 >> n))) n++;
  const low = 0xff >> n;
  if ((from[i]! & low) !== 0 || (to[i]! & low) !== low) return undefined;
  bits += n;
  for (i++; i < from.length; i++) if (from[i] !== 0 || to[i] !== 0xff) return undefined;
  return bits;
}

/** The canonical API value of bytes [from, to] of `type`. */
export function formatPart(type: NftDatatype, from: Buffer, to: Buffer): NftValuePart {
  if (from.equals(to)) return type.value(from);
  if (type.prefixable) {
    const p = asPrefix(from, to);
    if (p !== undefined) return `${type.value(from)}/${p}`;
  }
  return { range: [type.value(from), type.value(to)] };
}

/** nft's text of one part. */
export function partText(type: NftDatatype, part: NftValuePart): string {
  if (isRange(part)) return `${type.text(type.parse(part.range[0], 'value'))}-${type.text(type.parse(part.range[1], 'value'))}`;
  if (type.prefix && typeof part === 'string' && part.includes('/')) {
    const p = type.prefix(part, 'value');
    return `${type.text(p.address)}/${p.length}`;
  }
  return type.text(type.parse(part, 'value'));
}

/** The parts of a value for `types` (one per concatenated field); a ValidationError when the shape differs. */
export function valueParts(types: readonly NftDatatype[], value: unknown, field: string): unknown[] {
  if (types.length === 1) {
    if (Array.isArray(value)) {
      if (value.length !== 1) throw new ValidationError(field, `${value.length} values for one key`, 'a single value');
      return value;
    }
    return [value];
  }
  if (!Array.isArray(value) || value.length !== types.length) {
    throw new ValidationError(
      field,
      `expected ${types.length} concatenated values`,
      `an array of ${types.length} values (${types.map((t) => t.name).join(' . ')})`,
    );
  }
  return value;
}

/** nft's text of a (possibly concatenated) value. */
export function valueText(types: readonly NftDatatype[], value: NftValue): string {
  const parts = types.length === 1 && !Array.isArray(value) ? [value as NftValuePart] : (value as NftValuePart[]);
  return parts.map((p, i) => partText(types[i] ?? types[0]!, p)).join(' . ');
}

/** Canonical form of a value: what decoding the bytes it encodes to gives. */
export function canonicalValue(types: readonly NftDatatype[], value: unknown, field: string): NftValue {
  const parts = valueParts(types, value, field).map((p, i) => {
    const b = parsePart(types[i]!, p, types.length > 1 ? `${field}[${i}]` : field);
    return formatPart(types[i]!, b.from, b.to);
  });
  return types.length === 1 ? parts[0]! : parts;
}

/** Concatenates fields, each padded to 4 bytes (how concatenations sit in registers and sets). */
export function concatBytes(parts: readonly Buffer[]): Buffer {
  if (parts.length === 1) return parts[0]!;
  const out = Buffer.alloc(parts.reduce((n, p) => n + pad4(p.length), 0));
  let at = 0;
  for (const p of parts) {
    p.copy(out, at);
    at += pad4(p.length);
  }
  return out;
}

/** Splits concatenated bytes back into fields of the given lengths. */
export function splitConcat(b: Buffer, lens: readonly number[]): Buffer[] | undefined {
  if (lens.length === 1) return b.length === lens[0] ? [b] : undefined;
  const out: Buffer[] = [];
  let at = 0;
  for (const len of lens) {
    if (at + len > b.length) return undefined;
    out.push(b.subarray(at, at + len));
    at += pad4(len);
  }
  return at === b.length ? out : undefined;
}

/** Adds one to a big-endian number; undefined on overflow (the range reaches the maximum). */
export function increment(b: Buffer): Buffer | undefined {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0xff) {
      out[i]!++;
      return out;
    }
    out[i] = 0;
  }
  return undefined;
}

/** Subtracts one from a big-endian number. */
export function decrement(b: Buffer): Buffer {
  const out = Buffer.from(b);
  for (let i = out.length - 1; i >= 0; i--) {
    if (out[i] !== 0) {
      out[i]!--;
      return out;
    }
    out[i] = 0xff;
  }
  return out;
}

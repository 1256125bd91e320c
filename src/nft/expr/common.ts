/**
 * What every expression file shares: registers, NFTA_DATA values and
 * verdicts, the codec interface, and libnftnl's debug notation
 * (`nft --debug=netlink`), used for golden comparisons and for rendering
 * expressions nothing higher-level understood.
 */
import { DecodeError } from '../../errors.js';
import { type AttrSet, attrs } from '../../netlink/attributes.js';
import type { Writer } from '../../netlink/writer.js';

export const NFT_REG_VERDICT = 0;
export const NFT_REG_1 = 1;
export const NFT_REG32_00 = 8;

/** The 32-bit slot a register number starts at (NFT_REG_1..4 are 16-byte registers). */
export function regSlot(reg: number): number {
  if (reg >= NFT_REG_1 && reg <= 4) return (reg - 1) * 4;
  if (reg >= NFT_REG32_00 && reg <= NFT_REG32_00 + 15) return reg - NFT_REG32_00;
  return -1;
}

/** The register number nft writes for a 32-bit slot: the 16-byte name when aligned, else NFT_REG32_xx. */
export function slotReg(slot: number): number {
  return slot % 4 === 0 ? 1 + slot / 4 : NFT_REG32_00 + slot;
}

/** Registers a value of `len` bytes occupies. */
export const regSpan = (len: number): number => Math.ceil(len / 4);

export const verdictAttrs = attrs('verdict', {
  code: { type: 1, kind: 'sbe32' },
  chain: { type: 2, kind: 'string' },
  chainId: { type: 3, kind: 'be32' },
});

export const dataAttrs = attrs('data', {
  value: { type: 1, kind: 'binary' },
  verdict: { type: 2, kind: 'nested', schema: verdictAttrs },
});

export type DataValue = { value?: Buffer; verdict?: { code?: number; chain?: string; chainId?: number } };

/** The value bytes of a decoded NFTA_DATA nest, or a DecodeError. */
export function dataValue(d: DataValue | undefined, path: string): Buffer {
  if (!d || !d.value) throw new DecodeError('missing NFTA_DATA_VALUE', path);
  return d.value;
}

/** A low-level expression codec: one kernel expression, both ways, plus its debug text. */
export interface ExprCodec<T extends { name: string }> {
  readonly name: T['name'];
  /** The field name of an attribute type in NFTA_EXPR_DATA. */
  fieldName(type: number): string | undefined;
  encode(w: Writer, e: T): void;
  decode(buf: Buffer, start: number, end: number): T;
  debug(e: T): string;
}

/**
 * Builds a codec from an attribute schema and the two mappings between the
 * schema's values and the expression object.
 */
export function defineExpr<T extends { name: string }, V>(
  name: T['name'],
  schema: AttrSet<V>,
  to: (e: T) => V,
  from: (v: V, path: string) => T,
  debug: (e: T) => string,
  /** A hand-written encoder for hot expressions; must write what `to` + the schema would. */
  fast?: (w: Writer, e: T) => void,
): ExprCodec<T> {
  return {
    name,
    fieldName: (type) => schema.nameOf(type),
    encode: fast ?? ((w, e) => schema.encode(w, to(e))),
    decode: (buf, start, end) => from(schema.decode(buf, start, end, name), name),
    debug,
  };
}

/** Requires a decoded field. */
export function need<T>(v: T | undefined, field: string, path: string): T {
  if (v === undefined) throw new DecodeError(`missing ${field}`, path);
  return v;
}

/** libnftnl prints data as host-order 32-bit words. */
export function words(b: Buffer): string {
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 4) {
    const w = Buffer.alloc(4);
    b.copy(w, 0, i, Math.min(i + 4, b.length));
    out.push(`0x${w.readUInt32LE(0).toString(16).padStart(8, '0')}`);
  }
  return out.join(' ');
}

export const VERDICT_NAMES: Record<number, string> = {
  0: 'drop',
  1: 'accept',
  3: 'queue',
  [-1]: 'continue',
  [-2]: 'break',
  [-3]: 'jump',
  [-4]: 'goto',
  [-5]: 'return',
};

export const CMP_OPS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte'] as const;
export type CmpOpName = (typeof CMP_OPS)[number];

export const BASES = ['link layer', 'network', 'transport', 'inner'] as const;

// ---------------------------------------------------------------- hand-written encoding

// Plain byte stores: these run a few hundred thousand times for a large batch.

/** A big-endian u32 attribute (registers, keys, ops). */
export function be32Attr(w: Writer, type: number, v: number | undefined): void {
  if (v === undefined) return;
  w.ensure(8);
  const b = w.buf;
  const p = w.pos;
  b[p] = 8;
  b[p + 1] = 0;
  b[p + 2] = type & 0xff;
  b[p + 3] = type >>> 8;
  b[p + 4] = v >>> 24;
  b[p + 5] = (v >>> 16) & 0xff;
  b[p + 6] = (v >>> 8) & 0xff;
  b[p + 7] = v & 0xff;
  w.pos = p + 8;
}

/** Starts a nest (or any attribute); returns its offset for `nestEnd`. */
export function nestBegin(w: Writer, type: number): number {
  w.ensure(4);
  const p = w.pos;
  w.buf[p + 2] = type & 0xff;
  w.buf[p + 3] = type >>> 8;
  w.pos = p + 4;
  return p;
}

/** Writes the attribute length and pads to 4 bytes. */
export function nestEnd(w: Writer, start: number): void {
  const len = w.pos - start;
  if (len > 0xffff) throw new RangeError(`attribute of ${len} bytes exceeds the 65535-byte netlink limit`);
  w.buf[start] = len & 0xff;
  w.buf[start + 1] = len >>> 8;
  const pad = (4 - (len & 3)) & 3;
  if (pad) {
    w.ensure(pad);
    for (let i = 0; i < pad; i++) w.buf[w.pos++] = 0;
  }
}

/** An NFTA_DATA nest holding a value: `type { VALUE bytes }`. */
export function dataAttr(w: Writer, type: number, value: Buffer | undefined): void {
  if (value === undefined) return;
  const a = nestBegin(w, type | 0x8000);
  const v = nestBegin(w, 1);
  w.bytes(value);
  nestEnd(w, v);
  nestEnd(w, a);
}

/** A NUL-terminated string attribute. */
export function stringAttr(w: Writer, type: number, s: string | undefined): void {
  if (s === undefined) return;
  const a = w.beginAttr(type);
  w.ensure(s.length * 3 + 1);
  w.pos += w.buf.write(s, w.pos, 'utf8');
  w.u8(0);
  w.endAttr(a);
}

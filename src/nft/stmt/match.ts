/**
 * match: `tcp dport 22`, `ip saddr 10.0.0.0/24`, `ct state new`,
 * `meta skuid < 1000`, ranges, masks, flag tests and set membership. Reading
 * back: cmp and range end a match; bitwise and byteorder refine the key a
 * register holds before them.
 */
import { ValidationError } from '../../errors.js';
import { parseIfname } from '../../grammar/index.js';
import { DATATYPES, type NftDatatype } from '../datatype.js';
import { setSourceText } from '../element-text.js';
import { byteorderSize } from '../expr/byteorder.js';
import type { CmpOpName } from '../expr/common.js';
import type { BitwiseExpr, ByteorderExpr, CmpExpr, PayloadExpr, RangeExpr } from '../expr/index.js';
import type { NftMatchOp, NftMatchStmt, NftValuePart } from '../model.js';
import { type KeyDef, keyByteorder } from '../selectors/key.js';
import { bitfieldData, bitfieldValue, payloadBitfield } from '../selectors/payload.js';
import { keyDefsOf } from '../selectors/registry.js';
import { concatBytes, formatPart, fromBig, isSetSource, parsePart, splitConcat, toBig, valueParts, valueText } from '../values.js';
import type { DelinCtx, DelinResult, KeyReg, LinCtx, TextCtx } from './context.js';
import { linearizeSetMatch } from './lookup.js';

const MATCH_OPS: readonly NftMatchOp[] = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'any', 'none'];
const ORDER_OPS = new Set<NftMatchOp>(['lt', 'lte', 'gt', 'gte']);

const isWildcard = (t: NftDatatype, v: unknown): v is string => t === DATATYPES.ifname && typeof v === 'string' && v.endsWith('*');

function cmp(op: CmpOpName, data: Buffer): CmpExpr {
  return { name: 'cmp', sreg: 1, op, data };
}

/** Linearizes a match the way nft does (see the module comment of linearize.ts). */
export function linearizeMatch(s: NftMatchStmt, ctx: LinCtx): void {
  const f = ctx.field;
  if (!MATCH_OPS.includes(s.op)) throw new ValidationError(`${f}.op`, `unknown operator ${JSON.stringify(s.op)}`, MATCH_OPS.join(', '));
  let defs = ctx.keys(s.key, `${f}.key`);
  let value: unknown = s.value;
  if (defs.some((d) => d.bitfield)) {
    linearizeBitfieldMatch(s, defs, ctx);
    return;
  }
  if (isSetSource(value)) {
    const els = 'elements' in value ? value.elements : undefined;
    // nft writes a one-element anonymous set of one key as a plain comparison.
    if (
      els &&
      els.length === 1 &&
      defs.length === 1 &&
      els[0]!.data === undefined &&
      (s.op === 'eq' || s.op === 'neq') &&
      s.mask === undefined
    ) {
      value = els[0]!.key;
    } else {
      linearizeSetMatch(s, defs, value, ctx);
      return;
    }
  }
  if (defs.length === 1 && defs[0]!.refine) defs = [defs[0]!.refine(value)];
  ctx.require(defs);
  if (defs.length > 1) {
    if (s.op !== 'eq' && s.op !== 'neq') throw new ValidationError(`${f}.op`, `${s.op} on a concatenation`, 'eq or neq (or a set)');
    const parts = valueParts(
      defs.map((d) => d.type),
      value,
      `${f}.value`,
    ).map((p, i) => {
      const b = parsePart(defs[i]!.type, p, `${f}.value[${i}]`);
      if (!b.from.equals(b.to))
        throw new ValidationError(`${f}.value[${i}]`, 'ranges and prefixes in a concatenation need a set', 'single values');
      return b.from;
    });
    ctx.load(defs, false);
    ctx.emit(cmp(s.op, concatBytes(parts)));
    return;
  }
  const d = defs[0]!;
  const t = d.type;
  if (s.op === 'any' || s.op === 'none') {
    if (s.mask !== undefined) throw new ValidationError(`${f}.mask`, `a mask with ${s.op}`, 'no mask');
    const bits = t.parse(value, `${f}.value`);
    ctx.load(defs, false);
    ctx.emit(
      { name: 'bitwise', sreg: 1, dreg: 1, len: d.len, mask: bits, xor: Buffer.alloc(d.len) },
      cmp(s.op === 'any' ? 'neq' : 'eq', Buffer.alloc(d.len)),
    );
    return;
  }
  if (s.mask !== undefined) {
    if (s.op !== 'eq' && s.op !== 'neq') throw new ValidationError(`${f}.op`, `${s.op} with a mask`, 'eq or neq');
    const mask = t.parse(s.mask, `${f}.mask`);
    const v = t.parse(value, `${f}.value`);
    ctx.load(defs, false);
    // An explicit `&` carries the operation; nft's own flag tests and prefixes do not.
    ctx.emit({ name: 'bitwise', sreg: 1, dreg: 1, op: 0, len: d.len, mask, xor: Buffer.alloc(d.len) }, cmp(s.op, v));
    return;
  }
  if (isWildcard(t, value)) {
    const stem = value.slice(0, -1);
    if (!parseIfname(stem, { rule: 'bytes' }).ok || (s.op !== 'eq' && s.op !== 'neq')) {
      throw new ValidationError(
        `${f}.value`,
        `invalid interface wildcard ${JSON.stringify(value)}`,
        'a prefix of 1 to 15 bytes followed by *, compared with eq or neq',
      );
    }
    ctx.load(defs, false);
    ctx.emit(cmp(s.op, Buffer.from(stem)));
    return;
  }
  const b = parsePart(t, value, `${f}.value`);
  const host = keyByteorder(d) === 'host';
  if (b.prefix !== undefined) {
    if (s.op !== 'eq' && s.op !== 'neq') throw new ValidationError(`${f}.op`, `${s.op} with a prefix`, 'eq or neq');
    if (b.prefix === 0) throw new ValidationError(`${f}.value`, 'a /0 prefix matches everything', 'a longer prefix, or no match');
    if (b.prefix % 8 === 0 && d.truncatable) {
      const n = b.prefix / 8;
      ctx.load(defs, false, n);
      ctx.emit(cmp(s.op, b.from.subarray(0, n)));
    } else {
      ctx.load(defs, false);
      ctx.emit(
        { name: 'bitwise', sreg: 1, dreg: 1, len: d.len, mask: prefixMask(b.prefix, d.len), xor: Buffer.alloc(d.len) },
        cmp(s.op, b.from),
      );
    }
    return;
  }
  if (!b.from.equals(b.to)) {
    ctx.load(defs, host);
    if (s.op === 'eq') ctx.emit(cmp('gte', toBig(t, b.from)), cmp('lte', toBig(t, b.to)));
    else if (s.op === 'neq') ctx.emit({ name: 'range', sreg: 1, op: 'neq', from: toBig(t, b.from), to: toBig(t, b.to) });
    else throw new ValidationError(`${f}.op`, `${s.op} with a range`, 'eq or neq');
    return;
  }
  if (ORDER_OPS.has(s.op)) {
    ctx.load(defs, host);
    ctx.emit(cmp(s.op as CmpOpName, toBig(t, b.from)));
    return;
  }
  ctx.load(defs, false);
  ctx.emit(cmp(s.op as CmpOpName, b.from));
}

/**
 * `ip dscp 42`: the bytes holding the field, masked to it, compared with the
 * value shifted into place (nft 1.0.6's form). nft writes sets, ranges and
 * concatenations of a bit field with shifts; netfwd does not need them and
 * refuses them rather than write a different rule.
 */
function linearizeBitfieldMatch(s: NftMatchStmt, defs: KeyDef[], ctx: LinCtx): void {
  const f = ctx.field;
  const d = defs[0]!;
  const expected = `one value compared with eq or neq, e.g. ${d.text} 42 (sets, ranges and concatenations of ${d.text} are not supported)`;
  if (defs.length !== 1 || isSetSource(s.value) || s.mask !== undefined || (s.op !== 'eq' && s.op !== 'neq'))
    throw new ValidationError(f, `${d.text} is a bit field`, expected);
  const b = parsePart(d.type, s.value, `${f}.value`);
  if (b.prefix !== undefined || !b.from.equals(b.to)) throw new ValidationError(`${f}.value`, `${d.text} is a bit field`, expected);
  ctx.require(defs);
  ctx.load(defs, false);
  // nft masks a bit field with an explicit `&`, which carries the operation (NFTA_BITWISE_OP).
  ctx.emit(
    { name: 'bitwise', sreg: 1, dreg: 1, op: 0, len: d.len, mask: d.bitfield!.mask, xor: Buffer.alloc(d.len) },
    cmp(s.op, bitfieldData(d, b.from)),
  );
}

/** A masked payload load compared: a bit field (`ip dscp 42`) when the load and mask are one's. */
function bitfieldMatch(k: KeyReg, e: CmpExpr, ctx: DelinCtx): NftMatchStmt | undefined {
  if (!k.mask || k.hton || (k.xor && !isZero(k.xor)) || (e.op !== 'eq' && e.op !== 'neq')) return undefined;
  const load = k.def.load(e.sreg, k.len);
  if (load.name !== 'payload' || load.len !== k.len) return undefined;
  const def = payloadBitfield(load as PayloadExpr, k.mask, ctx.nfproto);
  const value = def && bitfieldValue(def, e.data);
  return def && value ? { type: 'match', key: def.text, op: e.op, value: def.type.value(value) } : undefined;
}

const isZero = (b: Buffer) => b.every((x) => x === 0);

function single(k: KeyReg, op: NftMatchOp, value: NftMatchStmt['value'], mask?: NftMatchStmt['mask']): NftMatchStmt {
  const s: NftMatchStmt = { type: 'match', key: k.def.text, op, value };
  if (mask !== undefined) s.mask = mask;
  return s;
}

/** cmp: ends a match. */
export function delinearizeCmp(e: CmpExpr, ctx: DelinCtx): DelinResult {
  const first = ctx.reg(e.sreg);
  // One key (possibly compared on fewer bytes: interface wildcards), or a concatenation.
  const keys = first?.kind === 'key' && e.data.length <= first.len ? [first] : ctx.keysAt(e.sreg, e.data.length);
  if (!keys) return 'fail';
  if (keys.length > 1) {
    if ((e.op !== 'eq' && e.op !== 'neq') || keys.some((k) => k.mask || k.hton || k.len !== k.def.len)) return 'fail';
    const parts = splitConcat(
      e.data,
      keys.map((k) => k.def.len),
    );
    if (!parts) return 'fail';
    return { type: 'match', key: keys.map((k) => k.def.text), op: e.op, value: parts.map((p, i) => keys[i]!.def.type.value(p)) };
  }
  const k = keys[0]!;
  const d = k.def;
  const t = d.type;
  const bits = k.mask ? bitfieldMatch(k, e, ctx) : undefined;
  if (bits) return bits;
  if (k.mask) {
    if (k.hton || (k.xor && !isZero(k.xor)) || k.len !== d.len || e.data.length !== d.len || k.mask.length !== d.len) return 'fail';
    if (e.op !== 'eq' && e.op !== 'neq') return 'fail';
    if (t.bitmask && isZero(e.data)) return single(k, e.op === 'neq' ? 'any' : 'none', t.value(k.mask));
    const bits = t.prefixable ? prefixBits(k.mask) : undefined;
    if (bits !== undefined && bits > 0 && bits < d.len * 8 && e.data.every((x, i) => (x & ~k.mask![i]!) === 0)) {
      return single(k, e.op, `${t.value(e.data)}/${bits}`);
    }
    return single(k, e.op, t.value(e.data), t.value(k.mask));
  }
  if (k.len < d.len) {
    if (k.hton || (e.op !== 'eq' && e.op !== 'neq') || e.data.length !== k.len) return 'fail';
    const full = Buffer.alloc(d.len);
    e.data.copy(full);
    return single(k, e.op, `${t.value(full)}/${k.len * 8}`);
  }
  if (t === DATATYPES.ifname && e.data.length < d.len && !k.hton) {
    if (e.op !== 'eq' && e.op !== 'neq') return 'fail';
    const nul = e.data.indexOf(0);
    const name = e.data.toString('utf8', 0, nul === -1 ? e.data.length : nul);
    return single(k, e.op, nul === -1 ? `${name}*` : name);
  }
  if (e.data.length !== d.len) return 'fail';
  const host = keyByteorder(d) === 'host';
  if (e.op === 'eq' || e.op === 'neq') {
    if (k.hton) return 'fail';
    return single(k, e.op, t.value(e.data));
  }
  if (host ? !k.hton && d.len > 1 : k.hton) return 'fail';
  const v = k.hton ? fromBig(t, e.data) : e.data;
  const next = ctx.peek();
  if (e.op === 'gte' && next && next.name === 'cmp' && next.op === 'lte' && next.sreg === e.sreg && next.data.length === e.data.length) {
    ctx.take();
    const to = k.hton ? fromBig(t, next.data) : next.data;
    return single(k, 'eq', { range: [t.value(v), t.value(to)] });
  }
  return single(k, e.op, t.value(v));
}

const OP_TEXT: Record<NftMatchOp, string> = { eq: '', neq: '!= ', lt: '< ', lte: '<= ', gt: '> ', gte: '>= ', any: '', none: '! ' };

export function matchText(s: NftMatchStmt, ctx: TextCtx): string {
  let defs: KeyDef[] = keyDefsOf(s.key, ctx.family);
  if (defs.length === 1 && defs[0]!.refine) defs = [defs[0]!.refine(s.value)];
  const types = defs.map((d) => d.type);
  const k = defs.map((d) => d.text).join(' . ');
  const bitmask = defs.length === 1 && !!types[0]!.bitmask;
  const set = isSetSource(s.value);
  const rhs = set ? setSourceText(s.value as never, types) : valueText(types, s.value as NftValuePart);
  if (s.mask !== undefined) {
    const m = types[0]!.text(types[0]!.parse(s.mask, 'mask'));
    if (bitmask) return `${k} ${s.op === 'neq' ? '!= ' : ''}${rhs} / ${m}`;
    return `${k} & ${m} ${s.op === 'neq' ? '!=' : '=='} ${rhs}`;
  }
  const op = s.op === 'eq' && bitmask && !set ? '== ' : OP_TEXT[s.op];
  return `${k} ${op}${rhs}`;
}

/** Canonical form of a match value, as decoding gives it (used by the builder). */
export function canonicalMatchValue(defs: readonly KeyDef[], value: unknown, field: string): NftMatchStmt['value'] {
  if (defs.length === 1) {
    const t = defs[0]!.type;
    if (isWildcard(t, value)) return value;
    const b = parsePart(t, value, field);
    if (b.prefix !== undefined) return `${t.value(b.from)}/${b.prefix}`;
    return b.from.equals(b.to) ? t.value(b.from) : { range: [t.value(b.from), t.value(b.to)] };
  }
  return valueParts(
    defs.map((d) => d.type),
    value,
    field,
  ).map((p, i) => {
    const b = parsePart(defs[i]!.type, p, `${field}[${i}]`);
    return formatPart(defs[i]!.type, b.from, b.to);
  });
}

// ---------------------------------------------------------------- range, bitwise, byteorder on a loaded key

/** range: a range match (`tcp dport != 1000-2000`). */
export function delinearizeRange(e: RangeExpr, ctx: DelinCtx): DelinResult {
  const keys = ctx.keysAt(e.sreg, e.from.length);
  if (!keys || keys.length !== 1 || e.to.length !== e.from.length) return 'fail';
  const k = keys[0]!;
  const t = k.def.type;
  if (k.mask || k.len !== k.def.len || e.from.length !== k.def.len) return 'fail';
  const host = keyByteorder(k.def) === 'host';
  if (host ? !k.hton && k.def.len > 1 : k.hton) return 'fail';
  const from = k.hton ? fromBig(t, e.from) : e.from;
  const to = k.hton ? fromBig(t, e.to) : e.to;
  return { type: 'match', key: k.def.text, op: e.op, value: { range: [t.value(from), t.value(to)] } };
}

/** True when `mask` is `bits` one-bits followed by zeros. */
export function prefixBits(mask: Buffer): number | undefined {
  let bits = 0;
  let i = 0;
  for (; i < mask.length && mask[i] === 0xff; i++) bits += 8;
  if (i < mask.length) {
    const m = mask[i]!;
    let n = 0;
    while (n < 8 && (m & (0x80 >> n)) !== 0) n++;
    if (((0xff << (8 - n)) & 0xff) !== m) return undefined;
    bits += n;
    for (i++; i < mask.length; i++) if (mask[i] !== 0) return undefined;
  }
  return bits;
}

/** A mask of `bits` leading one-bits over `len` bytes. */
export function prefixMask(bits: number, len: number): Buffer {
  const m = Buffer.alloc(len);
  for (let b = 0; b < bits; b++) m[b >> 3]! |= 0x80 >> (b & 7);
  return m;
}

/** bitwise on a loaded key: remembered for the cmp that follows (flags, prefixes, masks). */
export function delinearizeBitwise(e: BitwiseExpr, ctx: DelinCtx): DelinResult {
  const k = ctx.reg(e.sreg);
  if (!k || k.kind !== 'key' || e.sreg !== e.dreg || (e.op !== undefined && e.op !== 0) || !e.mask || k.mask || k.hton) return 'fail';
  if (e.len !== k.len || e.mask.length !== e.len) return 'fail';
  k.mask = e.mask;
  k.xor = e.xor;
  return 'reg';
}

/** byteorder hton on a loaded key: the key is compared in network order (ranges, intervals). */
export function delinearizeByteorder(e: ByteorderExpr, ctx: DelinCtx): DelinResult {
  const k = ctx.reg(e.sreg);
  if (!k || k.kind !== 'key' || e.sreg !== e.dreg || e.op !== 'hton' || k.mask || k.hton) return 'fail';
  if (e.len !== k.len || e.size !== byteorderSize(k.len)) return 'fail';
  k.hton = true;
  return 'reg';
}

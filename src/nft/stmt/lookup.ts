/**
 * Sets and maps in statements: resolving a named or inline set against the
 * keys, the lookup a set match or map lookup linearizes to, and reading a
 * lookup back (a set match, a verdict map, or map data into a register).
 */
import { ValidationError } from '../../errors.js';
import { NFT_SET_ANONYMOUS, NFT_SET_CONCAT, NFT_SET_CONSTANT, NFT_SET_INTERVAL, NFT_SET_MAP } from '../constants.js';
import type { NftDatatype } from '../datatype.js';
import type { LookupExpr } from '../expr/index.js';
import type { NftMatchStmt, NftSetSource, NftVmapStmt } from '../model.js';
import { type KeyDef, keyByteorder } from '../selectors/key.js';
import { keyText } from '../selectors/registry.js';
import { parsePart, valueParts } from '../values.js';
import type { DelinCtx, DelinResult, LinCtx, SetShape } from './context.js';

/** Register span of a set key (concatenated fields are padded to 4 bytes). */
export const shapeKeyLen = (shape: SetShape): number =>
  shape.keyLens.length === 1 ? shape.keyLens[0]! : shape.keyLens.reduce((n, l) => n + ((l + 3) & ~3), 0);

/**
 * The set a statement uses: a named set of the table (checked against the
 * keys) or an inline one, which the transaction creates as an anonymous set.
 */
export function resolveSetSource(
  ctx: LinCtx,
  src: NftSetSource,
  defs: readonly KeyDef[],
  data: readonly NftDatatype[] | 'verdict' | undefined,
  field: string,
): { name: string; id?: number; shape: SetShape } {
  if ('set' in src) {
    const shape = ctx.namedSet(src.set, `${field}.set`);
    const lens = defs.map((d) => d.len);
    if (shape.keyLens.length !== lens.length || shape.keyLens.some((l, i) => l !== lens[i])) {
      throw new ValidationError(
        `${field}.set`,
        `set ${src.set} has keys of ${shape.keyLens.join(' . ')} bytes, the selector loads ${lens.join(' . ')}`,
        `a set whose type fits ${defs.map((d) => d.text).join(' . ')}`,
      );
    }
    if (data && !shape.dataTypes) throw new ValidationError(`${field}.set`, `${src.set} is a set, not a map`, 'a map');
    if (!data && shape.dataTypes) throw new ValidationError(`${field}.set`, `${src.set} is a map, not a set`, 'a set');
    return { name: shape.name, id: shape.id, shape };
  }
  const elements = (src as { elements?: unknown }).elements;
  if (!Array.isArray(elements) || elements.length === 0) {
    throw new ValidationError(`${field}.elements`, 'an inline set needs elements', 'a non-empty list of elements');
  }
  const types = defs.map((d) => d.type);
  let interval = false;
  elements.forEach((el, i) => {
    const parts = valueParts(types, (el as { key?: unknown })?.key, `${field}.elements[${i}].key`);
    parts.forEach((p, j) => {
      const b = parsePart(types[j]!, p, `${field}.elements[${i}].key`);
      if (!b.from.equals(b.to)) interval = true;
    });
  });
  let flags = NFT_SET_ANONYMOUS | NFT_SET_CONSTANT;
  if (data) flags |= NFT_SET_MAP;
  if (interval) flags |= NFT_SET_INTERVAL;
  if (interval && defs.length > 1) flags |= NFT_SET_CONCAT;
  return ctx.inline({ keyDefs: defs, keyTypes: types, dataTypes: data, elements, flags, field });
}

const isInterval = (shape: SetShape) => (shape.flags & NFT_SET_INTERVAL) !== 0;

/** `tcp dport { 22, 80 }`, `ip saddr != @blocked`. */
export function linearizeSetMatch(s: NftMatchStmt, defs: readonly KeyDef[], src: NftSetSource, ctx: LinCtx): void {
  if (s.op !== 'eq' && s.op !== 'neq') throw new ValidationError(`${ctx.field}.op`, `${s.op} with a set`, 'eq or neq');
  if (s.mask !== undefined) throw new ValidationError(`${ctx.field}.mask`, 'a mask with a set', 'no mask');
  ctx.require(defs);
  const { name, id, shape } = resolveSetSource(ctx, src, defs, undefined, `${ctx.field}.value`);
  ctx.load(defs, isInterval(shape));
  const e: LookupExpr = { name: 'lookup', sreg: 1, set: name };
  if (id !== undefined) e.setId = id;
  if (s.op === 'neq') e.flags = 1;
  ctx.emit(e);
}

/** Loads a map's keys and looks them up into register 1 (nat, set and vmap statements). */
export function linearizeMapLookup(
  ctx: LinCtx,
  key: NftVmapStmt['key'],
  src: NftSetSource,
  data: readonly NftDatatype[] | 'verdict',
  field: string,
): SetShape {
  const defs = ctx.keys(key, `${field}.key`);
  ctx.require(defs);
  const { name, id, shape } = resolveSetSource(ctx, src, defs, data, field);
  ctx.load(defs, isInterval(shape));
  const e: LookupExpr = { name: 'lookup', sreg: 1, dreg: data === 'verdict' ? 0 : 1, set: name };
  if (id !== undefined) e.setId = id;
  ctx.emit(e);
  return shape;
}

/** lookup: a set match, a verdict map, or a map lookup into a register. */
export function delinearizeLookup(e: LookupExpr, ctx: DelinCtx): DelinResult {
  const { map, shape } = ctx.source(e);
  const keys = ctx.keysAt(e.sreg, shape ? shapeKeyLen(shape) : undefined);
  if (!keys || keys.some((k) => k.mask || k.len !== k.def.len)) return 'fail';
  if (shape) {
    const interval = isInterval(shape);
    // A one-byte key may come with or without nft's (needless) hton.
    if (keys.some((k) => !!k.hton !== (interval && keyByteorder(k.def) === 'host') && (k.def.len > 1 || !!k.hton))) return 'fail';
  }
  const key = keyText(keys.map((k) => k.def));
  if (e.dreg === undefined) {
    if (e.flags !== undefined && e.flags & ~1) return 'fail';
    return { type: 'match', key, op: e.flags && e.flags & 1 ? 'neq' : 'eq', value: map };
  }
  if (e.flags) return 'fail';
  if (e.dreg === 0) return { type: 'vmap', key, map };
  return ctx.setReg(e.dreg, { kind: 'map', key, defs: keys.map((k) => k.def), map, shape }) ? 'reg' : 'fail';
}

/**
 * set: writes a key (`meta mark set 0x2a`, `ct mark set meta mark`,
 * `tcp option maxseg size set rt mtu`, `ip dscp set 42`, `... set ... map @m`),
 * and reading back the meta, ct, exthdr and bit-field payload writes.
 */
import { ValidationError } from '../../errors.js';
import { setSourceText } from '../element-text.js';
import { byteorderSize } from '../expr/byteorder.js';
import type { CtExpr, ExthdrExpr, MetaExpr, PayloadExpr } from '../expr/index.js';
import type { NftSetStmt } from '../model.js';
import { ctSetKey } from '../selectors/ct.js';
import { exthdrSetKey } from '../selectors/exthdr.js';
import { type KeyDef, keyByteorder } from '../selectors/key.js';
import { metaSetKey } from '../selectors/meta.js';
import { bitfieldWrite, payloadBitfieldWrite } from '../selectors/payload.js';
import { keyDefsOf } from '../selectors/registry.js';
import type { DelinCtx, DelinResult, LinCtx, TextCtx } from './context.js';
import { linearizeMapLookup } from './lookup.js';

/** `meta mark set 0x2a`, `ct mark set meta mark`, `tcp option maxseg size set rt mtu`, `... set ... map @m`. */
export function linearizeSetStmt(s: NftSetStmt, ctx: LinCtx): void {
  const f = ctx.field;
  const target = ctx.key(s.key, `${f}.key`);
  if (target.bitfield) {
    // Written in place: the other bits of its bytes are kept (selectors/payload.ts).
    if (s.value === undefined || s.from !== undefined || s.map !== undefined)
      throw new ValidationError(f, `${target.text} is a bit field: it is set to a value`, `a value, e.g. ${target.text} set 42`);
    ctx.require([target]);
    ctx.emit(...bitfieldWrite(target, target.type.parse(s.value, `${f}.value`)));
    return;
  }
  if (!target.set)
    throw new ValidationError(
      `${f}.key`,
      `${target.text} cannot be set`,
      'meta mark, meta priority, ct mark, ct zone, tcp option maxseg size, ...',
    );
  const given = [s.value !== undefined, s.from !== undefined, s.map !== undefined].filter(Boolean).length;
  if (given !== 1) throw new ValidationError(f, 'needs exactly one of value, from, map', 'value, from or map');
  ctx.require([target]);
  if (s.value !== undefined) {
    ctx.emit({ name: 'immediate', dreg: 1, data: target.type.parse(s.value, `${f}.value`) });
  } else if (s.from !== undefined) {
    const src = ctx.key(s.from, `${f}.from`);
    if (src.len !== target.len)
      throw new ValidationError(
        `${f}.from`,
        `${src.text} has ${src.len} bytes, ${target.text} ${target.len}`,
        'a selector of the same width',
      );
    ctx.require([src]);
    ctx.load([src], false);
    if (keyByteorder(src) === 'host' && keyByteorder(target) === 'big') {
      ctx.emit({ name: 'byteorder', sreg: 1, dreg: 1, op: 'hton', len: src.len, size: byteorderSize(src.len) });
    }
  } else {
    linearizeMapLookup(ctx, s.map!.key, s.map!.map, [target.type], `${f}.map`);
  }
  ctx.emit(target.set(1));
}

export function setStmtText(s: NftSetStmt, ctx: TextCtx): string {
  const [target] = keyDefsOf(s.key, ctx.family);
  let rhs: string;
  if (s.value !== undefined) rhs = target!.type.text(target!.type.parse(s.value, 'value'));
  else if (s.from !== undefined) rhs = keyDefsOf(s.from, ctx.family)[0]!.text;
  else {
    const defs = keyDefsOf(s.map!.key, ctx.family);
    rhs = `${defs.map((d) => d.text).join(' . ')} map ${setSourceText(
      s.map!.map,
      defs.map((d) => d.type),
      [target!.type],
    )}`;
  }
  return `${target!.text} set ${rhs}`;
}

/** A write of register `sreg` into `target`: the value the registers hold decides the form. */
export function delinearizeSet(target: KeyDef | undefined, sreg: number, ctx: DelinCtx): DelinResult {
  if (!target) return 'fail';
  const v = ctx.reg(sreg);
  if (!v) return 'fail';
  if (v.kind === 'imm') {
    if (v.data.length !== target.len) return 'fail';
    return { type: 'set', key: target.text, value: target.type.value(v.data) };
  }
  if (v.kind === 'key') {
    if (v.mask || v.len !== v.def.len || v.def.len !== target.len) return 'fail';
    const conv = keyByteorder(v.def) === 'host' && keyByteorder(target) === 'big';
    if (conv !== !!v.hton) return 'fail';
    return { type: 'set', key: target.text, from: v.def.text };
  }
  return { type: 'set', key: target.text, map: { key: v.key, map: v.map } };
}

/** meta: a load (handled generically) or `meta ... set`. */
export function delinearizeMeta(e: MetaExpr, ctx: DelinCtx): DelinResult | undefined {
  if (e.sreg === undefined) return undefined;
  return delinearizeSet(metaSetKey(e), e.sreg, ctx);
}

/** ct: a load (handled generically) or `ct ... set`. */
export function delinearizeCt(e: CtExpr, ctx: DelinCtx): DelinResult | undefined {
  if (e.sreg === undefined) return undefined;
  return delinearizeSet(ctSetKey(e), e.sreg, ctx);
}

/** payload: a load (handled generically) or a write; netfwd reads back the bit-field writes nft makes (`ip dscp set 42`). */
export function delinearizePayload(e: PayloadExpr, ctx: DelinCtx): DelinResult | undefined {
  if (e.sreg === undefined) return undefined;
  const k = ctx.reg(e.sreg);
  if (!k || k.kind !== 'key' || !k.mask || !k.xor || k.hton) return 'fail';
  const load = k.def.load(e.sreg, k.len);
  if (load.name !== 'payload' || load.len !== k.len) return 'fail';
  const w = payloadBitfieldWrite(load as PayloadExpr, k.mask, k.xor, e, ctx.nfproto);
  return w ? { type: 'set', key: w.def.text, value: w.def.type.value(w.value) } : 'fail';
}

/** exthdr: a load (handled generically) or `tcp option ... set`. */
export function delinearizeExthdr(e: ExthdrExpr, ctx: DelinCtx): DelinResult | undefined {
  if (e.sreg === undefined) return undefined;
  if (e.flags) return 'fail';
  return delinearizeSet(exthdrSetKey(e), e.sreg, ctx);
}

/** Reading a hash back: over a register holding a whole key, it makes the jhash key (selectors/hash.ts). */
import type { HashExpr } from '../expr/hash.js';
import { hashKeyDef } from '../selectors/hash.js';
import type { DelinCtx, DelinResult } from './context.js';

/** hash over a register holding a whole key: the register `dreg` then holds the jhash key. */
export function delinearizeHash(e: HashExpr, ctx: DelinCtx): DelinResult {
  if (e.type !== 0 || e.seed === undefined) return 'fail';
  const src = ctx.reg(e.sreg);
  if (!src || src.kind !== 'key' || src.mask || src.hton || src.len !== src.def.len || e.len !== src.len || src.def.prepare) return 'fail';
  const def = hashKeyDef(src.def, e.modulus, e.seed, e.offset);
  return ctx.setReg(e.dreg, { kind: 'key', def, len: 4 }) ? 'reg' : 'fail';
}

/** counter: an anonymous counter, or a named counter object (`counter name "x"`, an objref). */
import { ValidationError } from '../../errors.js';
import { NFT_OBJECT_COUNTER } from '../expr/counter.js';
import type { CounterExpr, ObjrefExpr } from '../expr/index.js';
import type { NftCounterStmt } from '../model.js';
import type { DelinCtx, DelinResult, LinCtx } from './context.js';

/** Counters are u64 on the wire; the API uses numbers (exact to 2^53). */
export const toCount = (v: bigint | undefined): number => Number(v ?? 0n);

function count(v: unknown, field: string): bigint | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)
    throw new ValidationError(field, 'invalid count', 'a non-negative integer');
  return BigInt(v);
}

export function linearizeCounter(s: NftCounterStmt, ctx: LinCtx): void {
  if (s.name !== undefined) {
    if (typeof s.name !== 'string' || !s.name)
      throw new ValidationError(`${ctx.field}.name`, 'invalid counter name', 'the name of a counter object');
    ctx.emit({ name: 'objref', objType: NFT_OBJECT_COUNTER, objName: s.name });
    return;
  }
  const e: CounterExpr = { name: 'counter' };
  const packets = count(s.packets, `${ctx.field}.packets`);
  const bytes = count(s.bytes, `${ctx.field}.bytes`);
  if (packets) e.packets = packets;
  if (bytes) e.bytes = bytes;
  ctx.emit(e);
}

export function counterText(s: NftCounterStmt): string {
  if (s.name !== undefined) return `counter name ${JSON.stringify(s.name)}`;
  return `counter packets ${s.packets ?? 0} bytes ${s.bytes ?? 0}`;
}

export function delinearizeCounter(e: CounterExpr, _ctx: DelinCtx): DelinResult {
  return { type: 'counter', packets: toCount(e.packets), bytes: toCount(e.bytes) };
}

export function delinearizeObjref(e: ObjrefExpr, _ctx: DelinCtx): DelinResult {
  if (e.objType !== NFT_OBJECT_COUNTER || e.objName === undefined || e.setName !== undefined) return 'fail';
  return { type: 'counter', name: e.objName };
}

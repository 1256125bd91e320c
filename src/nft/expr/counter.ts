/** counter (anonymous packet and byte counts) and objref (a named counter object, `counter name "x"`). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';
import { ValidationError } from '../../errors.js';
import type { DelinCtx, DelinResult } from '../delinearize.js';
import type { LinCtx } from '../linearize.js';
import type { NftCounterStmt } from '../types.js';

export interface CounterExpr {
  name: 'counter';
  packets?: bigint;
  bytes?: bigint;
}

const counterSchema = attrs('counter', {
  bytes: { type: 1, kind: 'be64' },
  packets: { type: 2, kind: 'be64' },
});

export const counterCodec = defineExpr<CounterExpr, typeof counterSchema._values & {}>(
  'counter',
  counterSchema,
  // nft sends a new counter as an empty nest.
  (e) => ({ bytes: e.bytes || undefined, packets: e.packets || undefined }),
  (v) => {
    const e: CounterExpr = { name: 'counter' };
    if (v.packets !== undefined) e.packets = v.packets;
    if (v.bytes !== undefined) e.bytes = v.bytes;
    return e;
  },
  (e) => `counter pkts ${e.packets ?? 0n} bytes ${e.bytes ?? 0n}`,
);

export interface ObjrefExpr {
  name: 'objref';
  /** NFT_OBJECT_COUNTER = 1, QUOTA = 2, ... */
  objType?: number;
  objName?: string;
  /** Object chosen by a map lookup. */
  setSreg?: number;
  setName?: string;
  setId?: number;
}

const objrefSchema = attrs('objref', {
  objType: { type: 1, kind: 'be32' },
  // libnftnl writes the name without its NUL; the kernel accepts both.
  objName: { type: 2, kind: 'bstring' },
  setSreg: { type: 3, kind: 'be32' },
  setName: { type: 4, kind: 'string' },
  setId: { type: 5, kind: 'be32' },
});

export const objrefCodec = defineExpr<ObjrefExpr, typeof objrefSchema._values & {}>(
  'objref',
  objrefSchema,
  (e) => ({ objType: e.objType, objName: e.objName, setSreg: e.setSreg, setName: e.setName, setId: e.setId }),
  (v) => {
    const e: ObjrefExpr = { name: 'objref' };
    if (v.objType !== undefined) e.objType = v.objType;
    if (v.objName !== undefined) e.objName = v.objName;
    if (v.setSreg !== undefined) e.setSreg = v.setSreg;
    if (v.setName !== undefined) e.setName = v.setName;
    if (v.setId !== undefined) e.setId = v.setId;
    return e;
  },
  (e) => (e.setName !== undefined ? `objref sreg ${e.setSreg} set ${e.setName}` : `objref type ${e.objType} name ${e.objName}`),
);

export const NFT_OBJECT_COUNTER = 1;

/** Counters are u64 on the wire; the API uses numbers (exact to 2^53). */
export const toCount = (v: bigint | undefined): number => Number(v ?? 0n);
export { need };

// ---------------------------------------------------------------- statements

function count(v: unknown, field: string): bigint | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ValidationError(field, 'invalid count', 'a non-negative integer');
  return BigInt(v);
}

export function linearizeCounter(s: NftCounterStmt, ctx: LinCtx): void {
  if (s.name !== undefined) {
    if (typeof s.name !== 'string' || !s.name) throw new ValidationError(`${ctx.field}.name`, 'invalid counter name', 'the name of a counter object');
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

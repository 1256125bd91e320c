/** limit: `limit rate 10/second`, `limit rate over 1 mbytes/second burst 100 kbytes`. */
import { ValidationError } from '../../errors.js';
import type { LimitExpr } from '../expr/index.js';
import { LIMIT_UNITS } from '../expr/limit.js';
import type { NftLimitPer, NftLimitStmt } from '../model.js';
import type { DelinCtx, DelinResult, LinCtx } from './context.js';

export function linearizeLimit(s: NftLimitStmt, ctx: LinCtx): void {
  const f = ctx.field;
  const unit = LIMIT_UNITS[s.per];
  if (unit === undefined)
    throw new ValidationError(`${f}.per`, `unknown unit ${JSON.stringify(s.per)}`, Object.keys(LIMIT_UNITS).join(', '));
  if (!Number.isSafeInteger(s.rate) || s.rate <= 0) throw new ValidationError(`${f}.rate`, 'invalid rate', 'a positive integer');
  if (!Number.isInteger(s.burst) || s.burst < 0 || s.burst > 0xffffffff)
    throw new ValidationError(`${f}.burst`, 'invalid burst', 'a non-negative integer');
  ctx.emit({ name: 'limit', rate: BigInt(s.rate), unit, burst: s.burst, type: s.bytes ? 1 : 0, flags: s.over ? 1 : 0 });
}

export function delinearizeLimit(e: LimitExpr, _ctx: DelinCtx): DelinResult {
  const per = (Object.entries(LIMIT_UNITS) as [NftLimitPer, bigint][]).find(([, v]) => v === e.unit)?.[0];
  if (!per || (e.type !== 0 && e.type !== 1) || e.flags & ~1 || e.rate > BigInt(Number.MAX_SAFE_INTEGER)) return 'fail';
  const s: NftLimitStmt = { type: 'limit', rate: Number(e.rate), per, burst: e.burst };
  if (e.type === 1) s.bytes = true;
  if (e.flags & 1) s.over = true;
  return s;
}

/** nft prints byte rates in the largest of bytes, kbytes, mbytes that divides them. */
function bytesText(n: number): string {
  const units = ['bytes', 'kbytes', 'mbytes'];
  let i = 0;
  while (i < units.length - 1 && n !== 0 && n % 1024 === 0) {
    n /= 1024;
    i++;
  }
  return `${n} ${units[i]}`;
}

export function limitText(s: NftLimitStmt): string {
  const over = s.over ? 'over ' : '';
  if (s.bytes) return `limit rate ${over}${bytesText(s.rate)}/${s.per}${s.burst ? ` burst ${bytesText(s.burst)}` : ''}`;
  return `limit rate ${over}${s.rate}/${s.per}${s.burst !== 5 ? ` burst ${s.burst} packets` : ''}`;
}

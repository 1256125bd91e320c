/** xt: iptables-nft's compat match and target expressions, kept as they are. */
import type { XtExpr } from '../expr/index.js';
import type { NftXtStmt } from '../model.js';
import type { DelinResult, LinCtx } from './context.js';

export function linearizeXt(s: NftXtStmt, ctx: LinCtx): void {
  ctx.emit({ name: s.kind, xtName: s.name, rev: s.rev, info: s.info });
}

export function delinearizeXt(e: XtExpr): DelinResult {
  return { type: 'xt', kind: e.name, name: e.xtName, rev: e.rev, info: e.info };
}

/** nft prints what it cannot translate as `xt match NAME` / `xt target NAME`. */
export const xtText = (s: NftXtStmt): string => `xt ${s.kind} ${s.name}`;

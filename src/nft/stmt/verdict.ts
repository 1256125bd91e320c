/** verdict: accept, drop, jump, goto, ... (an immediate into the verdict register); reading back immediates. */
import type { ImmediateExpr } from '../expr/index.js';
import type { NftVerdictStmt } from '../model.js';
import { verdictFromKernel, verdictText, verdictToKernel } from '../verdict.js';
import type { DelinCtx, DelinResult, LinCtx } from './context.js';

export function linearizeVerdict(s: NftVerdictStmt, ctx: LinCtx): void {
  ctx.emit({ name: 'immediate', dreg: 0, verdict: verdictToKernel(s, ctx.field) });
}

export function verdictStmtText(s: NftVerdictStmt): string {
  return verdictText(s);
}

/** immediate: a verdict statement, or a constant for the statement that follows. */
export function delinearizeImmediate(e: ImmediateExpr, ctx: DelinCtx): DelinResult {
  if (e.dreg === 0) {
    const v = e.verdict && verdictFromKernel(e.verdict);
    if (!v) return 'fail';
    return { type: 'verdict', ...v };
  }
  if (!e.data) return 'fail';
  return ctx.setReg(e.dreg, { kind: 'imm', data: e.data }) ? 'reg' : 'fail';
}

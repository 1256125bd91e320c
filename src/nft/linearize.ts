/**
 * Statements → kernel expressions, the way nft 1.0 linearizes them: the same
 * registers, the same protocol dependencies (`meta l4proto tcp` before
 * `tcp dport`), the same byte-order conversions, so a rule built here is
 * byte-identical to the same rule loaded with `nft -f`.
 */
import { ValidationError } from '../errors.js';
import type { NftExpr } from './expr/index.js';
import type { NftStmt } from './model.js';
import { establish, LinCtx, type LinearizeOptions } from './stmt/context.js';
import { STMT_LINEARIZERS } from './stmt/registry.js';

export { type InlineSetRequest, initialProto, LinCtx, type LinearizeOptions, type SetShape } from './stmt/context.js';

/** Linearizes a rule's statements. */
export function linearize(stmts: readonly NftStmt[], opts: LinearizeOptions, path?: string): NftExpr[] {
  const ctx = new LinCtx(opts);
  linearizeInto(ctx, stmts, path ?? opts.path ?? 'expr');
  return ctx.out;
}

export function linearizeInto(ctx: LinCtx, stmts: readonly NftStmt[], path: string): void {
  if (!Array.isArray(stmts)) throw new ValidationError(path, 'not a list of statements', 'an array of statements (use nftExpr)');
  ctx.field = path;
  for (let i = 0; i < stmts.length; i++) {
    const s = stmts[i]!;
    ctx.index = i;
    const handler = s && typeof s === 'object' ? (STMT_LINEARIZERS as Record<string, unknown>)[s.type as string] : undefined;
    if (!handler)
      throw new ValidationError(
        ctx.field,
        `unknown statement ${JSON.stringify((s as { type?: unknown })?.type)}`,
        'a statement made with nftExpr',
      );
    (handler as (s: NftStmt, ctx: LinCtx) => void)(s, ctx);
    establish(s, ctx);
  }
}

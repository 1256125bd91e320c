/** vmap: a verdict map (`tcp dport vmap { 22 : accept }`); read back by stmt/lookup.ts. */
import { setSourceText } from '../element-text.js';
import type { NftVmapStmt } from '../model.js';
import { keyDefsOf } from '../selectors/registry.js';
import type { LinCtx, TextCtx } from './context.js';
import { linearizeMapLookup } from './lookup.js';

export function linearizeVmap(s: NftVmapStmt, ctx: LinCtx): void {
  linearizeMapLookup(ctx, s.key, s.map, 'verdict', ctx.field);
}

export function vmapText(s: NftVmapStmt, ctx: TextCtx): string {
  const defs = keyDefsOf(s.key, ctx.family);
  return `${defs.map((d) => d.text).join(' . ')} vmap ${setSourceText(
    s.map,
    defs.map((d) => d.type),
  )}`;
}

/** Small helpers the statement decoders share (kept apart to avoid import cycles). */
import type { KeyDef } from './keys.js';
import type { NftKeyExpr } from './types.js';

/** The key expression text of loaded keys: one key, or a concatenation. */
export const keyText = (defs: readonly KeyDef[]): NftKeyExpr => (defs.length === 1 ? defs[0]!.text : defs.map((d) => d.text));

/**
 * The selector registry: finds a key by its text (for building rules) and by
 * its load expression (for reading them back), over the tables of this folder.
 */
import { ValidationError } from '../../errors.js';
import type { NftFamily } from '../constants.js';
import type { NftExpr } from '../expr/index.js';
import type { NftKeyExpr } from '../model.js';
import { ctKeys } from './ct.js';
import { exthdrKeys } from './exthdr.js';
import { fibKeys } from './fib.js';
import { hashKeys } from './hash.js';
import type { KeyDef, KeyProvider, ProtoCtx, Recognized } from './key.js';
import { metaKeys } from './meta.js';
import { payloadKeys } from './payload.js';
import { rtKeys } from './rt.js';
import { socketKeys } from './socket.js';

const PROVIDERS: readonly KeyProvider[] = [
  payloadKeys,
  metaKeys,
  ctKeys,
  socketKeys,
  rtKeys,
  exthdrKeys,
  fibKeys,
  hashKeys((text, family) => findKey(text, family)),
];

const cache = new Map<NftFamily, Map<string, KeyDef | null>>();

/** The key for nft text, or undefined. */
export function findKey(text: string, family: NftFamily): KeyDef | undefined {
  let byText = cache.get(family);
  if (!byText) cache.set(family, (byText = new Map()));
  const hit = byText.get(text);
  if (hit !== undefined) return hit ?? undefined;
  const norm = text.trim().replace(/\s+/g, ' ');
  let def: KeyDef | undefined;
  for (const p of PROVIDERS) {
    def = p.parse(norm, family);
    if (def) break;
  }
  if (byText.size < 4096) byText.set(text, def ?? null);
  return def;
}

/** The key for nft text; a ValidationError naming `field` when unknown. */
export function keyDef(text: unknown, family: NftFamily, field: string): KeyDef {
  const def = typeof text === 'string' ? findKey(text, family) : undefined;
  if (!def) {
    throw new ValidationError(
      field,
      `unknown selector ${JSON.stringify(text)}`,
      'nft selector text such as "ip saddr", "tcp dport", "meta mark", "ct state", "socket cgroupv2 level 2" or "@th,16,16"',
    );
  }
  return def;
}

/** The key a load expression reads, given what earlier matches established. */
export function recognizeKey(e: NftExpr, ctx: ProtoCtx): Recognized | undefined {
  for (const p of PROVIDERS) {
    const r = p.recognize(e, ctx);
    if (r) return r;
  }
  return undefined;
}

export function keyDefsOf(k: NftKeyExpr, family: NftFamily): KeyDef[] {
  return (Array.isArray(k) ? k : [k]).map((t, i) => keyDef(t, family, `key[${i}]`));
}

export function keyExprText(k: NftKeyExpr): string {
  return Array.isArray(k) ? k.join(' . ') : (k as string);
}

/** The key expression text of loaded keys: one key, or a concatenation. */
export const keyText = (defs: readonly KeyDef[]): NftKeyExpr => (defs.length === 1 ? defs[0]!.text : defs.map((d) => d.text));

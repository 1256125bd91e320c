/**
 * Hash selectors: `jhash ip saddr mod 12 seed 0x4e46` — a Jenkins hash of
 * another key's bytes, modulo a number (plus `offset N`), as a 32-bit
 * host-order value (datatype mark, as a map key). A load is two
 * expressions: the source key into the register, then the hash over it in
 * place. The seed is always written: without one the kernel picks a random
 * seed per rule, and a rule rebuilt would send clients elsewhere.
 * Reading back: the hash's source register holds a key (stmt/hash.ts).
 * nft 1.0.6 loads the source into a spare register instead (e.g. `reg 3`,
 * then `hash reg 11 = jhash(reg 3, …)`): other bytes, the same rule — `nft
 * list` prints both alike and both read back as the same statement.
 */
import { DATATYPES } from '../datatype.js';
import type { HashExpr } from '../expr/hash.js';
import type { KeyDef, KeyProvider } from './key.js';

const defs = new Map<string, KeyDef>();

/** The nft text of a jhash key. */
export function hashKeyText(source: string, modulus: number, seed: number, offset = 0): string {
  return `jhash ${source} mod ${modulus} seed 0x${seed.toString(16)}${offset ? ` offset ${offset}` : ''}`;
}

export function hashKeyDef(source: KeyDef, modulus: number, seed: number, offset: number): KeyDef {
  const text = hashKeyText(source.text, modulus, seed, offset);
  let def = defs.get(text);
  if (def) return def;
  def = {
    text,
    type: DATATYPES.mark,
    len: 4,
    ...(source.nfproto !== undefined ? { nfproto: source.nfproto } : {}),
    ...(source.l4 !== undefined ? { l4: source.l4 } : {}),
    prepare: (dreg: number) => [source.load(dreg)],
    load: (dreg: number): HashExpr => ({ name: 'hash', sreg: dreg, dreg, len: source.len, modulus, seed, offset, type: 0 }),
  };
  if (defs.size < 1024) defs.set(text, def);
  return def;
}

/** Needs the other providers to find the source key: registry.ts passes its lookup. */
export function hashKeys(find: (text: string, family: Parameters<KeyProvider['parse']>[1]) => KeyDef | undefined): KeyProvider {
  return {
    parse(text, family) {
      const m = /^jhash (.+) mod (\d+) seed (0x[0-9a-f]+|\d+)(?: offset (\d+))?$/.exec(text);
      if (!m) return undefined;
      const source = find(m[1]!, family);
      const modulus = Number(m[2]);
      const seed = Number(m[3]);
      const offset = Number(m[4] ?? 0);
      if (!source || source.prepare || source.bitfield || modulus < 1 || modulus > 0xffffffff || seed > 0xffffffff || offset > 0xffffffff)
        return undefined;
      return hashKeyDef(source, modulus, seed, offset);
    },
    // A hash is recognized by delinearizeHash, which sees the source register.
    recognize: () => undefined,
  };
}

/** hash: a hash of a register's bytes, modulo a number, plus an offset (`jhash ip saddr mod 12 seed 0x4e46`). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

export interface HashExpr {
  name: 'hash';
  sreg: number;
  dreg: number;
  /** Bytes hashed from sreg on. */
  len: number;
  modulus: number;
  /** Absent: the kernel picks a random seed when the rule is added (nft writes one only when the rule names it). */
  seed?: number;
  offset: number;
  /** NFT_HASH_JENKINS (0) or NFT_HASH_SYM (1, `symhash`, no source register). */
  type: number;
}

const schema = attrs('hash', {
  sreg: { type: 1, kind: 'be32' },
  dreg: { type: 2, kind: 'be32' },
  len: { type: 3, kind: 'be32' },
  modulus: { type: 4, kind: 'be32' },
  seed: { type: 5, kind: 'be32' },
  offset: { type: 6, kind: 'be32' },
  type: { type: 7, kind: 'be32' },
});

export const hashCodec = defineExpr<HashExpr, typeof schema._values & {}>(
  'hash',
  schema,
  (e) => ({
    sreg: e.sreg,
    dreg: e.dreg,
    len: e.len,
    modulus: e.modulus,
    ...(e.seed !== undefined ? { seed: e.seed } : {}),
    offset: e.offset,
    type: e.type,
  }),
  (v, p) => ({
    name: 'hash',
    sreg: v.sreg ?? 0,
    dreg: need(v.dreg, 'dreg', p),
    len: v.len ?? 0,
    modulus: need(v.modulus, 'modulus', p),
    ...(v.seed !== undefined ? { seed: v.seed } : {}),
    offset: v.offset ?? 0,
    type: v.type ?? 0,
  }),
  (e) =>
    e.type === 1
      ? `hash reg ${e.dreg} = symhash() % mod ${e.modulus}${e.offset ? ` offset ${e.offset}` : ''}`
      : `hash reg ${e.dreg} = jhash(reg ${e.sreg}, ${e.len}, 0x${(e.seed ?? 0).toString(16)}) % mod ${e.modulus}${e.offset ? ` offset ${e.offset}` : ''}`,
);

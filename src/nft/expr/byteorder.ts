/** byteorder: converts a register between host and network order (ordering comparisons, intervals, MSS). */

import { DecodeError } from '../../errors.js';
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

export interface ByteorderExpr {
  name: 'byteorder';
  sreg: number;
  dreg: number;
  op: 'ntoh' | 'hton';
  len: number;
  size: number;
}

const schema = attrs('byteorder', {
  sreg: { type: 1, kind: 'be32' },
  dreg: { type: 2, kind: 'be32' },
  op: { type: 3, kind: 'be32' },
  len: { type: 4, kind: 'be32' },
  size: { type: 5, kind: 'be32' },
});

export const byteorderCodec = defineExpr<ByteorderExpr, typeof schema._values & {}>(
  'byteorder',
  schema,
  (e) => ({ sreg: e.sreg, dreg: e.dreg, op: e.op === 'hton' ? 1 : 0, len: e.len, size: e.size }),
  (v, p) => {
    const op = need(v.op, 'op', p);
    if (op !== 0 && op !== 1) throw new DecodeError(`unknown byteorder op ${op}`, p);
    return {
      name: 'byteorder',
      sreg: need(v.sreg, 'sreg', p),
      dreg: need(v.dreg, 'dreg', p),
      op: op === 1 ? 'hton' : 'ntoh',
      len: need(v.len, 'len', p),
      size: need(v.size, 'size', p),
    };
  },
  (e) => `byteorder reg ${e.dreg} = ${e.op}(reg ${e.sreg}, ${e.size}, ${e.len})`,
);

/** The element size nft gives a conversion of `len` bytes. */
export function byteorderSize(len: number): number {
  return len <= 2 ? 2 : len <= 4 ? 4 : 8;
}

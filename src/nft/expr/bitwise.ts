/** bitwise: `reg = (reg & mask) ^ xor` (prefixes, flag tests, masked marks), or shifts. */
import { attrs } from '../../netlink/attributes.js';
import { dataAttrs, defineExpr, need, words } from './common.js';

export interface BitwiseExpr {
  name: 'bitwise';
  sreg: number;
  dreg: number;
  len: number;
  /** NFT_BITWISE_MASK_XOR (0, sent only by some tools), LSHIFT (1), RSHIFT (2). */
  op?: number;
  mask?: Buffer;
  xor?: Buffer;
  /** Shift amount (LSHIFT/RSHIFT). */
  data?: Buffer;
}

const schema = attrs('bitwise', {
  sreg: { type: 1, kind: 'be32' },
  dreg: { type: 2, kind: 'be32' },
  op: { type: 6, kind: 'be32' },
  len: { type: 3, kind: 'be32' },
  mask: { type: 4, kind: 'nested', schema: dataAttrs },
  xor: { type: 5, kind: 'nested', schema: dataAttrs },
  data: { type: 7, kind: 'nested', schema: dataAttrs },
});

export const bitwiseCodec = defineExpr<BitwiseExpr, typeof schema._values & {}>(
  'bitwise',
  schema,
  (e) => ({
    sreg: e.sreg,
    dreg: e.dreg,
    op: e.op,
    len: e.len,
    mask: e.mask && { value: e.mask },
    xor: e.xor && { value: e.xor },
    data: e.data && { value: e.data },
  }),
  (v, p) => {
    const e: BitwiseExpr = { name: 'bitwise', sreg: need(v.sreg, 'sreg', p), dreg: need(v.dreg, 'dreg', p), len: need(v.len, 'len', p) };
    if (v.op !== undefined) e.op = v.op;
    if (v.mask?.value) e.mask = v.mask.value;
    if (v.xor?.value) e.xor = v.xor.value;
    if (v.data?.value) e.data = v.data.value;
    return e;
  },
  (e) => {
    if (e.op === 1 || e.op === 2) {
      return `bitwise reg ${e.dreg} = ( reg ${e.sreg} ${e.op === 1 ? '<<' : '>>'} ${words(e.data ?? Buffer.alloc(4))} )`;
    }
    return `bitwise reg ${e.dreg} = ( reg ${e.sreg} & ${words(e.mask ?? Buffer.alloc(0))} ) ^ ${words(e.xor ?? Buffer.alloc(0))}`;
  },
);

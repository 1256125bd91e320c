/** range: `from <= reg <= to` (nft itself writes `!=` ranges with it; `==` ranges as two cmps). */

import { DecodeError } from '../../errors.js';
import { attrs } from '../../netlink/attributes.js';
import { dataAttrs, dataValue, defineExpr, need, words } from './common.js';

export interface RangeExpr {
  name: 'range';
  sreg: number;
  op: 'eq' | 'neq';
  from: Buffer;
  to: Buffer;
}

const schema = attrs('range', {
  sreg: { type: 1, kind: 'be32' },
  op: { type: 2, kind: 'be32' },
  from: { type: 3, kind: 'nested', schema: dataAttrs },
  to: { type: 4, kind: 'nested', schema: dataAttrs },
});

export const rangeCodec = defineExpr<RangeExpr, typeof schema._values & {}>(
  'range',
  schema,
  (e) => ({ sreg: e.sreg, op: e.op === 'eq' ? 0 : 1, from: { value: e.from }, to: { value: e.to } }),
  (v, p) => {
    const op = need(v.op, 'op', p);
    if (op !== 0 && op !== 1) throw new DecodeError(`unknown range op ${op}`, p);
    return {
      name: 'range',
      sreg: need(v.sreg, 'sreg', p),
      op: op === 0 ? 'eq' : 'neq',
      from: dataValue(v.from, `${p}.from`),
      to: dataValue(v.to, `${p}.to`),
    };
  },
  (e) => `range ${e.op} reg ${e.sreg} ${words(e.from)} ${words(e.to)}`,
);

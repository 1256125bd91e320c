/** cmp: compares a register with a constant (matches end in it). */

import { DecodeError } from '../../errors.js';
import { attrs } from '../../netlink/attributes.js';
import { be32Attr, CMP_OPS, type CmpOpName, dataAttr, dataAttrs, dataValue, defineExpr, need, words } from './common.js';

export interface CmpExpr {
  name: 'cmp';
  sreg: number;
  op: CmpOpName;
  data: Buffer;
}

const schema = attrs('cmp', {
  sreg: { type: 1, kind: 'be32' },
  op: { type: 2, kind: 'be32' },
  data: { type: 3, kind: 'nested', schema: dataAttrs },
});

export const cmpCodec = defineExpr<CmpExpr, typeof schema._values & {}>(
  'cmp',
  schema,
  (e) => ({ sreg: e.sreg, op: CMP_OPS.indexOf(e.op), data: { value: e.data } }),
  (v, p) => {
    const op = CMP_OPS[need(v.op, 'op', p)];
    if (!op) throw new DecodeError(`unknown cmp op ${v.op}`, p);
    return { name: 'cmp', sreg: need(v.sreg, 'sreg', p), op, data: dataValue(v.data, `${p}.data`) };
  },
  (e) => `cmp ${e.op} reg ${e.sreg} ${words(e.data)}`,
  (w, e) => {
    be32Attr(w, 1, e.sreg);
    be32Attr(w, 2, CMP_OPS.indexOf(e.op));
    dataAttr(w, 3, e.data);
  },
);

/** range: `from <= reg <= to` (nft itself writes `!=` ranges with it; `==` ranges as two cmps). */
import { attrs } from '../../netlink/attributes.js';
import { DecodeError } from '../../errors.js';
import { dataAttrs, dataValue, defineExpr, need, words } from './common.js';
import type { DelinCtx, DelinResult } from '../delinearize.js';
import { keyByteorder } from '../keys.js';
import { fromBig } from '../values.js';

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
    return { name: 'range', sreg: need(v.sreg, 'sreg', p), op: op === 0 ? 'eq' : 'neq', from: dataValue(v.from, `${p}.from`), to: dataValue(v.to, `${p}.to`) };
  },
  (e) => `range ${e.op} reg ${e.sreg} ${words(e.from)} ${words(e.to)}`,
);

// ---------------------------------------------------------------- statements

/** range: a range match (`tcp dport != 1000-2000`). */
export function delinearizeRange(e: RangeExpr, ctx: DelinCtx): DelinResult {
  const keys = ctx.keysAt(e.sreg, e.from.length);
  if (!keys || keys.length !== 1 || e.to.length !== e.from.length) return 'fail';
  const k = keys[0]!;
  const t = k.def.type;
  if (k.mask || k.len !== k.def.len || e.from.length !== k.def.len) return 'fail';
  const host = keyByteorder(k.def) === 'host';
  if (host ? !k.hton && k.def.len > 1 : k.hton) return 'fail';
  const from = k.hton ? fromBig(t, e.from) : e.from;
  const to = k.hton ? fromBig(t, e.to) : e.to;
  return { type: 'match', key: k.def.text, op: e.op, value: { range: [t.value(from), t.value(to)] } };
}

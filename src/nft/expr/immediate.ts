/** immediate: a constant into a register, or a verdict (accept, drop, jump, ...) into the verdict register. */

import { DecodeError } from '../../errors.js';
import { attrs } from '../../netlink/attributes.js';
import { be32Attr, dataAttr, dataAttrs, defineExpr, need, VERDICT_NAMES, words } from './common.js';

export interface ImmediateExpr {
  name: 'immediate';
  dreg: number;
  data?: Buffer;
  verdict?: { code: number; chain?: string; chainId?: number };
}

const schema = attrs('immediate', {
  dreg: { type: 1, kind: 'be32' },
  data: { type: 2, kind: 'nested', schema: dataAttrs },
});

export const immediateCodec = defineExpr<ImmediateExpr, typeof schema._values & {}>(
  'immediate',
  schema,
  (e) => ({ dreg: e.dreg, data: e.verdict ? { verdict: e.verdict } : { value: e.data } }),
  (v, p) => {
    const e: ImmediateExpr = { name: 'immediate', dreg: need(v.dreg, 'dreg', p) };
    if (v.data?.verdict) {
      const code = v.data.verdict.code;
      if (code === undefined) throw new DecodeError('verdict without a code', `${p}.data.verdict`);
      e.verdict = { code };
      if (v.data.verdict.chain !== undefined) e.verdict.chain = v.data.verdict.chain;
      if (v.data.verdict.chainId !== undefined) e.verdict.chainId = v.data.verdict.chainId;
    } else if (v.data?.value) e.data = v.data.value;
    else throw new DecodeError('neither a value nor a verdict', `${p}.data`);
    return e;
  },
  (e) => {
    if (e.verdict) {
      const name = VERDICT_NAMES[e.verdict.code] ?? `verdict ${e.verdict.code}`;
      return `immediate reg ${e.dreg} ${name}${e.verdict.chain !== undefined ? ` -> ${e.verdict.chain}` : ''}`;
    }
    return `immediate reg ${e.dreg} ${words(e.data ?? Buffer.alloc(0))}`;
  },
  (w, e) => {
    be32Attr(w, 1, e.dreg);
    if (e.verdict) {
      const d = w.beginAttr(2 | 0x8000);
      dataAttrs.encode(w, { verdict: e.verdict });
      w.endAttr(d);
    } else dataAttr(w, 2, e.data);
  },
);

/** lookup: set membership and map lookups into a register (NFTA_LOOKUP_*). */
import { attrs } from '../../netlink/attributes.js';
import { be32Attr, defineExpr, need, stringAttr } from './common.js';

export interface LookupExpr {
  name: 'lookup';
  sreg: number;
  set: string;
  setId?: number;
  /** Map lookups write the data here (0: a verdict map). */
  dreg?: number;
  /** NFT_LOOKUP_F_INV: match when absent. */
  flags?: number;
}

const schema = attrs('lookup', {
  sreg: { type: 2, kind: 'be32' },
  dreg: { type: 3, kind: 'be32' },
  set: { type: 1, kind: 'string' },
  setId: { type: 4, kind: 'be32' },
  flags: { type: 5, kind: 'be32' },
});

export const lookupCodec = defineExpr<LookupExpr, typeof schema._values & {}>(
  'lookup',
  schema,
  (e) => ({ sreg: e.sreg, dreg: e.dreg, set: e.set, setId: e.setId, flags: e.flags }),
  (v, p) => {
    const e: LookupExpr = { name: 'lookup', sreg: need(v.sreg, 'sreg', p), set: need(v.set, 'set', p) };
    if (v.dreg !== undefined) e.dreg = v.dreg;
    if (v.setId !== undefined) e.setId = v.setId;
    if (v.flags !== undefined) e.flags = v.flags;
    return e;
  },
  (e) => `lookup reg ${e.sreg} set ${e.set}${e.dreg !== undefined ? ` dreg ${e.dreg}` : ''}${e.flags ? ` 0x${e.flags.toString(16)}` : ''}`,
  (w, e) => {
    be32Attr(w, 2, e.sreg);
    be32Attr(w, 3, e.dreg);
    stringAttr(w, 1, e.set);
    be32Attr(w, 4, e.setId);
    be32Attr(w, 5, e.flags);
  },
);

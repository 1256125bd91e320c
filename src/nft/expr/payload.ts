/**
 * payload: loads header bytes into a register, or writes a register back into
 * the packet (with checksum fix-up). The selectors built on it (`ip saddr`,
 * `tcp dport`, raw `@th,16,16`, ...) are in selectors/payload.ts.
 */
import { attrs } from '../../netlink/attributes.js';
import { BASES, be32Attr, defineExpr, need } from './common.js';

export interface PayloadExpr {
  name: 'payload';
  /** Load into this register, or ... */
  dreg?: number;
  /** ... write this register into the packet. */
  sreg?: number;
  base: number;
  offset: number;
  len: number;
  csumType?: number;
  csumOffset?: number;
  csumFlags?: number;
}

const schema = attrs('payload', {
  sreg: { type: 5, kind: 'be32' },
  dreg: { type: 1, kind: 'be32' },
  base: { type: 2, kind: 'be32' },
  offset: { type: 3, kind: 'be32' },
  len: { type: 4, kind: 'be32' },
  csumType: { type: 6, kind: 'be32' },
  csumOffset: { type: 7, kind: 'be32' },
  csumFlags: { type: 8, kind: 'be32' },
});

export const payloadCodec = defineExpr<PayloadExpr, typeof schema._values & {}>(
  'payload',
  schema,
  (e) => ({
    sreg: e.sreg,
    dreg: e.dreg,
    base: e.base,
    offset: e.offset,
    len: e.len,
    csumType: e.csumType,
    csumOffset: e.csumOffset,
    csumFlags: e.csumFlags,
  }),
  (v, p) => {
    const e: PayloadExpr = {
      name: 'payload',
      base: need(v.base, 'base', p),
      offset: need(v.offset, 'offset', p),
      len: need(v.len, 'len', p),
    };
    if (v.dreg !== undefined) e.dreg = v.dreg;
    if (v.sreg !== undefined) e.sreg = v.sreg;
    if (v.csumType !== undefined) e.csumType = v.csumType;
    if (v.csumOffset !== undefined) e.csumOffset = v.csumOffset;
    if (v.csumFlags !== undefined) e.csumFlags = v.csumFlags;
    return e;
  },
  (e) => {
    const where = `${e.len}b @ ${BASES[e.base] ?? `base ${e.base}`} header + ${e.offset}`;
    if (e.sreg !== undefined) {
      return `payload write reg ${e.sreg} => ${where} csum_type ${e.csumType ?? 0} csum_off ${e.csumOffset ?? 0} csum_flags 0x${(e.csumFlags ?? 0).toString(16)}`;
    }
    return `payload load ${where} => reg ${e.dreg}`;
  },
  (w, e) => {
    be32Attr(w, 5, e.sreg);
    be32Attr(w, 1, e.dreg);
    be32Attr(w, 2, e.base);
    be32Attr(w, 3, e.offset);
    be32Attr(w, 4, e.len);
    be32Attr(w, 6, e.csumType);
    be32Attr(w, 7, e.csumOffset);
    be32Attr(w, 8, e.csumFlags);
  },
);

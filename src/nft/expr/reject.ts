/** reject: refuse the packet with an ICMP error or a TCP reset. */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

export interface RejectExpr {
  name: 'reject';
  /** NFT_REJECT_ICMP_UNREACH (0), TCP_RST (1), ICMPX_UNREACH (2). */
  type: number;
  code?: number;
}

const schema = attrs('reject', {
  type: { type: 1, kind: 'be32' },
  code: { type: 2, kind: 'u8' },
});

export const rejectCodec = defineExpr<RejectExpr, typeof schema._values & {}>(
  'reject',
  schema,
  (e) => ({ type: e.type, code: e.code }),
  (v, p) => {
    const e: RejectExpr = { name: 'reject', type: need(v.type, 'type', p) };
    if (v.code !== undefined) e.code = v.code;
    return e;
  },
  (e) => `reject type ${e.type} code ${e.code ?? 0}`,
);

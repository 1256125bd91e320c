/** exthdr: IPv6 extension headers and TCP options (`tcp option maxseg size`, loaded or set). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

export interface ExthdrExpr {
  name: 'exthdr';
  dreg?: number;
  sreg?: number;
  /** Option or header type (TCPOPT_MAXSEG = 2). */
  type: number;
  offset: number;
  len: number;
  flags?: number;
  /** NFT_EXTHDR_OP_IPV6 (0), TCPOPT (1), IPV4 (2), SCTP (3), DCCP (4). */
  op?: number;
}

const schema = attrs('exthdr', {
  dreg: { type: 1, kind: 'be32' },
  sreg: { type: 7, kind: 'be32' },
  type: { type: 2, kind: 'u8' },
  offset: { type: 3, kind: 'be32' },
  len: { type: 4, kind: 'be32' },
  op: { type: 6, kind: 'be32' },
  flags: { type: 5, kind: 'be32' },
});

const OPS = ['exthdr', 'tcpopt', 'ipv4', 'sctp', 'dccp'];

export const exthdrCodec = defineExpr<ExthdrExpr, typeof schema._values & {}>(
  'exthdr',
  schema,
  (e) => ({ dreg: e.dreg, sreg: e.sreg, type: e.type, offset: e.offset, len: e.len, op: e.op, flags: e.flags }),
  (v, p) => {
    const e: ExthdrExpr = {
      name: 'exthdr',
      type: need(v.type, 'type', p),
      offset: need(v.offset, 'offset', p),
      len: need(v.len, 'len', p),
    };
    if (v.dreg !== undefined) e.dreg = v.dreg;
    if (v.sreg !== undefined) e.sreg = v.sreg;
    if (v.op !== undefined) e.op = v.op;
    if (v.flags !== undefined) e.flags = v.flags;
    return e;
  },
  (e) => {
    const op = OPS[e.op ?? 0] ?? `op ${e.op}`;
    return e.sreg !== undefined
      ? `exthdr write ${op} reg ${e.sreg} => ${e.len}b @ ${e.type} + ${e.offset}`
      : `exthdr load ${op} ${e.len}b @ ${e.type} + ${e.offset}${e.flags ? ` flags ${e.flags}` : ''} => reg ${e.dreg}`;
  },
);

/** exthdr: IPv6 extension headers and TCP options (`tcp option maxseg size`, loaded or set). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';
import { integerType } from '../datatype.js';
import type { KeyDef, KeyProvider } from '../keys.js';
import type { DelinCtx, DelinResult } from '../delinearize.js';
import { delinearizeSet } from './meta.js';

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
    const e: ExthdrExpr = { name: 'exthdr', type: need(v.type, 'type', p), offset: need(v.offset, 'offset', p), len: need(v.len, 'len', p) };
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

// ---------------------------------------------------------------- selectors

const NFT_EXTHDR_OP_TCPOPT = 1;

/** TCP options nft names, with their fields (offset, length). */
const TCP_OPTIONS: Record<string, { kind: number; fields: Record<string, [number, number]> }> = {
  eol: { kind: 0, fields: { kind: [0, 1] } },
  nop: { kind: 1, fields: { kind: [0, 1] } },
  maxseg: { kind: 2, fields: { kind: [0, 1], length: [1, 1], size: [2, 2] } },
  window: { kind: 3, fields: { kind: [0, 1], length: [1, 1], count: [2, 1] } },
  'sack-perm': { kind: 4, fields: { kind: [0, 1], length: [1, 1] } },
  timestamp: { kind: 8, fields: { kind: [0, 1], length: [1, 1], tsval: [2, 4], tsecr: [6, 4] } },
};

const exthdrDefs = new Map<string, KeyDef>();
for (const [opt, { kind, fields }] of Object.entries(TCP_OPTIONS)) {
  for (const [field, [offset, len]] of Object.entries(fields)) {
    const text = `tcp option ${opt} ${field}`;
    exthdrDefs.set(text, {
      text,
      type: integerType(len, 'big'),
      len,
      load: (dreg) => ({ name: 'exthdr', dreg, type: kind, offset, len, op: NFT_EXTHDR_OP_TCPOPT, flags: 0 }),
      set: (sreg) => ({ name: 'exthdr', sreg, type: kind, offset, len, op: NFT_EXTHDR_OP_TCPOPT }),
    });
  }
}

export const exthdrKeys: KeyProvider = {
  parse: (text) => exthdrDefs.get(text),
  recognize(e) {
    if (e.name !== 'exthdr' || e.dreg === undefined || e.op !== NFT_EXTHDR_OP_TCPOPT || e.flags) return undefined;
    const def = exthdrSetKey(e);
    return def ? { def, len: def.len } : undefined;
  },
};

/** The TCP option field an exthdr expression addresses. */
export function exthdrSetKey(e: ExthdrExpr): KeyDef | undefined {
  if (e.op !== NFT_EXTHDR_OP_TCPOPT) return undefined;
  for (const [opt, { kind, fields }] of Object.entries(TCP_OPTIONS)) {
    if (kind !== e.type) continue;
    for (const [field, [offset, len]] of Object.entries(fields)) {
      if (offset === e.offset && len === e.len) return exthdrDefs.get(`tcp option ${opt} ${field}`);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- statements

/** exthdr: a load (handled generically) or `tcp option ... set`. */
export function delinearizeExthdr(e: ExthdrExpr, ctx: DelinCtx): DelinResult | undefined {
  if (e.sreg === undefined) return undefined;
  if (e.flags) return 'fail';
  return delinearizeSet(exthdrSetKey(e), e.sreg, ctx);
}

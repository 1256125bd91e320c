/** Extension header selectors: TCP options (`tcp option maxseg size`). */
import { integerType } from '../datatype.js';
import type { ExthdrExpr } from '../expr/exthdr.js';
import type { KeyDef, KeyProvider } from './key.js';

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

/** Routing selectors: `rt mtu`, `rt ip nexthop`, `rt classid`, ... */
import { DATATYPES, integerType, type NftDatatype } from '../datatype.js';
import type { KeyDef, KeyProvider } from './key.js';

const RT: Record<string, { key: number; type: NftDatatype }> = {
  'rt classid': { key: 0, type: integerType(4, 'host') },
  'rt ip nexthop': { key: 1, type: DATATYPES.ipv4_addr },
  'rt ip6 nexthop': { key: 2, type: DATATYPES.ipv6_addr },
  // The MSS for the route's MTU, in host order (`tcp option maxseg size set rt mtu`).
  'rt mtu': { key: 3, type: integerType(2, 'host') },
  'rt ipsec': { key: 4, type: integerType(1, 'host') },
};
const rtDefs = new Map<string, KeyDef>(
  Object.entries(RT).map(([text, { key, type }]) => [
    text,
    { text, type, len: type.len, load: (dreg: number) => ({ name: 'rt' as const, key, dreg }) },
  ]),
);

export const rtKeys: KeyProvider = {
  parse: (text) => rtDefs.get(text),
  recognize(e) {
    if (e.name !== 'rt') return undefined;
    const hit = Object.entries(RT).find(([, v]) => v.key === e.key);
    const def = hit && rtDefs.get(hit[0]);
    return def ? { def, len: def.len } : undefined;
  },
};

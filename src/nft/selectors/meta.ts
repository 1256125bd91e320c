/** Meta selectors: `meta l4proto`, `iifname`, `meta mark`, `meta skuid`, ... */
import { DATATYPES, integerType, type NftDatatype } from '../datatype.js';
import type { MetaExpr } from '../expr/meta.js';
import { udataU32 } from '../udata.js';
import type { KeyDef, KeyProvider } from './key.js';

interface MetaKeyInfo {
  key: number;
  /** nft prints these without `meta` (`iifname "wg0"`). */
  unqualified?: boolean;
  type: NftDatatype;
  settable?: boolean;
}

/** nft's names for meta keys. */
const META: Record<string, MetaKeyInfo> = {
  length: { key: 0, type: integerType(4, 'host') },
  protocol: { key: 1, type: DATATYPES.ether_type },
  priority: { key: 2, type: integerType(4, 'host'), settable: true },
  mark: { key: 3, type: DATATYPES.mark, settable: true },
  iif: { key: 4, unqualified: true, type: DATATYPES.iface_index },
  oif: { key: 5, unqualified: true, type: DATATYPES.iface_index },
  iifname: { key: 6, unqualified: true, type: DATATYPES.ifname },
  oifname: { key: 7, unqualified: true, type: DATATYPES.ifname },
  iiftype: { key: 8, type: integerType(2, 'host') },
  oiftype: { key: 9, type: integerType(2, 'host') },
  skuid: { key: 10, type: DATATYPES.uid },
  skgid: { key: 11, type: DATATYPES.gid },
  nftrace: { key: 12, type: integerType(1, 'host'), settable: true },
  rtclassid: { key: 13, type: integerType(4, 'host') },
  secmark: { key: 14, type: integerType(4, 'host') },
  nfproto: { key: 15, type: DATATYPES.nf_proto },
  l4proto: { key: 16, type: DATATYPES.inet_proto },
  pkttype: { key: 19, type: DATATYPES.pkttype, settable: true },
  cpu: { key: 20, type: integerType(4, 'host') },
  iifgroup: { key: 21, unqualified: true, type: integerType(4, 'host') },
  oifgroup: { key: 22, unqualified: true, type: integerType(4, 'host') },
  cgroup: { key: 23, type: integerType(4, 'host') },
  random: { key: 24, type: integerType(4, 'big') },
  iifkind: { key: 26, type: DATATYPES.ifname },
  oifkind: { key: 27, type: DATATYPES.ifname },
  sdif: { key: 33, type: DATATYPES.iface_index },
  sdifname: { key: 34, type: DATATYPES.ifname },
};

const BY_KEY = new Map<number, [string, MetaKeyInfo]>(Object.entries(META).map(([n, i]) => [i.key, [n, i]]));
const defs = new Map<string, KeyDef>();

function metaKeyDef(name: string, info: MetaKeyInfo): KeyDef {
  let def = defs.get(name);
  if (def) return def;
  def = {
    text: info.unqualified ? name : `meta ${name}`,
    type: info.type,
    len: info.type.len,
    byteorder: info.key === 1 || info.key === 24 ? 'big' : 'host',
    load: (dreg) => ({ name: 'meta', key: info.key, dreg }),
    set: info.settable ? (sreg) => ({ name: 'meta', key: info.key, sreg }) : undefined,
    typeofInfo: [9, [[0, udataU32(info.key)]]],
  };
  defs.set(name, def);
  return def;
}

export const metaKeys: KeyProvider = {
  parse(text) {
    const m = /^(?:meta )?([a-z0-9]+)$/.exec(text);
    if (!m) return undefined;
    const info = META[m[1]!];
    if (!info) return undefined;
    // Only the unqualified keys may be written without `meta`.
    if (!text.startsWith('meta ') && !info.unqualified) return undefined;
    return metaKeyDef(m[1]!, info);
  },
  recognize(e) {
    if (e.name !== 'meta' || e.dreg === undefined) return undefined;
    const hit = BY_KEY.get(e.key);
    if (!hit) return undefined;
    const def = metaKeyDef(hit[0], hit[1]);
    return { def, len: def.len };
  },
};

/** The meta key a `meta set` expression writes. */
export function metaSetKey(e: MetaExpr): KeyDef | undefined {
  const hit = BY_KEY.get(e.key);
  return hit && hit[1].settable ? metaKeyDef(hit[0], hit[1]) : undefined;
}

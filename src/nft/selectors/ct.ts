/** Conntrack selectors: `ct state`, `ct status`, `ct mark`, `ct original ip saddr`, ... */
import { DATATYPES, integerType, type NftDatatype } from '../datatype.js';
import type { CtExpr } from '../expr/ct.js';
import { udataU32 } from '../udata.js';
import type { KeyDef, KeyProvider } from './key.js';

interface CtKeyInfo {
  key: number;
  type: NftDatatype;
  /** `ct original ...` / `ct reply ...`: a direction is allowed (required when `dir` is 'required'). */
  dir?: 'optional' | 'required';
  settable?: boolean;
}

/** nft's names for ct keys (directional addresses are spelled `ip saddr`, `ip6 daddr`). */
const CT: Record<string, CtKeyInfo> = {
  state: { key: 0, type: DATATYPES.ct_state },
  direction: { key: 1, type: DATATYPES.ct_dir },
  status: { key: 2, type: DATATYPES.ct_status },
  mark: { key: 3, type: DATATYPES.mark, settable: true },
  secmark: { key: 4, type: integerType(4, 'host'), settable: true },
  expiration: { key: 5, type: integerType(4, 'host') },
  l3proto: { key: 7, type: DATATYPES.nf_proto },
  protocol: { key: 10, type: DATATYPES.inet_proto },
  'proto-src': { key: 11, type: DATATYPES.inet_service, dir: 'required' },
  'proto-dst': { key: 12, type: DATATYPES.inet_service, dir: 'required' },
  packets: { key: 14, type: integerType(8, 'host'), dir: 'optional' },
  bytes: { key: 15, type: integerType(8, 'host'), dir: 'optional' },
  avgpkt: { key: 16, type: integerType(8, 'host'), dir: 'optional' },
  zone: { key: 17, type: integerType(2, 'host'), dir: 'optional', settable: true },
  'ip saddr': { key: 19, type: DATATYPES.ipv4_addr, dir: 'required' },
  'ip daddr': { key: 20, type: DATATYPES.ipv4_addr, dir: 'required' },
  'ip6 saddr': { key: 21, type: DATATYPES.ipv6_addr, dir: 'required' },
  'ip6 daddr': { key: 22, type: DATATYPES.ipv6_addr, dir: 'required' },
  id: { key: 23, type: integerType(4, 'big') },
};

const BY_KEY = new Map<number, [string, CtKeyInfo]>(Object.entries(CT).map(([n, i]) => [i.key, [n, i]]));
const defs = new Map<string, KeyDef>();
const DIRS = ['original', 'reply'];

function ctKeyDef(name: string, info: CtKeyInfo, dir: number | undefined): KeyDef {
  const id = `${name}/${dir}`;
  let def = defs.get(id);
  if (def) return def;
  def = {
    text: dir === undefined ? `ct ${name}` : `ct ${DIRS[dir]} ${name}`,
    type: info.type,
    len: info.type.len,
    load: (dreg) => (dir === undefined ? { name: 'ct', key: info.key, dreg } : { name: 'ct', key: info.key, dreg, dir }),
    set: info.settable
      ? (sreg) => (dir === undefined ? { name: 'ct', key: info.key, sreg } : { name: 'ct', key: info.key, sreg, dir })
      : undefined,
    typeofInfo: [
      12,
      [
        [0, udataU32(info.key)],
        [1, udataU32(dir ?? 0xffffffff)],
      ],
    ],
  };
  defs.set(id, def);
  return def;
}

export const ctKeys: KeyProvider = {
  parse(text) {
    const m = /^ct (?:(original|reply) )?([a-z0-9-]+(?: [a-z]+)?)$/.exec(text);
    if (!m) return undefined;
    const info = CT[m[2]!];
    if (!info) return undefined;
    const dir = m[1] === undefined ? undefined : DIRS.indexOf(m[1]);
    if (dir !== undefined && !info.dir) return undefined;
    if (dir === undefined && info.dir === 'required') return undefined;
    return ctKeyDef(m[2]!, info, dir);
  },
  recognize(e) {
    if (e.name !== 'ct' || e.dreg === undefined) return undefined;
    const hit = BY_KEY.get(e.key);
    if (!hit) return undefined;
    if (e.dir !== undefined && !hit[1].dir) return undefined;
    if (e.dir === undefined && hit[1].dir === 'required') return undefined;
    if (e.dir !== undefined && e.dir > 1) return undefined;
    const def = ctKeyDef(hit[0], hit[1], e.dir);
    return { def, len: def.len };
  },
};

/** The ct key a `ct set` expression writes. */
export function ctSetKey(e: CtExpr): KeyDef | undefined {
  const hit = BY_KEY.get(e.key);
  if (!hit || !hit[1].settable || (e.dir !== undefined && e.dir > 1)) return undefined;
  return ctKeyDef(hit[0], hit[1], e.dir);
}

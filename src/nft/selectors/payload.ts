/** Payload selectors: header fields (`ip saddr`, `tcp dport`, `icmp type`) and raw `@th,16,16` loads. */
import type { NftFamily } from '../constants.js';
import { DATATYPES, integerType, type NftDatatype } from '../datatype.js';
import { udataU32 } from '../udata.js';
import type { KeyDef, KeyProvider, Recognized } from './key.js';

interface Field {
  name: string;
  offset: number;
  len: number;
  type: NftDatatype;
  /** nft's field index (for typeof userdata). */
  index: number;
}

interface Proto {
  name: string;
  /** NFT_PAYLOAD_NETWORK_HEADER (1) or TRANSPORT_HEADER (2). */
  base: number;
  /** nft's protocol description id (typeof userdata). */
  desc?: number;
  nfproto?: number;
  l4?: number;
  fields: Field[];
}

const int = (len: number) => integerType(len, 'big');
const f = (name: string, index: number, offset: number, len: number, type: NftDatatype): Field => ({ name, index, offset, len, type });
const ports = [f('sport', 1, 0, 2, DATATYPES.inet_service), f('dport', 2, 2, 2, DATATYPES.inet_service)];

const PROTOS: Proto[] = [
  {
    name: 'ip',
    base: 1,
    desc: 12,
    nfproto: 2,
    fields: [
      f('length', 5, 2, 2, int(2)),
      f('id', 6, 4, 2, int(2)),
      f('frag-off', 7, 6, 2, int(2)),
      f('ttl', 8, 8, 1, int(1)),
      f('protocol', 9, 9, 1, DATATYPES.inet_proto),
      f('checksum', 10, 10, 2, int(2)),
      f('saddr', 11, 12, 4, DATATYPES.ipv4_addr),
      f('daddr', 12, 16, 4, DATATYPES.ipv4_addr),
    ],
  },
  {
    name: 'ip6',
    base: 1,
    desc: 13,
    nfproto: 10,
    fields: [
      f('length', 5, 4, 2, int(2)),
      f('nexthdr', 6, 6, 1, DATATYPES.inet_proto),
      f('hoplimit', 7, 7, 1, int(1)),
      f('saddr', 8, 8, 16, DATATYPES.ipv6_addr),
      f('daddr', 9, 24, 16, DATATYPES.ipv6_addr),
    ],
  },
  {
    name: 'tcp',
    base: 2,
    desc: 8,
    l4: 6,
    fields: [
      ...ports,
      f('sequence', 3, 4, 4, int(4)),
      f('ackseq', 4, 8, 4, int(4)),
      f('flags', 7, 13, 1, DATATYPES.tcp_flag),
      f('window', 8, 14, 2, int(2)),
      f('checksum', 9, 16, 2, int(2)),
      f('urgptr', 10, 18, 2, int(2)),
    ],
  },
  { name: 'udp', base: 2, desc: 6, l4: 17, fields: [...ports, f('length', 3, 4, 2, int(2)), f('checksum', 4, 6, 2, int(2))] },
  { name: 'udplite', base: 2, l4: 136, fields: [...ports, f('checksum', 4, 6, 2, int(2))] },
  { name: 'sctp', base: 2, desc: 10, l4: 132, fields: [...ports] },
  { name: 'dccp', base: 2, l4: 33, fields: [...ports] },
  {
    name: 'icmp',
    base: 2,
    desc: 4,
    nfproto: 2,
    l4: 1,
    fields: [
      f('type', 1, 0, 1, DATATYPES.icmp_type),
      f('code', 2, 1, 1, DATATYPES.icmp_code),
      f('checksum', 3, 2, 2, int(2)),
      f('id', 4, 4, 2, int(2)),
      f('sequence', 5, 6, 2, int(2)),
    ],
  },
  {
    name: 'icmpv6',
    base: 2,
    desc: 14,
    nfproto: 10,
    l4: 58,
    fields: [f('type', 1, 0, 1, DATATYPES.icmpv6_type), f('code', 2, 1, 1, DATATYPES.icmpv6_code), f('checksum', 3, 2, 2, int(2))],
  },
  { name: 'th', base: 2, desc: 11, fields: [...ports] },
];

const BY_NAME = new Map(PROTOS.map((p) => [p.name, p]));
const RAW_BASES = ['ll', 'nh', 'th', 'ih'];

function fieldKey(p: Proto, fd: Field): KeyDef {
  return {
    text: `${p.name} ${fd.name}`,
    type: fd.type,
    len: fd.len,
    nfproto: p.nfproto,
    l4: p.l4,
    truncatable: true,
    load: (dreg, len) => ({ name: 'payload', dreg, base: p.base, offset: fd.offset, len: len ?? fd.len }),
    typeofInfo:
      p.desc !== undefined
        ? [
            7,
            [
              [0, u32(p.desc)],
              [1, u32(fd.index)],
            ],
          ]
        : undefined,
  };
}

function rawKey(base: number, offset: number, len: number): KeyDef {
  return {
    text: `@${RAW_BASES[base]},${offset * 8},${len * 8}`,
    type: int(len),
    len,
    load: (dreg) => ({ name: 'payload', dreg, base, offset, len }),
  };
}

const u32 = udataU32;

const keyCache = new Map<string, KeyDef>();

export const payloadKeys: KeyProvider = {
  parse(text: string, _family: NftFamily): KeyDef | undefined {
    const raw = /^@(ll|nh|th|ih),(\d+),(\d+)$/.exec(text);
    if (raw) {
      const off = Number(raw[2]);
      const bits = Number(raw[3]);
      if (off % 8 !== 0 || bits % 8 !== 0 || bits === 0 || bits > 128) return undefined;
      return rawKey(RAW_BASES.indexOf(raw[1]!), off / 8, bits / 8);
    }
    const m = /^([a-z0-9]+) ([a-z-]+)$/.exec(text);
    if (!m) return undefined;
    const p = BY_NAME.get(m[1]!);
    const fd = p?.fields.find((x) => x.name === m[2]);
    if (!p || !fd) return undefined;
    const id = `${p.name} ${fd.name}`;
    let def = keyCache.get(id);
    if (!def) keyCache.set(id, (def = fieldKey(p, fd)));
    return def;
  },
  recognize(e, ctx): Recognized | undefined {
    // A register file holds at most 64 bytes.
    if (e.name !== 'payload' || e.dreg === undefined || e.len === 0 || e.len > 64 || e.base > 3 || e.offset > 0xffff) return undefined;
    let protos: Proto[] = [];
    if (e.base === 1) {
      const p = PROTOS.find((x) => x.base === 1 && x.nfproto === ctx.nfproto);
      if (p) protos = [p];
    } else if (e.base === 2) {
      const p = ctx.l4 !== undefined ? PROTOS.find((x) => x.l4 === ctx.l4) : undefined;
      protos = p ? [p] : [BY_NAME.get('th')!];
    }
    for (const p of protos) {
      for (const fd of p.fields) {
        if (fd.offset !== e.offset) continue;
        const def = payloadKeys.parse(`${p.name} ${fd.name}`, ctx.family)!;
        if (fd.len === e.len) return { def, len: e.len };
        if (e.len < fd.len && fd.type.prefixable) return { def, len: e.len };
      }
    }
    return { def: rawKey(e.base, e.offset, e.len), len: e.len };
  },
};

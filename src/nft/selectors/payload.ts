/**
 * Payload selectors: header fields (`ip saddr`, `tcp dport`, `icmp type`),
 * bit fields inside header bytes (`ip dscp`, `ip6 dscp`) and raw `@th,16,16`
 * loads.
 */
import type { NftFamily } from '../constants.js';
import { DATATYPES, integerType, type NftDatatype } from '../datatype.js';
import type { NftExpr, PayloadExpr } from '../expr/index.js';
import { udataU32 } from '../udata.js';
import type { BitField, KeyDef, KeyProvider, Recognized } from './key.js';

interface Field {
  name: string;
  /** The first byte holding the field. */
  offset: number;
  /** The bytes holding it. */
  len: number;
  type: NftDatatype;
  /** nft's field index (for typeof userdata). */
  index: number;
  /** A field narrower than its bytes: its bit offset from the header's start, and its width. */
  bits?: { at: number; width: number };
}

interface Proto {
  name: string;
  /** NFT_PAYLOAD_NETWORK_HEADER (1) or TRANSPORT_HEADER (2). */
  base: number;
  /** The byte offset of the header's own checksum, which a write must fix up (IPv4's). */
  checksum?: number;
  /** nft's protocol description id (typeof userdata). */
  desc?: number;
  nfproto?: number;
  l4?: number;
  fields: Field[];
}

const int = (len: number) => integerType(len, 'big');
const f = (name: string, index: number, offset: number, len: number, type: NftDatatype): Field => ({ name, index, offset, len, type });
const ports = [f('sport', 1, 0, 2, DATATYPES.inet_service), f('dport', 2, 2, 2, DATATYPES.inet_service)];

/** A bit field: `width` bits from bit `at` of the header, held by the bytes that cover them. */
function bitField(name: string, index: number, at: number, width: number, type: NftDatatype): Field {
  const offset = at >> 3;
  return { name, index, offset, len: Math.ceil(((at & 7) + width) / 8), type, bits: { at, width } };
}

const PROTOS: Proto[] = [
  {
    name: 'ip',
    base: 1,
    checksum: 10,
    desc: 12,
    nfproto: 2,
    fields: [
      // The DS field is the first 6 bits of the old TOS byte (RFC 2474); ECN has the other 2.
      bitField('dscp', 3, 8, 6, DATATYPES.dscp),
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
      // The traffic class follows the 4-bit version; its first 6 bits are the DS field.
      bitField('dscp', 2, 4, 6, DATATYPES.dscp),
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

/** Big-endian bytes ↔ bigint, for masks and shifted values of a few bytes. */
const toBigint = (b: Buffer): bigint => b.reduce((v, x) => (v << 8n) | BigInt(x), 0n);
function fromBigint(v: bigint, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = len - 1, x = v; i >= 0; i--, x >>= 8n) out[i] = Number(x & 0xffn);
  return out;
}

/** Where a bit field sits in `len` bytes from byte `offset`: its shift from their last bit. */
const shiftIn = (bits: { at: number; width: number }, offset: number, len: number) => (offset + len) * 8 - bits.at - bits.width;

function bitFieldOf(p: Proto, fd: Field): BitField {
  const bits = fd.bits!;
  const shift = shiftIn(bits, fd.offset, fd.len);
  // nft (stmt_evaluate_payload) writes an even number of bytes at an even offset when the
  // header has a checksum: the kernel's incremental checksum update works on 16-bit words.
  let offset = fd.offset;
  let len = fd.len;
  if (p.checksum !== undefined && len % 2 === 1) {
    len++;
    if (offset % 2 === 1) offset--;
  }
  return {
    mask: fromBigint(((1n << BigInt(bits.width)) - 1n) << BigInt(shift), fd.len),
    shift,
    width: bits.width,
    write: {
      base: p.base,
      offset,
      len,
      shift: shiftIn(bits, offset, len),
      csumType: p.checksum === undefined ? 0 : 1, // NFT_PAYLOAD_CSUM_NONE, NFT_PAYLOAD_CSUM_INET
      csumOffset: p.checksum ?? 0,
    },
  };
}

function fieldKey(p: Proto, fd: Field): KeyDef {
  const bitfield = fd.bits ? bitFieldOf(p, fd) : undefined;
  return {
    text: `${p.name} ${fd.name}`,
    type: fd.type,
    len: fd.len,
    nfproto: p.nfproto,
    l4: p.l4,
    // A prefix of a bit field is not a prefix of its bytes.
    truncatable: !bitfield,
    ...(bitfield ? { bitfield } : {}),
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
        // A bit field's bytes hold other fields too: it is recognised by its mask (payloadBitfield).
        if (fd.offset !== e.offset || fd.bits) continue;
        const def = payloadKeys.parse(`${p.name} ${fd.name}`, ctx.family)!;
        if (fd.len === e.len) return { def, len: e.len };
        if (e.len < fd.len && fd.type.prefixable) return { def, len: e.len };
      }
    }
    return { def: rawKey(e.base, e.offset, e.len), len: e.len };
  },
};

// ---------------------------------------------------------------- bit fields

/** The register bytes of a bit field holding `value` (the type's bytes): the value shifted into place. */
export function bitfieldData(def: KeyDef, value: Buffer): Buffer {
  const bf = def.bitfield!;
  return fromBigint(toBigint(value) << BigInt(bf.shift), def.len);
}

/** The value (the type's bytes) a bit field's register bytes hold, or undefined when bits outside the field are set. */
export function bitfieldValue(def: KeyDef, data: Buffer): Buffer | undefined {
  const bf = def.bitfield!;
  if (data.length !== def.len) return undefined;
  const v = toBigint(data);
  if ((v & ~toBigint(bf.mask)) !== 0n) return undefined;
  return fromBigint(v >> BigInt(bf.shift), def.type.len);
}

/**
 * `ip dscp set 42` as nft writes it: load the bytes that hold the field, keep
 * every other bit (mask) and put the value in (xor), write them back with the
 * header's checksum fixed up.
 */
export function bitfieldWrite(def: KeyDef, value: Buffer): NftExpr[] {
  const w = def.bitfield!.write;
  const field = ((1n << BigInt(def.bitfield!.width)) - 1n) << BigInt(w.shift);
  const all = (1n << BigInt(w.len * 8)) - 1n;
  return [
    { name: 'payload', dreg: 1, base: w.base, offset: w.offset, len: w.len },
    {
      name: 'bitwise',
      sreg: 1,
      dreg: 1,
      op: 0, // NFT_BITWISE_MASK_XOR, sent explicitly as nft does
      len: w.len,
      mask: fromBigint(all & ~field, w.len),
      xor: fromBigint(toBigint(value) << BigInt(w.shift), w.len),
    },
    // As nft: the checksum attributes only when there is a checksum to fix (the kernel lists them as 0 otherwise).
    {
      name: 'payload',
      sreg: 1,
      base: w.base,
      offset: w.offset,
      len: w.len,
      ...(w.csumType !== 0 ? { csumType: w.csumType, csumOffset: w.csumOffset } : {}),
    },
  ];
}

/** Bit-field keys of the network header protocol `nfproto` (IPv4, IPv6). */
function bitfieldKeys(base: number, nfproto: number | undefined): KeyDef[] {
  const p = PROTOS.find((x) => x.base === base && x.nfproto === nfproto && base === 1);
  if (!p) return [];
  return p.fields.filter((fd) => fd.bits).map((fd) => payloadKeys.parse(`${p.name} ${fd.name}`, 'inet')!);
}

/**
 * The bit field a load of `load`'s bytes masked with `mask` reads (`ip dscp`
 * is `@nh,8,8 & 0xfc` in IPv4), under the network protocol earlier matches
 * established; undefined for any other load or mask.
 */
export function payloadBitfield(load: PayloadExpr, mask: Buffer, nfproto: number | undefined): KeyDef | undefined {
  return bitfieldKeys(load.base, nfproto).find(
    (d) => d.len === load.len && d.bitfield!.mask.equals(mask) && (d.load(0) as PayloadExpr).offset === load.offset,
  );
}

/**
 * The bit field and value of a write nft made with bitfieldWrite: `load`'s
 * bytes masked and xored, written back by `write` with the checksum fix-up
 * that field needs. Undefined for any other write.
 */
export function payloadBitfieldWrite(
  load: PayloadExpr,
  mask: Buffer,
  xor: Buffer,
  write: PayloadExpr,
  nfproto: number | undefined,
): { def: KeyDef; value: Buffer } | undefined {
  if (load.base !== write.base || load.offset !== write.offset || load.len !== write.len) return undefined;
  for (const d of bitfieldKeys(load.base, nfproto)) {
    const w = d.bitfield!.write;
    if (w.offset !== write.offset || w.len !== write.len) continue;
    if ((write.csumType ?? 0) !== w.csumType || (write.csumOffset ?? 0) !== w.csumOffset || (write.csumFlags ?? 0) !== 0) continue;
    const field = ((1n << BigInt(d.bitfield!.width)) - 1n) << BigInt(w.shift);
    const all = (1n << BigInt(w.len * 8)) - 1n;
    if (mask.length !== w.len || toBigint(mask) !== (all & ~field)) continue;
    const x = toBigint(xor);
    if (xor.length !== w.len || (x & ~field) !== 0n) continue;
    return { def: d, value: fromBigint(x >> BigInt(w.shift), d.type.len) };
  }
  return undefined;
}

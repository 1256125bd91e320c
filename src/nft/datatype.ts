/**
 * nft's data types: how a value of a selector is laid out in a register (width
 * and byte order), how nft names it in set declarations (the type id stored in
 * NFTA_SET_KEY_TYPE), and how values are parsed from the API and printed as nft
 * prints them.
 */
import { endianness } from 'node:os';
import { ValidationError } from '../errors.js';
import { formatIp, type Prefix, parseIfname, parseIPv6, parsePrefix, writeIPv4 } from '../grammar/index.js';
import type { Writer } from '../netlink/writer.js';
import { cgroupIdOf, cgroupPathOf } from './cgroup.js';
import {
  CT_STATE,
  CT_STATUS,
  DSCP_NAMES,
  ETHER_TYPES,
  FIB_ADDRTYPES,
  ICMP_CODES,
  ICMP_TYPES,
  ICMPV6_CODES,
  ICMPV6_TYPES,
  ICMPX_CODES,
  INET_PROTOCOLS,
  PKT_TYPES,
  TCP_FLAGS,
} from './datatype-symbols.js';

export { setCgroupResolver } from './cgroup.js';

/** One value of a data type as the API shows it: numbers for integers, strings for addresses, names and flag lists. */
export type NftAtom = string | number | bigint;

export const HOST_LE = endianness() === 'LE';

export type ByteOrder = 'big' | 'host';

export interface NftDatatype {
  /** nft's name, e.g. `ipv4_addr`. */
  readonly name: string;
  /** nft's type id (NFTA_SET_KEY_TYPE; concatenations shift ids by 6 bits). */
  readonly id: number;
  /** Width in bytes. */
  readonly len: number;
  readonly byteorder: ByteOrder;
  /** A flag set (ct state, tcp flags): matched with `&` by default. */
  readonly bitmask?: boolean;
  /** Addresses: accept and print prefixes. */
  readonly prefixable?: boolean;
  /** @internal Addresses: parses `address/length` (host bits kept); throws ValidationError naming `field`. */
  prefix?(text: string, field: string): Prefix;
  /** Parses one API value into `len` bytes; throws ValidationError naming `field`. */
  parse(value: unknown, field: string): Buffer;
  /** The API value of `len` bytes. */
  value(bytes: Buffer): NftAtom;
  /** nft's text for `len` bytes. */
  text(bytes: Buffer): string;
  /**
   * Fast path: writes a plain value straight into `w` and returns true, or
   * returns false (without writing) when `parse` has to decide.
   */
  write?(value: unknown, w: Writer): boolean;
}

// ---------------------------------------------------------------- integers

function readUint(b: Buffer, order: ByteOrder): bigint {
  let v = 0n;
  if (order === 'big' || !HOST_LE) for (let i = 0; i < b.length; i++) v = (v << 8n) | BigInt(b[i]!);
  else for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

export function writeUint(v: bigint, len: number, order: ByteOrder): Buffer {
  if (len <= 6 && v <= 0xffffffffffffn) return writeSmallUint(Number(v), len, order);
  const out = Buffer.alloc(len);
  let x = v;
  for (let i = 0; i < len; i++) {
    const at = order === 'big' || !HOST_LE ? len - 1 - i : i;
    out[at] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** Puts an unsigned integer below 2^48 into `buf` at `at`, in `len` bytes of `order`. */
function putSmallUint(buf: Buffer, at: number, v: number, len: number, order: ByteOrder): void {
  const big = order === 'big' || !HOST_LE;
  if (len <= 4) {
    // Byte by byte: Buffer's writeUIntBE/LE are JavaScript that is slow on a cold JIT.
    for (let i = 0; i < len; i++) buf[big ? at + len - 1 - i : at + i] = (v >>> (8 * i)) & 0xff;
  } else if (big) buf.writeUIntBE(v, at, len);
  else buf.writeUIntLE(v, at, len);
}

/** Writes an unsigned integer below 2^48 (the common case, without BigInt). */
export function writeSmallUint(v: number, len: number, order: ByteOrder): Buffer {
  const out = Buffer.allocUnsafe(len);
  putSmallUint(out, 0, v, len, order);
  return out;
}

function readSmallUint(b: Buffer, order: ByteOrder): number | undefined {
  if (b.length === 0 || b.length > 6) return undefined;
  return order === 'big' || !HOST_LE ? b.readUIntBE(0, b.length) : b.readUIntLE(0, b.length);
}

function toNumberish(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Parses a JS number, bigint or numeric string (decimal or 0x hex) as an unsigned integer. */
export function parseUint(value: unknown, bits: number, field: string, expected: string | (() => string)): bigint {
  let v: bigint | undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) v = BigInt(value);
  else if (typeof value === 'bigint' && value >= 0n) v = value;
  else if (typeof value === 'string' && /^(0x[0-9a-fA-F]+|[0-9]+)$/.test(value.trim())) v = BigInt(value.trim());
  if (v === undefined || v >= 1n << BigInt(bits)) {
    throw new ValidationError(
      field,
      `invalid value ${JSON.stringify(String(value))}`,
      typeof expected === 'string' ? expected : expected(),
    );
  }
  return v;
}

interface IntOptions {
  name: string;
  id: number;
  len: number;
  byteorder: ByteOrder;
  /** Values use only this many low bits (dscp: 6); default all of `len`. */
  bits?: number;
  hex?: boolean;
  /** Symbolic names: printed instead of the number, accepted when parsing. */
  symbols?: Record<string, number>;
  bitmask?: boolean;
  quote?: boolean;
}

function intType(o: IntOptions): NftDatatype {
  const bits = o.bits ?? o.len * 8;
  const byValue = new Map<number, string>();
  if (o.symbols) for (const [k, v] of Object.entries(o.symbols)) if (!byValue.has(v)) byValue.set(v, k);
  if (!(o.len > 0 && o.len <= 64)) throw new RangeError(`integer of ${o.len} bytes`);
  const expectedText = () =>
    o.symbols
      ? `a number or one of ${Object.keys(o.symbols).join(', ')}${o.bitmask ? ' (several joined by commas)' : ''}`
      : `an integer from 0 to ${(1n << BigInt(bits)) - 1n}`;
  const max = bits <= 48 ? 2 ** bits : Infinity;
  const parseOne = (v: unknown, field: string): bigint => {
    if (typeof v === 'string' && o.symbols && Object.prototype.hasOwnProperty.call(o.symbols, v)) return BigInt(o.symbols[v]!);
    return parseUint(v, bits, field, expectedText);
  };
  /** Number of a plain value, or undefined when the slow path must decide. */
  const fastNumber = (v: unknown): number | undefined => {
    if (typeof v === 'number') return Number.isInteger(v) && v >= 0 && v < max ? v : undefined;
    if (typeof v === 'string' && o.symbols && Object.prototype.hasOwnProperty.call(o.symbols, v)) return o.symbols[v];
    return undefined;
  };
  const flagNames = (n: number): string[] | undefined => {
    const names: string[] = [];
    let rest = n;
    for (const [value, name] of [...byValue.entries()].sort((a, b) => a[0] - b[0])) {
      if (value !== 0 && (rest & value) === value) {
        names.push(name);
        rest &= ~value;
      }
    }
    return rest === 0 ? names : undefined;
  };
  const fmt = (n: bigint): string => (o.hex ? `0x${n.toString(16).padStart(o.len * 2, '0')}` : n.toString());
  return {
    name: o.name,
    id: o.id,
    len: o.len,
    byteorder: o.byteorder,
    bitmask: o.bitmask,
    write(value, w) {
      const n = fastNumber(value);
      if (n === undefined || o.len > 6) return false;
      if (w.pos + o.len > w.buf.length) w.ensure(o.len);
      putSmallUint(w.buf, w.pos, n, o.len, o.byteorder);
      w.pos += o.len;
      return true;
    },
    parse(value, field) {
      const n = fastNumber(value);
      if (n !== undefined) return writeSmallUint(n, o.len, o.byteorder);
      let v: bigint;
      if (o.bitmask && typeof value === 'string' && /[,|]/.test(value)) {
        v = 0n;
        for (const part of value.split(/[,|]/)) v |= parseOne(part.trim(), field);
      } else if (o.bitmask && Array.isArray(value)) {
        v = 0n;
        for (const part of value) v |= parseOne(part, field);
      } else v = parseOne(value, field);
      return writeUint(v, o.len, o.byteorder);
    },
    value(bytes) {
      const small = o.symbols ? undefined : readSmallUint(bytes, o.byteorder);
      if (small !== undefined) return small;
      const n = readUint(bytes, o.byteorder);
      if (o.symbols && n <= 0xffffffffn) {
        if (o.bitmask) {
          const names = n === 0n ? undefined : flagNames(Number(n));
          if (names) return names.join(',');
        } else {
          const name = byValue.get(Number(n));
          if (name !== undefined) return name;
        }
      }
      return toNumberish(n);
    },
    text(bytes) {
      const v = this.value(bytes);
      if (typeof v === 'string') return o.quote ? JSON.stringify(v) : v;
      return fmt(BigInt(v));
    },
  };
}

// ---------------------------------------------------------------- addresses

/** The address of `len` bytes (src/grammar's dotted quads; IPv6 without zone id), or undefined. */
function addressBytes(value: unknown, len: 4 | 16): Buffer | undefined {
  if (typeof value !== 'string') return undefined;
  if (len === 4) {
    // Straight into one buffer, without a result object: rules and set elements parse many.
    const b = Buffer.allocUnsafe(4);
    return writeIPv4(value, b, 0) ? b : undefined;
  }
  const r = parseIPv6(value);
  return r.ok ? r.value : undefined;
}

function addrType(name: string, id: number, len: 4 | 16): NftDatatype {
  const family = len === 4 ? 'IPv4' : 'IPv6';
  const addressError = (value: unknown, field: string) =>
    new ValidationError(field, `invalid ${family} address ${JSON.stringify(String(value))}`, `an ${family} address`);
  return {
    name,
    id,
    len,
    byteorder: 'big',
    prefixable: true,
    parse(value, field) {
      const b = addressBytes(value, len);
      if (!b) throw addressError(value, field);
      return b;
    },
    prefix(text, field) {
      const p = parsePrefix(text, { family: len === 4 ? 4 : 6 });
      if (p.ok) return p.value;
      const slash = text.indexOf('/');
      if (p.code === 'length')
        throw new ValidationError(field, `invalid prefix length ${JSON.stringify(text.slice(slash + 1))}`, `0 to ${len * 8}`);
      throw addressError(slash === -1 ? text : text.slice(0, slash), field);
    },
    value: (bytes) => formatIp(bytes, 0, len),
    text: (bytes) => formatIp(bytes, 0, len),
    write(value, w) {
      if (typeof value !== 'string') return false;
      if (len === 16) {
        const r = parseIPv6(value);
        if (!r.ok) return false;
        if (w.pos + 16 > w.buf.length) w.ensure(16);
        w.buf.set(r.value, w.pos);
        w.pos += 16;
        return true;
      }
      // Parsed straight into the message (nothing is written when it is not an address).
      if (w.pos + 4 > w.buf.length) w.ensure(4);
      if (!writeIPv4(value, w.buf, w.pos)) return false;
      w.pos += 4;
      return true;
    },
  };
}

// ---------------------------------------------------------------- strings

/** Interface names: 16 bytes, NUL padded; a shorter value without NUL is a wildcard (`"wg*"`). */
const ifnameType: NftDatatype = {
  name: 'ifname',
  id: 41,
  len: 16,
  byteorder: 'host',
  parse(value, field) {
    const name = parseIfname(value, { rule: 'bytes' });
    if (!name.ok)
      throw new ValidationError(
        field,
        `invalid interface name ${JSON.stringify(String(value))}`,
        'a name of 1 to 15 bytes, or a prefix followed by *',
      );
    const out = Buffer.alloc(16);
    out.write(name.value);
    return out;
  },
  value(bytes) {
    const nul = bytes.indexOf(0);
    return bytes.toString('utf8', 0, nul === -1 ? bytes.length : nul);
  },
  text(bytes) {
    return JSON.stringify(this.value(bytes));
  },
};

// ---------------------------------------------------------------- cgroups

/** cgroupv2 ids are inode numbers of directories under /sys/fs/cgroup; nft prints the path when it finds one. */
const cgroupv2Type: NftDatatype = {
  ...intType({ name: 'cgroupsv2', id: 46, len: 8, byteorder: 'host' }),
  parse(value, field) {
    if (typeof value === 'string' && !/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(value)) {
      const id = cgroupIdOf(value);
      if (id === undefined)
        throw new ValidationError(field, `cgroup ${JSON.stringify(value)} not found under /sys/fs/cgroup`, 'a cgroupv2 path or id');
      return writeUint(id, 8, 'host');
    }
    return writeUint(parseUint(value, 64, field, 'a cgroupv2 path relative to /sys/fs/cgroup, or its id'), 8, 'host');
  },
  value(bytes) {
    const id = readUint(bytes, 'host');
    return cgroupPathOf(id) ?? toNumberish(id);
  },
  text(bytes) {
    const v = this.value(bytes);
    return typeof v === 'string' ? JSON.stringify(v) : v.toString();
  },
};

// ---------------------------------------------------------------- the table

export const DATATYPES = {
  verdict: intType({ name: 'verdict', id: 1, len: 4, byteorder: 'host' }),
  nf_proto: intType({ name: 'nf_proto', id: 2, len: 1, byteorder: 'host', symbols: { ipv4: 2, ipv6: 10 } }),
  integer: intType({ name: 'integer', id: 4, len: 4, byteorder: 'host' }),
  ipv4_addr: addrType('ipv4_addr', 7, 4),
  ipv6_addr: addrType('ipv6_addr', 8, 16),
  ether_type: intType({ name: 'ether_type', id: 10, len: 2, byteorder: 'big', symbols: ETHER_TYPES, hex: true }),
  inet_proto: intType({ name: 'inet_proto', id: 12, len: 1, byteorder: 'big', symbols: INET_PROTOCOLS }),
  inet_service: intType({ name: 'inet_service', id: 13, len: 2, byteorder: 'big' }),
  icmp_type: intType({ name: 'icmp_type', id: 14, len: 1, byteorder: 'big', symbols: ICMP_TYPES }),
  tcp_flag: intType({ name: 'tcp_flag', id: 15, len: 1, byteorder: 'big', symbols: TCP_FLAGS, bitmask: true, hex: true }),
  mark: intType({ name: 'mark', id: 19, len: 4, byteorder: 'host', hex: true }),
  iface_index: intType({ name: 'iface_index', id: 20, len: 4, byteorder: 'host' }),
  uid: intType({ name: 'uid', id: 24, len: 4, byteorder: 'host' }),
  gid: intType({ name: 'gid', id: 25, len: 4, byteorder: 'host' }),
  ct_state: intType({ name: 'ct_state', id: 26, len: 4, byteorder: 'host', symbols: CT_STATE, bitmask: true, hex: true }),
  ct_dir: intType({ name: 'ct_dir', id: 27, len: 1, byteorder: 'host', symbols: { original: 0, reply: 1 } }),
  ct_status: intType({ name: 'ct_status', id: 28, len: 4, byteorder: 'host', symbols: CT_STATUS, bitmask: true, hex: true }),
  icmpv6_type: intType({ name: 'icmpv6_type', id: 29, len: 1, byteorder: 'big', symbols: ICMPV6_TYPES }),
  pkttype: intType({ name: 'pkt_type', id: 31, len: 1, byteorder: 'host', symbols: PKT_TYPES }),
  icmp_code: intType({ name: 'icmp_code', id: 32, len: 1, byteorder: 'big', symbols: ICMP_CODES }),
  icmpv6_code: intType({ name: 'icmpv6_code', id: 33, len: 1, byteorder: 'big', symbols: ICMPV6_CODES }),
  icmpx_code: intType({ name: 'icmpx_code', id: 34, len: 1, byteorder: 'big', symbols: ICMPX_CODES }),
  fib_addrtype: intType({ name: 'fib_addrtype', id: 38, len: 4, byteorder: 'host', symbols: FIB_ADDRTYPES }),
  boolean: intType({ name: 'boolean', id: 39, len: 1, byteorder: 'host', symbols: { missing: 0, exists: 1 } }),
  /** The 6 bits of `ip dscp` / `ip6 dscp`, as a value 0-63 (its place in the header is the selector's). */
  dscp: intType({ name: 'dscp', id: 36, len: 1, byteorder: 'big', bits: 6, symbols: DSCP_NAMES, hex: true }),
  ifname: ifnameType,
  cgroupsv2: cgroupv2Type,
} satisfies Record<string, NftDatatype>;

export type NftTypeName = keyof typeof DATATYPES;

const BY_ID = new Map<number, NftDatatype>();
for (const t of Object.values(DATATYPES)) if (!BY_ID.has(t.id)) BY_ID.set(t.id, t);

/** Aliases nft accepts in set declarations. */
const TYPE_ALIASES: Record<string, NftTypeName> = { pkt_type: 'pkttype', cgroupv2: 'cgroupsv2' };

export function datatypeByName(name: string): NftDatatype | undefined {
  const key = (TYPE_ALIASES[name] ?? name) as NftTypeName;
  return Object.prototype.hasOwnProperty.call(DATATYPES, key) ? DATATYPES[key] : undefined;
}

/** An unsigned integer of `len` bytes (raw payloads, unknown set types). */
export function integerType(len: number, byteorder: ByteOrder, id = 4): NftDatatype {
  const base = intType({ name: 'integer', id, len, byteorder });
  if (len <= 8) return base;
  // Wider than 64 bits: shown as hex.
  return {
    ...base,
    parse(value, field) {
      if (Buffer.isBuffer(value) && value.length === len) return Buffer.from(value);
      return writeUint(parseUint(value, len * 8, field, `an integer of ${len} bytes`), len, byteorder);
    },
    value: (bytes) => `0x${bytes.toString('hex')}`,
    text: (bytes) => `0x${bytes.toString('hex')}`,
  };
}

export const TYPE_BITS = 6;

/** The datatype for a set key id; unknown ids become integers of `len` bytes. */
export function datatypeById(id: number, len: number): NftDatatype {
  const t = BY_ID.get(id);
  if (t && t.len === len) return t;
  return integerType(len, 'host', id);
}

/** Splits a (possibly concatenated) set type id into its parts, given the total key length. */
export function splitTypeId(id: number, totalLen: number, fieldLens?: number[]): NftDatatype[] | undefined {
  const ids: number[] = [];
  let rest = id >>> 0;
  while (rest > 0) {
    ids.unshift(rest & ((1 << TYPE_BITS) - 1));
    rest = Math.floor(rest / (1 << TYPE_BITS));
  }
  if (ids.length === 0) return undefined;
  const types = ids.map((i, n) => {
    const t = BY_ID.get(i);
    if (fieldLens && fieldLens[n] !== undefined && (!t || t.len !== fieldLens[n])) return integerType(fieldLens[n]!, 'host', i);
    return t;
  });
  if (types.some((t) => !t)) return undefined;
  const sum = (types as NftDatatype[]).reduce((n, t) => n + (types.length > 1 ? pad4(t.len) : t.len), 0);
  if (sum !== totalLen) return undefined;
  return types as NftDatatype[];
}

export function concatTypeId(types: readonly NftDatatype[]): number {
  let id = 0;
  for (const t of types) id = id * (1 << TYPE_BITS) + t.id;
  return id;
}

export const pad4 = (n: number): number => (n + 3) & ~3;

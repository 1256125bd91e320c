/**
 * CIDR prefixes: `address/length`, or a bare address meaning a host prefix.
 * Options say what the caller's syntax allows: host bits beyond the length
 * (kept, refused or cleared), a bare address, leading zeros in the length,
 * zone ids.
 */
import { decimalAt } from './decimal.js';
import { bitsOf, formatIp, IPV4_SOURCE, type IpFamily, ipv4At, ipv4Bytes, parseIp, type ZoneRule } from './ip.js';
import { fail, ok, type Parsed } from './result.js';

export interface Prefix {
  family: IpFamily;
  /** 4 or 16 bytes: the address as written unless host bits are cleared. */
  address: Buffer;
  length: number;
}

export interface PrefixOptions {
  /** Only this family (code 'family' for the other). */
  family?: IpFamily;
  /**
   * Bits set beyond the length: 'keep' them as written (the default, as
   * interface addresses need), 'refuse' them (code 'host-bits'), or 'clear'
   * them (the network address).
   */
  hostBits?: 'keep' | 'refuse' | 'clear';
  /** A bare address: a host prefix (/32, /128; the default) or 'refuse'd (code 'no-length'). */
  bare?: 'host' | 'refuse';
  /**
   * Leading zeros in the length ("/024"): by default none; with a number,
   * lengths of up to that many digits may have them (Infinity: any number).
   */
  lengthDigits?: number;
  /** IPv6 zone ids before the '/' (dropped from the value): default 'refuse'. */
  zone?: ZoneRule;
}

/** Exactly the texts parsePrefix(text, { family: 4, bare: 'refuse' }) accepts: 'a.b.c.d/len', in one native regular expression. */
export const IPV4_PREFIX_TEXT = new RegExp(`^${IPV4_SOURCE}/(?:3[0-2]|[12]?[0-9])$`);

/** Parses a prefix (see PrefixOptions for what is accepted). */
export function parsePrefix(text: unknown, options: PrefixOptions = {}): Parsed<Prefix> {
  if (typeof text !== 'string') return fail('type', 'is not a string');
  const slash = text.indexOf('/');
  const end = slash === -1 ? text.length : slash;
  let family: IpFamily;
  let address: Buffer;
  // Dotted quads by hand: the hot path of 100 000 routes.
  const v4 = options.family === 6 ? -1 : ipv4At(text, 0, end);
  if (v4 >= 0) {
    family = 4;
    address = ipv4Bytes(v4);
  } else {
    const ip = parseIp(slash === -1 ? text : text.slice(0, slash), { zone: options.zone ?? 'refuse' });
    if (!ip.ok) return ip.code === 'zone' ? ip : fail('address', ip.code === 'type' ? ip.problem : 'is not an IP address or prefix');
    family = ip.value.family;
    address = ip.value.bytes;
  }
  if (options.family !== undefined && family !== options.family) {
    return fail('family', `is an IPv${family} prefix where IPv${options.family} is needed`);
  }
  const max = bitsOf(family);
  let length = max;
  if (slash === -1) {
    if (options.bare === 'refuse') return fail('no-length', 'has no prefix length');
  } else {
    length = decimalAt(text, slash + 1, text.length, max, options.lengthDigits ?? 0);
    if (length < 0) return fail('length', `has an invalid prefix length (0 to ${max})`);
  }
  const p: Prefix = { family, address, length };
  const hostBits = options.hostBits ?? 'keep';
  if (hostBits !== 'keep' && !isNetworkAddress(p)) {
    if (hostBits === 'refuse') return fail('host-bits', `has bits set beyond the /${length}`);
    p.address = networkAddress(p);
  }
  return ok(p);
}

/** True when no bit beyond the prefix length is set. */
export function isNetworkAddress(p: Prefix): boolean {
  const a = p.address;
  for (let bit = p.length; bit < a.length * 8; bit++) {
    if ((bit & 7) === 0 && a[bit >> 3] === 0) {
      bit += 7;
      continue;
    }
    if ((a[bit >> 3]! >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

/** The address with every bit beyond the prefix length cleared (a new buffer). */
export function networkAddress(p: Prefix): Buffer {
  const out = Buffer.from(p.address);
  for (let bit = p.length; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(1 << (7 - (bit & 7)));
  return out;
}

/** True when every bit beyond the prefix length is set (the IPv4 broadcast address of the subnet). */
export function isAllOnesHost(p: Prefix): boolean {
  for (let bit = p.length; bit < p.address.length * 8; bit++) {
    if (!((p.address[bit >> 3]! >> (7 - (bit & 7))) & 1)) return false;
  }
  return true;
}

/** `address/length` with the address as inet_ntop writes it (host bits as they are). */
export function formatPrefix(p: Prefix): string {
  return `${formatIp(p.address)}/${p.length}`;
}

/** The number of leading bits two addresses of one length share. */
export function commonLength(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i]! ^ b[i]!;
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return n * 8;
}

/** Whether `inner` (an address as a host prefix, or a prefix) lies inside `outer`: same family, at least as long, same network bits. */
export function prefixContains(outer: Prefix, inner: Prefix): boolean {
  return outer.family === inner.family && inner.length >= outer.length && commonLength(outer.address, inner.address) >= outer.length;
}

/** Whether the address (4 or 16 bytes) lies in the prefix's subnet. */
export function inPrefix(p: Prefix, address: Uint8Array): boolean {
  return address.length === p.address.length && commonLength(p.address, address) >= p.length;
}

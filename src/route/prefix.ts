/**
 * Prefixes and addresses of route, rule and address requests, parsed through
 * src/grammar. Dotted quads, the hot path of bulk requests (encoding 100 000
 * routes), take the grammar's non-allocating ipv4At and decimalAt; anything
 * else goes through the general parsers, which also word the errors.
 */
import { ValidationError } from '../errors.js';
import { decimalAt, ipv4At, ipv4Bytes, isNetworkAddress } from '../grammar/index.js';
import { parseAddress, parsePrefix } from '../netlink/ip.js';
import type { RouteFamily } from './validation.js';

export interface ParsedPrefix {
  family: RouteFamily;
  /** 4 or 16 bytes. */
  bytes: Buffer;
  length: number;
}

function wrongFamily(field: string, text: string, got: number, want: RouteFamily): never {
  throw new ValidationError(field, `${text} is an IPv${got} prefix where IPv${want} is needed`, `an IPv${want} prefix`);
}

function hostBits(field: string, text: string, length: number): never {
  throw new ValidationError(field, `${text} has bits set beyond the /${length}`, 'a network address such as 192.0.2.0/24');
}

/**
 * A prefix (or a bare address: a host prefix). Unless `allowHostBits`, bits
 * set beyond the length are an error. Throws ValidationError naming `field`.
 */
export function prefixBytes(text: unknown, field: string, family?: RouteFamily, allowHostBits = false): ParsedPrefix {
  if (typeof text === 'string') {
    const slash = text.indexOf('/');
    const value = ipv4At(text, 0, slash === -1 ? text.length : slash);
    const length = value < 0 ? -1 : slash === -1 ? 32 : decimalAt(text, slash + 1, text.length, 32);
    if (length >= 0) {
      if (family === 6) wrongFamily(field, text, 4, 6);
      if (!allowHostBits && length < 32 && (value & (0xffffffff >>> length)) !== 0) hostBits(field, text, length);
      return { family: 4, bytes: ipv4Bytes(value), length };
    }
  }
  const p = parsePrefix(text as string, field);
  if (family !== undefined && p.family !== family) wrongFamily(field, String(text), p.family, family);
  if (!allowHostBits && !isNetworkAddress(p)) hostBits(field, String(text), p.length);
  return { family: p.family, bytes: p.address, length: p.length };
}

/** A single address as bytes; throws ValidationError naming `field`. */
export function addressBytes(text: unknown, field: string, family?: RouteFamily): { family: RouteFamily; bytes: Buffer } {
  if (typeof text === 'string') {
    const value = ipv4At(text);
    if (value >= 0) {
      if (family === 6) throw new ValidationError(field, `${text} is not an IPv6 address`, 'an IPv6 address');
      return { family: 4, bytes: ipv4Bytes(value) };
    }
  }
  const bytes = parseAddress(text as string, field, family);
  return { family: bytes.length === 4 ? 4 : 6, bytes };
}

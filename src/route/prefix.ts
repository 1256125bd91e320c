/**
 * Prefix parsing on the hot path of bulk requests. Dotted quads are parsed by
 * hand (the general parser in src/netlink/ip.ts splits and runs regular
 * expressions, which dominated the cost of encoding 100 000 routes); anything
 * unusual falls back to the general parser, which also produces the errors.
 */
import { ValidationError } from '../errors.js';
import { isNetworkAddress, parseAddress, parsePrefix } from '../netlink/ip.js';
import type { RouteFamily } from './validation.js';

export interface ParsedPrefix {
  family: RouteFamily;
  /** 4 or 16 bytes. */
  bytes: Buffer;
  length: number;
}

/** Parses `a.b.c.d` or `a.b.c.d/len` into bytes, or returns undefined when it is anything else. */
function quickIPv4(text: string, withLength: boolean): { value: number; length: number } | undefined {
  let value = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  let i = 0;
  const n = text.length;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && part === 0) return undefined; // leading zero
      part = part * 10 + (c - 48);
      if (++digits > 3 || part > 255) return undefined;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return undefined;
      value = value * 256 + part;
      part = 0;
      digits = 0;
    } else break;
  }
  if (digits === 0 || dots !== 3) return undefined;
  value = value * 256 + part;
  if (i === n) return { value, length: 32 };
  if (!withLength || text.charCodeAt(i) !== 47) return undefined;
  let length = 0;
  let ld = 0;
  for (i++; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57 || (ld > 0 && length === 0)) return undefined;
    length = length * 10 + (c - 48);
    if (++ld > 2) return undefined;
  }
  if (ld === 0 || length > 32) return undefined;
  return { value, length };
}

function ipv4Bytes(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  // Byte stores rather than writeUInt32BE, which is slow until the JIT warms up.
  b[0] = value >>> 24;
  b[1] = (value >>> 16) & 0xff;
  b[2] = (value >>> 8) & 0xff;
  b[3] = value & 0xff;
  return b;
}

function wrongFamily(field: string, text: string, got: number, want: RouteFamily): never {
  throw new ValidationError(field, `${text} is an IPv${got} prefix where IPv${want} is needed`, `an IPv${want} prefix`);
}

/**
 * A prefix (or a bare address: a host prefix). Unless `allowHostBits`, bits
 * set beyond the length are an error. Throws ValidationError naming `field`.
 */
export function prefixBytes(text: unknown, field: string, family?: RouteFamily, allowHostBits = false): ParsedPrefix {
  if (typeof text === 'string') {
    const q = quickIPv4(text, true);
    if (q) {
      if (family === 6) wrongFamily(field, text, 4, 6);
      if (!allowHostBits && q.length < 32 && (q.value & (0xffffffff >>> q.length)) !== 0) {
        throw new ValidationError(field, `${text} has bits set beyond the /${q.length}`, 'a network address such as 192.0.2.0/24');
      }
      return { family: 4, bytes: ipv4Bytes(q.value), length: q.length };
    }
  }
  const p = parsePrefix(text as string, field);
  if (family !== undefined && p.family !== family) wrongFamily(field, String(text), p.family, family);
  if (!allowHostBits && !isNetworkAddress(p)) {
    throw new ValidationError(field, `${String(text)} has bits set beyond the /${p.length}`, 'a network address such as 192.0.2.0/24');
  }
  return { family: p.family, bytes: p.address, length: p.length };
}

/** A single address as bytes; throws ValidationError naming `field`. */
export function addressBytes(text: unknown, field: string, family?: RouteFamily): { family: RouteFamily; bytes: Buffer } {
  if (typeof text === 'string') {
    const q = quickIPv4(text, false);
    if (q) {
      if (family === 6) throw new ValidationError(field, `${text} is not an IPv6 address`, 'an IPv6 address');
      return { family: 4, bytes: ipv4Bytes(q.value) };
    }
  }
  const bytes = parseAddress(text as string, field, family);
  return { family: bytes.length === 4 ? 4 : 6, bytes };
}

/**
 * IP addresses and prefixes: strict parsing of text into bytes and formatting
 * of bytes into the text the iproute2 tools print (glibc inet_ntop).
 *
 * The netlink layer's face of src/grammar, which holds the grammar itself:
 * the parsers here return undefined or throw a ValidationError naming the
 * field, worded as netfwd has always worded it.
 */
import { ValidationError } from '../errors.js';
import type { Prefix } from '../grammar/index.js';
import * as grammar from '../grammar/index.js';

export { formatIPv4, formatIPv6, isNetworkAddress, networkAddress, type Prefix } from '../grammar/index.js';

export type Family = 4 | 6;

/** Parses a dotted quad; returns undefined for anything else (no shorthand, no leading zeros). */
export function parseIPv4(text: string): Buffer | undefined {
  return grammar.valueOf(grammar.parseIPv4(text));
}

/** Parses an IPv6 address (with `::` and an optional trailing dotted quad); no zone ids. */
export function parseIPv6(text: string): Buffer | undefined {
  return grammar.valueOf(grammar.parseIPv6(text));
}

/** Parses either family. */
export function parseIP(text: string): Buffer | undefined {
  return grammar.valueOf(grammar.parseIp(text))?.bytes;
}

export function familyOf(text: string): Family | undefined {
  return grammar.familyOf(text);
}

/** Formats 4 or 16 bytes. */
export function formatIP(bytes: Uint8Array, offset = 0, length = bytes.length - offset): string {
  return grammar.formatIp(bytes, offset, length);
}

const CIDR = 'a CIDR such as 192.0.2.0/24 or 2001:db8::/32';

/**
 * Parses `address/len` (or a bare address, which means a host prefix) and
 * throws a ValidationError naming `field` when it is not valid.
 */
export function parsePrefix(text: string, field: string): Prefix {
  const p = grammar.parsePrefix(text);
  if (p.ok) return p.value;
  if (p.code === 'type') throw new ValidationError(field, `not a string`, CIDR);
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  if (p.code !== 'length') throw new ValidationError(field, `invalid address ${JSON.stringify(addrText)}`, CIDR);
  throw new ValidationError(
    field,
    `invalid prefix length ${JSON.stringify(text.slice(slash + 1))}`,
    `0 to ${addrText.includes(':') ? 128 : 32}`,
  );
}

/** Parses a single address of either family or throws a ValidationError naming `field`. */
export function parseAddress(text: string, field: string, family?: Family): Buffer {
  const a = grammar.parseIp(text);
  if (!a.ok) throw new ValidationError(field, `invalid IP address ${JSON.stringify(text)}`, 'an IPv4 or IPv6 address');
  if (family !== undefined && a.value.family !== family) {
    throw new ValidationError(field, `${text} is not an IPv${family} address`, `an IPv${family} address`);
  }
  return a.value.bytes;
}

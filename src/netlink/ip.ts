/**
 * IP addresses and prefixes: strict parsing of text into bytes and formatting
 * of bytes into the text the iproute2 tools print (glibc inet_ntop).
 */
import { ValidationError } from '../errors.js';

export type Family = 4 | 6;

/** Parses a dotted quad; returns undefined for anything else (no shorthand, no leading zeros). */
export function parseIPv4(text: string): Buffer | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = Buffer.alloc(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** Parses an IPv6 address (with `::` and an optional trailing dotted quad); no zone ids. */
export function parseIPv6(text: string): Buffer | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const words: number[] = [];
  const parseGroups = (part: string, allowV4Tail: boolean): number[] | undefined => {
    if (part === '') return [];
    const groups = part.split(':');
    const out: number[] = [];
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      if (allowV4Tail && i === groups.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
        continue;
      }
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  if (halves.length === 2) {
    const head = parseGroups(halves[0]!, false);
    const tail = parseGroups(halves[1]!, true);
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    words.push(...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail);
  } else {
    const all = parseGroups(text, true);
    if (!all || all.length !== 8) return undefined;
    words.push(...all);
  }
  const out = Buffer.alloc(16);
  words.forEach((w, i) => out.writeUInt16BE(w, i * 2));
  return out;
}

/** Parses either family. */
export function parseIP(text: string): Buffer | undefined {
  return text.includes(':') ? parseIPv6(text) : parseIPv4(text);
}

export function familyOf(text: string): Family | undefined {
  if (parseIPv4(text)) return 4;
  if (parseIPv6(text)) return 6;
  return undefined;
}

export function formatIPv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** Formats 16 bytes exactly as glibc's inet_ntop does (which `ip` uses). */
export function formatIPv6(bytes: Uint8Array, offset = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!);
  // The longest run of at least two zero words is compressed; the first wins a tie.
  let bestBase = -1;
  let bestLen = 0;
  let curBase = -1;
  let curLen = 0;
  for (let i = 0; i < 8; i++) {
    if (words[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase !== -1) {
      if (bestBase === -1 || curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (curBase !== -1 && (bestBase === -1 || curLen > bestLen)) {
    bestBase = curBase;
    bestLen = curLen;
  }
  if (bestBase !== -1 && bestLen < 2) bestBase = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (bestBase !== -1 && i >= bestBase && i < bestBase + bestLen) {
      if (i === bestBase) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    // An IPv4-compatible or IPv4-mapped address ends in a dotted quad.
    if (i === 6 && bestBase === 0 && (bestLen === 6 || (bestLen === 5 && words[5] === 0xffff))) {
      out += formatIPv4(bytes, offset + 12);
      break;
    }
    out += words[i]!.toString(16);
  }
  if (bestBase !== -1 && bestBase + bestLen === 8) out += ':';
  return out;
}

/** Formats 4 or 16 bytes. */
export function formatIP(bytes: Uint8Array, offset = 0, length = bytes.length - offset): string {
  if (length === 4) return formatIPv4(bytes, offset);
  if (length === 16) return formatIPv6(bytes, offset);
  throw new RangeError(`an IP address has 4 or 16 bytes, not ${length}`);
}

export interface Prefix {
  family: Family;
  /** The address as written (host bits kept). */
  address: Buffer;
  length: number;
}

/**
 * Parses `address/len` (or a bare address, which means a host prefix) and
 * throws a ValidationError naming `field` when it is not valid.
 */
export function parsePrefix(text: string, field: string): Prefix {
  if (typeof text !== 'string') throw new ValidationError(field, `not a string`, 'a CIDR such as 192.0.2.0/24 or 2001:db8::/32');
  const slash = text.indexOf('/');
  const addrText = slash === -1 ? text : text.slice(0, slash);
  const address = parseIP(addrText);
  if (!address) {
    throw new ValidationError(field, `invalid address ${JSON.stringify(addrText)}`, 'a CIDR such as 192.0.2.0/24 or 2001:db8::/32');
  }
  const family: Family = address.length === 4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  let length = max;
  if (slash !== -1) {
    const lenText = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText) || Number(lenText) > max) {
      throw new ValidationError(field, `invalid prefix length ${JSON.stringify(lenText)}`, `0 to ${max}`);
    }
    length = Number(lenText);
  }
  return { family, address, length };
}

/** True when no bit beyond the prefix length is set. */
export function isNetworkAddress(p: Prefix): boolean {
  for (let bit = p.length; bit < p.address.length * 8; bit++) {
    if ((p.address[bit >> 3]! >> (7 - (bit & 7))) & 1) return false;
  }
  return true;
}

/** The address with every bit beyond the prefix length cleared. */
export function networkAddress(p: Prefix): Buffer {
  const out = Buffer.from(p.address);
  for (let bit = p.length; bit < out.length * 8; bit++) out[bit >> 3]! &= ~(1 << (7 - (bit & 7)));
  return out;
}

/** Parses a single address of either family or throws a ValidationError naming `field`. */
export function parseAddress(text: string, field: string, family?: Family): Buffer {
  const bytes = typeof text === 'string' ? parseIP(text) : undefined;
  if (!bytes) throw new ValidationError(field, `invalid IP address ${JSON.stringify(text)}`, 'an IPv4 or IPv6 address');
  if (family !== undefined && bytes.length !== (family === 4 ? 4 : 16)) {
    throw new ValidationError(field, `${text} is not an IPv${family} address`, `an IPv${family} address`);
  }
  return bytes;
}

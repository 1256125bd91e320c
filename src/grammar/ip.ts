/**
 * IP addresses: text to bytes and back. Strict by default — a dotted quad of
 * four decimal octets without leading zeros; IPv6 with `::` and an optional
 * trailing dotted quad, 1 to 4 hex digits a group; no white space, no zone id
 * — with options for the zone ids some callers accept. Formatting writes what
 * glibc's inet_ntop writes (and so what `ip` prints).
 */
import { decimalAt } from './decimal.js';
import { fail, ok, type Parsed } from './result.js';

export type IpFamily = 4 | 6;

/**
 * What an IPv6 zone id (`fe80::1%eth0`) may be: none ('refuse', the
 * default), a numeric interface index up to 2^32-1 without leading zeros
 * ('numeric', as WireGuard endpoints take it), or what node:net's isIP
 * accepts ('any': letters, digits, '-', '.', ':').
 */
export type ZoneRule = 'refuse' | 'numeric' | 'any';

export interface IpOptions {
  /** Only this family; the other is a problem (code 'family'). */
  family?: IpFamily;
  /** IPv6 zone ids: default 'refuse'. */
  zone?: ZoneRule;
}

export interface IpAddress {
  family: IpFamily;
  /** 4 or 16 bytes. */
  bytes: Buffer;
  /** The zone id after '%', when one was written (and allowed). */
  zone?: string;
}

/** ipv4At's scratch: the octets writeIPv4 found. */
const QUAD = new Uint8Array(4);

/**
 * The dotted quad in text[start, end) as an unsigned 32-bit number, or -1
 * when it is not one. Allocates nothing: the hot paths use it directly.
 */
export function ipv4At(text: string, start = 0, end = text.length): number {
  if (!writeIPv4(text, QUAD, 0, start, end)) return -1;
  return ((QUAD[0]! * 256 + QUAD[1]!) * 256 + QUAD[2]!) * 256 + QUAD[3]!;
}

const OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])';

/**
 * What ipv4At accepts, as the source of a regular expression (no anchors).
 * Checking many texts with one native regular expression is several times
 * faster than the character loops on a cold start, which the WireGuard fast
 * path of 10 000 peers relies on.
 */
export const IPV4_SOURCE = `${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}`;

/** Exactly the dotted quads parseIp accepts. */
export const IPV4_TEXT = new RegExp(`^${IPV4_SOURCE}$`);

/** A 32-bit address value as 4 bytes. */
export function ipv4Bytes(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  // Byte stores rather than writeUInt32BE, which is slow until the JIT warms up.
  b[0] = value >>> 24;
  b[1] = (value >>> 16) & 0xff;
  b[2] = (value >>> 8) & 0xff;
  b[3] = value & 0xff;
  return b;
}

/**
 * Writes the dotted quad in text[start, end) into `out` at `at`; false (and
 * nothing written) when it is not one. The one dotted-quad loop of the tree
 * (ipv4At and parseIPv4 use it): one pass with the octets in small integers,
 * which on a cold JIT is about twice as fast as building a 32-bit value (a
 * heap number above 2^31 until the code is optimised), and nftables set
 * elements write tens of thousands of addresses in a fresh process.
 */
export function writeIPv4(text: string, out: Uint8Array, at: number, start = 0, end = text.length): boolean {
  let part = 0;
  let n = 0;
  let digits = 0;
  let a = 0;
  let b = 0;
  let c = 0;
  for (let i = start; i < end; i++) {
    const ch = text.charCodeAt(i);
    if (ch >= 48 && ch <= 57) {
      if (digits > 0 && n === 0) return false; // a leading zero
      n = n * 10 + (ch - 48);
      if (++digits > 3 || n > 255) return false;
    } else if (ch === 46 /* . */ && digits > 0 && part < 3) {
      if (part === 0) a = n;
      else if (part === 1) b = n;
      else c = n;
      part++;
      n = 0;
      digits = 0;
    } else return false;
  }
  if (part !== 3 || digits === 0) return false;
  out[at] = a;
  out[at + 1] = b;
  out[at + 2] = c;
  out[at + 3] = n;
  return true;
}

function hexGroup(text: string, start: number, end: number): number {
  const n = end - start;
  if (n < 1 || n > 4) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    v = v * 16 + d;
  }
  return v;
}

/** Groups of text[start, end) split at ':' (a last group with a '.' is a dotted quad when `v4Tail`); undefined when malformed. */
function groupsOf(text: string, start: number, end: number, v4Tail: boolean): number[] | undefined {
  const out: number[] = [];
  if (start === end) return out;
  let from = start;
  for (let i = start; i <= end; i++) {
    if (i < end && text.charCodeAt(i) !== 58 /* : */) continue;
    if (v4Tail && i === end && text.indexOf('.', from) !== -1 && text.indexOf('.', from) < end) {
      const v = ipv4At(text, from, end);
      if (v < 0) return undefined;
      out.push(v >>> 16, v & 0xffff);
    } else {
      const g = hexGroup(text, from, i);
      if (g < 0) return undefined;
      out.push(g);
    }
    from = i + 1;
  }
  return out;
}

/** The IPv6 address in text[start, end) as 16 bytes, or undefined. */
function ipv6Bytes(text: string, start: number, end: number): Buffer | undefined {
  if (end - start < 2 || end - start > 45) return undefined;
  const gap = text.indexOf('::', start);
  let words: number[];
  if (gap !== -1 && gap < end - 1) {
    if (text.indexOf('::', gap + 1) !== -1 && text.indexOf('::', gap + 1) < end - 1) return undefined;
    const head = groupsOf(text, start, gap, false);
    const tail = groupsOf(text, gap + 2, end, true);
    if (!head || !tail || head.length + tail.length > 7) return undefined;
    words = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    const all = groupsOf(text, start, end, true);
    if (!all || all.length !== 8) return undefined;
    words = all;
  }
  const out = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = words[i]! >> 8;
    out[2 * i + 1] = words[i]! & 0xff;
  }
  return out;
}

const ZONE_ANY = /^[0-9a-zA-Z.:-]+$/;

function zoneProblem(zone: string, rule: ZoneRule): string | undefined {
  if (rule === 'refuse') return 'has a zone id (%…), which is not taken here';
  if (rule === 'numeric')
    return decimalAt(zone, 0, zone.length, 0xffffffff) < 0 ? 'has a zone id that is not a numeric interface index' : undefined;
  return ZONE_ANY.test(zone) ? undefined : 'has an invalid zone id';
}

const NOT_IP = 'is not an IP address';

/** Parses an IPv4 or IPv6 address (the family by the text: a ':' means IPv6). */
export function parseIp(text: unknown, options: IpOptions = {}): Parsed<IpAddress> {
  if (typeof text !== 'string') return fail('type', 'is not a string');
  const v4 = text.includes(':') ? -1 : ipv4At(text);
  if (v4 >= 0) {
    if (options.family === 6) return fail('family', 'is an IPv4 address where IPv6 is needed');
    return ok({ family: 4, bytes: ipv4Bytes(v4) });
  }
  if (!text.includes(':'))
    return fail('syntax', options.family === 4 ? 'is not an IPv4 address' : options.family === 6 ? 'is not an IPv6 address' : NOT_IP);
  const pct = text.indexOf('%');
  const end = pct === -1 ? text.length : pct;
  const bytes = ipv6Bytes(text, 0, end);
  if (!bytes)
    return fail('syntax', options.family === 4 ? 'is not an IPv4 address' : options.family === 6 ? 'is not an IPv6 address' : NOT_IP);
  if (options.family === 4) return fail('family', 'is an IPv6 address where IPv4 is needed');
  if (pct === -1) return ok({ family: 6, bytes });
  const zone = text.slice(pct + 1);
  const problem = zoneProblem(zone, options.zone ?? 'refuse');
  if (problem) return fail('zone', problem);
  return ok({ family: 6, bytes, zone });
}

/** The dotted quad as 4 bytes. */
export function parseIPv4(text: unknown): Parsed<Buffer> {
  const r = parseIp(text, { family: 4 });
  return r.ok ? ok(r.value.bytes) : r;
}

/** An IPv6 address (without zone id) as 16 bytes. */
export function parseIPv6(text: unknown): Parsed<Buffer> {
  const r = parseIp(text, { family: 6 });
  return r.ok ? ok(r.value.bytes) : r;
}

/** 4 or 6 for an address of that family (no zone id), undefined for anything else. */
export function familyOf(text: string): IpFamily | undefined {
  const r = parseIp(text);
  return r.ok ? r.value.family : undefined;
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
  for (let i = 0; i <= 8; i++) {
    if (i < 8 && words[i] === 0) {
      if (curBase === -1) {
        curBase = i;
        curLen = 1;
      } else curLen++;
    } else if (curBase !== -1) {
      if (curLen > bestLen) {
        bestBase = curBase;
        bestLen = curLen;
      }
      curBase = -1;
    }
  }
  if (bestLen < 2) bestBase = -1;
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

/** Formats 4 or 16 bytes; any other length is a programming error (RangeError). */
export function formatIp(bytes: Uint8Array, offset = 0, length = bytes.length - offset): string {
  if (length === 4) return formatIPv4(bytes, offset);
  if (length === 16) return formatIPv6(bytes, offset);
  throw new RangeError(`an IP address has 4 or 16 bytes, not ${length}`);
}

/** The family of 4 or 16 bytes. */
const familyOfBytes = (bytes: Uint8Array): IpFamily => (bytes.length === 4 ? 4 : 6);

/** The number of bits of an address of the family. */
export const bitsOf = (family: IpFamily): number => (family === 4 ? 32 : 128);

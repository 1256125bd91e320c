/** Addresses and prefixes as the importer needs them: parse, contain, widen. The grammar is src/grammar's. */
import {
  bitsOf,
  fail,
  formatPrefix,
  type IpFamily,
  networkAddress,
  ok,
  type Parsed,
  type PrefixOptions,
  parsePrefix,
  prefixContains,
  commonLength as sharedBits,
} from '../grammar/index.js';

export interface Cidr {
  family: IpFamily;
  /** The address as written (without brackets or prefix). */
  address: string;
  /** 4 or 16 bytes (a zone id is not part of them). */
  bytes: Buffer;
  /** The address as a number, for comparisons. */
  value: bigint;
  length: number;
  /** Whether a prefix length was written. */
  explicit: boolean;
}

/**
 * The one prefix syntax of every importer (wg-quick, NetworkManager keyfiles,
 * ip commands): lengths of up to three digits, leading zeros taken ("/024",
 * as the importer always took them); no zone ids, which netfwd does not take
 * either (they would only fail later, in the spec's validation).
 */
export const PREFIX_SYNTAX: PrefixOptions = { lengthDigits: 3 };

/** Parses "10.0.0.1/24", "fd00::1", "0.0.0.0/0" (white space around it is ignored), or says why it is neither. */
export function readCidr(text: string): Parsed<Cidr> {
  const trimmed = text.trim();
  const p = parsePrefix(trimmed, PREFIX_SYNTAX);
  if (!p.ok) return p.code === 'zone' ? fail('zone', ZONE_PROBLEM) : p;
  const slash = trimmed.indexOf('/');
  const { family, address: bytes, length } = p.value;
  return ok({
    family,
    address: slash === -1 ? trimmed : trimmed.slice(0, slash),
    bytes,
    value: BigInt(`0x${bytes.toString('hex')}`),
    length,
    explicit: slash !== -1,
  });
}

/** readCidr's value, or undefined when the text is neither an address nor a prefix. */
export function parseCidr(text: string): Cidr | undefined {
  const c = readCidr(text);
  return c.ok ? c.value : undefined;
}

/** Why a zone id is refused, after the quoted text. */
export const ZONE_PROBLEM = 'has a zone id (%…), which netfwd does not take';

export const bits = bitsOf;

const prefixOf = (c: Cidr) => ({ family: c.family, address: c.bytes, length: c.length });

/** Whether `inner` (an address or prefix) lies inside the prefix `outer`. */
export function contains(outer: Cidr, inner: Cidr): boolean {
  return prefixContains(prefixOf(outer), prefixOf(inner));
}

/** The number of leading bits two addresses of one family share. */
export function commonLength(a: Cidr, b: Cidr): number {
  return sharedBits(a.bytes, b.bytes);
}

export const isHost = (c: Cidr) => c.length === bits(c.family);
export const isDefault = (c: Cidr) => c.length === 0;

/** The prefix with host bits cleared, as text ("192.168.1.0/24"; IPv6 as inet_ntop writes it). */
export function networkText(c: Cidr): string {
  const p = prefixOf(c);
  return formatPrefix({ ...p, address: networkAddress(p) });
}

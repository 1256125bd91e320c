/** Addresses and prefixes as the importer needs them: parse, contain, widen. The grammar is src/grammar's. */
import { bitsOf, commonLength as sharedBits, formatPrefix, type IpFamily, networkAddress, parsePrefix, prefixContains } from '../grammar/index.js';

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
 * Parses "10.0.0.1/24", "fd00::1", "0.0.0.0/0" (white space around it is
 * ignored; zone ids and lengths of up to three digits with leading zeros are
 * taken, as node:net's isIP and the importer always took them); undefined
 * when it is neither.
 */
export function parseCidr(text: string): Cidr | undefined {
  const trimmed = text.trim();
  const p = parsePrefix(trimmed, { zone: 'any', lengthDigits: 3 });
  if (!p.ok) return undefined;
  const slash = trimmed.indexOf('/');
  const { family, address: bytes, length } = p.value;
  return { family, address: slash === -1 ? trimmed : trimmed.slice(0, slash), bytes, value: BigInt(`0x${bytes.toString('hex')}`), length, explicit: slash !== -1 };
}

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

/**
 * Peer endpoints: text at the API ('192.0.2.1:51820', '[2001:db8::1]:51820',
 * 'vpn.example.org:51820') and 'ip:port' / '[ip6]:port' in the userspace API.
 * The kernel wire form (struct sockaddr_in / sockaddr_in6) is kernel/sockaddr.ts.
 */
import { lookup } from 'node:dns/promises';
import { DecodeError, ValidationError } from '../errors.js';
import { formatIP, parseIPv4, parseIPv6 } from '../netlink/ip.js';
import { decimalAt, ipv4At, ipv4Bytes } from './ipv4.js';

const EXPECTED = "'host:port' or '[IPv6]:port' with a port from 1 to 65535, e.g. 192.0.2.1:51820 or [2001:db8::1]:51820";

export interface Endpoint {
  family: 4 | 6;
  address: Buffer;
  port: number;
  /** IPv6 scope (interface index) of a link-local address; 0 otherwise. */
  scopeId: number;
}

/** An endpoint whose host still has to be resolved. */
export interface UnresolvedEndpoint {
  host: string;
  port: number;
}

const HOSTNAME = /^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

function parsePort(text: string, field: string, input: string): number {
  if (!/^[1-9][0-9]{0,4}$/.test(text) || Number(text) > 65535) {
    throw new ValidationError(field, `invalid port in endpoint ${JSON.stringify(input)}`, EXPECTED);
  }
  return Number(text);
}

/**
 * Parses endpoint text. IP literals come back resolved; a host name comes back
 * as UnresolvedEndpoint (resolve it with `resolveEndpoint`).
 */
export function parseEndpoint(text: unknown, field: string): Endpoint | UnresolvedEndpoint {
  if (typeof text !== 'string') throw new ValidationError(field, `not a string (${typeof text})`, EXPECTED);
  // Fast path: 'a.b.c.d:port'.
  const sep = text.lastIndexOf(':');
  if (sep > 0) {
    const v4 = ipv4At(text, 0, sep);
    const port = v4 >= 0 ? decimalAt(text, sep + 1, text.length, 65535) : -1;
    if (port > 0) return { family: 4, address: ipv4Bytes(v4), port, scopeId: 0 };
  }
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') throw new ValidationError(field, `invalid endpoint ${JSON.stringify(text)}`, EXPECTED);
    let host = text.slice(1, close);
    const port = parsePort(text.slice(close + 2), field, text);
    let scopeId = 0;
    const pct = host.indexOf('%');
    if (pct !== -1) {
      const scope = host.slice(pct + 1);
      if (!/^(0|[1-9][0-9]{0,9})$/.test(scope) || Number(scope) > 0xffffffff) {
        throw new ValidationError(field, `unsupported IPv6 scope ${JSON.stringify(scope)} in ${JSON.stringify(text)}`, 'a numeric interface index after %');
      }
      scopeId = Number(scope);
      host = host.slice(0, pct);
    }
    const address = parseIPv6(host);
    if (!address) throw new ValidationError(field, `invalid IPv6 address ${JSON.stringify(host)} in endpoint`, EXPECTED);
    return { family: 6, address, port, scopeId };
  }
  const colon = text.lastIndexOf(':');
  if (colon <= 0) throw new ValidationError(field, `invalid endpoint ${JSON.stringify(text)} (no port)`, EXPECTED);
  const host = text.slice(0, colon);
  if (host.includes(':')) {
    throw new ValidationError(field, `IPv6 endpoint ${JSON.stringify(text)} needs brackets`, EXPECTED);
  }
  const port = parsePort(text.slice(colon + 1), field, text);
  const v4 = parseIPv4(host);
  if (v4) return { family: 4, address: v4, port, scopeId: 0 };
  if (/^[0-9.]+$/.test(host) || !HOSTNAME.test(host)) {
    throw new ValidationError(field, `invalid host ${JSON.stringify(host)} in endpoint`, EXPECTED);
  }
  return { host, port };
}

export function isResolved(e: Endpoint | UnresolvedEndpoint): e is Endpoint {
  return 'address' in e;
}

/** Resolves a host name (first address, as wg does); a failure is a ValidationError. */
export async function resolveEndpoint(e: UnresolvedEndpoint, field: string): Promise<Endpoint> {
  let found: { address: string; family: number };
  try {
    found = await lookup(e.host);
  } catch (err) {
    throw new ValidationError(field, `cannot resolve ${JSON.stringify(e.host)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, EXPECTED);
  }
  const address = found.family === 6 ? parseIPv6(found.address) : parseIPv4(found.address);
  if (!address) throw new ValidationError(field, `${e.host} resolved to an unusable address ${found.address}`, EXPECTED);
  return { family: found.family === 6 ? 6 : 4, address, port: e.port, scopeId: 0 };
}

/** 'a.b.c.d:port' or '[v6]:port', as wg prints endpoints. */
export function formatEndpoint(e: Endpoint): string {
  const host = formatIP(e.address);
  if (e.family === 4) return `${host}:${e.port}`;
  return `[${host}${e.scopeId ? `%${e.scopeId}` : ''}]:${e.port}`;
}

/** Parses the endpoint text the userspace API prints (IP literals only). */
export function parseEndpointLiteral(text: string, path: string): Endpoint {
  let parsed: Endpoint | UnresolvedEndpoint;
  try {
    parsed = parseEndpoint(text, path);
  } catch (err) {
    throw new DecodeError((err as Error).message, path);
  }
  if (!isResolved(parsed)) throw new DecodeError(`endpoint ${JSON.stringify(text)} is not an IP literal`, path);
  return parsed;
}

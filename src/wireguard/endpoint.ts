/**
 * Peer endpoints: text at the API ('192.0.2.1:51820', '[2001:db8::1]:51820',
 * 'vpn.example.org:51820') and 'ip:port' / '[ip6]:port' in the userspace API.
 * The kernel wire form (struct sockaddr_in / sockaddr_in6) is kernel/sockaddr.ts.
 */
import { lookup } from 'node:dns/promises';
import { DecodeError, ValidationError } from '../errors.js';
import {
  decimalAt,
  type EndpointOptions,
  formatEndpoint as formatGrammarEndpoint,
  isIpEndpoint,
  parseEndpoint as parseGrammarEndpoint,
  parseIp,
} from '../grammar/index.js';

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

/** What wg takes: numeric scope ids, host names with '_', not all digits, the trailing dot counted in 253. */
const WG_ENDPOINT: EndpointOptions = { zone: 'numeric', hostnames: { underscore: true, numeric: 'not-all', dotInLength: true } };

/**
 * Parses endpoint text. IP literals come back resolved; a host name comes back
 * as UnresolvedEndpoint (resolve it with `resolveEndpoint`).
 */
export function parseEndpoint(text: unknown, field: string): Endpoint | UnresolvedEndpoint {
  const r = parseGrammarEndpoint(text, WG_ENDPOINT);
  if (!r.ok) throw endpointError(text, field, r.code);
  const e = r.value;
  if (!isIpEndpoint(e)) return { host: e.host, port: e.port };
  return { family: e.family, address: e.address, port: e.port, scopeId: Number(e.zone ?? 0) };
}

/** The grammar's problem in this layer's words (checked in the order wg's own parser checks). */
function endpointError(text: unknown, field: string, code: string): ValidationError {
  if (typeof text !== 'string') return new ValidationError(field, `not a string (${typeof text})`, EXPECTED);
  const quoted = JSON.stringify(text);
  if (text.startsWith('[')) {
    if (code === 'syntax') return new ValidationError(field, `invalid endpoint ${quoted}`, EXPECTED);
    if (code === 'port') return new ValidationError(field, `invalid port in endpoint ${quoted}`, EXPECTED);
    const host = text.slice(1, text.indexOf(']'));
    const pct = host.indexOf('%');
    // A bad scope is reported before a bad address.
    if (pct !== -1 && (code === 'zone' || decimalAt(host, pct + 1, host.length, 0xffffffff) < 0)) {
      return new ValidationError(
        field,
        `unsupported IPv6 scope ${JSON.stringify(host.slice(pct + 1))} in ${quoted}`,
        'a numeric interface index after %',
      );
    }
    return new ValidationError(
      field,
      `invalid IPv6 address ${JSON.stringify(pct === -1 ? host : host.slice(0, pct))} in endpoint`,
      EXPECTED,
    );
  }
  const colon = text.lastIndexOf(':');
  if (colon <= 0) return new ValidationError(field, `invalid endpoint ${quoted} (no port)`, EXPECTED);
  if (code === 'brackets') return new ValidationError(field, `IPv6 endpoint ${quoted} needs brackets`, EXPECTED);
  if (code === 'port') return new ValidationError(field, `invalid port in endpoint ${quoted}`, EXPECTED);
  return new ValidationError(field, `invalid host ${JSON.stringify(text.slice(0, colon))} in endpoint`, EXPECTED);
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
    throw new ValidationError(
      field,
      `cannot resolve ${JSON.stringify(e.host)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      EXPECTED,
    );
  }
  const family = found.family === 6 ? 6 : 4;
  const address = parseIp(found.address, { family });
  if (!address.ok) throw new ValidationError(field, `${e.host} resolved to an unusable address ${found.address}`, EXPECTED);
  return { family, address: address.value.bytes, port: e.port, scopeId: 0 };
}

/** 'a.b.c.d:port' or '[v6]:port', as wg prints endpoints. */
export function formatEndpoint(e: Endpoint): string {
  return formatGrammarEndpoint(e.scopeId ? { family: e.family, address: e.address, port: e.port, zone: String(e.scopeId) } : e);
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

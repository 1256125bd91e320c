/**
 * Endpoints: `host:port` with a dotted quad or a DNS name, `[IPv6]:port`
 * (with a zone id where allowed). Options say what the caller's syntax
 * allows: leading zeros in the port, zone ids, what may stand in brackets,
 * and which host names.
 */
import { decimalAt } from './decimal.js';
import { formatIp, IPV4_SOURCE, type IpFamily, ipv4At, ipv4Bytes, parseIp, type ZoneRule } from './ip.js';
import { fail, ok, type Parsed } from './result.js';

export interface HostnameOptions {
  /** Underscores in labels (as WireGuard's own tools accept them). Default: refused. */
  underscore?: boolean;
  /**
   * Names of digits: 'any' (default) takes them all ("999.1.1.1"); 'not-all'
   * refuses a name of only digits and dots; 'letter' wants a letter somewhere
   * and a last label that is not all digits.
   */
  numeric?: 'any' | 'not-all' | 'letter';
  /** Count a trailing dot in the 253-character limit (as some callers did). Default: it does not count. */
  dotInLength?: boolean;
  /** The value lower-cased and without its trailing dot. Default: as written. */
  canonical?: boolean;
}

export interface EndpointOptions {
  /**
   * Leading zeros in the port ("080"): none by default; with a number, ports
   * of up to that many digits may have them (Infinity: any number). Port 0 is
   * always refused.
   */
  portDigits?: number;
  /** IPv6 zone ids inside the brackets: default 'refuse'. */
  zone?: ZoneRule;
  /** What may stand in brackets: an IPv6 address (the default), or 'any' host (an IPv4 address, a name). */
  brackets?: 'ipv6' | 'any';
  /** Host names (an endpoint resolved later), or false for IP literals only. Default: host names with the default HostnameOptions. */
  hostnames?: HostnameOptions | false;
}

/** An endpoint with an IP literal. */
export interface IpEndpoint {
  family: IpFamily;
  /** 4 or 16 bytes. */
  address: Buffer;
  port: number;
  /** The zone id of `[addr%zone]:port`, when written (and allowed). */
  zone?: string;
}

/** An endpoint with a host name, still to be resolved. */
export interface NamedEndpoint {
  host: string;
  port: number;
}

export type EndpointValue = IpEndpoint | NamedEndpoint;

export const isIpEndpoint = (e: EndpointValue): e is IpEndpoint => 'address' in e;

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const LABEL_UNDERSCORE = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** A DNS name: dot-separated labels of letters, digits and inner hyphens, at most 63 each, 253 in all; an optional trailing dot. */
export function parseHostname(text: unknown, options: HostnameOptions = {}): Parsed<string> {
  if (typeof text !== 'string') return fail('type', 'is not a string');
  const name = text.endsWith('.') ? text.slice(0, -1) : text;
  const length = options.dotInLength ? text.length : name.length;
  if (name.length === 0 || length > 253) return fail('length', 'is not a host name (1-253 characters)');
  const labels = name.split('.');
  const label = options.underscore ? LABEL_UNDERSCORE : LABEL;
  for (const l of labels) {
    if (!label.test(l)) return fail('label', 'is not a host name (labels of letters, digits and inner hyphens, at most 63 characters)');
  }
  const numeric = options.numeric ?? 'any';
  if (numeric === 'not-all' && /^[0-9.]+$/.test(text)) return fail('numeric', 'is neither an IP address nor a host name');
  if (numeric === 'letter' && (!/[A-Za-z]/.test(name) || /^[0-9]+$/.test(labels[labels.length - 1]!)))
    return fail('numeric', 'is neither an IP address nor a host name');
  return ok(options.canonical ? name.toLowerCase() : text);
}

/** Exactly the 'a.b.c.d:port' texts parseEndpoint accepts with a canonical port (1 to 65535), in one native regular expression. */
export const IPV4_ENDPOINT_TEXT = new RegExp(
  `^${IPV4_SOURCE}:(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])$`,
);

/** Parses an endpoint (see EndpointOptions). */
export function parseEndpoint(text: unknown, options: EndpointOptions = {}): Parsed<EndpointValue> {
  if (typeof text !== 'string') return fail('type', 'is not a string');
  const digits = options.portDigits ?? 0;
  // Fast path: 'a.b.c.d:port' (10 000 peers bring 10 000 endpoints).
  const sep = text.lastIndexOf(':');
  if (sep > 0) {
    const v4 = ipv4At(text, 0, sep);
    const port = v4 >= 0 ? decimalAt(text, sep + 1, text.length, 65535, digits) : -1;
    if (port > 0) return ok({ family: 4, address: ipv4Bytes(v4), port });
  }
  let hostText: string;
  let portText: string;
  const bracketed = text.startsWith('[');
  if (bracketed) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') return fail('syntax', 'is not "[IPv6]:port"');
    hostText = text.slice(1, close);
    portText = text.slice(close + 2);
  } else {
    if (sep === -1) return fail('no-port', 'has no port');
    hostText = text.slice(0, sep);
    portText = text.slice(sep + 1);
    if (hostText.includes(':')) {
      return fail(
        'brackets',
        parseIp(hostText, { zone: 'any' }).ok || parseIp(text, { zone: 'any' }).ok
          ? 'is an IPv6 endpoint without brackets around the address'
          : 'is not "host:port"',
      );
    }
  }
  const port = decimalAt(portText, 0, portText.length, 65535, digits);
  if (port <= 0) return fail('port', /^[0-9]+$/.test(portText) ? 'has a port out of range (1 to 65535)' : 'has no valid port');
  if (hostText === '') return fail('host', 'has no host');
  if (bracketed && options.brackets !== 'any') {
    const ip = parseIp(hostText, { family: 6, zone: options.zone ?? 'refuse' });
    if (ip.ok) return ok(withZone({ family: 6, address: ip.value.bytes, port }, ip.value.zone));
    return fail(
      ip.code === 'family' ? 'brackets' : ip.code === 'zone' ? 'zone' : 'address',
      ip.code === 'family' ? 'has an IPv4 address in brackets (they are for IPv6 addresses only)' : `has a host that ${ip.problem}`,
    );
  }
  const ip = parseIp(hostText, { zone: options.zone ?? 'refuse' });
  if (ip.ok) return ok(withZone({ family: ip.value.family, address: ip.value.bytes, port }, ip.value.zone));
  if (ip.code === 'zone') return fail('zone', `has a host that ${ip.problem}`);
  if (options.hostnames === false) return fail('address', 'has a host that is not an IP address');
  const name = parseHostname(hostText, options.hostnames ?? {});
  if (!name.ok) return fail('host', `has a host that ${name.problem}`);
  return ok({ host: name.value, port });
}

function withZone(e: IpEndpoint, zone: string | undefined): IpEndpoint {
  if (zone !== undefined) e.zone = zone;
  return e;
}

/** 'a.b.c.d:port' or '[v6%zone]:port', as wg prints endpoints; a name as 'name:port'. */
export function formatEndpoint(e: EndpointValue): string {
  if (!isIpEndpoint(e)) return `${e.host}:${e.port}`;
  const host = formatIp(e.address);
  if (e.family === 4) return `${host}:${e.port}`;
  return `[${host}${e.zone !== undefined ? `%${e.zone}` : ''}]:${e.port}`;
}

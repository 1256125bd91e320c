/**
 * A backend peer's endpoint: "IPv4:port", "[IPv6]:port", or "hostname:port"
 * with a DNS name resolved when the spec is applied. The syntax is the
 * grammar's (src/grammar/endpoint.ts); this file words its problems and adds
 * the policy of which addresses a host may have.
 */
import {
  type EndpointOptions,
  formatIp,
  isIpEndpoint,
  type Problem,
  parseEndpoint as parseEndpointText,
  parseHostname,
  parseIp,
} from '../../../grammar/index.js';
import { fail, show } from '../field.js';
import type { Endpoint } from '../normalized-config.js';
import { hostAddressProblem } from './addresses.js';
import { string } from './shapes.js';

export const ENDPOINT_EXPECTED =
  '"IPv4:port", "[IPv6]:port" or "hostname:port" with the frontend\'s public address (or DNS name) and listenPort, e.g. "203.0.113.1:51820", "[2001:db8::1]:51820" or "vpn.example.org:51820"';

/**
 * A spec's endpoint syntax: ports of up to 5 digits (leading zeros allowed),
 * no zone ids, host names with a letter and a last label that is not all
 * digits, kept lower-case without a trailing dot.
 */
const HOSTNAMES = { numeric: 'letter', canonical: true } as const;
const SYNTAX: EndpointOptions = { portDigits: 5, hostnames: HOSTNAMES };

/** 'host:port' or '[v6]:port' with an IP literal host, or 'name:port' with a host name resolved when the spec is applied. */
export function parseEndpoint(value: unknown, field: string): Endpoint {
  const text = string(value, field, ENDPOINT_EXPECTED);
  const r = parseEndpointText(text, SYNTAX);
  if (!r.ok) fail(field, endpointProblem(text, r), ENDPOINT_EXPECTED);
  const e = r.value;
  if (!isIpEndpoint(e)) {
    // Resolved when the spec is applied (src/forward/plan/resolve.ts); until then host and text name it.
    return { family: 4, host: e.host, port: e.port, text: `${e.host}:${e.port}`, hostname: e.host };
  }
  const problem = hostAddressProblem(e.address);
  if (problem) fail(field, `${show(hostPart(text))} ${problem}`, ENDPOINT_EXPECTED);
  const host = formatIp(e.address);
  return { family: e.family, host, port: e.port, text: e.family === 6 ? `[${host}]:${e.port}` : `${host}:${e.port}` };
}

/** The host as written: inside the brackets, or before the last ':'. */
function hostPart(text: string): string {
  return text.startsWith('[') ? text.slice(1, text.indexOf(']')) : text.slice(0, text.lastIndexOf(':'));
}

/** The grammar's problem with `text` in a spec's words, quoting only through show(). */
function endpointProblem(text: string, r: Problem): string {
  const bracketed = text.startsWith('[');
  switch (r.code) {
    case 'syntax':
      return `${show(text)} is not "[IPv6]:port"`;
    case 'no-port':
      return `${show(text)} has no port`;
    case 'brackets': {
      if (bracketed) return `${show(text)}: brackets are for IPv6 addresses only`;
      const v6 = parseIp(hostPart(text)).ok || parseIp(text).ok;
      return v6 ? `${show(text)}: an IPv6 endpoint needs brackets around the address` : `${show(text)} is not "host:port"`;
    }
    case 'port': {
      const portText = bracketed ? text.slice(text.indexOf(']') + 2) : text.slice(text.lastIndexOf(':') + 1);
      if (bracketed && portText.includes(':')) return `${show(text)} is not "[IPv6]:port"`;
      if (!/^[0-9]+$/.test(portText)) return `${show(text)} has no valid port`;
      return `port ${show(portText)} is out of range`;
    }
  }
  const hostText = hostPart(text);
  // Only a host with a letter is taken for a host name; anything else was meant as an address.
  if (bracketed || !/[A-Za-z]/.test(hostText)) return `${show(hostText)} is not an IP address`;
  const name = parseHostname(hostText, HOSTNAMES);
  if (name.ok) return `${show(hostText)} ${r.problem}`;
  if (name.code === 'label') {
    const label =
      hostText
        .replace(/\.$/, '')
        .split('.')
        .find((l) => !parseHostname(l).ok) ?? '';
    return `${show(hostText)} is not a host name (label ${show(label)}: letters, digits and inner hyphens, at most 63)`;
  }
  return `${show(hostText)} ${name.problem}`;
}

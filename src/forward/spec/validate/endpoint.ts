/**
 * A backend peer's endpoint: "IPv4:port", "[IPv6]:port", or "hostname:port"
 * with a DNS name resolved when the spec is applied.
 */
import { formatIP, parseIPv4, parseIPv6 } from '../../../netlink/ip.js';
import type { Endpoint } from '../normalized-config.js';
import { fail, show } from '../field.js';
import { familyOfBytes, hostAddressProblem } from './addresses.js';
import { string } from './shapes.js';

export const ENDPOINT_EXPECTED =
  '"IPv4:port", "[IPv6]:port" or "hostname:port" with the frontend\'s public address (or DNS name) and listenPort, e.g. "203.0.113.1:51820", "[2001:db8::1]:51820" or "vpn.example.org:51820"';

/** A DNS name as an endpoint may give it: letters, digits and hyphens in dot-separated labels of at most 63, 253 in all, not all-numeric. */
function hostnameProblem(name: string): string | undefined {
  const n = name.endsWith('.') ? name.slice(0, -1) : name;
  if (n.length === 0 || n.length > 253) return 'is not a host name (1-253 characters)';
  const labels = n.split('.');
  for (const l of labels) {
    if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l)) return `is not a host name (label ${show(l)}: letters, digits and inner hyphens, at most 63)`;
  }
  if (/^[0-9]+$/.test(labels[labels.length - 1]!)) return 'is neither an IP address nor a host name';
  return undefined;
}

/** 'host:port' or '[v6]:port' with an IP literal host, or 'name:port' with a host name resolved when the spec is applied. */
export function parseEndpoint(value: unknown, field: string): Endpoint {
  const text = string(value, field, ENDPOINT_EXPECTED);
  let hostText: string;
  let portText: string;
  let bracketed = false;
  if (text.startsWith('[')) {
    const m = /^\[([^\]]*)\]:([^:]*)$/.exec(text);
    if (!m) fail(field, `${show(text)} is not "[IPv6]:port"`, ENDPOINT_EXPECTED);
    hostText = m[1]!;
    portText = m[2]!;
    bracketed = true;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) fail(field, `${show(text)} has no port`, ENDPOINT_EXPECTED);
    hostText = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (hostText.includes(':')) {
      fail(field, parseIPv6(hostText) || parseIPv6(text) ? `${show(text)}: an IPv6 endpoint needs brackets around the address` : `${show(text)} is not "host:port"`, ENDPOINT_EXPECTED);
    }
  }
  if (!/^[0-9]+$/.test(portText)) fail(field, `${show(text)} has no valid port`, ENDPOINT_EXPECTED);
  const port = Number(portText);
  if (port < 1 || port > 65535 || portText.length > 5) fail(field, `port ${show(portText)} is out of range`, ENDPOINT_EXPECTED);
  const bytes = bracketed ? parseIPv6(hostText) : parseIPv4(hostText);
  if (!bytes) {
    if (bracketed && parseIPv4(hostText)) fail(field, `${show(text)}: brackets are for IPv6 addresses only`, ENDPOINT_EXPECTED);
    if (!bracketed && /[A-Za-z]/.test(hostText)) {
      const problem = hostnameProblem(hostText);
      if (problem) fail(field, `${show(hostText)} ${problem}`, ENDPOINT_EXPECTED);
      // Resolved when the spec is applied (src/forward/plan/resolve.ts); until then host and text name it.
      const hostname = hostText.toLowerCase().replace(/\.$/, '');
      return { family: 4, host: hostname, port, text: `${hostname}:${port}`, hostname };
    }
    fail(field, `${show(hostText)} is not an IP address`, ENDPOINT_EXPECTED);
  }
  const problem = hostAddressProblem(bytes);
  if (problem) fail(field, `${show(hostText)} ${problem}`, ENDPOINT_EXPECTED);
  const family = familyOfBytes(bytes);
  const host = formatIP(bytes);
  return { family, host, port, text: family === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}

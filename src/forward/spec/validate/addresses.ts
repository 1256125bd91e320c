/**
 * Addresses in a spec: host addresses (on an interface, of a peer, public,
 * of an endpoint), the tunnel's own addresses with their subnets, and lists
 * of network prefixes (exclusions, egress exceptions).
 */
import {
  bitsOf,
  formatIp,
  inPrefix,
  isAllOnesHost,
  isNetworkAddress,
  networkAddress,
  type Prefix,
  parseIp,
  parsePrefix,
} from '../../../grammar/index.js';
import { fail, item, show } from '../field.js';
import type { HostAddress, InterfaceAddress, IpFamily, NetworkPrefix } from '../normalized-config.js';
import { list, string } from './shapes.js';

/** Why an address cannot be a host's address (on an interface, as a peer, as a public address, as an endpoint). */
export function hostAddressProblem(b: Buffer): string | undefined {
  if (b.length === 4) {
    if (b[0] === 0) return 'is in 0.0.0.0/8, which is not a host address';
    if (b[0] === 127) return 'is a loopback address';
    if (b[0]! >= 224 && b[0]! < 240) return 'is a multicast address';
    if (b[0]! >= 240) return 'is a reserved or broadcast address';
    return undefined;
  }
  if (b.every((x) => x === 0)) return 'is the unspecified address';
  if (b.subarray(0, 15).every((x) => x === 0) && b[15] === 1) return 'is the loopback address';
  if (b[0] === 0xff) return 'is a multicast address';
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff)
    return 'is an IPv4-mapped address; write the IPv4 address itself';
  return undefined;
}

/** parsePrefix, with the message saying which part is wrong and quoting the input only through show(). */
function prefix(text: string, field: string, expected: string): Prefix {
  const r = parsePrefix(text);
  if (r.ok) return r.value;
  const slash = text.indexOf('/');
  const addressPart = slash === -1 ? text : text.slice(0, slash);
  if (!parseIp(addressPart).ok) fail(field, `${show(text)} is not a CIDR: ${show(addressPart)} is not an IP address`, expected);
  fail(field, `${show(text)} has an invalid prefix length`, `${expected}; the length is 0-32 for IPv4 and 0-128 for IPv6`);
}

/** A plain IP address (no prefix), checked to be usable as a host's address. */
export function ipAddress(value: unknown, field: string, expected: string): HostAddress & { bytes: Buffer } {
  const text = string(value, field, expected);
  if (text.includes('/')) fail(field, `${show(text)} is a prefix; an address is needed`, expected);
  const ip = parseIp(text);
  if (!ip.ok) fail(field, `${show(text)} is not an IP address`, expected);
  const bytes = ip.value.bytes;
  const problem = hostAddressProblem(bytes);
  if (problem) fail(field, `${show(text)} ${problem}`, expected);
  return { family: ip.value.family, address: formatIp(bytes), bytes };
}

export interface TunnelAddress {
  prefix: Prefix;
  normalized: InterfaceAddress;
}

/** The tunnel interface's own addresses: one per family, each with its subnet's prefix length. */
export function tunnelAddresses(value: unknown, field: string, example: string): TunnelAddress[] {
  const expected = `one IPv4 and/or one IPv6 address with its prefix length, e.g. ${example}`;
  const items = list(value, field, expected, 1, 2);
  const out: TunnelAddress[] = [];
  items.forEach((v, i) => {
    const f = item(field, i);
    const text = string(v, f, expected);
    if (!text.includes('/'))
      fail(f, `${show(text)} has no prefix length`, `the address with the tunnel subnet's prefix length, e.g. ${example}`);
    const p = prefix(text, f, expected);
    const problem = hostAddressProblem(p.address);
    if (problem) fail(f, `${show(text)} ${problem}`, expected);
    const max = bitsOf(p.family);
    if (p.length === 0) fail(f, `${show(text)} has prefix length 0`, expected);
    if (p.length <= max - 2) {
      const net = `${formatIp(networkAddress(p))}/${p.length}`;
      if (isNetworkAddress(p))
        fail(f, `${show(text)} is the network address of ${net}`, `this machine's own address in the subnet, e.g. ${example}`);
      if (p.family === 4 && isAllOnesHost(p))
        fail(f, `${show(text)} is the broadcast address of ${net}`, `this machine's own address in the subnet, e.g. ${example}`);
    }
    const other = out.find((a) => a.prefix.family === p.family);
    if (other) fail(f, `is a second IPv${p.family} address`, `one address per family (the tunnel takes one IPv4 and one IPv6 address)`);
    const address = formatIp(p.address);
    out.push({
      prefix: p,
      normalized: {
        family: p.family,
        address,
        prefixLength: p.length,
        cidr: `${address}/${p.length}`,
        network: `${formatIp(networkAddress(p))}/${p.length}`,
      },
    });
  });
  return out.sort((a, b) => a.prefix.family - b.prefix.family);
}

/**
 * A list of CIDRs of the given families (exclusions, egress exceptions): each
 * a network address with its prefix length, or with `hosts` a plain address
 * (taken as /32 or /128). Duplicates and prefixes inside another are refused:
 * an nftables interval set cannot hold overlapping elements, and a route would
 * never be reached.
 */
export function prefixList(
  value: unknown,
  field: string,
  families: IpFamily[],
  o: { expected: string; hosts: boolean; what: 'exclude' | 'allow' | 'routes' | 'sources' },
): NetworkPrefix[] {
  if (value === undefined) return [];
  const expected = o.expected;
  const out: NetworkPrefix[] = [];
  list(value, field, expected).forEach((v, i) => {
    const f = item(field, i);
    const text = string(v, f, expected);
    let p: Prefix;
    if (o.hosts && !text.includes('/')) {
      const ip = parseIp(text);
      if (!ip.ok) fail(f, `${show(text)} is not an IP address or CIDR`, expected);
      p = { family: ip.value.family, address: ip.value.bytes, length: bitsOf(ip.value.family) };
    } else p = prefix(text, f, expected);
    if (p.length === 0) {
      if (o.what === 'exclude')
        fail(f, `${show(text)} would exclude every destination`, `${expected}; to route nothing through the tunnel, leave the service out`);
      if (o.what === 'routes')
        fail(f, `${show(text)} would route every destination into the tunnel`, `${expected}: the networks behind the peer`);
      if (o.what === 'sources')
        fail(
          f,
          `${show(text)} would send every source's traffic into the tunnel`,
          `${expected}: the networks whose traffic uses the tunnel`,
        );
      fail(f, `${show(text)} would allow every destination`, `${expected}; the internet is reachable by default (egress.enabled)`);
    }
    const net = `${formatIp(networkAddress(p))}/${p.length}`;
    if (!isNetworkAddress(p)) fail(f, `${show(text)} has host bits set`, `the network address: ${net}`);
    if (!families.includes(p.family))
      fail(
        f,
        `is an IPv${p.family} range but the tunnel has no IPv${p.family} address`,
        `ranges of the families IPv${families.join(' and IPv')}`,
      );
    const dup = out.findIndex((x) => x.cidr === net);
    if (dup !== -1) fail(f, `repeats ${item(field, dup)}`, 'each range once');
    const outer = out.findIndex(
      (x) => x.family === p.family && (x.prefixLength <= p.length ? inPrefix(cidr(x.cidr), p.address) : inPrefix(p, cidr(x.cidr).address)),
    );
    if (outer !== -1)
      fail(f, `${show(net)} overlaps ${item(field, outer)} (${out[outer]!.cidr})`, 'ranges that do not overlap: keep the larger one');
    out.push({ family: p.family, address: formatIp(p.address), prefixLength: p.length, cidr: net });
  });
  return out;
}

/** A prefix this module wrote itself (a normalised cidr), parsed back. */
function cidr(text: string): Prefix {
  const r = parsePrefix(text);
  if (!r.ok) throw new Error(`internal error: ${JSON.stringify(text)} ${r.problem}`);
  return r.value;
}

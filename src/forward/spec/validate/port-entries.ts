/**
 * services and tunnelPorts: ports or ranges of TCP and/or UDP, no two of one
 * protocol overlapping, none the tunnel's own listenPort.
 */

import { child, fail, item } from '../field.js';
import type { HostAddress, IpFamily, NormalizedPortEntry, NormalizedReturnPath, NormalizedService } from '../normalized-config.js';
import { findOverlap, formatRange, type PortRange, parsePorts } from '../ports.js';
import { ipAddress } from './addresses.js';
import { list, mapping, own, PROTOCOL_EXPECTED, protocols, required } from './shapes.js';

const PORT_KEYS = ['protocol', 'port'] as const;
const SERVICE_KEYS = ['protocol', 'port', 'host'] as const;

/** services, tunnelPorts: ports or ranges of TCP and/or UDP, no two of one protocol overlapping. */
export function portEntries(
  value: unknown,
  field: string,
  listenPort: number | undefined,
  expected: string,
  hosts?: (s: Record<string, unknown>, sf: string) => HostAddress[],
): Array<NormalizedPortEntry & { hosts: HostAddress[] }> {
  const out: Array<NormalizedPortEntry & { order: number; range: PortRange; hosts: HostAddress[] }> = [];
  list(value, field, expected).forEach((v, i) => {
    const sf = item(field, i);
    const s = mapping(v, sf, hosts ? SERVICE_KEYS : PORT_KEYS, 'a mapping with protocol and port', {
      to: 'services are reached on the backend itself or on services[].host; forwards belong to the frontend',
      address: hosts ? 'a service on another host names it in host' : 'services are reachable on the tunnel addresses',
    });
    const where = hosts ? hosts(s, sf) : [];
    const protos = protocols(required(s, 'protocol', sf, PROTOCOL_EXPECTED), child(sf, 'protocol'));
    const portField = child(sf, 'port');
    const ports = parsePorts(required(s, 'port', sf, 'the port or range the service listens on'), portField);
    for (const protocol of protos) {
      if (protocol === 'udp' && listenPort !== undefined && ports.from <= listenPort && listenPort <= ports.to) {
        fail(portField, `UDP port ${listenPort} is the tunnel's listenPort`, 'a port other than tunnel.listenPort');
      }
      out.push({ protocol, ports, source: sf, order: i, range: ports, hosts: where });
    }
  });
  // Entries on different hosts may share a port; on the same host (or both on this machine) they may not.
  const place = (s: { hosts: HostAddress[] }) => (s.hosts.length === 0 ? '' : s.hosts.map((h) => h.address).join(','));
  const sharesHost = (a: { hosts: HostAddress[] }, b: { hosts: HostAddress[] }) =>
    place(a) === place(b) || a.hosts.some((h) => b.hosts.some((x) => x.address === h.address));
  for (const protocol of ['tcp', 'udp'] as const) {
    const mine = out.filter((s) => s.protocol === protocol);
    const overlap = [...new Set(mine.map(place))]
      .map((p) => findOverlap(mine.filter((s) => sharesHost(s, { hosts: mine.find((x) => place(x) === p)!.hosts }))))
      .find((o) => o !== undefined);
    if (overlap) {
      const [a, b] = overlap;
      fail(
        `${b.source}.port`,
        `${protocol.toUpperCase()} ${formatRange(b.ports)} overlaps ${a.source} (${protocol} ${formatRange(a.ports)})`,
        `each port in one entry of ${field} only`,
      );
    }
  }
  return out.map(
    ({ protocol, ports, source, hosts: h }) =>
      (hosts ? { protocol, ports, source, hosts: h } : { protocol, ports, source }) as NormalizedPortEntry & { hosts: HostAddress[] },
  );
}

const HOST_EXPECTED =
  'the address of the host the service lives on (a LAN host, a container), or one per family, e.g. ["198.51.100.131", "2001:db8:100::3"]';

/** A backend's services: port entries that may live on another host (`host`), which the return path must be able to answer for. */
export function serviceEntries(
  value: unknown,
  field: string,
  listenPort: number | undefined,
  families: IpFamily[],
  returnPath: NormalizedReturnPath,
): NormalizedService[] {
  return portEntries(value, field, listenPort, 'a list of services such as { protocol: tcp, port: 9735 } (may be empty)', (s, sf) => {
    const value = own(s, 'host');
    if (value === undefined) return [];
    const hf = child(sf, 'host');
    if (returnPath.mode === 'uid' || returnPath.mode === 'mark')
      fail(
        hf,
        `is not supported in mode ${returnPath.mode}: a service on another host is answered by that host, whose replies no uid or socket rule of this machine selects`,
        "mode connmark (this machine is the host's gateway), dscp (the recipe's LAN) or snat",
      );
    const items = Array.isArray(value) ? value : [value];
    const itemField = (i: number) => (Array.isArray(value) ? item(hf, i) : hf);
    if (items.length === 0 || items.length > 2) fail(hf, `lists ${items.length} addresses`, HOST_EXPECTED);
    const out: HostAddress[] = [];
    items.forEach((v, i) => {
      const f = itemField(i);
      const a = ipAddress(v, f, HOST_EXPECTED);
      if (!families.includes(a.family))
        fail(f, `is an IPv${a.family} address but the tunnel has no IPv${a.family} address`, `an address of the tunnel's families`);
      if (out.some((h) => h.family === a.family)) fail(f, `is a second IPv${a.family} address`, 'at most one address per family');
      out.push({ family: a.family, address: a.address });
    });
    return out.sort((a, b) => a.family - b.family);
  });
}

/**
 * services and tunnelPorts: ports or ranges of TCP and/or UDP, no two of one
 * protocol overlapping, none the tunnel's own listenPort.
 */

import { child, fail, item } from '../field.js';
import type { NormalizedPortEntry } from '../normalized-config.js';
import { findOverlap, formatRange, type PortRange, parsePorts } from '../ports.js';
import { list, mapping, PROTOCOL_EXPECTED, protocols, required } from './shapes.js';

const SERVICE_KEYS = ['protocol', 'port'] as const;

/** services, tunnelPorts: ports or ranges of TCP and/or UDP, no two of one protocol overlapping. */
export function portEntries(value: unknown, field: string, listenPort: number | undefined, expected: string): NormalizedPortEntry[] {
  const out: Array<NormalizedPortEntry & { order: number; range: PortRange }> = [];
  list(value, field, expected).forEach((v, i) => {
    const sf = item(field, i);
    const s = mapping(v, sf, SERVICE_KEYS, 'a mapping with protocol and port', {
      to: 'services are reached on the backend itself; forwards belong to the frontend',
      address: 'services are reachable on the tunnel addresses',
    });
    const protos = protocols(required(s, 'protocol', sf, PROTOCOL_EXPECTED), child(sf, 'protocol'));
    const portField = child(sf, 'port');
    const ports = parsePorts(required(s, 'port', sf, 'the port or range the service listens on'), portField);
    for (const protocol of protos) {
      if (protocol === 'udp' && listenPort !== undefined && ports.from <= listenPort && listenPort <= ports.to) {
        fail(portField, `UDP port ${listenPort} is the tunnel's listenPort`, 'a port other than tunnel.listenPort');
      }
      out.push({ protocol, ports, source: sf, order: i, range: ports });
    }
  });
  for (const protocol of ['tcp', 'udp'] as const) {
    const overlap = findOverlap(out.filter((s) => s.protocol === protocol));
    if (overlap) {
      const [a, b] = overlap;
      fail(
        `${b.source}.port`,
        `${protocol.toUpperCase()} ${formatRange(b.ports)} overlaps ${a.source} (${protocol} ${formatRange(a.ports)})`,
        `each port in one entry of ${field} only`,
      );
    }
  }
  return out.map(({ protocol, ports, source }) => ({ protocol, ports, source }));
}

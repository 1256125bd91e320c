/**
 * A frontend's forwards: protocol, public port or range, public address and
 * target (a peer and its port), and the search for two forwards that claim
 * the same public port.
 */

import { inPrefix } from '../../../grammar/index.js';
import { child, didYouMean, fail, item, listWords, show } from '../field.js';
import type { AddressByFamily, HostAddress, IpFamily, NormalizedForward, NormalizedFrontendPeer } from '../normalized-config.js';
import { findOverlap, formatRange, type PortRange, parsePorts, rangeSize } from '../ports.js';
import { ipAddress, type TunnelAddress } from './addresses.js';
import { prefixOf } from './prefixes.js';
import { list, mapping, own, PROTOCOL_EXPECTED, protocols, required, string } from './shapes.js';

const FORWARD_KEYS = ['protocol', 'port', 'address', 'to'] as const;
const TARGET_KEYS = ['peer', 'address', 'port'] as const;

export interface ForwardContext {
  tunnel: TunnelAddress[];
  peers: NormalizedFrontendPeer[];
  families: IpFamily[];
  publicAddresses: HostAddress[];
  /** Undefined on an external tunnel. */
  listenPort: number | undefined;
}

export function frontendForwards(value: unknown, field: string, fc: ForwardContext): NormalizedForward[] {
  const expected = 'a list of forwards such as { protocol: tcp, port: 9735, to: { peer: home } } (may be empty)';
  const out: NormalizedForward[] = [];
  const order = new Map<NormalizedForward, number>();
  const peerNames = fc.peers.map((p) => p.name);
  const publicFamilies: IpFamily[] =
    fc.publicAddresses.length > 0 ? fc.families.filter((f) => fc.publicAddresses.some((a) => a.family === f)) : fc.families;

  list(value, field, expected).forEach((v, i) => {
    const ff = item(field, i);
    const f = mapping(v, ff, FORWARD_KEYS, 'a mapping with protocol, port and to', {
      peer: 'the peer goes inside to: { peer: NAME }',
      targetPort: 'the backend port goes inside to: { port: N }',
      publicPort: 'the public port is port',
    });
    const protos = protocols(required(f, 'protocol', ff, PROTOCOL_EXPECTED), child(ff, 'protocol'));
    const portField = child(ff, 'port');
    const publicPorts = parsePorts(required(f, 'port', ff, 'the public port or range'), portField);

    let publicAddress: HostAddress | undefined;
    const addressValue = own(f, 'address');
    const addressField = child(ff, 'address');
    if (addressValue !== undefined) {
      const expectedAddr =
        fc.publicAddresses.length > 0
          ? `one of public.addresses: ${listWords(fc.publicAddresses.map((a) => a.address))}`
          : 'a public IP address of the frontend';
      const a = ipAddress(addressValue, addressField, expectedAddr);
      if (fc.publicAddresses.length > 0 && !fc.publicAddresses.some((x) => x.address === a.address))
        fail(addressField, `${show(a.address)} is not in public.addresses`, expectedAddr);
      if (!fc.families.includes(a.family))
        fail(
          addressField,
          `is an IPv${a.family} address but the tunnel has no IPv${a.family} address`,
          `an address of the tunnel's families`,
        );
      const inside = fc.tunnel.find((t) => inPrefix(t.prefix, a.bytes));
      if (inside) fail(addressField, `${show(a.address)} is inside the tunnel subnet ${inside.normalized.network}`, expectedAddr);
      publicAddress = { family: a.family, address: a.address };
    }

    const toField = child(ff, 'to');
    const toExpected = 'a mapping { peer, address?, port? }';
    const to = mapping(required(f, 'to', ff, toExpected), toField, TARGET_KEYS, toExpected, {
      host: 'a host behind the peer is to.address',
      addresses: 'a host behind the peer is to.address (one address, or a list with one per family)',
    });
    const peerField = child(toField, 'peer');
    const peerExpected = `the name of one of tunnel.peers: ${listWords(peerNames)}`;
    const behind = targetHosts(own(to, 'address'), child(toField, 'address'), fc.peers);
    const peerValue = own(to, 'peer');
    let peer: NormalizedFrontendPeer;
    if (peerValue === undefined && behind) peer = behind.peer;
    else {
      const peerName = string(required(to, 'peer', toField, `${peerExpected} (or to.address, a host behind one)`), peerField, peerExpected);
      const named = fc.peers.find((p) => p.name === peerName);
      if (!named) fail(peerField, `no peer is named ${show(peerName)}${didYouMean(peerName, peerNames)}`, peerExpected);
      if (behind && behind.peer !== named)
        fail(
          child(toField, 'address'),
          `${show(behind.hosts[0]!.address)} is behind peer ${show(behind.peer.name)}, not ${show(named.name)}`,
          `an address inside the routes of peer ${show(named.name)} (${listWords(named.routes.map((r) => r.cidr)) || 'it has none'})`,
        );
      peer = named;
    }
    const targetByFamily: AddressByFamily = behind
      ? Object.fromEntries(behind.hosts.map((h) => [h.family, h.address]))
      : peer.addressByFamily;

    let targetPorts: PortRange = publicPorts;
    const targetValue = own(to, 'port');
    if (targetValue !== undefined) {
      const tf = child(toField, 'port');
      targetPorts = parsePorts(targetValue, tf);
      const n = rangeSize(publicPorts);
      if (rangeSize(targetPorts) !== n) {
        const start = Math.min(targetPorts.from, 65536 - n);
        const example =
          n === 1
            ? `a single port, since port ${formatRange(publicPorts)} is one port`
            : `a range of ${n} ports like port ${formatRange(publicPorts)}, e.g. "${start}-${start + n - 1}"`;
        fail(
          tf,
          `${formatRange(targetPorts)} has ${rangeSize(targetPorts)} port(s) but port ${formatRange(publicPorts)} has ${n}`,
          example,
        );
      }
    }

    const candidates = publicAddress ? [publicAddress.family] : publicFamilies;
    const families = candidates.filter((fam) => targetByFamily[fam] !== undefined);
    if (families.length === 0) {
      const peerFams = behind
        ? behind.hosts.map((a) => `IPv${a.family}`).join(' and ')
        : peer.addresses.map((a) => `IPv${a.family}`).join(' and ');
      if (publicAddress)
        fail(
          addressField,
          `is an IPv${publicAddress.family} address but peer ${show(peer.name)} has ${peerFams} only`,
          `an address of a family the peer has, or an IPv${publicAddress.family} address for the peer`,
        );
      fail(
        peerField,
        `peer ${show(peer.name)} has ${peerFams} only but the public side has IPv${publicFamilies.join(' and IPv')} only`,
        'a peer with an address of a public family',
      );
    }
    const peerAddresses: AddressByFamily = {};
    for (const fam of families) peerAddresses[fam] = targetByFamily[fam];

    for (const protocol of protos) {
      const lp = fc.listenPort;
      if (protocol === 'udp' && lp !== undefined && publicPorts.from <= lp && lp <= publicPorts.to) {
        fail(
          portField,
          `UDP port ${fc.listenPort} is the tunnel's listenPort; forwarding it would capture the WireGuard traffic`,
          'a port other than tunnel.listenPort, or another listenPort',
        );
      }
      const fwd: NormalizedForward = {
        protocol,
        publicPorts,
        peer: peer.name,
        peerAddresses,
        behindPeer: behind !== undefined,
        targetPorts,
        families,
        source: ff,
      };
      if (publicAddress) fwd.publicAddress = publicAddress;
      out.push(fwd);
      order.set(fwd, i);
    }
  });
  checkForwardOverlaps(out, order);
  return out;
}

/**
 * to.address: one address or a list with at most one per family, each inside
 * the routes of one and the same peer (undefined when not given).
 */
function targetHosts(
  value: unknown,
  field: string,
  peers: readonly NormalizedFrontendPeer[],
): { hosts: HostAddress[]; peer: NormalizedFrontendPeer } | undefined {
  if (value === undefined) return undefined;
  const withRoutes = peers.filter((p) => p.routes.length > 0);
  const expected =
    withRoutes.length > 0
      ? `a host inside the routes of a peer (${withRoutes.map((p) => `${p.name}: ${p.routes.map((r) => r.cidr).join(', ')}`).join('; ')}), or one per family`
      : 'a host inside the routes of a peer; no peer has routes yet (tunnel.peers[].routes)';
  const items = Array.isArray(value) ? value : [value];
  const itemField = (i: number) => (Array.isArray(value) ? item(field, i) : field);
  if (items.length === 0 || items.length > 2) fail(field, `lists ${items.length} addresses`, expected);
  const hosts: HostAddress[] = [];
  let owner: NormalizedFrontendPeer | undefined;
  items.forEach((v, i) => {
    const f = itemField(i);
    const a = ipAddress(v, f, expected);
    if (hosts.some((h) => h.family === a.family)) fail(f, `is a second IPv${a.family} address`, 'at most one address per family');
    const p = peers.find((x) => x.routes.some((r) => r.family === a.family && inPrefix(prefixOf(r), a.bytes)));
    if (!p) fail(f, `${show(a.address)} is not inside the routes of any peer`, expected);
    if (owner && owner !== p)
      fail(
        f,
        `${show(a.address)} is behind peer ${show(p.name)}, the other address behind ${show(owner.name)}`,
        'addresses behind one peer',
      );
    owner = p;
    hosts.push({ family: a.family, address: a.address });
  });
  return { hosts: hosts.sort((a, b) => a.family - b.family), peer: owner! };
}

/**
 * Two forwards collide when they share the protocol, a family, a public port
 * and a public address (a forward without `address` takes every address of
 * its families).
 */
function checkForwardOverlaps(forwards: NormalizedForward[], positions: ReadonlyMap<NormalizedForward, number>): void {
  interface Entry {
    range: PortRange;
    order: number;
    fwd: NormalizedForward;
  }
  const groups = new Map<string, { any: Entry[]; byAddress: Map<string, Entry[]> }>();
  forwards.forEach((fwd) => {
    const order = positions.get(fwd)!;
    for (const family of fwd.families) {
      const key = `${fwd.protocol}/${family}`;
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { any: [], byAddress: new Map() }));
      const e: Entry = { range: fwd.publicPorts, order, fwd };
      if (fwd.publicAddress) {
        const l = g.byAddress.get(fwd.publicAddress.address) ?? [];
        l.push(e);
        g.byAddress.set(fwd.publicAddress.address, l);
      } else g.any.push(e);
    }
  });
  let worst: [Entry, Entry] | undefined;
  const consider = (pair: [Entry, Entry] | undefined): void => {
    if (pair && (!worst || pair[1].order < worst[1].order)) worst = pair;
  };
  for (const g of groups.values()) {
    consider(findOverlap(g.any));
    for (const l of g.byAddress.values()) consider(findOverlap([...g.any, ...l]));
  }
  if (!worst) return;
  const [a, b] = worst;
  const where = b.fwd.publicAddress ?? a.fwd.publicAddress;
  fail(
    `${b.fwd.source}.port`,
    `${b.fwd.protocol.toUpperCase()} ${formatRange(b.range)} overlaps ${a.fwd.source} (${a.fwd.protocol} ${formatRange(a.range)}) on ${where ? where.address : 'the same public addresses'}`,
    'public ports that no other forward of the same protocol uses on the same address',
  );
}

/**
 * A frontend's forwards: protocol, public port or range, public address,
 * target(s) (a peer or a host behind one, and its port), balance and health
 * check, and the search for two forwards that claim the same public port.
 */

import { inPrefix } from '../../../grammar/index.js';
import { child, didYouMean, fail, item, listWords, show } from '../field.js';
import type {
  AddressByFamily,
  HostAddress,
  IpFamily,
  NormalizedForward,
  NormalizedForwardCheck,
  NormalizedForwardTarget,
  NormalizedFrontendPeer,
  TransportProtocol,
} from '../normalized-config.js';
import { findOverlap, formatRange, type PortRange, parsePorts, rangeSize } from '../ports.js';
import { ipAddress, type TunnelAddress } from './addresses.js';
import { prefixOf } from './prefixes.js';
import { integer, list, mapping, own, PROTOCOL_EXPECTED, protocols, required, string } from './shapes.js';

const FORWARD_KEYS = ['protocol', 'port', 'address', 'to', 'balance', 'check'] as const;
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
  // Built once: a frontend may have a thousand peers and ten thousand forwards.
  const peers: PeerLookup = {
    names: peerNames,
    byName: new Map(fc.peers.map((p) => [p.name, p])),
    expected: `the name of one of tunnel.peers: ${listWords(peerNames)}`,
    withRoutes: fc.peers.filter((p) => p.routes.length > 0),
  };
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
    const toValue = required(f, 'to', ff, 'a mapping { peer, address?, port? }, or a list of them');
    const toItems = Array.isArray(toValue)
      ? list(toValue, toField, 'a list of targets { peer, address?, port? } (one or more)', 1, MAX_TARGETS)
      : [toValue];
    const parsed = toItems.map((v, j) => forwardTarget(v, Array.isArray(toValue) ? item(toField, j) : toField, peers, publicPorts));
    const first = parsed[0]!;

    const candidates = publicAddress ? [publicAddress.family] : publicFamilies;
    const families = candidates.filter((fam) => first.byFamily[fam] !== undefined);
    if (families.length === 0) {
      const peerFams = Object.keys(first.byFamily)
        .map((x) => `IPv${x}`)
        .join(' and ');
      if (publicAddress)
        fail(
          addressField,
          `is an IPv${publicAddress.family} address but peer ${show(first.peer.name)} has ${peerFams} only`,
          `an address of a family the peer has, or an IPv${publicAddress.family} address for the peer`,
        );
      fail(
        first.peerField,
        `peer ${show(first.peer.name)} has ${peerFams} only but the public side has IPv${publicFamilies.join(' and IPv')} only`,
        'a peer with an address of a public family',
      );
    }
    const targets: NormalizedForwardTarget[] = parsed.map((t, j) => {
      const addresses: AddressByFamily = {};
      for (const fam of families) {
        const a = t.byFamily[fam];
        if (a === undefined)
          fail(
            t.field,
            `has no IPv${fam} address but the forward is set up for IPv${families.join(' and IPv')} (${j === 0 ? 'the public side' : `${parsed[0]!.field} has it`})`,
            `a target with an IPv${fam} address too (every target of a forward serves the same families)`,
          );
        addresses[fam] = a;
      }
      const name = t.behind ? `${t.peer.name}/${t.behind[0]!.address}` : t.peer.name;
      return {
        peer: t.peer.name,
        addresses,
        behindPeer: t.behind !== undefined,
        ports: t.ports,
        name,
        key: `${ff} ${name}`,
        source: t.field,
      };
    });
    targets.forEach((t, j) => {
      const dup = targets.findIndex((o) => o.name === t.name && JSON.stringify(o.addresses) === JSON.stringify(t.addresses));
      if (dup !== j)
        fail(
          t.source,
          `is the same target as ${targets[dup]!.source} (${t.name})`,
          'each target once: another peer, or another host behind one',
        );
    });
    const balance = balanceOf(own(f, 'balance'), child(ff, 'balance'));
    const checkValue = own(f, 'check');
    const healthCheck = checkValue === undefined ? undefined : forwardCheck(checkValue, child(ff, 'check'), protos[0]!);
    const peer = first.peer;
    const peerAddresses = targets[0]!.addresses;
    const targetPorts = first.ports;

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
        behindPeer: first.behind !== undefined,
        targetPorts,
        families,
        source: ff,
        targets,
        balance,
        ...(healthCheck ? { check: healthCheck } : {}),
      };
      if (publicAddress) fwd.publicAddress = publicAddress;
      out.push(fwd);
      order.set(fwd, i);
    }
  });
  checkForwardOverlaps(out, order);
  return out;
}

/** At most this many targets per forward (one hash bucket each at least: nftables-desired.ts uses 12 buckets). */
export const MAX_TARGETS = 12;

interface ParsedTarget {
  peer: NormalizedFrontendPeer;
  behind: HostAddress[] | undefined;
  byFamily: AddressByFamily;
  ports: PortRange;
  field: string;
  peerField: string;
}

/** The peers as the targets look them up. */
interface PeerLookup {
  names: string[];
  byName: ReadonlyMap<string, NormalizedFrontendPeer>;
  /** What a target's peer must be: the text of the error. */
  expected: string;
  /** The peers with routes (hosts behind them). */
  withRoutes: NormalizedFrontendPeer[];
}

/** One target of `to`: the peer (or a host behind one) and its port(s). */
function forwardTarget(value: unknown, toField: string, peers: PeerLookup, publicPorts: PortRange): ParsedTarget {
  const toExpected = 'a mapping { peer, address?, port? }';
  const to = mapping(value, toField, TARGET_KEYS, toExpected, {
    host: 'a host behind the peer is to.address',
    addresses: 'a host behind the peer is to.address (one address, or a list with one per family)',
  });
  const peerField = child(toField, 'peer');
  const peerExpected = peers.expected;
  const behind = targetHosts(own(to, 'address'), child(toField, 'address'), peers.withRoutes);
  const peerValue = own(to, 'peer');
  let peer: NormalizedFrontendPeer;
  if (peerValue === undefined && behind) peer = behind.peer;
  else {
    const peerName = string(required(to, 'peer', toField, `${peerExpected} (or to.address, a host behind one)`), peerField, peerExpected);
    const named = peers.byName.get(peerName);
    if (!named) fail(peerField, `no peer is named ${show(peerName)}${didYouMean(peerName, peers.names)}`, peerExpected);
    if (behind && behind.peer !== named)
      fail(
        child(toField, 'address'),
        `${show(behind.hosts[0]!.address)} is behind peer ${show(behind.peer.name)}, not ${show(named.name)}`,
        `an address inside the routes of peer ${show(named.name)} (${listWords(named.routes.map((r) => r.cidr)) || 'it has none'})`,
      );
    peer = named;
  }
  const byFamily: AddressByFamily = behind ? Object.fromEntries(behind.hosts.map((h) => [h.family, h.address])) : peer.addressByFamily;

  let ports: PortRange = publicPorts;
  const targetValue = own(to, 'port');
  if (targetValue !== undefined) {
    const tf = child(toField, 'port');
    ports = parsePorts(targetValue, tf);
    const n = rangeSize(publicPorts);
    if (rangeSize(ports) !== n) {
      const start = Math.min(ports.from, 65536 - n);
      const example =
        n === 1
          ? `a single port, since port ${formatRange(publicPorts)} is one port`
          : `a range of ${n} ports like port ${formatRange(publicPorts)}, e.g. "${start}-${start + n - 1}"`;
      fail(tf, `${formatRange(ports)} has ${rangeSize(ports)} port(s) but port ${formatRange(publicPorts)} has ${n}`, example);
    }
  }
  return { peer, behind: behind?.hosts, byFamily, ports, field: toField, peerField };
}

function balanceOf(value: unknown, field: string): 'failover' | 'hash' {
  if (value === undefined) return 'failover';
  if (value !== 'failover' && value !== 'hash')
    fail(field, `${show(value)} is not a balance`, "'failover' (the first healthy target) or 'hash' (by the client's address)");
  return value;
}

const CHECK_KEYS = ['protocol', 'port', 'intervalSeconds', 'timeoutMs'] as const;

/** forwards[].check: defaults 10 s, 2000 ms (at most the interval), the forward's protocol, each target's port. */
function forwardCheck(value: unknown, field: string, forwardProtocol: TransportProtocol): NormalizedForwardCheck {
  const c = mapping(value, field, CHECK_KEYS, 'a mapping { protocol?, port?, intervalSeconds?, timeoutMs? }', {
    interval: 'the interval is intervalSeconds',
    timeout: 'the timeout is timeoutMs (milliseconds)',
  });
  const p = own(c, 'protocol');
  if (p !== undefined && p !== 'tcp' && p !== 'udp') fail(child(field, 'protocol'), `${show(p)} is not tcp or udp`, "'tcp' or 'udp'");
  const pv = own(c, 'port');
  const port = pv === undefined ? undefined : integer(pv, child(field, 'port'), 1, 65535, 'a port 1..65535');
  const iv = own(c, 'intervalSeconds');
  const intervalSeconds = iv === undefined ? 10 : integer(iv, child(field, 'intervalSeconds'), 1, 3600, 'whole seconds 1..3600');
  const tv = own(c, 'timeoutMs');
  const timeoutMs =
    tv === undefined
      ? Math.min(2000, intervalSeconds * 1000)
      : integer(
          tv,
          child(field, 'timeoutMs'),
          50,
          Math.min(60_000, intervalSeconds * 1000),
          `milliseconds 50..${Math.min(60_000, intervalSeconds * 1000)} (at most the interval)`,
        );
  return { protocol: (p as TransportProtocol | undefined) ?? forwardProtocol, port, intervalSeconds, timeoutMs };
}

/**
 * to.address: one address or a list with at most one per family, each inside
 * the routes of one and the same peer (undefined when not given).
 */
function targetHosts(
  value: unknown,
  field: string,
  /** The peers with routes. */
  withRoutes: readonly NormalizedFrontendPeer[],
): { hosts: HostAddress[]; peer: NormalizedFrontendPeer } | undefined {
  if (value === undefined) return undefined;
  const expected = hostsExpected(withRoutes);
  const items = Array.isArray(value) ? value : [value];
  const itemField = (i: number) => (Array.isArray(value) ? item(field, i) : field);
  if (items.length === 0 || items.length > 2) fail(field, `lists ${items.length} addresses`, expected);
  const hosts: HostAddress[] = [];
  let owner: NormalizedFrontendPeer | undefined;
  items.forEach((v, i) => {
    const f = itemField(i);
    const a = ipAddress(v, f, expected);
    if (hosts.some((h) => h.family === a.family)) fail(f, `is a second IPv${a.family} address`, 'at most one address per family');
    const p = withRoutes.find((x) => x.routes.some((r) => r.family === a.family && inPrefix(prefixOf(r), a.bytes)));
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

const hostsExpectedText = new WeakMap<readonly NormalizedFrontendPeer[], string>();

/** What a host behind a peer must be (made once per list of peers: the text names every peer with routes). */
function hostsExpected(withRoutes: readonly NormalizedFrontendPeer[]): string {
  let text = hostsExpectedText.get(withRoutes);
  if (text === undefined) {
    text =
      withRoutes.length > 0
        ? `a host inside the routes of a peer (${withRoutes.map((p) => `${p.name}: ${p.routes.map((r) => r.cidr).join(', ')}`).join('; ')}), or one per family`
        : 'a host inside the routes of a peer; no peer has routes yet (tunnel.peers[].routes)';
    hostsExpectedText.set(withRoutes, text);
  }
  return text;
}

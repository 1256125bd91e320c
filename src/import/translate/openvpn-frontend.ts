/**
 * The frontend of an OpenVPN setup (the VPS): its tunnel is OpenVPN's
 * (`external: true`, no keys), its peers the server's clients as its
 * client-config-dir files describe them (`ifconfig-push` → the peer's
 * address, `iroute` → the networks behind it), its forwards the DNAT rules to
 * a client's address or to a host behind one (`to.address`).
 */
import { type Cidr, contains, parseCidr } from '../cidr.js';
import { ImportError } from '../source.js';
import { chainResolver, type RuleCtx } from './context.js';
import { forwardsOf, natOf, type PeerTarget } from './forwards.js';
import { ipRouteText, noteUnused } from './leftovers.js';
import { clientEnds, type End, interfaceOf, peerName, serverEnds, subnetLength, written } from './openvpn-tunnel.js';
import { noteScripts, type SetupCtx, tunnelNames } from './setup-context.js';

export interface OpenVpnFrontend {
  spec: Record<string, unknown>;
  /** The prefix length of the tunnel subnet per family (the backend's addresses are written with it). */
  lengths: Map<4 | 6, number>;
  forwards: Array<Record<string, unknown>>;
}

export function openVpnFrontend(m: SetupCtx): OpenVpnFrontend {
  const notes = m.facts.notes;
  const servers = m.vpn.filter((v) => v.kind === 'server' || v.kind === 'p2p');
  const ccds = m.vpn.filter((v) => v.kind === 'ccd');
  if (servers.length === 0)
    throw new ImportError(
      undefined,
      "no OpenVPN server configuration among the frontend's files: its tunnel interface and address are not known",
      "the server's configuration (dev, ifconfig or server, route) with the client-config-dir file of each client",
    );
  if (servers.length > 1)
    throw new ImportError(
      servers[1]!.file,
      `a second OpenVPN server configuration (the first is ${servers[0]!.file})`,
      'one OpenVPN server per frontend',
    );
  const server = servers[0]!;
  const origin = { file: server.file, line: 0 };
  const iface = interfaceOf(server, tunnelNames(m.facts), notes, origin);
  const ends = serverEnds(server);
  if (ends.length === 0)
    throw new ImportError(origin, 'the server has no tunnel address', 'ifconfig LOCAL REMOTE, or server NETWORK NETMASK');

  // ---- the clients
  const serverRoutes = server.routes.map((r) => ({ cidr: parseCidr(r.value)!, r }));
  const peers: Array<{ spec: Record<string, unknown>; target: PeerTarget }> = [];
  const claimed = new Set<object>();
  const addPeer = (name: string, hosts: Cidr[], routes: Cidr[]) => {
    peers.push({
      spec: {
        name,
        addresses: hosts.map((h) => h.address),
        ...(routes.length ? { routes: routes.map((c) => `${c.address}/${c.length}`) } : {}),
      },
      target: { name, hosts, routes },
    });
  };
  if (ccds.length === 0 && server.kind === 'p2p') {
    const pair = ends.filter((e) => e.pair !== undefined).map((e) => parseCidr(e.pair!)!);
    if (pair.length === 0) throw new ImportError(origin, 'the point-to-point configuration names no peer address', 'ifconfig LOCAL REMOTE');
    for (const r of serverRoutes) claimed.add(r.r);
    addPeer(
      'peer1',
      pair,
      serverRoutes.map((r) => r.cidr),
    );
  }
  ccds.forEach((c, i) => {
    const hosts = clientEnds(c).map((e) => e.address);
    if (hosts.length === 0) {
      notes.notTranslated(
        { file: c.file, line: 0 },
        'client',
        'no ifconfig-push: the client takes an address from the pool; netfwd needs the fixed address of each peer',
      );
      return;
    }
    let name = peerName(c.file, i);
    if (peers.some((p) => p.target.name === name)) name = `peer${i + 1}`;
    const routes: Cidr[] = [];
    for (const ir of c.iroutes) {
      const net = parseCidr(ir.value)!;
      const covered = serverRoutes.filter((s) => s.cidr.family === net.family && contains(s.cidr, net));
      for (const s of covered) claimed.add(s.r);
      if (covered.length === 0)
        notes.changed(
          ir.origin,
          `iroute ${ir.value}`,
          `no route in ${server.file} sends it into the tunnel (OpenVPN's route): netfwd routes it into ${iface} itself (peer ${name}'s routes)`,
        );
      routes.push(net);
    }
    addPeer(name, hosts, routes);
  });
  if (peers.length === 0)
    throw new ImportError(
      origin,
      server.kind === 'p2p'
        ? 'no peer address'
        : "no client with a fixed address among the inputs: the frontend's peers are the server's clients",
      "the client-config-dir file of each client (ifconfig-push ADDRESS PEER-ADDRESS, iroute NETWORK NETMASK), named after the client's certificate",
    );
  for (const s of serverRoutes)
    if (!claimed.has(s.r))
      notes.notTranslated(
        s.r.origin,
        `route ${s.r.value}`,
        "a network routed into the tunnel that no client's iroute (among the inputs) claims; netfwd routes only the networks behind a peer",
      );

  // ---- the tunnel subnet
  const clientHosts = peers.flatMap((p) => p.target.hosts);
  const lengths = new Map<4 | 6, number>();
  const own: Cidr[] = [];
  const addresses = ends.map((e: End) => {
    const length = subnetLength(e, clientHosts);
    lengths.set(e.address.family, length);
    own.push({ ...e.address, length, explicit: true });
    const inside = clientHosts.filter((h) => h.family === e.address.family).map((h) => h.address);
    return written(
      e,
      length,
      notes,
      `the subnet that holds ${inside.length ? `the clients' addresses (${inside.join(', ')})` : 'both ends'}`,
    );
  });
  for (const e of ends) {
    const outside = clientHosts.filter(
      (h) => h.family === e.address.family && !contains({ ...e.address, length: lengths.get(e.address.family)! }, h),
    );
    if (outside.length)
      throw new ImportError(
        e.origin,
        `the clients' addresses (${outside.map((h) => h.address).join(', ')}) are too far from the server's ${e.address.address} for one tunnel subnet`,
        `client addresses within the /${e.address.family === 4 ? 24 : 64} of the server's`,
      );
  }

  // ---- forwards, NAT, FORWARD accepts
  const ctx: RuleCtx = { facts: m.facts, iface, own, chains: chainResolver(m.facts.iptables), used: new Set() };
  const dnats = m.facts.iptables.filter((r) => r.table === 'nat' && r.target === 'DNAT' && (r.op === 'append' || r.op === 'insert'));
  const targets = peers.map((p) => p.target);
  const f = forwardsOf(ctx, dnats, targets, {
    notAPeer:
      "the DNAT target is neither a VPN client's tunnel address nor in a network behind one (iroute): netfwd's frontend forwards only into the tunnel (a DNAT to an OpenVPN server on another host is not needed where the tunnel ends on the frontend itself)",
  });
  const spec: Record<string, unknown> = {
    tunnel: { interface: iface, external: true, addresses, peers: peers.map((p) => p.spec) },
  };
  const publicAddresses = [...new Set(f.forwards.map((x) => x.address))];
  const pub: Record<string, unknown> = {};
  if (publicAddresses.length === 1 && publicAddresses[0] !== undefined) {
    pub.addresses = publicAddresses;
    for (const x of f.forwards) delete x.address;
  }
  if (f.publicInterface) pub.interface = f.publicInterface;
  if (Object.keys(pub).length) spec.public = pub;
  spec.forwards = f.forwards;
  if (f.forwards.length === 0) notes.changed(origin, 'forwards', 'no DNAT into the tunnel among the inputs: forwards is empty');
  natOf(ctx, targets, f.forwards, f.targets, spec);

  // ---- routes to the networks behind the clients
  for (const r of m.facts.ipRoutes) {
    if (r.table !== undefined && r.table !== 254) continue;
    const dest = r.destination && r.destination !== 'default' ? parseCidr(r.destination) : undefined;
    const peer = dest && targets.find((p) => p.routes.some((n) => n.family === dest.family && contains(n, dest)));
    if (!peer) continue;
    ctx.used.add(r);
    if (r.dev !== iface)
      notes.changed(
        r.origin,
        ipRouteText(r),
        `netfwd routes ${r.destination} into the tunnel (${iface}, peer ${peer.name}'s routes)${r.via ? `, not via ${r.via}` : ''}: this configuration is for the host where the tunnel ends (see docs/import.md)`,
      );
  }
  noteScripts(m, server);
  noteUnused(ctx, 'frontend');
  for (const r of m.facts.rpFilter)
    notes.notTranslated(
      r.origin,
      `rp_filter ${r.value.iface}=${r.value.value}`,
      'reverse-path filtering on the frontend: netfwd leaves it as it is',
    );
  return { spec, lengths, forwards: f.forwards };
}

/** What the forwards to hosts behind a peer need from the backend: a service on that host and port. */
export const forwardHosts = (forwards: Array<Record<string, unknown>>) =>
  forwards.flatMap((f) => {
    const to = f.to as { address?: string; port?: unknown };
    return to.address ? [{ protocol: String(f.protocol), port: to.port ?? f.port, host: to.address }] : [];
  });

/**
 * The frontend's spec: its tunnel with one entry per peer, the forwards made
 * of the DNAT rules to the peers' tunnel addresses, masquerading and source
 * NAT from POSTROUTING, and the FORWARD accepts netfwd's own chain makes.
 */
import { type Cidr, commonLength, contains, isDefault, isHost, parseCidr } from '../cidr.js';
import type { PeerFacts } from '../facts.js';
import type { IptRule } from '../iptables.js';
import { ImportError } from '../source.js';
import { type Ctx, cidrOf, inTunnel, pskFile } from './context.js';
import { forwardsOf, natOf } from './forwards.js';

export function frontend(ctx: Ctx, tunnelSpec: Record<string, unknown>, dnats: IptRule[]): Record<string, unknown> {
  const { tunnel, facts } = ctx;
  const notes = facts.notes;
  if (!tunnel.listenPort || tunnel.listenPort.value === 0) {
    throw new ImportError(
      { file: tunnel.file, line: 0 },
      'the frontend has no ListenPort',
      'ListenPort = the UDP port the backends dial (listen-port= for NetworkManager)',
    );
  }
  // Widen /32 tunnel addresses so that the peers' addresses lie in the subnet (wg-quick routes them by AllowedIPs).
  const hostsOf = (p: PeerFacts) => p.allowedIps.map((a) => ({ c: cidrOf(a.value, a.origin, 'AllowedIPs'), a }));
  ctx.own = ctx.own.map((mine) => {
    const peerAddrs = tunnel.peers.flatMap(hostsOf).filter((x) => x.c.family === mine.family && isHost(x.c) && !isDefault(x.c));
    const outside = peerAddrs.filter((x) => !contains(mine, x.c));
    if (outside.length === 0) return mine;
    const cap = mine.family === 4 ? 24 : 64;
    const len = Math.min(cap, ...peerAddrs.map((x) => commonLength(mine, x.c)));
    const widened = { ...mine, length: len, explicit: true };
    const origin = tunnel.addresses.find((a) => parseCidr(a.value)?.value === mine.value)?.origin ?? { file: tunnel.file, line: 0 };
    notes.changed(
      origin,
      `Address ${mine.address}/${mine.length}`,
      `written as ${mine.address}/${len}: netfwd needs the peers' addresses inside the tunnel subnet (wg-quick reached them through AllowedIPs routes)`,
    );
    return widened;
  });
  tunnelSpec.addresses = ctx.own.map((c) => `${c.address}/${c.length}`);
  tunnelSpec.listenPort = tunnel.listenPort.value;

  const peers: Array<{ name: string; spec: Record<string, unknown>; hosts: Cidr[] }> = [];
  tunnel.peers.forEach((p) => {
    const hosts: Cidr[] = [];
    for (const { c, a } of hostsOf(p)) {
      if (isHost(c) && inTunnel(ctx, c) && !hosts.some((h) => h.family === c.family)) hosts.push(c);
      else
        notes.notTranslated(
          a.origin,
          `AllowedIPs ${a.value}`,
          isHost(c) && inTunnel(ctx, c)
            ? `a second IPv${c.family} address of the peer; netfwd gives each backend one address per family`
            : 'a network routed to the peer; netfwd gives each backend only its own tunnel addresses',
        );
    }
    if (p.endpoint)
      notes.notTranslated(p.endpoint.origin, `Endpoint ${p.endpoint.value}`, "netfwd's frontend does not dial its backends; they dial it");
    if (p.keepalive && p.keepalive.value !== 0)
      notes.notTranslated(
        p.keepalive.origin,
        `PersistentKeepalive ${p.keepalive.value}`,
        'the backend keeps the tunnel alive (its persistentKeepalive)',
      );
    if (hosts.length === 0) {
      notes.notTranslated(p.origin, 'peer', 'it has no address in the tunnel subnet (AllowedIPs /32 or /128); netfwd cannot forward to it');
      return;
    }
    const name = `peer${peers.length + 1}`;
    peers.push({
      name,
      hosts,
      spec: { name, publicKey: p.publicKey!.value, addresses: hosts.map((h) => h.address), ...pskFile(ctx, p.presharedKey, `-${name}`) },
    });
  });
  if (peers.length === 0)
    throw new ImportError(
      { file: tunnel.file, line: 0 },
      'no peer with a tunnel address',
      'a [Peer] whose AllowedIPs holds its tunnel address, e.g. 10.0.0.2/32',
    );
  tunnelSpec.peers = peers.map((p) => p.spec);

  // ---- forwards, NAT, FORWARD accepts
  const targets = peers.map((p) => ({ name: p.name, hosts: p.hosts, routes: [] }));
  const f = forwardsOf(ctx, dnats, targets, {
    notAPeer: "the DNAT target is not a WireGuard peer's tunnel address; netfwd forwards only to its backends",
  });
  const spec: Record<string, unknown> = { tunnel: tunnelSpec };
  if (f.publicInterface) spec.public = { interface: f.publicInterface };
  spec.forwards = f.forwards;
  natOf(ctx, targets, f.forwards, f.targets, spec);
  return spec;
}

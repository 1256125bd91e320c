/**
 * A backend's spec: its tunnel with the frontend as its one peer, the return
 * path made of the uid or fwmark routing rules, the marks the mangle table
 * sets and the routes of their table, and the services the INPUT chain
 * accepts on the tunnel.
 */
import { contains, isDefault, isHost, parseCidr } from '../cidr.js';
import { ImportError } from '../source.js';
import { type Ctx, checkEndpoint, cidrOf, pskFile } from './context.js';
import { returnPathOf } from './return-path.js';
import { servicesOf } from './services.js';

export function backend(ctx: Ctx, tunnelSpec: Record<string, unknown>): Record<string, unknown> {
  const { tunnel, facts } = ctx;
  const notes = facts.notes;
  if (tunnel.peers.length === 0)
    throw new ImportError({ file: tunnel.file, line: 0 }, 'a backend without a peer', 'one [Peer]: the frontend');
  const [peer, ...extra] = tunnel.peers;
  for (const p of extra)
    notes.notTranslated(p.origin, 'peer', 'a netfwd backend has exactly one peer, the frontend; only the first peer is imported');
  if (!peer!.endpoint)
    throw new ImportError(
      peer!.origin,
      'the frontend peer has no Endpoint',
      "Endpoint = the frontend's address and port, e.g. 203.0.113.1:51820",
    );
  checkEndpoint(peer!.endpoint.value, peer!.endpoint.origin);

  // Widen a /32 address to the subnet the peer's AllowedIPs give the tunnel.
  const allowed = peer!.allowedIps.map((a) => ({ c: cidrOf(a.value, a.origin, 'AllowedIPs'), a }));
  ctx.own = ctx.own.map((mine) => {
    if (!isHost(mine)) return mine;
    const net = allowed.find((x) => x.c.family === mine.family && !isDefault(x.c) && !isHost(x.c) && contains({ ...x.c }, mine));
    if (!net) return mine;
    const origin = tunnel.addresses.find((a) => parseCidr(a.value)?.value === mine.value)?.origin ?? { file: tunnel.file, line: 0 };
    notes.changed(
      origin,
      `Address ${mine.address}/${mine.length}`,
      `written as ${mine.address}/${net.c.length}: the tunnel subnet of AllowedIPs ${net.a.value}`,
    );
    return { ...mine, length: net.c.length, explicit: true };
  });
  tunnelSpec.addresses = ctx.own.map((c) => `${c.address}/${c.length}`);
  if (tunnel.listenPort && tunnel.listenPort.value !== 0) tunnelSpec.listenPort = tunnel.listenPort.value;
  const nonDefault = allowed.filter((x) => !isDefault(x.c));
  if (nonDefault.length > 0)
    notes.changed(
      nonDefault[0]!.a.origin,
      `AllowedIPs ${nonDefault.map((x) => x.a.value).join(', ')}`,
      'netfwd allows every address from the frontend (0.0.0.0/0, ::/0) and routes into the tunnel only what the return path selects',
    );
  const peerSpec: Record<string, unknown> = {
    publicKey: peer!.publicKey!.value,
    endpoint: peer!.endpoint.value,
    ...pskFile(ctx, peer!.presharedKey, ''),
  };
  if (peer!.keepalive) peerSpec.persistentKeepalive = peer!.keepalive.value;
  else notes.changed(peer!.origin, 'PersistentKeepalive', "not set in the source; netfwd's default for a backend is 25 seconds");
  tunnelSpec.peer = peerSpec;

  const returnPath = returnPathOf(ctx, {
    origin: { file: tunnel.file, line: 0 },
    ...(tunnel.table ? { wgTable: tunnel.table } : {}),
    allowsDefault: allowed.some((x) => isDefault(x.c)),
  });
  const services = servicesOf(ctx, { file: tunnel.file, line: 0 });
  return { tunnel: tunnelSpec, returnPath, services };
}

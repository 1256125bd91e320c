/**
 * Status without a spec (`netfwd status` without -c): what netfwd owns in a
 * namespace, found by its tags — tunnel links with netfwd's alias, nftables
 * tables of netfwd's name and comment, routes and rules with netfwd's
 * protocol number — with the tunnels' peers and the forwards read back from
 * the DNAT maps. Read only.
 */
import type { NftRuleset } from '../../nft/index.js';
import { type ForwardOptions, type Kernel, openKernelIn } from '../plan/context.js';
import { isOwnedAlias, NETFWD_PROTOCOL, NFT_TABLE_COMMENT, nftTableName } from '../plan/ownership.js';
import type { IpFamily, TransportProtocol } from '../spec/normalized-config.js';
import type { PeerStatus } from './status.js';

export interface InspectedForward {
  protocol: TransportProtocol;
  family: IpFamily;
  /** The public address it is limited to, or null for any local address of the family. */
  publicAddress: string | null;
  /** e.g. '80' or '9000-9010'. */
  publicPorts: string;
  /** The peer's tunnel address and, when the port changes, the port: '10.0.0.2:8080', or '10.0.0.2' (ports kept). */
  target: string;
  /** New connections DNATed. */
  connections: number;
}

export interface InspectedTunnel {
  interface: string;
  /** From the link's alias. */
  role: 'frontend' | 'backend' | null;
  up: boolean;
  implementation: 'kernel' | 'userspace' | null;
  publicKey: string | null;
  listenPort: number | null;
  privateKey: '(hidden)' | null;
  peers: PeerStatus[];
  addresses: string[];
  nftTable: string | null;
  forwards: InspectedForward[];
}

export interface NamespaceStatus {
  netns: string | null;
  tunnels: InspectedTunnel[];
  /** netfwd's routes and rules, in any table. */
  routes: string[];
  rules: string[];
  /** e.g. a netfwd table whose tunnel link is gone. */
  warnings: string[];
}

type Key = Array<string | number | { range: [number, number] }>;

const portText = (p: unknown) =>
  typeof p === 'number'
    ? String(p)
    : p && typeof p === 'object' && 'range' in p
      ? (p as { range: [number, number] }).range.join('-')
      : String(p);

/** The forwards of a frontend table, from its DNAT maps' elements. */
function forwardsOf(r: NftRuleset, table: string): InspectedForward[] {
  const out: InspectedForward[] = [];
  for (const s of r.sets) {
    const m = s.table === table ? /^dnat([46])(_any)?(_range|_hash)?$/.exec(s.name) : null;
    if (!m) continue;
    const family = Number(m[1]) as IpFamily;
    const hashed = new Map<string, InspectedForward & { buckets: number }>();
    for (const el of s.elements) {
      const full = (Array.isArray(el.key) ? el.key : [el.key]) as Key;
      // A hash map's key ends with the bucket (balance: hash): one line per target, with its bucket count.
      const key = m[3] === '_hash' ? full.slice(0, -1) : full;
      const port = key[key.length - 1];
      const protocol = key[key.length - 2] as TransportProtocol;
      const data = el.data as unknown;
      const target = Array.isArray(data) ? (family === 6 ? `[${data[0]}]:${data[1]}` : `${data[0]}:${data[1]}`) : String(data);
      const f: InspectedForward = {
        protocol,
        family,
        publicAddress: m[2] ? null : String(key[0]),
        publicPorts: portText(port),
        target,
        connections: el.counter?.packets ?? 0,
      };
      if (m[3] !== '_hash') {
        out.push(f);
        continue;
      }
      const id = JSON.stringify([key, target]);
      const seen = hashed.get(id);
      if (seen) {
        seen.buckets++;
        seen.connections += f.connections;
      } else hashed.set(id, { ...f, buckets: 1 });
    }
    for (const { buckets, ...f } of hashed.values()) out.push({ ...f, target: `${f.target} (hash: ${buckets} of its buckets)` });
  }
  const num = (p: string) => Number(p.split('-')[0]);
  return out.sort((a, b) => a.family - b.family || num(a.publicPorts) - num(b.publicPorts) || a.protocol.localeCompare(b.protocol));
}

async function inspect(k: Kernel, netns: string | undefined): Promise<NamespaceStatus> {
  const links = (await k.rt.links.list()).filter((l) => isOwnedAlias(l.alias));
  const ruleset = await k.nft.list();
  const ownTables = ruleset.tables
    .filter((t) => t.family === 'inet' && t.name.startsWith('netfwd-') && t.comment === NFT_TABLE_COMMENT)
    .map((t) => t.name);
  const now = Date.now();
  const tunnels: InspectedTunnel[] = [];
  for (const link of links) {
    const implementation = await k.wg.implementationOf(link.name);
    const device = implementation ? await k.wg.get(link.name) : null;
    const table = nftTableName(link.name);
    const role = link.alias === 'netfwd:frontend' ? 'frontend' : link.alias === 'netfwd:backend' ? 'backend' : null;
    tunnels.push({
      interface: link.name,
      role,
      up: link.up,
      implementation: device?.implementation ?? null,
      publicKey: device?.publicKey ?? null,
      listenPort: device?.listenPort ?? null,
      privateKey: device?.publicKey ? '(hidden)' : null,
      peers: (device?.peers ?? []).map((p) => ({
        publicKey: p.publicKey,
        endpoint: p.endpoint,
        lastHandshake: p.lastHandshake,
        handshakeAge: p.lastHandshake ? Math.max(0, Math.round((now - p.lastHandshake.getTime()) / 1000)) : null,
        rxBytes: p.rxBytes,
        txBytes: p.txBytes,
      })),
      addresses: (await k.rt.addresses.list({ link: link.name }))
        .filter((a) => a.scope === 'global' || a.scope === 0)
        .map((a) => a.address),
      nftTable: ownTables.includes(table) ? `inet ${table}` : null,
      forwards: ownTables.includes(table) ? forwardsOf(ruleset, table) : [],
    });
  }
  const warnings: string[] = [];
  for (const t of ownTables) {
    if (!tunnels.some((x) => nftTableName(x.interface) === t))
      warnings.push(`nftables table inet ${t} has no tunnel link: left behind (nft delete table inet ${t} removes it)`);
  }
  for (const t of tunnels)
    if (!t.implementation)
      warnings.push(`${t.interface} carries netfwd's alias but is not a WireGuard interface (its daemon may have died)`);
  const routes: string[] = [];
  for (const family of [4, 6] as const) {
    for await (const r of k.rt.routes.list({ family, protocol: NETFWD_PROTOCOL })) {
      routes.push(
        `${r.type !== 'unicast' ? `${r.type} ` : ''}${r.destination}${family === 6 ? ' (IPv6)' : ''}${r.link && r.type === 'unicast' ? ` dev ${r.link}` : ''} table ${r.table}`,
      );
    }
  }
  const rules = (await k.rt.rules.list({ protocol: NETFWD_PROTOCOL })).map(
    (r) =>
      `${r.priority}: ${r.uidRange ? `uidrange ${r.uidRange.join('-')}` : ''}${r.fwmark !== undefined ? `fwmark 0x${r.fwmark.toString(16)}` : ''} lookup ${r.table}${r.family === 6 ? ' (IPv6)' : ''}`,
  );
  return { netns: netns ?? null, tunnels, routes, rules, warnings };
}

/** What netfwd owns in `netns` (default: the caller's namespace), without a spec. */
export async function inspectNamespace(netns?: string, options: ForwardOptions = {}): Promise<NamespaceStatus> {
  const k = await openKernelIn(netns, options);
  try {
    return await inspect(k, netns);
  } finally {
    k.close();
  }
}

/**
 * An OpenVPN tunnel as netfwd's `external` tunnel: the interface name (`dev`)
 * and the addresses of both ends. OpenVPN's default server topology gives the
 * server a point-to-point pair (`ifconfig 10.0.0.1 10.0.0.2`, a /32 with a
 * peer address) and each client its own pair (`ifconfig-push 10.0.0.4
 * 10.0.0.3`); netfwd describes a tunnel by one subnet holding every end, so
 * both ends' addresses are written with the prefix of the smallest such
 * subnet, at most /24 (/64) — noted, since OpenVPN keeps its own pairs.
 */
import { formatIp } from '../../grammar/index.js';
import { type Cidr, commonLength, contains, parseCidr } from '../cidr.js';
import type { IfconfigFacts, OpenVpnFacts } from '../openvpn.js';
import { ImportError, type Located, type Notes, type Origin } from '../source.js';

/** The subnet an end's address is written with is at least this wide (as wg-quick /32 addresses are widened). */
const CAP = { 4: 24, 6: 64 } as const;

/** The interface `dev` names; `dev tun` (OpenVPN takes the first free tunN) is the one the scripts use, else tun0. */
export function interfaceOf(v: OpenVpnFacts | undefined, used: Array<Located<string>>, notes: Notes, origin: Origin): string {
  const dev = v?.dev;
  // `dev tun0` or a name of its own (`dev vpn0` with dev-type): that name; `dev tun`/`dev tap`: the first free one.
  if (dev && dev.value !== 'tun' && dev.value !== 'tap') return dev.value;
  const kind = dev?.value ?? 'tun';
  const seen = [...new Set(used.map((u) => u.value).filter((n) => new RegExp(`^${kind}\\d+$`).test(n)))];
  const name = seen.length === 1 ? seen[0]! : `${kind}0`;
  const from = used.find((u) => u.value === name)?.origin;
  notes.changed(
    dev?.origin ?? origin,
    dev ? `dev ${dev.value}` : 'interface name',
    `${dev ? `OpenVPN takes the first free ${kind}N` : 'no dev among the inputs'}: the interface is ${name}${seen.length === 1 && from ? ` (as the scripts name it, ${from.file}:${from.line})` : ''}; write \`dev ${name}\` in the OpenVPN configuration so that the name never changes`,
  );
  return name;
}

/** One end's address: `ifconfig`/`ifconfig-push` (a point-to-point pair or an address with a netmask). */
export interface End {
  address: Cidr;
  /** The other end of the point-to-point pair, when there is one. */
  pair?: string;
  /** The prefix length written in the source, when it gave one (netmask, IPv6 /LEN, `server`). */
  length?: number;
  origin: Origin;
  text: string;
}

function host(text: string): Cidr {
  return parseCidr(text)!;
}

function end(f: Located<IfconfigFacts> | undefined, directive: string): End | undefined {
  if (!f) return undefined;
  const v = f.value;
  return {
    address: host(v.local),
    ...(v.remote !== undefined && v.length === undefined ? { pair: v.remote } : {}),
    ...(v.length !== undefined ? { length: v.length } : {}),
    origin: f.origin,
    text: `${directive} ${v.local}${v.length !== undefined && v.local.includes(':') ? `/${v.length}` : ''}${v.remote !== undefined ? ` ${v.remote}` : v.length !== undefined && !v.local.includes(':') ? ` (/${v.length})` : ''}`,
  };
}

/** The server's own ends: `ifconfig`/`ifconfig-ipv6`, else the first address of `server`/`server-ipv6`. */
export function serverEnds(v: OpenVpnFacts): End[] {
  const out: End[] = [];
  const four = end(v.ifconfig, 'ifconfig');
  if (four) out.push(four);
  else if (v.server) out.push(firstOf(v.server, 'server'));
  const six = end(v.ifconfig6, 'ifconfig-ipv6');
  if (six) out.push(six);
  else if (v.server6) out.push(firstOf(v.server6, 'server-ipv6'));
  return out;
}

function firstOf(s: Located<{ network: string; length: number }>, directive: string): End {
  const net = host(s.value.network);
  const bytes = Buffer.from(net.bytes);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! + 1;
  const address = host(formatIp(bytes));
  return { address, length: s.value.length, origin: s.origin, text: `${directive} ${s.value.network}/${s.value.length}` };
}

/** A client's ends as its client-config-dir file pushes them (or its own `ifconfig` in a point-to-point setup). */
export function clientEnds(v: OpenVpnFacts): End[] {
  const out: End[] = [];
  for (const [f, d] of [
    [v.push ?? (v.kind === 'ccd' ? undefined : v.ifconfig), v.push ? 'ifconfig-push' : 'ifconfig'],
    [v.push6 ?? (v.kind === 'ccd' ? undefined : v.ifconfig6), v.push6 ? 'ifconfig-ipv6-push' : 'ifconfig-ipv6'],
  ] as const) {
    const e = end(f, d);
    if (e) out.push(e);
  }
  return out;
}

/**
 * The prefix length for one family: the server's own subnet when it holds
 * every client, else the smallest subnet around the server's address that
 * holds them (at most /24 or /64).
 */
export function subnetLength(server: End, clients: Cidr[]): number {
  const family = server.address.family;
  const own = server.length !== undefined ? { ...server.address, length: server.length } : undefined;
  const peers = clients.filter((c) => c.family === family);
  if (own && peers.every((p) => contains(own, p))) return own.length;
  return Math.min(CAP[family], ...peers.map((p) => commonLength(server.address, p)));
}

/** "10.0.0.1/24", and the note when the source had no such subnet. */
export function written(e: End, length: number, notes: Notes, why: string): string {
  const text = `${e.address.address}/${length}`;
  if (e.length !== length)
    notes.changed(
      e.origin,
      e.text,
      `written as ${text}: ${e.pair !== undefined ? `a point-to-point pair (${e.address.address} with the peer address ${e.pair}, each a /32 on the interface); ` : ''}${why}. netfwd does not add the address (external: true): OpenVPN keeps configuring its own`,
    );
  return text;
}

/** The client-config-dir file of the client whose configuration is `client` (its certificate's name), or the only one. */
export function ccdOf(ccds: OpenVpnFacts[], client: OpenVpnFacts | undefined, origin: Origin): OpenVpnFacts | undefined {
  const withAddress = ccds.filter((c) => c.push || c.push6);
  if (withAddress.length <= 1) return withAddress[0];
  const cert = client?.certs[0]?.value ?? '';
  const named = withAddress.filter((c) => cert.includes(baseName(c.file)));
  if (named.length === 1) return named[0];
  throw new ImportError(
    origin,
    `${withAddress.length} client-config-dir files among the inputs (${withAddress.map((c) => c.file).join(', ')}), and none is named like the client's certificate`,
    "the client-config-dir file of this VPN client (named after its certificate's common name)",
  );
}

/** A client-config-dir file's name: the client's certificate name, as OpenVPN looks it up. */
const baseName = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** A peer name for a client: the first label of its certificate name ("home" for home.vpn.example.net). */
export function peerName(path: string, index: number): string {
  const label = baseName(path).split('.')[0] ?? '';
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/.test(label) ? label : `peer${index + 1}`;
}

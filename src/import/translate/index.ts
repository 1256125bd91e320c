/**
 * From the facts of the input files to a netfwd spec: which role the machine
 * plays, its tunnel, and either the forwards (frontend) or the return path and
 * services (backend). Every iptables rule, ip rule and route is either used,
 * known to be done by netfwd itself ("covered"), or noted with the reason it
 * was not translated.
 */
import { type Cidr, isHost } from '../cidr.js';
import type { Facts, PeerFacts } from '../facts.js';
import { ImportError, type Origin } from '../source.js';
import { backend } from './backend.js';
import { type Ctx, chainResolver, cidrOf, dnatTarget, keyText, type PlannedKeyFile, RESERVED_TABLES, type Role, where } from './context.js';
import { frontend } from './frontend.js';
import { noteRpFilter, noteUnused } from './leftovers.js';

export type { PlannedKeyFile, Role } from './context.js';

export interface Translation {
  role: Role;
  /** Why this role: the option, or the facts that decided it. */
  roleReason: string;
  /** The netfwd spec (key files named, never keys inline). */
  spec: Record<string, unknown>;
  keyFiles: PlannedKeyFile[];
  /** Key files the sources referred to (absolute or as written). */
  referencedKeyFiles: Array<{ path: string; origin: Origin }>;
}

export interface TranslateOptions {
  role?: Role;
  /** Base of the names of key files written (the output file's name without extension). */
  keyFileStem: string;
}

export function translate(facts: Facts, o: TranslateOptions): Translation {
  const notes = facts.notes;
  if (facts.tunnels.length === 0) {
    throw new ImportError(
      undefined,
      'no WireGuard configuration among the inputs',
      'a wg-quick .conf file or a NetworkManager keyfile of type=wireguard; for an OpenVPN setup, its OpenVPN configuration files with the scripts (docs/import.md)',
    );
  }
  if (facts.tunnels.length > 1) {
    throw new ImportError(
      facts.tunnels[1]!.file,
      `a second WireGuard configuration (the first is ${facts.tunnels[0]!.file})`,
      'one WireGuard interface per import: netfwd configures one tunnel per file',
    );
  }
  const tunnel = facts.tunnels[0]!;
  const tunnelOrigin = { file: tunnel.file, line: 0 };
  const iface = tunnel.name?.value ?? 'wg0';
  if (!tunnel.name) notes.changed(tunnelOrigin, 'interface name', 'the file name is not an interface name; the interface is called wg0');

  // ---- own addresses
  const own: Cidr[] = [];
  for (const a of tunnel.addresses) {
    const c = cidrOf(a.value, a.origin, 'Address');
    if (own.some((x) => x.family === c.family)) {
      notes.notTranslated(
        a.origin,
        `Address ${a.value}`,
        `a second IPv${c.family} address; netfwd gives the tunnel one address per family`,
      );
      continue;
    }
    own.push(c);
  }
  if (own.length === 0)
    throw new ImportError(
      tunnelOrigin,
      'the tunnel has no address',
      'Address = 10.0.0.1/24 (wg-quick) or address1=10.0.0.1/24 in [ipv4] (NetworkManager)',
    );

  // ---- peers
  for (const p of tunnel.peers) {
    if (!p.publicKey) throw new ImportError(p.origin, 'a [Peer] without PublicKey', "PublicKey = the peer's public key");
    keyText({ kind: 'inline', key: p.publicKey.value, origin: p.publicKey.origin }, "the peer's PublicKey");
    if (p.presharedKey) keyText(p.presharedKey, 'PresharedKey');
  }
  const peerAllowed = (p: PeerFacts) =>
    p.allowedIps.map((a) => ({ cidr: cidrOf(a.value, a.origin, 'AllowedIPs'), origin: a.origin, text: a.value }));

  // ---- the role
  const chains = chainResolver(facts.iptables);
  const dnats = facts.iptables.filter((r) => r.table === 'nat' && r.target === 'DNAT' && (r.op === 'append' || r.op === 'insert'));
  const peerHosts = tunnel.peers.flatMap((p) =>
    peerAllowed(p)
      .filter((a) => isHost(a.cidr))
      .map((a) => a.cidr),
  );
  const dnatToPeer = dnats.find((r) => {
    const t = dnatTarget(r.targetOptions.get('--to-destination') ?? r.targetOptions.get('--to') ?? '', r.origin);
    return t !== undefined && peerHosts.some((h) => h.value === t.address.value && h.family === t.address.family);
  });
  const policyRules = facts.ipRules.filter((r) => r.table !== undefined && !RESERVED_TABLES.has(r.table) && (r.uidrange || r.fwmark));
  let role: Role;
  let roleReason: string;
  if (o.role) {
    role = o.role;
    roleReason = 'given with --role';
  } else if (dnatToPeer && policyRules.length === 0) {
    role = 'frontend';
    roleReason = `DNAT to a WireGuard peer at ${where(dnatToPeer.origin)}`;
  } else if (policyRules.length > 0 && !dnatToPeer) {
    role = 'backend';
    roleReason = `policy routing into table ${policyRules[0]!.table} at ${where(policyRules[0]!.origin)}`;
  } else if (dnatToPeer) {
    throw new ImportError(
      undefined,
      `the inputs both DNAT to a peer (${where(dnatToPeer.origin)}) and route by ${policyRules[0]!.uidrange ? 'uid' : 'mark'} (${where(policyRules[0]!.origin)})`,
      'the files of one machine, or --role frontend|backend',
    );
  } else if (tunnel.peers.length === 1 && tunnel.peers[0]!.endpoint) {
    role = 'backend';
    roleReason = `its only peer has an Endpoint (${where(tunnel.peers[0]!.endpoint.origin)}): it dials the frontend`;
  } else if (tunnel.listenPort && tunnel.peers.length > 0 && tunnel.peers.every((p) => !p.endpoint)) {
    role = 'frontend';
    roleReason = `it listens (${where(tunnel.listenPort.origin)}) and its peers have no Endpoint`;
  } else {
    throw new ImportError(
      undefined,
      'cannot tell whether this machine is the frontend or a backend (no DNAT to a peer, no uid or fwmark routing rules)',
      '--role frontend or --role backend',
    );
  }

  // ---- private key
  const keyFiles: PlannedKeyFile[] = [];
  const referencedKeyFiles: Translation['referencedKeyFiles'] = [];
  const privateKey = tunnel.privateKey;
  if (!privateKey) {
    throw new ImportError(
      tunnelOrigin,
      'no private key',
      tunnel.format === 'wg-quick' ? 'PrivateKey = … or PostUp = wg set %i private-key FILE' : 'private-key= in [wireguard]',
    );
  }
  const tunnelSpec: Record<string, unknown> = { interface: iface };
  if (privateKey.kind === 'inline') {
    const name = `${o.keyFileStem}.key`;
    keyFiles.push({ name, key: keyText(privateKey, 'PrivateKey') });
    tunnelSpec.privateKeyFile = name;
  } else {
    tunnelSpec.privateKeyFile = privateKey.path;
    referencedKeyFiles.push({ path: privateKey.path, origin: privateKey.origin });
  }

  const ctx: Ctx = { facts, tunnel, iface, own, chains, used: new Set(), keyFiles, stem: o.keyFileStem };
  const spec = role === 'frontend' ? frontend(ctx, tunnelSpec, dnats) : backend(ctx, tunnelSpec);

  // ---- whatever is left
  noteUnused(ctx, role);
  for (const f of facts.forwarding) {
    if (role === 'backend')
      notes.notTranslated(f, 'ip_forward=1', 'a backend does not forward; netfwd turns forwarding on only on the frontend');
  }
  noteRpFilter(notes, facts.rpFilter, iface, role === 'backend');
  return { role, roleReason, spec: { role, ...spec }, keyFiles, referencedKeyFiles };
}

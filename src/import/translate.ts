/**
 * From the facts of the input files to a netfwd spec: which role the machine
 * plays, its tunnel, and either the forwards (frontend) or the return path and
 * services (backend). Every iptables rule, ip rule and route is either used,
 * known to be done by netfwd itself ("covered"), or noted with the reason it
 * was not translated.
 */
import { type EndpointOptions, parseEndpoint, parseKey } from '../grammar/index.js';
import { type Cidr, commonLength, contains, isDefault, isHost, networkText, parseCidr } from './cidr.js';
import type { Facts, KeyRef, PeerFacts, TunnelFacts } from './facts.js';
import type { IpRoute, IpRule } from './iproute.js';
import { type IptRule, portOf, ruleText } from './iptables.js';
import { ImportError, type Origin } from './source.js';

export type Role = 'frontend' | 'backend';

/** A secret the importer writes next to the output (mode 0600) and names in the spec. */
export interface PlannedKeyFile {
  /** File name relative to the output's directory. */
  name: string;
  key: string;
}

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

const RESERVED_TABLES = new Set([0, 253, 254, 255]);
const where = (o: Origin) => (o.line > 0 ? `${o.file}:${o.line}` : o.file);

function keyText(ref: KeyRef, what: string): string {
  if (ref.kind !== 'inline') return '';
  if (!parseKey(ref.key).ok) {
    // Never quote the value: it may be a real key with a typo.
    throw new ImportError(ref.origin, `${what} is not a WireGuard key (a placeholder such as <privatekey>, or a typo?)`, '32 bytes in base64, 44 characters ending in "=", as wg genkey prints');
  }
  return ref.key;
}

function cidrOf(text: string, origin: Origin, what: string): Cidr {
  const c = parseCidr(text);
  if (!c) throw new ImportError(origin, `${what} "${text.slice(0, 50)}" is not an IP address or CIDR`, 'an address such as 10.0.0.1/24 or fd00::1/64');
  return c;
}

/**
 * What the importer has always taken as an Endpoint (it only checks it: the
 * text goes into the spec as written, and netfwd's own validator has the last
 * word): any leading zeros in the port, zone ids, an IP address or a host
 * name in brackets, host names with numeric labels.
 */
const ENDPOINT: EndpointOptions = { portDigits: Infinity, zone: 'any', brackets: 'any', hostnames: { dotInLength: true } };

/** Checks "203.0.113.1:51820", "[2001:db8::1]:51820", "vpn.example.org:51820" (a host name is kept: netfwd resolves it when it applies the configuration). */
function checkEndpoint(text: string, origin: Origin): void {
  if (parseEndpoint(text, ENDPOINT).ok) return;
  // Which message: the parts as the importer has always split them, the host judged before the port.
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const m = bracketed ?? /^([^:]+):(\d+)$/.exec(text);
  if (m) {
    if (!parseEndpoint(`${bracketed ? `[${m[1]}]` : m[1]}:1`, ENDPOINT).ok) {
      throw new ImportError(origin, `Endpoint host "${m[1]!.slice(0, 60)}" is neither an IP address nor a host name`, "the frontend's address or DNS name, e.g. 203.0.113.1:51820");
    }
    throw new ImportError(origin, `Endpoint port ${m[2]} is out of range`, 'a port from 1 to 65535');
  }
  throw new ImportError(origin, `Endpoint "${text.slice(0, 60)}" is not HOST:PORT`, 'an address and port such as 203.0.113.1:51820 or [2001:db8::1]:51820');
}

/** `A`, `A:P`, `A:P-Q`, `[A]:P` of --to-destination. */
function dnatTarget(text: string, origin: Origin): { address: Cidr; port?: string } | undefined {
  const m = /^\[([^\]]+)\](?::(.+))?$/.exec(text) ?? (parseCidr(text) ? [text, text, undefined] : /^([^:]+)(?::(.+))?$/.exec(text));
  if (!m) return undefined;
  const address = parseCidr(m[1]!);
  if (!address || address.explicit) return undefined;
  return { address, ...(m[2] !== undefined ? { port: portOf(m[2], origin) } : {}) };
}

export function translate(facts: Facts, o: TranslateOptions): Translation {
  const notes = facts.notes;
  if (facts.tunnels.length === 0) {
    throw new ImportError(undefined, 'no WireGuard configuration among the inputs', 'a wg-quick .conf file or a NetworkManager keyfile of type=wireguard (netfwd does not import OpenVPN)');
  }
  if (facts.tunnels.length > 1) {
    throw new ImportError(facts.tunnels[1]!.file, `a second WireGuard configuration (the first is ${facts.tunnels[0]!.file})`, 'one WireGuard interface per import: netfwd configures one tunnel per file');
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
      notes.notTranslated(a.origin, `Address ${a.value}`, `a second IPv${c.family} address; netfwd gives the tunnel one address per family`);
      continue;
    }
    own.push(c);
  }
  if (own.length === 0) throw new ImportError(tunnelOrigin, 'the tunnel has no address', 'Address = 10.0.0.1/24 (wg-quick) or address1=10.0.0.1/24 in [ipv4] (NetworkManager)');

  // ---- peers
  for (const p of tunnel.peers) {
    if (!p.publicKey) throw new ImportError(p.origin, 'a [Peer] without PublicKey', 'PublicKey = the peer\'s public key');
    keyText({ kind: 'inline', key: p.publicKey.value, origin: p.publicKey.origin }, 'the peer\'s PublicKey');
    if (p.presharedKey) keyText(p.presharedKey, 'PresharedKey');
  }
  const peerAllowed = (p: PeerFacts) => p.allowedIps.map((a) => ({ cidr: cidrOf(a.value, a.origin, 'AllowedIPs'), origin: a.origin, text: a.value }));

  // ---- the role
  const chains = chainResolver(facts.iptables);
  const dnats = facts.iptables.filter((r) => r.table === 'nat' && r.target === 'DNAT' && (r.op === 'append' || r.op === 'insert'));
  const peerHosts = tunnel.peers.flatMap((p) => peerAllowed(p).filter((a) => isHost(a.cidr)).map((a) => a.cidr));
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
    throw new ImportError(undefined, `the inputs both DNAT to a peer (${where(dnatToPeer.origin)}) and route by ${policyRules[0]!.uidrange ? 'uid' : 'mark'} (${where(policyRules[0]!.origin)})`, 'the files of one machine, or --role frontend|backend');
  } else if (tunnel.peers.length === 1 && tunnel.peers[0]!.endpoint) {
    role = 'backend';
    roleReason = `its only peer has an Endpoint (${where(tunnel.peers[0]!.endpoint.origin)}): it dials the frontend`;
  } else if (tunnel.listenPort && tunnel.peers.length > 0 && tunnel.peers.every((p) => !p.endpoint)) {
    role = 'frontend';
    roleReason = `it listens (${where(tunnel.listenPort.origin)}) and its peers have no Endpoint`;
  } else {
    throw new ImportError(undefined, 'cannot tell whether this machine is the frontend or a backend (no DNAT to a peer, no uid or fwmark routing rules)', '--role frontend or --role backend');
  }

  // ---- private key
  const keyFiles: PlannedKeyFile[] = [];
  const referencedKeyFiles: Translation['referencedKeyFiles'] = [];
  const privateKey = tunnel.privateKey;
  if (!privateKey) {
    throw new ImportError(tunnelOrigin, 'no private key', tunnel.format === 'wg-quick' ? 'PrivateKey = … or PostUp = wg set %i private-key FILE' : 'private-key= in [wireguard]');
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
  for (const r of facts.iptables) if (!ctx.used.has(r)) noteRule(ctx, r, role);
  for (const r of facts.ipRules) if (!ctx.used.has(r)) notes.notTranslated(r.origin, ipRuleText(r), role === 'frontend' ? 'policy routing on the frontend: netfwd routes nothing by rule there' : 'a routing rule netfwd does not set up (see the return path above)');
  for (const r of facts.ipRoutes) if (!ctx.used.has(r)) notes.notTranslated(r.origin, ipRouteText(r), r.table === undefined || r.table === 254 ? 'a route in the main table; netfwd adds routes only to the return path\'s table' : 'a route netfwd does not set up');
  for (const f of facts.forwarding) {
    if (role === 'backend') notes.notTranslated(f, 'ip_forward=1', 'a backend does not forward; netfwd turns forwarding on only on the frontend');
  }
  for (const r of facts.rpFilter) {
    if (r.value.iface === iface && role === 'backend') notes.changed(r.origin, `rp_filter ${r.value.iface}=${r.value.value}`, 'netfwd sets loose reverse-path filtering (2) on the tunnel in the routed return-path modes');
    else notes.notTranslated(r.origin, `rp_filter ${r.value.iface}=${r.value.value}`, 'reverse-path filtering of another interface; netfwd only sets the tunnel\'s');
  }
  return { role, roleReason, spec: { role, ...spec }, keyFiles, referencedKeyFiles };
}

interface Ctx {
  facts: Facts;
  tunnel: TunnelFacts;
  iface: string;
  own: Cidr[];
  chains: (r: IptRule) => string | undefined;
  used: Set<object>;
  keyFiles: PlannedKeyFile[];
  stem: string;
}

/** A rule's built-in chain: its own, or the one that jumps to its user chain. */
function chainResolver(rules: IptRule[]): (r: IptRule) => string | undefined {
  const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);
  const parents = new Map<string, Set<string>>();
  for (const r of rules) {
    if (r.target && !BUILTIN.has(r.target) && /^[A-Za-z0-9_.-]+$/.test(r.target) && r.target.toUpperCase() !== r.target.toLowerCase()) {
      const key = `${r.table}\0${r.target}`;
      const set = parents.get(key) ?? new Set<string>();
      set.add(r.chain);
      parents.set(key, set);
    }
  }
  return (r: IptRule) => {
    const seen = new Set<string>();
    let chain = r.chain;
    for (let depth = 0; depth < 32; depth++) {
      if (BUILTIN.has(chain)) return chain;
      if (seen.has(chain)) return undefined;
      seen.add(chain);
      const p = parents.get(`${r.table}\0${chain}`);
      if (!p || p.size !== 1) return undefined;
      chain = [...p][0]!;
    }
    return undefined;
  };
}

const USER_CHAIN_TARGET = (r: IptRule, all: IptRule[]) => r.target !== undefined && all.some((x) => x.table === r.table && x.chain === r.target);

function inTunnel(ctx: Ctx, c: Cidr): boolean {
  return ctx.own.some((s) => contains(s, c));
}

function pskFile(ctx: Ctx, ref: KeyRef | undefined, suffix: string): Record<string, string> {
  if (!ref) return {};
  if (ref.kind === 'file') return { presharedKeyFile: ref.path };
  const name = `${ctx.stem}${suffix}.psk`;
  ctx.keyFiles.push({ name, key: ref.key });
  return { presharedKeyFile: name };
}

// ------------------------------------------------------------------ frontend

function frontend(ctx: Ctx, tunnelSpec: Record<string, unknown>, dnats: IptRule[]): Record<string, unknown> {
  const { tunnel, facts } = ctx;
  const notes = facts.notes;
  if (!tunnel.listenPort || tunnel.listenPort.value === 0) {
    throw new ImportError({ file: tunnel.file, line: 0 }, 'the frontend has no ListenPort', 'ListenPort = the UDP port the backends dial (listen-port= for NetworkManager)');
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
    notes.changed(origin, `Address ${mine.address}/${mine.length}`, `written as ${mine.address}/${len}: netfwd needs the peers' addresses inside the tunnel subnet (wg-quick reached them through AllowedIPs routes)`);
    return widened;
  });
  tunnelSpec.addresses = ctx.own.map((c) => `${c.address}/${c.length}`);
  tunnelSpec.listenPort = tunnel.listenPort.value;

  const peers: Array<{ name: string; spec: Record<string, unknown>; hosts: Cidr[] }> = [];
  tunnel.peers.forEach((p) => {
    const hosts: Cidr[] = [];
    for (const { c, a } of hostsOf(p)) {
      if (isHost(c) && inTunnel(ctx, c) && !hosts.some((h) => h.family === c.family)) hosts.push(c);
      else notes.notTranslated(a.origin, `AllowedIPs ${a.value}`, isHost(c) && inTunnel(ctx, c) ? `a second IPv${c.family} address of the peer; netfwd gives each backend one address per family` : 'a network routed to the peer; netfwd gives each backend only its own tunnel addresses');
    }
    if (p.endpoint) notes.notTranslated(p.endpoint.origin, `Endpoint ${p.endpoint.value}`, 'netfwd\'s frontend does not dial its backends; they dial it');
    if (p.keepalive && p.keepalive.value !== 0) notes.notTranslated(p.keepalive.origin, `PersistentKeepalive ${p.keepalive.value}`, 'the backend keeps the tunnel alive (its persistentKeepalive)');
    if (hosts.length === 0) {
      notes.notTranslated(p.origin, 'peer', 'it has no address in the tunnel subnet (AllowedIPs /32 or /128); netfwd cannot forward to it');
      return;
    }
    const name = `peer${peers.length + 1}`;
    peers.push({ name, hosts, spec: { name, publicKey: p.publicKey!.value, addresses: hosts.map((h) => h.address), ...pskFile(ctx, p.presharedKey, `-${name}`) } });
  });
  if (peers.length === 0) throw new ImportError({ file: tunnel.file, line: 0 }, 'no peer with a tunnel address', 'a [Peer] whose AllowedIPs holds its tunnel address, e.g. 10.0.0.2/32');
  tunnelSpec.peers = peers.map((p) => p.spec);

  // ---- forwards
  const forwards: Array<Record<string, unknown>> = [];
  const seen = new Map<string, Origin>();
  const families = new Map<Record<string, unknown>, { families: Set<4 | 6>; origin: Origin; peer: { hosts: Cidr[] } }>();
  const publicIfaces = new Map<string, Origin[]>();
  let anyWithoutIface: Origin | undefined;
  for (const r of dnats) {
    const text = ruleText(r);
    const to = r.targetOptions.get('--to-destination') ?? r.targetOptions.get('--to');
    const chain = ctx.chains(r);
    if (chain !== 'PREROUTING') {
      notes.notTranslated(r.origin, text, chain === 'OUTPUT' ? 'DNAT of this machine\'s own connections; netfwd forwards arriving connections' : 'DNAT outside PREROUTING');
      ctx.used.add(r);
      continue;
    }
    const target = to === undefined ? undefined : dnatTarget(to, r.origin);
    const peer = target && peers.find((p) => p.hosts.some((h) => h.family === target.address.family && h.value === target.address.value));
    const skip = (reason: string) => {
      notes.notTranslated(r.origin, text, reason);
      ctx.used.add(r);
    };
    if (!target || !peer) {
      skip(target ? 'the DNAT target is not a WireGuard peer\'s tunnel address; netfwd forwards only to its backends' : 'the DNAT target is not one address (with an optional port)');
      continue;
    }
    const proto = r.protocol;
    if (!proto || proto.negated || !['tcp', 'udp'].includes(proto.value)) {
      skip('netfwd forwards TCP or UDP ports; the rule has no -p tcp or -p udp');
      continue;
    }
    const portTexts = r.dports && !r.dports.negated ? r.dports.value.split(',') : r.dport && !r.dport.negated ? [r.dport.value] : undefined;
    if (!portTexts) {
      skip('the rule has no destination port (--dport); netfwd forwards ports');
      continue;
    }
    for (const [m, name] of [
      [r.source, '-s'],
      [r.destination, '-d'],
      [r.inInterface, '-i'],
    ] as const) {
      if (m?.negated) {
        skip(`a negated ${name}; netfwd cannot express "every ${name === '-i' ? 'interface' : 'address'} but"`);
        break;
      }
    }
    if (ctx.used.has(r)) continue;
    let address: string | undefined;
    if (r.destination) {
      const d = parseCidr(r.destination.value);
      if (!d || !isHost(d)) {
        skip('the rule matches a destination network (-d); netfwd forwards to one public address or all of them');
        continue;
      }
      address = d.address;
    }
    if (r.source) notes.changed(r.origin, `-s ${r.source.value}`, 'netfwd forwards connections from any source; the source restriction is not kept');
    if (r.other.length || r.state) notes.changed(r.origin, [...r.other, ...(r.state ? [`--state ${r.state.value}`] : [])].join(' '), 'a match netfwd does not keep; the forward applies to every such packet');
    if (r.outInterface) notes.changed(r.origin, `-o ${r.outInterface.value}`, 'netfwd does not restrict forwards by output interface');
    if (r.inInterface) publicIfaces.set(r.inInterface.value, [...(publicIfaces.get(r.inInterface.value) ?? []), r.origin]);
    else anyWithoutIface = r.origin;
    const ports = portTexts.map((p) => portOf(p.trim(), r.origin));
    for (const port of ports) {
      const key = `${proto.value} ${port} ${address ?? '*'} ${target.address.family}`;
      const before = seen.get(key);
      if (before) {
        notes.notTranslated(r.origin, text, `${proto.value} port ${port} is already forwarded by ${where(before)}`);
        continue;
      }
      seen.set(key, r.origin);
      const toPort = target.port ?? port;
      if (ports.length > 1 && target.port !== undefined && toPort.includes('-') !== port.includes('-')) {
        notes.notTranslated(r.origin, text, 'a multiport rule DNATed to one port range; netfwd maps a range port by port');
        continue;
      }
      const existing = forwards.find((f) => f.protocol === proto.value && String(f.port) === port && f.address === address && (f.to as { peer: string }).peer === peer.name);
      if (existing) {
        families.get(existing)!.families.add(target.address.family); // the same forward for the other family
        continue;
      }
      const forward: Record<string, unknown> = { protocol: proto.value, port: /^\d+$/.test(port) ? Number(port) : port, ...(address ? { address } : {}), to: { peer: peer.name, ...(toPort !== port ? { port: /^\d+$/.test(toPort) ? Number(toPort) : toPort } : {}) } };
      forwards.push(forward);
      families.set(forward, { families: new Set([target.address.family]), origin: r.origin, peer });
    }
    ctx.used.add(r);
  }
  // netfwd forwards every family the peer has an address of (unless an address limits it).
  for (const [f, seen] of families) {
    const missing = f.address === undefined ? seen.peer.hosts.filter((h) => !seen.families.has(h.family)) : [];
    if (missing.length > 0) notes.changed(seen.origin, `${String(f.protocol)} ${String(f.port)}`, `also forwarded over IPv${missing[0]!.family}: netfwd forwards every family the peer has an address of`);
  }
  const spec: Record<string, unknown> = { tunnel: tunnelSpec };
  if (publicIfaces.size === 1 && !anyWithoutIface) spec.public = { interface: [...publicIfaces.keys()][0] };
  else if (publicIfaces.size > 0) {
    for (const [name, origins] of publicIfaces) for (const og of origins) notes.changed(og, `-i ${name}`, 'the DNAT rules name different input interfaces (or none); netfwd accepts the forwards on any interface but the tunnel');
  }
  spec.forwards = forwards;

  // ---- POSTROUTING: masquerade and source NAT
  let masquerade = false;
  let sourceNat = false;
  const snatMatched: IptRule[] = [];
  for (const r of ctx.facts.iptables) {
    if (r.table !== 'nat' || (r.op !== 'append' && r.op !== 'insert') || ctx.chains(r) !== 'POSTROUTING') continue;
    if (r.target !== 'MASQUERADE' && r.target !== 'SNAT') continue;
    const out = r.outInterface;
    const toTunnel = out && !out.negated && out.value === ctx.iface;
    const dst = r.destination ? parseCidr(r.destination.value) : undefined;
    const toPeer = dst && !r.destination!.negated && peers.some((p) => p.hosts.some((h) => contains(dst, h)) || inTunnel(ctx, dst));
    const src = r.source ? parseCidr(r.source.value) : undefined;
    const fromTunnel = src && !r.source!.negated && inTunnel(ctx, src);
    const snatTo = r.target === 'SNAT' ? r.targetOptions.get('--to-source') : undefined;
    if (toTunnel || toPeer) {
      const own = snatTo === undefined ? undefined : parseCidr(snatTo);
      if (r.target === 'SNAT' && !(own && ctx.own.some((c) => c.value === own.value && c.family === own.family))) {
        notes.notTranslated(r.origin, ruleText(r), 'SNAT into the tunnel to an address that is not the frontend\'s tunnel address');
      } else {
        sourceNat = true;
        snatMatched.push(r);
      }
      ctx.used.add(r);
    } else if (fromTunnel || (!src && !toTunnel && r.target === 'MASQUERADE')) {
      masquerade = true;
      if (r.target === 'SNAT') notes.changed(r.origin, ruleText(r), 'netfwd masquerades (the address of the outgoing interface) instead of SNAT to a fixed address');
      if (r.targetOptions.has('--to-ports')) notes.changed(r.origin, `--to-ports ${r.targetOptions.get('--to-ports')}`, 'netfwd\'s masquerade keeps the kernel\'s choice of source ports');
      ctx.used.add(r);
    }
  }
  if (sourceNat) {
    spec.sourceNat = true;
    const snatPorts = snatMatched.map((r) => (r.dport || r.dports ? (r.dports?.value ?? r.dport!.value).split(',').map((p) => portOf(p, r.origin)) : undefined));
    const unmatched = forwards.filter((f) => {
      const to = String((f.to as { port?: unknown }).port ?? f.port);
      return !snatPorts.some((ports) => ports === undefined || ports.includes(to));
    });
    if (unmatched.length > 0) {
      notes.changed(snatMatched[0]!.origin, ruleText(snatMatched[0]!), 'netfwd source-NATs every forwarded connection (sourceNat: true), not only those of this rule\'s ports');
    }
  }
  spec.masquerade = masquerade;

  // FORWARD accepts that netfwd's own forward chain does.
  for (const r of ctx.facts.iptables) {
    if (ctx.used.has(r) || r.table !== 'filter' || ctx.chains(r) !== 'FORWARD' || r.target !== 'ACCEPT' || r.op === 'policy') continue;
    const i = r.inInterface?.value;
    const out = r.outInterface?.value;
    if (i === ctx.iface && out === ctx.iface) continue; // peer to peer: noted later
    const dst = r.destination ? parseCidr(r.destination.value) : undefined;
    const src = r.source ? parseCidr(r.source.value) : undefined;
    const touchesTunnel = i === ctx.iface || out === ctx.iface || (dst && inTunnel(ctx, dst)) || (src && inTunnel(ctx, src));
    const established = r.state && /ESTABLISHED|RELATED/.test(r.state.value) && !/NEW/.test(r.state.value);
    // netfwd accepts its DNATed connections both ways (and, with masquerade, the tunnel's outgoing traffic).
    if (touchesTunnel || established) ctx.used.add(r);
  }
  for (const r of ctx.facts.iptables) {
    if (r.table === 'mangle' && r.target === 'TCPMSS') ctx.used.add(r); // mssClamp: true (the default)
  }
  return spec;
}

// ------------------------------------------------------------------- backend

function backend(ctx: Ctx, tunnelSpec: Record<string, unknown>): Record<string, unknown> {
  const { tunnel, facts } = ctx;
  const notes = facts.notes;
  if (tunnel.peers.length === 0) throw new ImportError({ file: tunnel.file, line: 0 }, 'a backend without a peer', 'one [Peer]: the frontend');
  const [peer, ...extra] = tunnel.peers;
  for (const p of extra) notes.notTranslated(p.origin, 'peer', 'a netfwd backend has exactly one peer, the frontend; only the first peer is imported');
  if (!peer!.endpoint) throw new ImportError(peer!.origin, 'the frontend peer has no Endpoint', "Endpoint = the frontend's address and port, e.g. 203.0.113.1:51820");
  checkEndpoint(peer!.endpoint.value, peer!.endpoint.origin);

  // Widen a /32 address to the subnet the peer's AllowedIPs give the tunnel.
  const allowed = peer!.allowedIps.map((a) => ({ c: cidrOf(a.value, a.origin, 'AllowedIPs'), a }));
  ctx.own = ctx.own.map((mine) => {
    if (!isHost(mine)) return mine;
    const net = allowed.find((x) => x.c.family === mine.family && !isDefault(x.c) && !isHost(x.c) && contains({ ...x.c }, mine));
    if (!net) return mine;
    const origin = tunnel.addresses.find((a) => parseCidr(a.value)?.value === mine.value)?.origin ?? { file: tunnel.file, line: 0 };
    notes.changed(origin, `Address ${mine.address}/${mine.length}`, `written as ${mine.address}/${net.c.length}: the tunnel subnet of AllowedIPs ${net.a.value}`);
    return { ...mine, length: net.c.length, explicit: true };
  });
  tunnelSpec.addresses = ctx.own.map((c) => `${c.address}/${c.length}`);
  if (tunnel.listenPort && tunnel.listenPort.value !== 0) tunnelSpec.listenPort = tunnel.listenPort.value;
  const nonDefault = allowed.filter((x) => !isDefault(x.c));
  if (nonDefault.length > 0) notes.changed(nonDefault[0]!.a.origin, `AllowedIPs ${nonDefault.map((x) => x.a.value).join(', ')}`, 'netfwd allows every address from the frontend (0.0.0.0/0, ::/0) and routes into the tunnel only what the return path selects');
  const peerSpec: Record<string, unknown> = { publicKey: peer!.publicKey!.value, endpoint: peer!.endpoint.value, ...pskFile(ctx, peer!.presharedKey, '') };
  if (peer!.keepalive) peerSpec.persistentKeepalive = peer!.keepalive.value;
  else notes.changed(peer!.origin, 'PersistentKeepalive', 'not set in the source; netfwd\'s default for a backend is 25 seconds');
  tunnelSpec.peer = peerSpec;

  const returnPath = returnPathOf(ctx, allowed.some((x) => isDefault(x.c)));
  const services = servicesOf(ctx);
  return { tunnel: tunnelSpec, returnPath, services };
}

function returnPathOf(ctx: Ctx, allowsDefault: boolean): Record<string, unknown> {
  const { facts, tunnel } = ctx;
  const notes = facts.notes;
  const candidates = facts.ipRules.filter((r) => r.table !== undefined && !RESERVED_TABLES.has(r.table) && (r.uidrange || r.fwmark));
  if (candidates.length === 0) {
    notes.changed({ file: tunnel.file, line: 0 }, 'return path', 'no uidrange or fwmark routing rule in the sources: returnPath mode snat (the frontend must have sourceNat: true, as a frontend that SNATs into the tunnel does)');
    if (allowsDefault && tunnel.table?.value !== 'off') {
      notes.changed(tunnel.table?.origin ?? { file: tunnel.file, line: 0 }, 'AllowedIPs 0.0.0.0/0', 'wg-quick would route all traffic through the tunnel; netfwd routes nothing into it in mode snat');
    }
    return { mode: 'snat' };
  }
  const table = candidates[0]!.table!;
  const rules = candidates.filter((r) => r.table === table);
  const usable = rules.filter((r) => {
    const problem = r.not ? 'a negated rule ("not")' : r.to && r.to !== 'default' && !isDefault(parseCidr(r.to)!) ? `a destination selector (to ${r.to})` : r.from && r.from !== 'default' && !isDefault(parseCidr(r.from)!) ? `a source selector (from ${r.from})` : r.other.length ? r.other.join(' ') : undefined;
    if (problem) {
      notes.notTranslated(r.origin, ipRuleText(r), `${problem}: netfwd's rules select by uid or mark only`);
      ctx.used.add(r);
      return false;
    }
    return true;
  });
  const uidRules = usable.filter((r) => r.uidrange);
  const markRules = usable.filter((r) => r.fwmark);
  const mark = markRules[0]?.fwmark?.mark;
  const mangle = facts.iptables.filter((r) => r.table === 'mangle' && (r.op === 'append' || r.op === 'insert'));
  const setsMark = (r: IptRule) => {
    const v = r.targetOptions.get('--set-mark') ?? r.targetOptions.get('--set-xmark');
    return v === undefined ? undefined : Number(v.split('/')[0]);
  };
  const connmarkSetters = mangle.filter((r) => r.target === 'CONNMARK' && mark !== undefined && setsMark(r) === mark);
  const markSetters = mangle.filter((r) => r.target === 'MARK' && mark !== undefined && setsMark(r) === mark);
  const out: Record<string, unknown> = {};
  let chosen: IpRule[] = [];
  if (markRules.length > 0 && connmarkSetters.length > 0) {
    out.mode = 'connmark';
    out.mark = mark;
    chosen = markRules;
    for (const r of connmarkSetters) {
      ctx.used.add(r);
      const selector = [r.dscp ? `-m dscp --dscp ${r.dscp.value}` : '', ...r.other, r.inInterface && r.inInterface.value !== ctx.iface ? `-i ${r.inInterface.value}` : ''].filter((x) => x !== '').join(' ');
      if (selector) notes.changed(r.origin, ruleText(r), `netfwd marks the connections that arrive on the tunnel (${ctx.iface}), not by ${selector}`);
    }
    for (const r of mangle) if (r.target === 'CONNMARK' && r.targetOptions.has('--restore-mark')) ctx.used.add(r);
  } else if (markRules.length > 0) {
    out.mode = 'mark';
    const uids: string[] = [];
    for (const r of markSetters) {
      if (r.uidOwner && !r.uidOwner.negated && /^\d+(-\d+)?$/.test(r.uidOwner.value)) {
        uids.push(r.uidOwner.value);
        ctx.used.add(r);
      } else notes.notTranslated(r.origin, ruleText(r), 'marks by something other than the socket\'s uid; netfwd\'s mark mode selects by uid, cgroup or the application\'s own SO_MARK');
    }
    if (uids.length) out.uids = uids;
    out.mark = mark;
    chosen = markRules;
  } else {
    out.mode = 'uid';
    const uids: string[] = [];
    for (const r of uidRules) {
      const { from, to } = r.uidrange!;
      if (from === 0) {
        notes.notTranslated(r.origin, ipRuleText(r), 'includes uid 0 (root), whose packets include the tunnel\'s own: netfwd refuses it');
        ctx.used.add(r);
        continue;
      }
      uids.push(from === to ? String(from) : `${from}-${to}`);
    }
    if (uids.length === 0) throw new ImportError(uidRules[0]!.origin, 'no usable uid range', 'a uidrange without uid 0');
    out.uids = [...new Set(uids)];
    chosen = uidRules.filter((r) => !ctx.used.has(r));
  }
  for (const r of chosen) ctx.used.add(r);
  out.table = table;
  const priority = chosen.find((r) => r.priority !== undefined)?.priority;
  // Mode uid puts the uid ranges one priority after the rule for the connections that arrived through the tunnel.
  const maxPriority = out.mode === 'uid' ? 32764 : 32765;
  if (priority !== undefined && priority >= 1 && priority <= maxPriority) {
    out.priority = priority;
    if (out.mode === 'uid') {
      notes.changed(chosen[0]!.origin, ipRuleText(chosen[0]!), `netfwd's rule for the connections that arrive through the tunnel (fwmark ${out.mark ?? table}) takes priority ${priority}, and the uid ranges follow at ${priority + 1}`);
    }
  } else {
    const used = priority !== undefined && priority === 32765 && out.mode === 'uid' ? 32764 : 100;
    if (used !== 100) out.priority = used;
    notes.changed(
      chosen[0]!.origin,
      ipRuleText(chosen[0]!),
      `${priority === undefined ? 'no priority given' : used !== 100 ? `priority ${priority} leaves no room for the uid ranges' rule before the main table's (32766)` : `priority ${priority} is outside 1-${maxPriority}`}: netfwd uses priority ${used}${out.mode === 'uid' ? ` (the uid ranges at ${used + 1})` : ''}`,
    );
  }

  // Table T's routes: the default into the tunnel, exclusions, the leak guard.
  const exclude: string[] = [];
  let intoTunnel = tunnel.table?.value === table && allowsDefault;
  if (intoTunnel) ctx.used.add(tunnel.table!);
  for (const r of facts.ipRoutes.filter((x) => x.table === table)) {
    ctx.used.add(r);
    const dest = r.destination === undefined || r.destination === 'default' ? undefined : parseCidr(r.destination);
    const isDefaultRoute = dest === undefined || isDefault(dest);
    const viaTunnel = r.dev === ctx.iface || (r.via !== undefined && ctx.own.some((c) => contains({ ...c }, parseCidr(r.via!)!)));
    if (['unreachable', 'blackhole', 'prohibit'].includes(r.type) && isDefaultRoute) continue; // the leak guard (leakGuard: true)
    if (r.type === 'throw' && dest && !isDefaultRoute) {
      exclude.push(networkText(dest));
      continue;
    }
    if (isDefaultRoute && r.type === 'unicast') {
      if (viaTunnel) intoTunnel = true;
      else notes.changed(r.origin, ipRouteText(r), `netfwd routes table ${table} into the tunnel (default dev ${ctx.iface}), not ${r.via ? `via ${r.via}` : `dev ${r.dev}`}`);
      continue;
    }
    if (dest && viaTunnel) continue; // the route to the frontend's tunnel address: the tunnel's own subnet route
    if (dest && r.type === 'unicast') {
      exclude.push(networkText(dest));
      notes.changed(r.origin, ipRouteText(r), `an exclusion: netfwd writes a throw route, so ${networkText(dest)} is looked up in the main table`);
      continue;
    }
    notes.notTranslated(r.origin, ipRouteText(r), `a ${r.type} route netfwd does not set up`);
  }
  if (!intoTunnel) notes.changed(chosen[0]!.origin, `table ${table}`, `netfwd's table ${table} sends the selected traffic into the tunnel (the source had no default route through ${ctx.iface} there)`);
  if (exclude.length) out.exclude = [...new Set(exclude)];
  return out;
}

function servicesOf(ctx: Ctx): Array<Record<string, unknown>> {
  const services: Array<Record<string, unknown>> = [];
  const seen = new Set<string>();
  for (const r of ctx.facts.iptables) {
    if (r.table !== 'filter' || ctx.chains(r) !== 'INPUT' || r.target !== 'ACCEPT' || r.op === 'policy') continue;
    if (r.inInterface?.value !== ctx.iface || r.inInterface.negated) continue;
    const proto = r.protocol;
    const ports = r.dports && !r.dports.negated ? r.dports.value.split(',') : r.dport && !r.dport.negated ? [r.dport.value] : undefined;
    if (!proto || proto.negated || !['tcp', 'udp'].includes(proto.value) || !ports || r.source || r.destination) continue;
    for (const p of ports) {
      const port = portOf(p.trim(), r.origin);
      if (seen.has(`${proto.value} ${port}`)) continue;
      seen.add(`${proto.value} ${port}`);
      services.push({ protocol: proto.value, port: /^\d+$/.test(port) ? Number(port) : port });
    }
    ctx.used.add(r);
  }
  if (services.length === 0) {
    ctx.facts.notes.changed({ file: ctx.tunnel.file, line: 0 }, 'services', `no INPUT rule accepts a port on ${ctx.iface}: services is empty; list the ports the frontend forwards to`);
  }
  return services;
}

// ------------------------------------------------------------------- notes

function noteRule(ctx: Ctx, r: IptRule, role: Role): void {
  const notes = ctx.facts.notes;
  const text = ruleText(r);
  if (r.op === 'new-chain') return;
  if (r.op === 'policy') {
    notes.notTranslated(r.origin, text, 'a chain policy: netfwd does not change policies (netfwd plan and status warn when a drop policy would drop the forwarded traffic)');
    return;
  }
  if (USER_CHAIN_TARGET(r, ctx.facts.iptables)) return; // structure: the user chain's rules are judged one by one
  const chain = ctx.chains(r) ?? r.chain;
  if (r.target === 'RETURN') {
    notes.notTranslated(r.origin, text, 'an exception inside a user chain; netfwd\'s own rules have no such exceptions');
    return;
  }
  if (r.table === 'filter' && (chain === 'INPUT' || chain === 'OUTPUT')) {
    notes.notTranslated(
      r.origin,
      text,
      `netfwd filters only what it opens (${chain === 'INPUT' ? (role === 'backend' ? 'from the tunnel only the services and tunnelPorts; the services on no other interface' : 'from the tunnel only tunnelPorts on the tunnel addresses') : 'nothing of this machine\'s own outgoing traffic'}), not the rest of ${chain === 'INPUT' ? 'the traffic to' : 'the traffic from'} this machine; keep this rule in your firewall if you need it`,
    );
    return;
  }
  if (r.table === 'filter' && chain === 'FORWARD') {
    const peerToPeer = r.inInterface?.value === ctx.iface && r.outInterface?.value === ctx.iface;
    notes.notTranslated(r.origin, text, peerToPeer ? 'traffic between peers of the tunnel: netfwd forwards only the configured ports' : r.target === 'ACCEPT' ? 'forwarding that is not one of netfwd\'s forwards' : 'filtering of forwarded traffic; netfwd only accepts its own forwards');
    return;
  }
  if (r.table === 'nat') {
    notes.notTranslated(r.origin, text, role === 'backend' ? 'NAT on a backend: netfwd sets up none there' : 'a NAT rule that is neither a DNAT to a peer nor masquerading of the tunnel');
    return;
  }
  if (r.table === 'mangle') {
    const reason =
      r.target === 'CHECKSUM'
        ? 'CHECKSUM fills in checksums for old DHCP clients; netfwd runs no DHCP'
        : r.target === 'DSCP'
          ? 'netfwd does not tag packets with DSCP; its connmark mode remembers the connection instead'
          : r.target === 'CONNMARK' || r.target === 'MARK'
            ? 'a mark no routing rule of the return path uses'
            : `${r.target ?? 'a rule without target'} in the mangle table: netfwd has no equivalent`;
    notes.notTranslated(r.origin, text, reason);
    return;
  }
  notes.notTranslated(r.origin, text, `netfwd has no equivalent of this ${r.table} rule`);
}

function ipRuleText(r: IpRule): string {
  return ['ip rule add', r.priority !== undefined ? `priority ${r.priority}` : '', r.not ? 'not' : '', r.from ? `from ${r.from}` : '', r.to ? `to ${r.to}` : '', r.fwmark ? `fwmark ${r.fwmark.mark}` : '', r.uidrange ? `uidrange ${r.uidrange.from}-${r.uidrange.to}` : '', ...r.other, r.table !== undefined ? `table ${r.table}` : '']
    .filter((x) => x !== '')
    .join(' ');
}

function ipRouteText(r: IpRoute): string {
  return ['ip route add', r.type !== 'unicast' ? r.type : '', r.destination ?? '', r.via ? `via ${r.via}` : '', r.dev ? `dev ${r.dev}` : '', r.table !== undefined ? `table ${r.table}` : '']
    .filter((x) => x !== '')
    .join(' ');
}

/**
 * The frontend's spec: its tunnel with one entry per peer, the forwards made
 * of the DNAT rules to the peers' tunnel addresses, masquerading and source
 * NAT from POSTROUTING, and the FORWARD accepts netfwd's own chain makes.
 */
import { type Cidr, commonLength, contains, isDefault, isHost, parseCidr } from '../cidr.js';
import type { PeerFacts } from '../facts.js';
import { type IptRule, portOf, ruleText } from '../iptables.js';
import { ImportError, type Origin } from '../source.js';
import { type Ctx, cidrOf, dnatTarget, inTunnel, pskFile, where } from './context.js';

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
      notes.notTranslated(
        r.origin,
        text,
        chain === 'OUTPUT' ? "DNAT of this machine's own connections; netfwd forwards arriving connections" : 'DNAT outside PREROUTING',
      );
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
      skip(
        target
          ? "the DNAT target is not a WireGuard peer's tunnel address; netfwd forwards only to its backends"
          : 'the DNAT target is not one address (with an optional port)',
      );
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
    if (r.source)
      notes.changed(r.origin, `-s ${r.source.value}`, 'netfwd forwards connections from any source; the source restriction is not kept');
    if (r.other.length || r.state)
      notes.changed(
        r.origin,
        [...r.other, ...(r.state ? [`--state ${r.state.value}`] : [])].join(' '),
        'a match netfwd does not keep; the forward applies to every such packet',
      );
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
      const existing = forwards.find(
        (f) =>
          f.protocol === proto.value && String(f.port) === port && f.address === address && (f.to as { peer: string }).peer === peer.name,
      );
      if (existing) {
        families.get(existing)!.families.add(target.address.family); // the same forward for the other family
        continue;
      }
      const forward: Record<string, unknown> = {
        protocol: proto.value,
        port: /^\d+$/.test(port) ? Number(port) : port,
        ...(address ? { address } : {}),
        to: { peer: peer.name, ...(toPort !== port ? { port: /^\d+$/.test(toPort) ? Number(toPort) : toPort } : {}) },
      };
      forwards.push(forward);
      families.set(forward, { families: new Set([target.address.family]), origin: r.origin, peer });
    }
    ctx.used.add(r);
  }
  // netfwd forwards every family the peer has an address of (unless an address limits it).
  for (const [f, seen] of families) {
    const missing = f.address === undefined ? seen.peer.hosts.filter((h) => !seen.families.has(h.family)) : [];
    if (missing.length > 0)
      notes.changed(
        seen.origin,
        `${String(f.protocol)} ${String(f.port)}`,
        `also forwarded over IPv${missing[0]!.family}: netfwd forwards every family the peer has an address of`,
      );
  }
  const spec: Record<string, unknown> = { tunnel: tunnelSpec };
  if (publicIfaces.size === 1 && !anyWithoutIface) spec.public = { interface: [...publicIfaces.keys()][0] };
  else if (publicIfaces.size > 0) {
    for (const [name, origins] of publicIfaces)
      for (const og of origins)
        notes.changed(
          og,
          `-i ${name}`,
          'the DNAT rules name different input interfaces (or none); netfwd accepts the forwards on any interface but the tunnel',
        );
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
        notes.notTranslated(r.origin, ruleText(r), "SNAT into the tunnel to an address that is not the frontend's tunnel address");
      } else {
        sourceNat = true;
        snatMatched.push(r);
      }
      ctx.used.add(r);
    } else if (fromTunnel || (!src && !toTunnel && r.target === 'MASQUERADE')) {
      masquerade = true;
      if (r.target === 'SNAT')
        notes.changed(
          r.origin,
          ruleText(r),
          'netfwd masquerades (the address of the outgoing interface) instead of SNAT to a fixed address',
        );
      if (r.targetOptions.has('--to-ports'))
        notes.changed(
          r.origin,
          `--to-ports ${r.targetOptions.get('--to-ports')}`,
          "netfwd's masquerade keeps the kernel's choice of source ports",
        );
      ctx.used.add(r);
    }
  }
  if (sourceNat) {
    spec.sourceNat = true;
    const snatPorts = snatMatched.map((r) =>
      r.dport || r.dports ? (r.dports?.value ?? r.dport!.value).split(',').map((p) => portOf(p, r.origin)) : undefined,
    );
    const unmatched = forwards.filter((f) => {
      const to = String((f.to as { port?: unknown }).port ?? f.port);
      return !snatPorts.some((ports) => ports === undefined || ports.includes(to));
    });
    if (unmatched.length > 0) {
      notes.changed(
        snatMatched[0]!.origin,
        ruleText(snatMatched[0]!),
        "netfwd source-NATs every forwarded connection (sourceNat: true), not only those of this rule's ports",
      );
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

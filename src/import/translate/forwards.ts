/**
 * What a frontend's rules say whatever its tunnel is (WireGuard or an
 * external one such as OpenVPN's): the forwards made of the DNAT rules to a
 * peer's tunnel address or to a host in the networks routed to a peer,
 * masquerading and source NAT from POSTROUTING, and the FORWARD accepts
 * netfwd's own forward chain makes.
 */
import { type Cidr, contains, isHost, parseCidr } from '../cidr.js';
import { type IptRule, portOf, ruleText } from '../iptables.js';
import type { Origin } from '../source.js';
import { dnatTarget, inTunnel, type RuleCtx, where } from './context.js';

/** A peer as the DNAT targets are matched against it. */
export interface PeerTarget {
  name: string;
  /** Its tunnel addresses (at most one per family). */
  hosts: Cidr[];
  /** The networks routed to it (a LAN behind it): a DNAT into one is a forward with `to.address`. */
  routes: Cidr[];
}

export interface ForwardsOptions {
  /** Why a DNAT whose target is neither a peer's address nor behind a peer is not translated. */
  notAPeer: string;
}

/** The forwards of the DNAT rules, and `public.interface` when every DNAT names the same input interface. */
export function forwardsOf(
  ctx: RuleCtx,
  dnats: IptRule[],
  peers: PeerTarget[],
  o: ForwardsOptions,
): { forwards: Array<Record<string, unknown>>; publicInterface?: string; targets: Cidr[] } {
  const notes = ctx.facts.notes;
  const forwards: Array<Record<string, unknown>> = [];
  const targets: Cidr[] = [];
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
    const same = (h: Cidr) => target !== undefined && h.family === target.address.family && h.value === target.address.value;
    const peer = target && peers.find((p) => p.hosts.some(same));
    const behind =
      target && !peer
        ? peers.find((p) => p.routes.some((n) => n.family === target.address.family && contains(n, target.address)))
        : undefined;
    const skip = (reason: string) => {
      notes.notTranslated(r.origin, text, reason);
      ctx.used.add(r);
    };
    if (!target || !(peer ?? behind)) {
      skip(target ? o.notAPeer : 'the DNAT target is not one address (with an optional port)');
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
    const owner = (peer ?? behind)!;
    const hostAddress = behind ? target.address.address : undefined;
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
      const existing = forwards.find((f) => {
        const t = f.to as { peer: string; address?: string };
        return (
          f.protocol === proto.value &&
          String(f.port) === port &&
          f.address === address &&
          t.peer === owner.name &&
          !hostAddress &&
          !t.address
        );
      });
      if (existing) {
        families.get(existing)!.families.add(target.address.family); // the same forward for the other family
        continue;
      }
      const forward: Record<string, unknown> = {
        protocol: proto.value,
        port: /^\d+$/.test(port) ? Number(port) : port,
        ...(address ? { address } : {}),
        to: {
          peer: owner.name,
          ...(hostAddress ? { address: hostAddress } : {}),
          ...(toPort !== port ? { port: /^\d+$/.test(toPort) ? Number(toPort) : toPort } : {}),
        },
      };
      forwards.push(forward);
      targets.push(target.address);
      // A host behind the peer is forwarded for its own family only; the peer itself for every family it has.
      if (!hostAddress) families.set(forward, { families: new Set([target.address.family]), origin: r.origin, peer: owner });
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
  let publicInterface: string | undefined;
  if (publicIfaces.size === 1 && !anyWithoutIface) publicInterface = [...publicIfaces.keys()][0];
  else if (publicIfaces.size > 0) {
    for (const [name, origins] of publicIfaces)
      for (const og of origins)
        notes.changed(
          og,
          `-i ${name}`,
          'the DNAT rules name different input interfaces (or none); netfwd accepts the forwards on any interface but the tunnel',
        );
  }
  return { forwards, targets, ...(publicInterface ? { publicInterface } : {}) };
}

/**
 * POSTROUTING's MASQUERADE and SNAT (`masquerade`, `sourceNat`), the FORWARD
 * accepts netfwd's forward chain makes (for the tunnel, established traffic,
 * or a forward's target) and TCPMSS (netfwd's mssClamp): sets the fields on
 * `spec` and marks the rules used.
 */
export function natOf(
  ctx: RuleCtx,
  peers: PeerTarget[],
  forwards: Array<Record<string, unknown>>,
  targets: Cidr[],
  spec: Record<string, unknown>,
): void {
  const notes = ctx.facts.notes;
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
    else if (dst && !r.destination!.negated && targets.some((t) => t.family === dst.family && contains(dst, t))) {
      ctx.used.add(r);
      if (out !== undefined)
        notes.changed(
          r.origin,
          ruleText(r),
          `netfwd accepts the forwarded connections out by the tunnel (${ctx.iface}); this rule let them out by ${out}`,
        );
    }
  }
  for (const r of ctx.facts.iptables) {
    if (r.table === 'mangle' && r.target === 'TCPMSS') ctx.used.add(r); // mssClamp: true (the default)
  }
}

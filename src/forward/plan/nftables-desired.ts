/**
 * The nftables table a spec asks for (desiredNftables): one inet table per tunnel, owned by netfwd.
 * (over 500 lines: reason — the frontend's and the backend's tables side by side, so that both stay readable as one design.)
 *
 * Frontend — forwards are elements of maps, so the per-packet and the update
 * cost do not grow with their number:
 *   dnat{4,6}            ip daddr . l4proto . dport → peer . port   (exact ports)
 *   dnat{4,6}_range      ip daddr . l4proto . dport-range → peer    (ranges, ports kept)
 *   dnat{4,6}_any[_range]  the same without the address, for any local address (fib)
 *   dnat{4,6}[_any]_hash  the same . jhash(ip saddr) bucket → target . port (balance: hash;
 *                        only while some forward spreads by hash)
 *   stats{4,6}[_range]   peer . l4proto . port → per-forward packets and bytes, both directions
 *                        (a hash set for single ports, whose lookup does not grow with the
 *                        number of forwards; an interval set only for port ranges)
 * plus masquerade of the backends' own traffic, SNAT in snat mode, MSS clamping.
 * A forward with several targets has the elements of the target (per hash
 * bucket) its health picks; a health change changes only those elements.
 *
 * Backend — the services are reachable only through the tunnel (and lo), and
 * in mark/connmark mode the packets of the selected traffic get the mark that
 * the policy rule routes into the tunnel.
 */
import { ConfigError, ValidationError } from '../../errors.js';
import { nftExpr as e, type NftChainSpec, type NftElement, type NftRuleset, type NftSetSpec, type NftStmt } from '../../nft/index.js';
import type {
  IpFamily,
  NormalizedBackend,
  NormalizedBackendTunnel,
  NormalizedConfig,
  NormalizedForward,
  NormalizedForwardTarget,
  NormalizedFrontend,
  NormalizedPortEntry,
} from '../spec/normalized-config.js';
import { nftTableName } from './ownership.js';
import type { PlanHealth } from './plan-health.js';
import { tunnelFwmark } from './tunnel.js';
import type { UplinkFacts } from './uplink.js';

/** netfwd's tables are inet: IPv4 and IPv6 together. */
export const FAMILY = 'inet' as const;

interface DesiredChain {
  spec: NftChainSpec;
  rules: NftStmt[][];
}

export interface DesiredNftables {
  table: string;
  sets: NftSetSpec[];
  chains: DesiredChain[];
  /** Elements per set name. */
  elements: Map<string, NftElement[]>;
}

const ipKey = (f: IpFamily) => (f === 4 ? e.ip : e.ip6);
const addrType = (f: IpFamily) => (f === 4 ? 'ipv4_addr' : 'ipv6_addr');
const natFamily = (f: IpFamily) => (f === 4 ? 'ip' : 'ip6');
const nfproto = (f: IpFamily) => e.meta.nfproto.eq(f === 4 ? 'ipv4' : 'ipv6');

/** Buckets of a `balance: hash` forward: each bucket is one target (12 spreads 2, 3, 4 and 6 targets evenly). */
export const HASH_BUCKETS = 12;
/** The fixed jhash seed: without one the kernel picks a random seed per rule, and a rebuilt table would move clients. */
export const HASH_SEED = 0x6e66;

/** What the frontend's target choice depends on: the health measured, else what the kernel holds now. */
export interface FrontendChoice {
  health?: PlanHealth;
  /** netfwd's table as listed (undefined or null: none). */
  listed?: NftRuleset | null;
}

type Placed = { set: string; el: NftElement };
const jsonOf = (v: unknown) => JSON.stringify(v ?? null);

/** The DNAT elements of one forward sending to `t` (for `bucket`, a hash bucket's elements). */
function dnatElements(config: NormalizedFrontend, fw: NormalizedForward, t: NormalizedForwardTarget, bucket?: number): Placed[] {
  const out: Placed[] = [];
  for (const f of fw.families) {
    const peer = t.addresses[f]!;
    const addresses = publicAddresses(config, fw, f);
    const { from, to } = fw.publicPorts;
    const shift = t.ports.from - from;
    const single = from === to;
    // A hash forward's buckets go into exact maps: one element per port (and bucket).
    const keepPorts = shift === 0 && !single && bucket === undefined;
    const ports: Array<{ key: number | { range: [number, number] }; target?: number }> = keepPorts
      ? [{ key: { range: [from, to] } }]
      : Array.from({ length: to - from + 1 }, (_, i) => ({ key: from + i, target: from + i + shift }));
    const suffix = bucket !== undefined ? '_hash' : keepPorts ? '_range' : '';
    const tail = bucket !== undefined ? [bucket] : [];
    for (const p of ports) {
      const data = keepPorts ? peer : [peer, p.target!];
      if (addresses === 'any') out.push({ set: `dnat${f}_any${suffix}`, el: { key: [fw.protocol, p.key, ...tail], data } });
      else for (const a of addresses) out.push({ set: `dnat${f}${suffix}`, el: { key: [a, fw.protocol, p.key, ...tail], data } });
    }
  }
  return out;
}

/** The listed elements' data by set and key, to find what the kernel sends a forward to now. */
function listedData(config: NormalizedFrontend, listed: NftRuleset | null | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const table = nftTableName(config.tunnel.interface);
  for (const s of listed?.sets ?? []) {
    if (s.table !== table || !s.name.startsWith('dnat')) continue;
    for (const el of s.elements) out.set(`${s.name} ${jsonOf(el.key)}`, jsonOf(el.data));
  }
  return out;
}

/** Whether the kernel holds `placed` (its first element stands for the rest) as it is. */
const holds = (now: Map<string, string>, placed: Placed[]) =>
  placed.length > 0 && now.get(`${placed[0]!.set} ${jsonOf(placed[0]!.el.key)}`) === jsonOf(placed[0]!.el.data);

/**
 * The target of a failover forward: the first one not down; every one down,
 * the first. Without measurements the one the kernel's elements point at
 * (when it is still a target of the forward), else the first.
 */
function failoverTarget(config: NormalizedFrontend, fw: NormalizedForward, choice: FrontendChoice, now: Map<string, string>) {
  const down = choice.health?.downTargets;
  if (down) return fw.targets.find((t) => !down.has(t.key)) ?? fw.targets[0]!;
  return fw.targets.find((t) => holds(now, dnatElements(config, fw, t))) ?? fw.targets[0]!;
}

/**
 * The target of each bucket of a hash forward: bucket b belongs to target
 * b mod N; while that one is down the bucket goes to the healthy targets in
 * turn (b mod their number), so only a down target's clients move. Every
 * target down: each bucket its own. Without measurements what the kernel
 * holds for the bucket (a target of the forward), else its own.
 */
function hashTargets(config: NormalizedFrontend, fw: NormalizedForward, choice: FrontendChoice, now: Map<string, string>) {
  const down = choice.health?.downTargets;
  const healthy = down ? fw.targets.filter((t) => !down.has(t.key)) : [];
  return Array.from({ length: HASH_BUCKETS }, (_, b) => {
    const own = fw.targets[b % fw.targets.length]!;
    if (down) return !down.has(own.key) || healthy.length === 0 ? own : healthy[b % healthy.length]!;
    return fw.targets.find((t) => holds(now, dnatElements(config, fw, t, b))) ?? own;
  });
}

/** Whether a forward spreads by hash (with one target there is nothing to spread). */
export const isHashed = (fw: NormalizedForward) => fw.balance === 'hash' && fw.targets.length > 1;

/** One DNAT element (and its stats element) per public address, family and port mapping (and hash bucket). */
function frontendElements(config: NormalizedFrontend, choice: FrontendChoice): Map<string, NftElement[]> {
  const out = new Map<string, NftElement[]>();
  const push = (set: string, el: NftElement) => {
    const list = out.get(set) ?? [];
    list.push(el);
    out.set(set, list);
  };
  const now = listedData(config, choice.listed);
  const statsSeen = new Set<string>();
  for (const fw of config.forwards) {
    const placed = isHashed(fw)
      ? hashTargets(config, fw, choice, now).flatMap((t, b) => dnatElements(config, fw, t, b))
      : dnatElements(config, fw, failoverTarget(config, fw, choice, now));
    for (const p of placed) push(p.set, p.el);
    // Every target is a listed destination (the forward chain lets DNATs to them into the tunnel), chosen or not.
    for (const t of fw.targets) {
      for (const f of fw.families) {
        const peer = t.addresses[f]!;
        const target = t.ports.from === t.ports.to ? t.ports.from : { range: [t.ports.from, t.ports.to] as [number, number] };
        const statsKey = `${f}|${peer}|${fw.protocol}|${t.ports.from}-${t.ports.to}`;
        if (!statsSeen.has(statsKey)) {
          statsSeen.add(statsKey);
          push(typeof target === 'number' ? `stats${f}` : `stats${f}_range`, { key: [peer, fw.protocol, target] });
        }
      }
    }
  }
  return out;
}

function publicAddresses(config: NormalizedFrontend, fw: NormalizedForward, f: IpFamily): string[] | 'any' {
  if (fw.publicAddress) return fw.publicAddress.family === f ? [fw.publicAddress.address] : [];
  const list = config.public.addresses.filter((a) => a.family === f).map((a) => a.address);
  return config.public.addresses.length === 0 ? 'any' : list;
}

/** A prefix as an interval set lists it: a single address without its /32 or /128. */
function prefixKey(cidr: string): string {
  const [address, length] = cidr.split('/') as [string, string];
  return Number(length) === (address.includes(':') ? 128 : 32) ? address : cidr;
}

/** Elements of a `meta l4proto . th dport` interval set, from ports of the spec. */
function portElements(entries: readonly NormalizedPortEntry[]): NftElement[] {
  return entries.map((s) => ({
    key: [s.protocol, s.ports.from === s.ports.to ? s.ports.from : { range: [s.ports.from, s.ports.to] as [number, number] }],
  }));
}

function desiredFrontend(config: NormalizedFrontend, facts: UplinkFacts, choice: FrontendChoice): DesiredNftables {
  const table = nftTableName(config.tunnel.interface);
  const wg = config.tunnel.interface;
  const sets: NftSetSpec[] = [];
  const base = { family: FAMILY, table };
  const inbound = config.public.interface ? e.iifname.eq(config.public.interface) : e.iifname.neq(wg);
  const prerouting: NftStmt[][] = [];
  const forward: NftStmt[][] = [];
  const postrouting: NftStmt[][] = [];
  const input: NftStmt[][] = [];
  const elements = frontendElements(config, choice);
  const hashed = config.forwards.some(isHashed);
  const intoTunnel: NftStmt[][] = [];
  const egress: NftStmt[][] = [];
  const tunnelNets: NftStmt[][] = [];
  for (const f of config.families) {
    const key = ['inet_proto', 'inet_service'];
    sets.push(
      { ...base, name: `dnat${f}`, keyType: [addrType(f), ...key], dataType: [addrType(f), 'inet_service'], counter: true },
      { ...base, name: `dnat${f}_range`, keyType: [addrType(f), ...key], dataType: [addrType(f)], flags: ['interval'], counter: true },
      { ...base, name: `dnat${f}_any`, keyType: key, dataType: [addrType(f), 'inet_service'], counter: true },
      { ...base, name: `dnat${f}_any_range`, keyType: key, dataType: [addrType(f)], flags: ['interval'], counter: true },
      { ...base, name: `stats${f}`, keyType: [addrType(f), ...key], counter: true },
      { ...base, name: `stats${f}_range`, keyType: [addrType(f), ...key], flags: ['interval'], counter: true },
      { ...base, name: `egress_allow${f}`, keyType: [addrType(f)], flags: ['interval'] },
      { ...base, name: `egress_refused${f}`, keyType: [addrType(f)], flags: ['interval'] },
    );
    elements.set(
      `egress_allow${f}`,
      config.egress.allow.filter((a) => a.family === f).map((a) => ({ key: prefixKey(a.cidr) })),
    );
    elements.set(
      `egress_refused${f}`,
      facts.refused[f].map((cidr) => ({ key: prefixKey(cidr) })),
    );
    const withAddr = [ipKey(f).daddr, e.meta.l4proto, e.th.dport];
    const anyAddr = [e.meta.l4proto, e.th.dport];
    const local = e.fib('daddr', 'type').eq('local');
    prerouting.push(
      // (`ip daddr` implies `meta nfproto ipv4`: nft adds and hides that dependency.)
      [inbound, e.dnat({ family: natFamily(f), map: { key: withAddr, map: `@dnat${f}`, withPort: true } })],
      [inbound, e.dnat({ family: natFamily(f), map: { key: withAddr, map: `@dnat${f}_range` } })],
      [inbound, nfproto(f), local, e.dnat({ family: natFamily(f), map: { key: anyAddr, map: `@dnat${f}_any`, withPort: true } })],
      [inbound, nfproto(f), local, e.dnat({ family: natFamily(f), map: { key: anyAddr, map: `@dnat${f}_any_range` } })],
    );
    if (hashed) {
      // balance: hash — the client's source address picks a bucket; the maps say which target each bucket goes to.
      // (The jhash of `ip saddr` implies `meta nfproto ipv4`: nft adds and hides that dependency.)
      const bucket = e.jhash(ipKey(f).saddr, HASH_BUCKETS, HASH_SEED);
      const data = [addrType(f), 'inet_service'];
      sets.push(
        { ...base, name: `dnat${f}_hash`, keyType: [addrType(f), ...key, 'mark'], dataType: data, counter: true },
        { ...base, name: `dnat${f}_any_hash`, keyType: [...key, 'mark'], dataType: data, counter: true },
      );
      prerouting.push(
        [inbound, e.dnat({ family: natFamily(f), map: { key: [...withAddr, bucket], map: `@dnat${f}_hash`, withPort: true } })],
        [inbound, local, e.dnat({ family: natFamily(f), map: { key: [...anyAddr, bucket], map: `@dnat${f}_any_hash`, withPort: true } })],
      );
    }
    // Per-forward traffic in both directions, counted in the stats elements.
    forward.push(
      [e.ct.status.any('dnat'), e.ct.direction.eq('original'), e.concat(ipKey(f).daddr, e.meta.l4proto, e.th.dport).in(`@stats${f}`)],
      [e.ct.status.any('dnat'), e.ct.direction.eq('reply'), e.concat(ipKey(f).saddr, e.meta.l4proto, e.th.sport).in(`@stats${f}`)],
      [e.ct.status.any('dnat'), e.ct.direction.eq('original'), e.concat(ipKey(f).daddr, e.meta.l4proto, e.th.dport).in(`@stats${f}_range`)],
      [e.ct.status.any('dnat'), e.ct.direction.eq('reply'), e.concat(ipKey(f).saddr, e.meta.l4proto, e.th.sport).in(`@stats${f}_range`)],
    );
    // A new connection enters the tunnel only as the DNAT of a listed forward: to
    // a target and port the stats sets list (they hold exactly the forwards' targets).
    const target = e.concat(ipKey(f).daddr, e.meta.l4proto, e.th.dport);
    intoTunnel.push(
      [e.oifname.eq(wg), e.ct.status.any('dnat'), target.in(`@stats${f}`), e.accept()],
      [e.oifname.eq(wg), e.ct.status.any('dnat'), target.in(`@stats${f}_range`), e.accept()],
    );
    egress.push([e.iifname.eq(wg), ipKey(f).daddr.in(`@egress_allow${f}`), e.accept()]);
    const own = config.tunnel.addresses.find((a) => a.family === f)!;
    if (config.sourceNat)
      postrouting.push([e.oifname.eq(wg), e.ct.status.any('dnat'), nfproto(f), e.snat({ family: natFamily(f), addr: own.address })]);
    // The tunnel's own address answers only on the tunnel (and to this machine).
    input.push([e.iifname.neq(wg), e.iifname.neq('lo'), ipKey(f).daddr.eq(own.address), e.drop()]);
    // What is for the tunnel leaves by no other interface (its link down: the default route would take it).
    tunnelNets.push([e.oifname.neq(wg), ipKey(f).daddr.eq(own.network), e.drop()]);
    // Nor what is for the networks behind the peers (tunnel.peers[].routes).
    if (config.tunnel.peers.some((p) => p.routes.length > 0)) {
      sets.push({ ...base, name: `behind${f}`, keyType: [addrType(f)], flags: ['interval'] });
      elements.set(
        `behind${f}`,
        config.tunnel.peers.flatMap((p) => p.routes.filter((r) => r.family === f).map((r) => ({ key: prefixKey(r.cidr) }))),
      );
      tunnelNets.push([e.oifname.neq(wg), ipKey(f).daddr.in(`@behind${f}`), e.drop()]);
    }
  }
  if (config.mssClamp) {
    const clamp = [e.tcp.flags.any('syn'), e.tcp.option.maxseg.size.set(e.rt.mtu)];
    forward.push([e.oifname.eq(wg), ...clamp], [e.iifname.eq(wg), ...clamp]);
  }
  // Containment (docs/security.md): into the tunnel only the forwards' DNATs and
  // what belongs to connections already allowed; out of it, the backends' own
  // connections only to the internet by an uplink.
  const established = e.ct.state.any('established', 'related');
  forward.push(...tunnelNets, [e.oifname.eq(wg), established, e.accept()], ...intoTunnel, [e.oifname.eq(wg), e.drop()]);
  forward.push([e.iifname.eq(wg), established, e.accept()], ...egress);
  if (!config.egress.enabled) forward.push([e.iifname.eq(wg), e.drop()]);
  sets.push({ ...base, name: 'uplinks', keyType: ['ifname'] });
  elements.set(
    'uplinks',
    facts.uplinks.map((name) => ({ key: name })),
  );
  forward.push([e.iifname.eq(wg), e.oifname.notIn('@uplinks'), e.drop()]);
  for (const f of config.families) forward.push([e.iifname.eq(wg), ipKey(f).daddr.in(`@egress_refused${f}`), e.drop()]);
  // This machine itself: from the tunnel only what belongs to its own connections and the tunnelPorts.
  sets.push({ ...base, name: 'tunnel_ports', keyType: ['inet_proto', 'inet_service'], flags: ['interval'] });
  elements.set('tunnel_ports', portElements(config.tunnelPorts));
  input.unshift(
    [e.iifname.eq(wg), established, e.accept()],
    ...config.tunnel.addresses.map((a) => [
      e.iifname.eq(wg),
      ipKey(a.family).daddr.eq(a.address),
      e.concat(e.meta.l4proto, e.th.dport).in('@tunnel_ports'),
      e.accept(),
    ]),
    [e.iifname.eq(wg), e.meta.l4proto.eq('tcp'), e.reject('tcp reset')],
    [e.iifname.eq(wg), e.drop()],
  );
  // Only what leaves by an uplink is masqueraded (the forward chain refused the rest).
  if (config.masquerade) postrouting.push([e.iifname.eq(wg), e.oifname.in('@uplinks'), e.masquerade()]);
  const chains: DesiredChain[] = [
    { spec: { ...base, name: 'prerouting', type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' }, rules: prerouting },
    { spec: { ...base, name: 'forward', type: 'filter', hook: 'forward', priority: 'mangle', policy: 'accept' }, rules: forward },
    { spec: { ...base, name: 'input', type: 'filter', hook: 'input', priority: 'filter', policy: 'accept' }, rules: input },
    { spec: { ...base, name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' }, rules: postrouting },
  ];
  return { table, sets, chains, elements };
}

/**
 * `socket cgroupv2 level N "PATH"`. The kernel matches the cgroup's id, which
 * is looked up now: the cgroup must exist, and a service restarted later
 * gets a new cgroup (a new id) that only the next `up` picks up.
 */
function cgroupMatch(path: string): NftStmt {
  try {
    return e.socket.cgroupv2(path.split('/').length).eq(path);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    throw new ConfigError(
      'returnPath.cgroup',
      `cgroup ${JSON.stringify(path)} does not exist under /sys/fs/cgroup: netfwd matches the cgroup's id, so the cgroup must exist when netfwd up runs`,
      'the cgroup of a running service: start the service first, then run netfwd up',
    );
  }
}

/**
 * The connection mark of the connections that arrive through the tunnel, in
 * the modes that route replies by it (undefined in mode snat, whose replies
 * go to the frontend's tunnel address and so into the tunnel by themselves).
 */
export function arrivalMark(config: NormalizedBackend): number | undefined {
  const rp = config.returnPath;
  return rp.mode === 'snat' ? undefined : rp.mark;
}

function desiredBackend(config: NormalizedBackend): DesiredNftables {
  const table = nftTableName(config.tunnel.interface);
  const tunnels = config.tunnels;
  const several = tunnels.length > 1;
  const base = { family: FAMILY, table };
  const sets: NftSetSpec[] = [
    { ...base, name: 'services', keyType: ['inet_proto', 'inet_service'], flags: ['interval'] },
    { ...base, name: 'tunnel_ports', keyType: ['inet_proto', 'inet_service'], flags: ['interval'] },
  ];
  const elements = new Map<string, NftElement[]>();
  const local = config.services.filter((s) => s.hosts.length === 0);
  elements.set('services', portElements(local));
  elements.set('tunnel_ports', portElements(config.tunnelPorts));
  // Services on other hosts (services[].host): forwarded from the tunnel to exactly those addresses and ports.
  const hostTargets: NftStmt[] = [];
  for (const f of config.services.some((s) => s.hosts.length > 0) ? config.families : []) {
    sets.push({ ...base, name: `host_services${f}`, keyType: [addrType(f), 'inet_proto', 'inet_service'], flags: ['interval'] });
    elements.set(
      `host_services${f}`,
      config.services.flatMap((s) =>
        s.hosts
          .filter((h) => h.family === f)
          .map((h) => ({
            key: [
              h.address,
              s.protocol,
              s.ports.from === s.ports.to ? s.ports.from : { range: [s.ports.from, s.ports.to] as [number, number] },
            ],
          })),
      ),
    );
    hostTargets.push(e.concat(ipKey(f).daddr, e.meta.l4proto, e.th.dport).in(`@host_services${f}`));
  }
  const hostRules = (wg: string): NftStmt[][] => hostTargets.map((target) => [e.iifname.eq(wg), target, e.accept()]);
  // Mode snat: the host answers the backend's LAN address, which sends the reply on into the tunnel.
  const hostNat = tunnels.flatMap((t) => hostTargets.map((target) => [e.iifname.eq(t.interface), target, e.masquerade()]));
  const sources: NftStmt[][] = [];
  const services = e.concat(e.meta.l4proto, e.th.dport).in('@services');
  const rp = config.returnPath;
  const routed = rp.mode !== 'snat';
  const fromTunnel = (t: NormalizedBackendTunnel): NftStmt[][] => {
    if (routed) return [];
    // Mode snat: everything from the tunnel comes from the frontend's tunnel
    // address, so replies go into the tunnel by the tunnel's own route. Other
    // sources would be answered by the main table: refused.
    const out = t.addresses.map((a) => [e.iifname.eq(t.interface), ipKey(a.family).saddr.neq(a.network), e.drop()]);
    // An address family the tunnel lacks never comes from the frontend.
    for (const f of [4, 6] as const)
      if (!t.addresses.some((a) => a.family === f)) out.push([e.iifname.eq(t.interface), nfproto(f), e.drop()]);
    return out;
  };
  const guard: NftStmt[][] = [];
  if (routed && several) {
    // This machine's own connections leaving by tunnel N carry its mark too (restored in output), so
    // what the kernel sends for them without a socket — a reset answering a late SYN-ACK, a
    // time-wait ACK — is routed by tunnel N's table, not by the main table (no uid, no skuid).
    for (const t of tunnels)
      guard.push([e.oifname.eq(t.interface), e.ct.state.any('new'), e.fib('saddr', 'type').eq('local'), e.ct.mark.set(t.mark!)]);
    // Every packet of a connection that arrived by tunnel N leaves by tunnel N or not at all.
    for (const t of tunnels) guard.push([e.ct.direction.eq('reply'), e.ct.mark.eq(t.mark!), e.oifname.neq(t.interface), e.drop()]);
  }
  for (const t of tunnels) guard.push([e.oifname.eq(t.interface), e.return()]);
  guard.push([e.oifname.eq('lo'), e.return()]);
  if (!routed) {
    // Replies to a tunnel subnet never leave by another interface (the tunnel link down).
    for (const t of tunnels) for (const a of t.addresses) guard.push([ipKey(a.family).daddr.eq(a.network), e.drop()]);
  } else if (!several) {
    // Every packet of a connection that arrived through the tunnel — the
    // services' answers (of this machine or of a host behind it), the
    // kernel's resets and ICMP errors — leaves by the tunnel or not at all.
    // (The requests themselves go on to a service's host by the LAN.)
    guard.push([e.ct.direction.eq('reply'), e.ct.mark.eq(rp.mark), e.drop()]);
  }
  guard.push([e.concat(e.meta.l4proto, e.th.sport).in('@services'), e.drop()]);
  const chains: DesiredChain[] = [
    {
      // From the tunnel: replies of this machine's own connections, the services and tunnelPorts; nothing else.
      // Elsewhere the services answer only on loopback.
      spec: { ...base, name: 'input', type: 'filter', hook: 'input', priority: 'filter', policy: 'accept' },
      rules: [
        ...tunnels.flatMap((t) => {
          const wg = t.interface;
          return [
            [e.iifname.eq(wg), e.ct.state.any('established', 'related'), e.accept()],
            ...fromTunnel(t),
            [e.iifname.eq(wg), services, e.accept()],
            [e.iifname.eq(wg), e.concat(e.meta.l4proto, e.th.dport).in('@tunnel_ports'), e.accept()],
            [e.iifname.eq(wg), e.drop()],
          ];
        }),
        [e.iifname.eq('lo'), e.return()],
        [services, e.drop()],
      ],
    },
    {
      // Nothing from the tunnel is forwarded (to the home LAN, say) but replies, the
      // connections this machine itself DNATs from a listed service's port (a container's
      // published port) and the services on other hosts (services[].host).
      spec: { ...base, name: 'forward', type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' },
      rules: tunnels.flatMap((t) => {
        const wg = t.interface;
        return [
          [e.iifname.eq(wg), e.ct.state.any('established', 'related'), e.accept()],
          [e.iifname.eq(wg), e.ct.status.any('dnat'), e.concat(e.meta.l4proto, e.ct.original['proto-dst']).in('@services'), e.accept()],
          ...hostRules(wg),
          [e.iifname.eq(wg), e.drop()],
        ];
      }),
    },
    {
      // Leak guard: the services' ports, and (routed modes) every packet of a
      // connection that arrived through the tunnel, leave by no other
      // interface, even when an application answers from the wrong address or
      // the tunnel's route is gone. In postrouting, because the output hook
      // still sees the interface chosen before a mark re-routed the packet.
      spec: { ...base, name: 'leakguard', type: 'filter', hook: 'postrouting', priority: 'filter', policy: 'accept' },
      rules: guard,
    },
  ];
  if (routed) {
    // Connections that arrive through the tunnel carry the mark: their replies
    // (whoever makes them, the kernel included) are routed back by it.
    // The replies of forwarded connections (a container behind a published port,
    // a host behind this machine) come in from that host: they get the mark here,
    // before routing. The reply direction only: the request itself must be
    // routed by the main table to the host, not back into the tunnel.
    chains.push({
      spec: { ...base, name: 'prerouting', type: 'filter', hook: 'prerouting', priority: 'mangle', policy: 'accept' },
      rules: [
        ...tunnels.map((t) => [e.iifname.eq(t.interface), e.ct.state.any('new'), e.ct.mark.set(t.mark!)]),
        ...tunnels.map((t) => [e.iifname.neq(t.interface), e.ct.direction.eq('reply'), e.ct.mark.eq(t.mark!), e.meta.mark.set(e.ct.mark)]),
      ],
    });
  }
  if (rp.mode === 'dscp') {
    // The recipe's LAN: what this machine forwards from the tunnel to a service's host is
    // tagged, so the host (role service-host) tags its replies alike and the LAN's router
    // (role lan-router) sends them here instead of out its uplink. The tag is cleared
    // again on the replies' way into the tunnel.
    const tag: NftStmt[][] = [];
    for (const f of config.families) {
      const dscp = f === 4 ? e.ip.dscp : e.ip6.dscp;
      for (const t of tunnels) {
        if (!t.addresses.some((a) => a.family === f)) continue;
        const wg = t.interface;
        // (A match on the field makes nft add the family's dependency, so the set never touches the other family.)
        tag.push([e.iifname.eq(wg), e.oifname.neq(wg), e.ct.direction.eq('original'), dscp.neq(rp.dscp), dscp.set(rp.dscp)]);
        tag.push([e.oifname.eq(wg), e.ct.mark.eq(t.mark!), dscp.eq(rp.dscp), dscp.set(0)]);
      }
    }
    chains.push({ spec: { ...base, name: 'tag', type: 'filter', hook: 'forward', priority: 'mangle', policy: 'accept' }, rules: tag });
  }
  if (routed && rp.sources.length > 0) {
    // returnPath.sources leave by the tunnel with its address (a source rule routes them there).
    for (const f of config.families) {
      sets.push({ ...base, name: `sources${f}`, keyType: [addrType(f)], flags: ['interval'] });
      elements.set(
        `sources${f}`,
        rp.sources.filter((s) => s.family === f).map((s) => ({ key: prefixKey(s.cidr) })),
      );
      for (const t of tunnels) {
        const own = t.addresses.find((a) => a.family === f);
        if (own)
          sources.push([e.oifname.eq(t.interface), ipKey(f).saddr.in(`@sources${f}`), ipKey(f).saddr.neq(own.address), e.masquerade()]);
      }
    }
  }
  const natRules = [...sources, ...(rp.mode === 'snat' && config.services.some((s) => s.hosts.length > 0) ? hostNat : [])];
  const restore: NftStmt[][] = routed ? tunnels.map((t) => [e.ct.mark.eq(t.mark!), e.meta.mark.set(e.ct.mark)]) : [];
  if (rp.mode === 'mark') {
    // The tunnel's own encrypted packets first: they carry the socket of the packet inside (see tunnelFwmark).
    const rules: NftStmt[][] = [[e.meta.mark.eq(tunnelFwmark(config)), e.return()], ...restore];
    for (const u of rp.uids)
      rules.push([u.from === u.to ? e.meta.skuid.eq(u.from) : e.meta.skuid.range(u.from, u.to), e.meta.mark.set(rp.mark)]);
    if (rp.cgroup) rules.push([cgroupMatch(rp.cgroup), e.meta.mark.set(rp.mark)]);
    chains.push({ spec: { ...base, name: 'mark', type: 'route', hook: 'output', priority: 'mangle', policy: 'accept' }, rules });
    // A socket picks its source address before the mark re-routes it into the
    // tunnel: new connections leaving by the tunnel get the tunnel's address.
    const masq: NftStmt[][] = tunnels.flatMap((t) =>
      t.addresses.map((a) => [e.oifname.eq(t.interface), ipKey(a.family).saddr.neq(a.address), e.masquerade()]),
    );
    chains.push({
      spec: { ...base, name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' },
      rules: masq,
    });
  } else {
    if (restore.length > 0)
      chains.push({
        spec: { ...base, name: 'restore', type: 'route', hook: 'output', priority: 'mangle', policy: 'accept' },
        rules: restore,
      });
    if (natRules.length > 0)
      chains.push({
        spec: { ...base, name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' },
        rules: natRules,
      });
  }
  return { table, sets, chains, elements };
}

/** Facts of the kernel the desired table depends on (a frontend's uplinks and connected networks). */
export type NftablesFacts = UplinkFacts | undefined;

/** `choice` (frontend): the targets' health, or what the kernel's table holds now (see FrontendChoice). */
export function desiredNftables(config: NormalizedConfig, facts: NftablesFacts, choice: FrontendChoice = {}): DesiredNftables {
  if (config.role === 'backend') return desiredBackend(config);
  if (!facts) throw new Error('desiredNftables: a frontend needs its uplink facts (readNftables reads them)');
  return desiredFrontend(config, facts, choice);
}

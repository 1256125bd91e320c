/**
 * Addresses of the tunnel link, and the backend's policy routing: table T
 * (default via the tunnel, the leak guard, exclusions) and the rules that
 * select it. Routes and rules carry netfwd's protocol number; only those (in
 * table T) are read, changed or removed.
 */
import type { Address, AddressSpec, RouteEntry, RouteSpec, Rule, RuleSpec } from '../../route/index.js';
import type { NormalizedBackend, NormalizedBackendTunnel, NormalizedConfig } from '../spec/normalized-config.js';
import type { Kernel } from './context.js';
import { NETFWD_PROTOCOL } from './ownership.js';
import type { Step } from './plan.js';
import { readSysctl, writeSysctl } from './sysctl-access.js';

// ------------------------------------------------------------------ addresses

export async function readAddresses(k: Kernel, link: string): Promise<Address[]> {
  const all = await k.rt.addresses.list({ link });
  return all.filter((a) => a.scope === 'global' || a.scope === 0);
}

/** The kernel's per-interface sysctl that keeps secondary IPv4 addresses when the primary is deleted. */
const promoteKey = (link: string) => `net/ipv4/conf/${link}/promote_secondaries`;

export interface AddressSteps {
  /** Run before the routes: addresses the spec adds (and what deleting old ones safely needs). */
  adds: Step[];
  /** Run after the routes and rules: addresses the spec no longer has. */
  deletes: Step[];
}

/**
 * Addresses are added before the routes that use them as source and deleted
 * only after the routes moved to the new ones. A new IPv4 address in the
 * subnet of an old one is its secondary, and the kernel deletes secondaries
 * together with their primary unless promote_secondaries is set on the link:
 * netfwd sets it on its own tunnel before it deletes an IPv4 address (and
 * keeps it during a rollback, which deletes the new address again).
 */
export function planAddresses(k: Kernel, config: NormalizedConfig, current: Address[], linkExists: boolean): AddressSteps {
  const link = config.tunnel.interface;
  const want = new Set(config.tunnel.addresses.map((a) => a.cidr));
  const have = new Map(current.map((a) => [a.address, a]));
  const adds: Step[] = [];
  const deletes: Step[] = [];
  for (const a of config.tunnel.addresses) {
    if (have.has(a.cidr)) continue;
    adds.push({
      action: 'create',
      kind: 'address',
      target: `address ${a.cidr} dev ${link}`,
      async apply() {
        await k.rt.addresses.add({ link, address: a.cidr, ...(a.family === 6 ? { noDad: true } : {}) });
        return { description: `remove address ${a.cidr}`, run: () => k.rt.addresses.remove({ link, address: a.cidr }) };
      },
    });
  }
  if (!linkExists) return { adds, deletes };
  for (const a of current) {
    if (want.has(a.address)) continue;
    deletes.push({
      action: 'delete',
      kind: 'address',
      target: `address ${a.address} dev ${link}`,
      async apply() {
        await k.rt.addresses.remove(a);
        return { description: `restore address ${a.address}`, run: () => k.rt.addresses.add(readdSpec(link, a)) };
      },
    });
  }
  if (current.some((a) => a.family === 4 && !want.has(a.address))) {
    let before: string | undefined;
    try {
      before = readSysctl(k.netns, promoteKey(link));
    } catch {
      before = undefined;
    }
    if (before !== undefined && before !== '1') {
      const was = before;
      adds.unshift({
        action: 'update',
        kind: 'sysctl',
        target: `sysctl ${promoteKey(link)}`,
        detail: `${was} → 1 (deleting an old IPv4 address keeps the new one of the same subnet)`,
        async apply() {
          writeSysctl(k.netns, promoteKey(link), '1');
          return { description: `restore sysctl ${promoteKey(link)}`, run: async () => writeSysctl(k.netns, promoteKey(link), was) };
        },
      });
    }
  }
  return { adds, deletes };
}

/** How to add a deleted address back as it was (IPv6 without duplicate address detection, as netfwd adds it). */
function readdSpec(link: string, a: Address): AddressSpec {
  return {
    link,
    address: a.address,
    ...(a.peer !== undefined ? { peer: a.peer } : {}),
    ...(a.broadcast !== undefined ? { broadcast: a.broadcast } : {}),
    ...(a.metric !== undefined && a.metric !== 0 ? { metric: a.metric } : {}),
    ...(a.flags.includes('noprefixroute') ? { noPrefixRoute: true } : {}),
    ...(a.family === 6 ? { noDad: true } : {}),
  };
}

// --------------------------------------------------------------------- routes

/**
 * The address families a namespace has: IPv4 always, IPv6 unless the kernel
 * was built or booted without it (no /proc/sys/net/ipv6).
 */
export function hostFamilies(netns: string | undefined): Array<4 | 6> {
  try {
    readSysctl(netns, 'net/ipv6/conf/all/disable_ipv6');
    return [4, 6];
  } catch {
    return [4];
  }
}

/**
 * The families whose selected traffic table T routes: the tunnel's, and in
 * modes uid and mark every other family the machine has too — its selected
 * traffic must fail (table T holds only an unreachable default for it), never
 * leave by the home gateway.
 */
function routedFamilies(config: NormalizedBackend, machine: readonly (4 | 6)[]): Array<4 | 6> {
  const rp = config.returnPath;
  if (rp.mode === 'uid' || rp.mode === 'mark') return [...new Set([...config.families, ...machine])].sort();
  return config.families;
}

/** The main table, where a frontend routes the networks behind its peers. */
export const MAIN_TABLE = 254;

/**
 * A frontend's routes to the networks behind its peers (tunnel.peers[].routes),
 * in the main table through the tunnel. WireGuard then picks the peer by its
 * allowed IPs. Routes another program already made the same way (an external
 * tunnel's own configuration) are left to it: see withoutForeign.
 */
export function desiredPeerRoutes(config: NormalizedConfig): RouteSpec[] {
  if (config.role !== 'frontend') return [];
  const link = config.tunnel.interface;
  return config.tunnel.peers.flatMap((p) =>
    p.routes.map((r) => ({ destination: r.cidr, family: r.family, link, table: MAIN_TABLE, protocol: NETFWD_PROTOCOL })),
  );
}

/** netfwd's routes in the main table through the tunnel link, and the destinations other programs route through it there. */
export async function readPeerRoutes(k: Kernel, link: string, linkExists: boolean): Promise<{ own: RouteEntry[]; foreign: Set<string> }> {
  const own: RouteEntry[] = [];
  const foreign = new Set<string>();
  if (!linkExists) return { own, foreign };
  for (const family of [4, 6] as const) {
    for await (const r of k.rt.routes.list({ table: MAIN_TABLE, family })) {
      if (r.link !== link) continue;
      if (r.protocol === NETFWD_PROTOCOL) own.push(r);
      else foreign.add(`${r.family}|${r.destination}`);
    }
  }
  return { own, foreign };
}

/** The desired routes but those to a destination another program already routes through the link. */
export function withoutForeign(desired: RouteSpec[], foreign: ReadonlySet<string>): RouteSpec[] {
  return desired.filter((r) => !foreign.has(`${r.family}|${r.destination}`));
}

/**
 * Routes of table T for a routed return path (none in snat mode or on a
 * frontend); with several tunnels, one table per tunnel, each the same way.
 */
export function desiredRoutes(config: NormalizedConfig, machine: readonly (4 | 6)[] = [4, 6]): RouteSpec[] {
  if (config.role !== 'backend' || config.returnPath.mode === 'snat') return [];
  const rp = config.returnPath;
  const families = routedFamilies(config, machine);
  const out: RouteSpec[] = [];
  for (const t of config.tunnels) {
    const table = t.table!;
    const link = t.interface;
    for (const a of t.addresses) {
      // The tunnel's own address as source: a selected socket never leaves with the home address.
      out.push({ destination: 'default', family: a.family, link, source: a.address, table, protocol: NETFWD_PROTOCOL });
      if (rp.leakGuard) {
        out.push({ destination: 'default', family: a.family, type: 'unreachable', metric: 0xffffffff, table, protocol: NETFWD_PROTOCOL });
      }
    }
    for (const family of families) {
      // A family the tunnel lacks: nothing but the unreachable default, whatever leakGuard says.
      if (!t.addresses.some((a) => a.family === family))
        out.push({ destination: 'default', family, type: 'unreachable', metric: 0xffffffff, table, protocol: NETFWD_PROTOCOL });
    }
    for (const x of rp.exclude) {
      if (families.includes(x.family)) out.push({ destination: x.cidr, family: x.family, type: 'throw', table, protocol: NETFWD_PROTOCOL });
    }
    // returnPath.sources reach their own networks directly (another container of the network, the bridge).
    for (const x of rp.sources) {
      if (!rp.exclude.some((e) => e.cidr === x.cidr))
        out.push({ destination: x.cidr, family: x.family, type: 'throw', table, protocol: NETFWD_PROTOCOL });
    }
  }
  return out;
}

/**
 * The metric as the kernel applies it: a route added without one gets 0
 * (IPv4) or 1024 (IPv6), and is listed with that value — whatever its type
 * (IPv6 lists throw and unreachable routes with 1024 too).
 */
const metricKey = (family: number | undefined, metric: number | undefined) => {
  const dflt = family === 6 ? 1024 : 0;
  return metric === undefined || metric === dflt ? '' : String(metric);
};

const routeKey = (r: {
  family?: number;
  destination: string;
  table?: unknown;
  type?: string;
  metric?: number;
  link?: string;
  source?: string;
}) =>
  `${r.family ?? ''}|${r.table}|${r.destination}|${r.type ?? 'unicast'}|${metricKey(r.family, r.metric)}|${r.type === undefined || r.type === 'unicast' ? (r.link ?? '') : ''}|${r.source ?? ''}`;

/** netfwd's routes in the tables this configuration owns (claims.ts: ownedTables), both families. */
export async function readRoutes(k: Kernel, tables: readonly number[]): Promise<RouteEntry[]> {
  const out: RouteEntry[] = [];
  for (const table of tables) {
    for (const family of [4, 6] as const) {
      for await (const r of k.rt.routes.list({ table, family, protocol: NETFWD_PROTOCOL })) out.push(r);
    }
  }
  return out;
}

function normaliseListed(r: RouteEntry): RouteSpec & { family: 4 | 6 } {
  // The family's default metric is left out, as the desired routes leave it out (see metricKey).
  return {
    destination: r.destination,
    family: r.family,
    table: r.table,
    type: r.type,
    ...(metricKey(r.family, r.metric) !== '' ? { metric: r.metric } : {}),
    ...(r.link !== undefined && r.type === 'unicast' ? { link: r.link } : {}),
    ...(r.source !== undefined ? { source: r.source } : {}),
  };
}

export function planRoutes(k: Kernel, desired: RouteSpec[], current: RouteEntry[]): Step[] {
  const have = new Map(current.map((r) => [routeKey(normaliseListed(r)), r]));
  const steps: Step[] = [];
  const describe = (r: RouteSpec) =>
    `route ${r.type && r.type !== 'unicast' ? `${r.type} ` : ''}${r.destination}${r.family === 6 && r.destination === 'default' ? ' (IPv6)' : ''}${r.link ? ` dev ${r.link}` : ''}${r.source ? ` src ${r.source}` : ''} table ${r.table}${r.metric !== undefined ? ` metric ${r.metric}` : ''}`;
  const keep = new Set(desired.map(routeKey));
  // A route that differs only in its source address (the tunnel address changed)
  // is replaced in place: adding the new one first would collide with the old
  // one (same destination, table and metric), deleting first would open a gap.
  const replaced = new Set<string>();
  for (const r of desired) {
    const key = routeKey(r);
    if (have.has(key)) continue;
    const slot = routeKey({ ...r, source: undefined });
    const old = [...have.entries()].find(
      ([k2, c]) => !keep.has(k2) && !replaced.has(k2) && routeKey({ ...normaliseListed(c), source: undefined }) === slot,
    );
    if (old) {
      const [oldKey, c] = old;
      replaced.add(oldKey);
      const previous: RouteSpec = { ...normaliseListed(c), protocol: NETFWD_PROTOCOL };
      steps.push({
        action: 'update',
        kind: 'route',
        target: describe({ ...r, source: undefined }),
        detail: `src ${c.source ?? '(none)'} → ${r.source ?? '(none)'}`,
        async apply() {
          await k.rt.routes.replace(r);
          return { description: `restore ${describe(previous)}`, run: () => k.rt.routes.replace(previous) };
        },
      });
      continue;
    }
    steps.push({
      action: 'create',
      kind: 'route',
      target: describe(r),
      async apply() {
        await k.rt.routes.add(r);
        return { description: `remove ${describe(r)}`, run: () => k.rt.routes.remove(r) };
      },
    });
  }
  for (const [key, r] of have) {
    if (keep.has(key) || replaced.has(key)) continue;
    const spec = normaliseListed(r);
    steps.push({
      action: 'delete',
      kind: 'route',
      target: describe(spec),
      async apply() {
        await k.rt.routes.remove(r);
        return { description: `restore ${describe(spec)}`, run: () => k.rt.routes.add({ ...spec, protocol: NETFWD_PROTOCOL }) };
      },
    });
  }
  return steps;
}

// ---------------------------------------------------------------------- rules

/**
 * The rules that select table T. In every routed mode the connections that
 * arrived through the tunnel carry a mark (nftables-desired.ts) and `fwmark M` routes
 * their replies back; mode uid adds its uid ranges, mode mark selects sockets
 * by the same mark.
 *
 * Several tunnels: `fwmark M_N lookup T_N` and `from <tunnel N's address>
 * lookup T_N` for each tunnel at the priority, and one priority later what selects the services' own traffic (uid ranges,
 * mode mark's mark, sources) into the table of `egress`, the tunnel it
 * leaves by now (see tunnels.ts: egressTunnelOf).
 */
export function desiredRules(
  config: NormalizedConfig,
  machine: readonly (4 | 6)[] = [4, 6],
  egress: NormalizedBackendTunnel | undefined = undefined,
): RuleSpec[] {
  if (config.role !== 'backend') return [];
  const rp = (config as NormalizedBackend).returnPath;
  if (rp.mode === 'snat') return [];
  const out: RuleSpec[] = [];
  const several = config.tunnels.length > 1;
  for (const family of routedFamilies(config, machine)) {
    const base = { priority: rp.priority, family, table: rp.table, protocol: NETFWD_PROTOCOL } as const;
    if (several) {
      for (const t of config.tunnels) out.push({ ...base, table: t.table!, fwmark: t.mark! });
      // What leaves from a tunnel's own address (netfwd run's check of that tunnel, a reply to a
      // connection to that address) takes that tunnel or its unreachable route, never the main table.
      for (const t of config.tunnels)
        for (const a of t.addresses)
          if (a.family === family) out.push({ ...base, table: t.table!, from: `${a.address}/${family === 4 ? 32 : 128}` });
      const next = { ...base, priority: rp.priority + 1, table: (egress ?? config.tunnels[0]!).table! };
      if (rp.mode === 'uid') for (const u of rp.uids) out.push({ ...next, uidRange: [u.from, u.to] });
      if (rp.mode === 'mark') out.push({ ...next, fwmark: rp.mark });
      for (const s of rp.sources) if (s.family === family) out.push({ ...next, from: s.cidr });
      continue;
    }
    out.push({ ...base, fwmark: rp.mark });
    // The uid ranges one priority later: the marked connections' rule comes first (with several
    // tunnels it must), and a rule added back by an undo goes to the end of its priority's rules,
    // so rules that change independently do not share one.
    if (rp.mode === 'uid') {
      for (const u of rp.uids) out.push({ ...base, priority: rp.priority + 1, uidRange: [u.from, u.to] });
    }
    // returnPath.sources: their own traffic (and, the tunnel's mark aside, their replies) takes table T.
    for (const s of rp.sources) if (s.family === family) out.push({ ...base, from: s.cidr });
  }
  return out;
}

/**
 * Several tunnels: the table the egress rules (priority + 1) look up now, if
 * they are there — which tunnel the services' own traffic uses.
 */
export function currentEgressTable(config: NormalizedConfig, rules: readonly Rule[]): number | undefined {
  if (config.role !== 'backend' || config.returnPath.mode === 'snat' || config.tunnels.length < 2) return undefined;
  const p = config.returnPath.priority + 1;
  const tables = new Set(config.tunnels.map((t) => t.table));
  const r = rules.find((r) => r.priority === p && typeof r.table === 'number' && tables.has(r.table));
  return r?.table as number | undefined;
}

/** What a rule selects, as `ip rule` words: "from 203.0.113.128/26", "uidrange 1000-1000", "fwmark 0x2a". */
export function ruleSelector(r: RuleLike): string {
  return [
    r.from ? `from ${r.from}` : '',
    r.uidRange ? `uidrange ${r.uidRange[0]}-${r.uidRange[1]}` : '',
    r.fwmark !== undefined ? `fwmark 0x${r.fwmark.toString(16)}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

type RuleLike = { family?: number; priority?: number; table?: unknown; uidRange?: [number, number]; fwmark?: number; from?: string };
const ruleKey = (r: RuleLike) =>
  `${r.family}|${r.priority}|${r.table}|${r.uidRange ? r.uidRange.join('-') : ''}|${r.fwmark ?? ''}|${r.from ?? ''}`;

/** netfwd's rules (protocol 233): all of them, or none when `needed` is false (a configuration without tables or priorities). */
export async function readNetfwdRules(k: Kernel, needed = true): Promise<Rule[]> {
  return needed ? k.rt.rules.list({ protocol: NETFWD_PROTOCOL }) : [];
}

/** Those of `rules` that look up a table this configuration owns. */
export function rulesOfTables(rules: readonly Rule[], tables: readonly number[]): Rule[] {
  return rules.filter((r) => typeof r.table === 'number' && tables.includes(r.table));
}

/** netfwd's rules (protocol 233) that look up a table this configuration owns. */
export async function readRules(k: Kernel, tables: readonly number[]): Promise<Rule[]> {
  return rulesOfTables(await readNetfwdRules(k, tables.length > 0), tables);
}

export function planRules(k: Kernel, desired: RuleSpec[], current: Rule[]): Step[] {
  const describe = (r: RuleLike) => `rule ${r.priority}: ${r.family === 6 ? 'IPv6 ' : ''}${ruleSelector(r)} lookup ${r.table}`;
  const have = new Map(current.map((r) => [ruleKey(r), r]));
  const keep = new Set<string>();
  const steps: Step[] = [];
  for (const r of desired) {
    const key = ruleKey(r);
    keep.add(key);
    if (have.has(key)) continue;
    steps.push({
      action: 'create',
      kind: 'rule',
      target: describe(r),
      async apply() {
        await k.rt.rules.add(r);
        return { description: `remove ${describe(r)}`, run: () => k.rt.rules.remove(r) };
      },
    });
  }
  for (const [key, r] of have) {
    if (keep.has(key)) continue;
    steps.push({
      action: 'delete',
      kind: 'rule',
      target: describe(r),
      async apply() {
        await k.rt.rules.remove(r);
        return { description: `restore ${describe(r)}`, run: () => k.rt.rules.add({ ...r, protocol: NETFWD_PROTOCOL } as RuleSpec) };
      },
    });
  }
  return steps;
}

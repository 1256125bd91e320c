/**
 * Several netfwd configurations in one namespace (two backends with their own
 * tunnels, two frontends): each owns its objects and none undoes another's.
 * Links and nftables tables are per tunnel by name; routes and rules carry
 * only netfwd's protocol number, so what sets them apart is the routing table
 * — and the rule priorities and marks, which would make one configuration's
 * rules catch the other's traffic. Each configuration records these in its
 * state file (its claim); a configuration that wants a table, priority or
 * mark another one claims is refused before anything changes, and `down`
 * touches only the tables its own claim (or, without one, its spec) names.
 */
import { ConfigError } from '../../errors.js';
import type { Rule } from '../../route/index.js';
import type { NormalizedConfig, NormalizedPortEntry } from '../spec/normalized-config.js';
import { arrivalMark } from './nftables-desired.js';
import { NETFWD_PROTOCOL } from './ownership.js';
import type { Step } from './plan.js';
import { type Claim, otherStates, readState, setClaim, stateFilePath } from './state-file.js';
import { desiredSysctls } from './sysctls.js';
import { tunnelFwmark } from './tunnel.js';

/** What `config` uses that no other configuration may. */
export function desiredClaim(config: NormalizedConfig): Claim {
  const sysctls = desiredSysctls(config)
    .filter((s) => s.global)
    .map((s) => s.key);
  if (config.role === 'frontend') return { role: 'frontend', sysctls };
  const text = (p: NormalizedPortEntry) => `${p.protocol} ${p.ports.from}-${p.ports.to}`;
  const ports = { services: config.services.map(text), tunnelPorts: config.tunnelPorts.map(text) };
  const rp = config.returnPath;
  if (rp.mode === 'snat') return { role: 'backend', sysctls, ports };
  const several = config.tunnels.length > 1;
  const priorities = rp.mode === 'uid' || several ? [rp.priority, rp.priority + 1] : [rp.priority];
  const claim: Claim = { role: 'backend', table: rp.table, priorities, marks: [arrivalMark(config)!], sysctls, ports };
  if (several) {
    // Several tunnels: a table and a mark each (and mode mark's own mark, which selects the services).
    claim.table = config.tunnels[0]!.table!;
    claim.tables = config.tunnels.slice(1).map((t) => t.table!);
    claim.marks = [...config.tunnels.map((t) => t.mark!), ...(rp.mode === 'mark' ? [rp.mark] : [])];
  }
  const wgMark = tunnelFwmark(config);
  if (wgMark !== 0) claim.tunnelMarks = [wgMark];
  return claim;
}

/** The other configurations of the namespace and their claims. */
export function otherClaims(netns: string | undefined, tunnel: string): Map<string, Claim> {
  const out = new Map<string, Claim>();
  for (const [name, state] of otherStates(netns, tunnel)) if (state.claim) out.set(name, state.claim);
  return out;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** Every routing table a claim holds. */
export function claimedTables(c: Claim | undefined): number[] {
  return c?.table === undefined ? [] : [c.table, ...(c.tables ?? [])];
}

/** Whether two claimed port texts ("tcp 80-81") share a protocol and a port. */
function overlaps(a: string, b: string): boolean {
  const [pa, ra] = a.split(' ') as [string, string];
  const [pb, rb] = b.split(' ') as [string, string];
  if (pa !== pb) return false;
  const [fa, ta] = ra.split('-').map(Number) as [number, number];
  const [fb, tb] = rb.split('-').map(Number) as [number, number];
  return fa <= tb && fb <= ta;
}

/**
 * Refuses a claim that collides with another configuration's: the same
 * table, a shared rule priority, or a mark one of them routes by that the
 * other uses. A ConfigError naming the field, the other configuration and its
 * state file.
 */
export function checkClaim(netns: string | undefined, claim: Claim, others: ReadonlyMap<string, Claim>): void {
  for (const [name, other] of others) {
    const whose = `the netfwd configuration of tunnel ${name} in this namespace (${stateFilePath(netns, name)})`;
    const fix = `run \`netfwd down\` for it first, or choose another value`;
    const theirTables = claimedTables(other);
    const table = claimedTables(claim).find((t) => theirTables.includes(t));
    if (table !== undefined) {
      throw new ConfigError(
        'returnPath.table',
        `table ${table} is used by ${whose}`,
        `a table no other netfwd configuration uses (it has ${theirTables.join(', ')}); or ${fix}`,
      );
    }
    const prio = (claim.priorities ?? []).find((p) => (other.priorities ?? []).includes(p));
    if (prio !== undefined) {
      throw new ConfigError(
        'returnPath.priority',
        `rule priority ${prio} is used by ${whose}: rules of one priority are tried in the order they were added, so one configuration's rules would take the other's traffic`,
        `a priority no other netfwd configuration uses (it has ${(other.priorities ?? []).join(' and ')}); or ${fix}`,
      );
    }
    // A service of one is dropped by the other's input and leak guard chains (they close the
    // services on every interface but their own tunnel); a tunnelPort only by the other's services.
    const mine = claim.ports;
    const others = other.ports;
    if (mine && others) {
      const clash = (a: readonly string[], b: readonly string[]) => a.findIndex((x) => b.some((y) => overlaps(x, y)));
      const s = clash(mine.services, [...others.services, ...others.tunnelPorts]);
      const t = s === -1 ? clash(mine.tunnelPorts, others.services) : -1;
      if (s !== -1 || t !== -1) {
        const [list, i] = s !== -1 ? (['services', s] as const) : (['tunnelPorts', t] as const);
        throw new ConfigError(
          `${list}[${i}]`,
          `${mine[list][i]} is also a port of ${whose}: each configuration closes its services to every interface but its own tunnel, so the other one's traffic to it would be dropped`,
          `ports no other netfwd configuration lists (one service published through two frontends is not supported yet); or ${fix}`,
        );
      }
    }
    const mark = (claim.marks ?? []).find((m) => (other.marks ?? []).includes(m) || (other.tunnelMarks ?? []).includes(m));
    const theirs = (other.marks ?? []).find((m) => (claim.tunnelMarks ?? []).includes(m));
    if (mark !== undefined || theirs !== undefined) {
      const m = mark ?? theirs!;
      throw new ConfigError(
        'returnPath.mark',
        `mark ${hex(m)} is used by ${whose}: packets carrying it would be routed by the other configuration's rules`,
        `a mark no other netfwd configuration uses (returnPath.mark, which defaults to the table number); or ${fix}`,
      );
    }
  }
}

/**
 * Rules netfwd made (protocol 233, `rules`) at one of the claimed priorities
 * for a table no configuration of the namespace claims: a configuration whose
 * state is lost (or an older netfwd's). Its table and rules cannot be told
 * from ours, so the priority is refused too.
 */
export function checkUnclaimedRules(
  rules: readonly Rule[],
  claim: Claim,
  others: ReadonlyMap<string, Claim>,
  previous: Claim | undefined,
): void {
  if (!claim.priorities?.length) return;
  const tables = new Set<number>([...claimedTables(claim), ...claimedTables(previous), ...[...others.values()].flatMap(claimedTables)]);
  const stray = rules.find(
    (r) => r.priority !== undefined && claim.priorities!.includes(r.priority) && typeof r.table === 'number' && !tables.has(r.table),
  );
  if (stray) {
    throw new ConfigError(
      'returnPath.priority',
      `rule priority ${stray.priority} is used by a netfwd rule for table ${String(stray.table)}, which no netfwd configuration in this namespace claims (its state file is gone, or an older netfwd made it)`,
      `another priority; or remove that configuration with \`netfwd down\` (or its rules: ip rule del priority ${stray.priority} proto ${NETFWD_PROTOCOL})`,
    );
  }
}

const sameClaim = (a: Claim | undefined, b: Claim) => JSON.stringify(a ?? null) === JSON.stringify(b);

/**
 * The step that records the claim (first in a plan: before anything the claim
 * covers is made, so a configuration planned meanwhile sees it). Its undo puts
 * the earlier claim back.
 */
export function planClaim(netns: string | undefined, tunnel: string, claim: Claim, previous: Claim | undefined): Step[] {
  if (sameClaim(previous, claim)) return [];
  const describe = (c: Claim) =>
    [
      c.table !== undefined ? `table ${claimedTables(c).join(', ')}` : '',
      c.priorities?.length ? `priority ${c.priorities.join(', ')}` : '',
      c.marks?.length ? `mark ${c.marks.map(hex).join(', ')}` : '',
      c.sysctls.length ? `needs ${c.sysctls.join(', ')}` : '',
    ]
      .filter(Boolean)
      .join('; ');
  return [
    {
      action: previous ? 'update' : 'create',
      kind: 'claim',
      target: `claim of ${tunnel}`,
      detail: describe(claim),
      async apply() {
        const before = readState(netns, tunnel).claim;
        setClaim(netns, tunnel, claim);
        return { description: `restore the claim of ${tunnel}`, run: async () => setClaim(netns, tunnel, before) };
      },
    },
  ];
}

/** The last step of `down`: the configuration gives up its claim. */
export function planClaimRemoval(netns: string | undefined, tunnel: string): Step[] {
  const previous = readState(netns, tunnel).claim;
  if (!previous) return [];
  return [
    {
      action: 'delete',
      kind: 'claim',
      target: `claim of ${tunnel}`,
      async apply() {
        setClaim(netns, tunnel, undefined);
        return { description: `claim ${tunnel}'s resources again`, run: async () => setClaim(netns, tunnel, previous) };
      },
    },
  ];
}

/**
 * The routing tables whose netfwd routes and rules are this configuration's:
 * the one its claim names (the table in use, also after the spec changed it)
 * and the one the spec names — unless another configuration claims it.
 */
export function ownedTables(config: NormalizedConfig, previous: Claim | undefined, others: ReadonlyMap<string, Claim>): number[] {
  const claimedByOthers = new Set([...others.values()].flatMap(claimedTables));
  const out = new Set<number>(claimedTables(previous));
  if (config.role === 'backend' && config.returnPath.mode !== 'snat') for (const t of config.tunnels) out.add(t.table!);
  return [...out].filter((t) => !claimedByOthers.has(t)).sort((a, b) => a - b);
}

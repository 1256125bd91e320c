/**
 * A LAN role's spec → desired state → what netfwd owns of it in the kernel →
 * ordered steps (the Plan and Step of the tunnel roles, applied with the same
 * rollback): the claim, the router's routes and rules, the nftables table,
 * the router's sysctls. `down` goes the other way: sysctls restored, table,
 * rules, routes, claim.
 *
 * The state file is the tunnel roles' (plan/state-file.ts), named by the LAN
 * interface: the sysctl values from before, and the claim — table, rule
 * priority, mark and global sysctls — that several netfwd configurations of
 * one namespace (tunnels and LAN roles alike) check against each other.
 */
import { ConfigError, NetlinkError } from '../../errors.js';
import type { Rule } from '../../route/index.js';
import { otherClaims, planClaim, planClaimRemoval } from '../plan/claims.js';
import type { Kernel } from '../plan/context.js';
import { NETFWD_PROTOCOL, nftTableName } from '../plan/ownership.js';
import { Plan, type Step } from '../plan/plan.js';
import { hostFamilies, planRules, readNetfwdRules, rulesOfTables } from '../plan/routing.js';
import { type Claim, readState, stateFilePath } from '../plan/state-file.js';
import { planSysctlRestore, planSysctls, readSysctls } from '../plan/sysctls.js';
import { item } from '../spec/field.js';
import type { IpFamily } from '../spec/normalized-config.js';
import { desiredLanClaim, desiredLanRoutes, desiredLanRules, desiredLanSysctls, desiredLanTable, lanTableComment } from './desired.js';
import { planLanTable, planLanTableRemoval, readLanTable } from './nftables.js';
import { planLanRoutes, readLanRoutes } from './routing.js';
import type { NormalizedLanConfig, NormalizedLanRouter } from './spec.js';
import { lanWarnings } from './warnings.js';

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Refuses a claim that collides with another configuration's: the same
 * table, rule priority or mark (a tunnel's mark or its WireGuard fwmark). A
 * ConfigError at this spec's field, naming the other configuration and its
 * state file.
 */
export function checkLanClaim(netns: string | undefined, claim: Claim, others: ReadonlyMap<string, Claim>): void {
  for (const [name, other] of others) {
    const whose = `the netfwd ${other.role} configuration of ${name} in this namespace (${stateFilePath(netns, name)})`;
    const fix = 'run `netfwd down` for it first, or choose another value';
    if (claim.table !== undefined && claim.table === other.table)
      throw new ConfigError('table', `table ${claim.table} is used by ${whose}`, `a table no other netfwd configuration uses; or ${fix}`);
    const prio = (claim.priorities ?? []).find((p) => (other.priorities ?? []).includes(p));
    if (prio !== undefined)
      throw new ConfigError(
        'priority',
        `rule priority ${prio} is used by ${whose}: rules of one priority are tried in the order they were added, so one configuration's rules would take the other's traffic`,
        `a priority no other netfwd configuration uses (it has ${(other.priorities ?? []).join(' and ')}); or ${fix}`,
      );
    const mark = (claim.marks ?? []).find((m) => (other.marks ?? []).includes(m) || (other.tunnelMarks ?? []).includes(m));
    if (mark !== undefined)
      throw new ConfigError(
        'mark',
        `mark ${hex(mark)} is used by ${whose}: packets or connections carrying it would be taken for the other configuration's`,
        `a mark no other netfwd configuration uses (mark defaults to the DSCP value); or ${fix}`,
      );
  }
}

/** This interface's state file belongs to this role (or to nobody yet); anything else is refused. */
function checkOwnState(netns: string | undefined, config: NormalizedLanConfig): Claim | undefined {
  const previous = readState(netns, config.interface).claim;
  if (previous && previous.role !== config.role) {
    throw new ConfigError(
      'role',
      `${config.interface} already names the netfwd ${previous.role} configuration in this namespace (${stateFilePath(netns, config.interface)})`,
      `run \`netfwd down\` with that configuration first, or choose another interface`,
    );
  }
  return previous;
}

/** The routing tables whose netfwd routes and rules are the router's: its claim's and its spec's, unless another configuration claims one. */
function ownedTables(config: NormalizedLanConfig, previous: Claim | undefined, others: ReadonlyMap<string, Claim>): number[] {
  const theirs = new Set([...others.values()].flatMap((c) => (c.table !== undefined ? [c.table] : [])));
  const out = new Set<number>();
  if (previous?.table !== undefined) out.add(previous.table);
  if (config.role === 'lan-router') out.add(config.table);
  return [...out].filter((t) => !theirs.has(t)).sort((a, b) => a - b);
}

/**
 * Refuses a rule priority held by netfwd rules of a table no configuration
 * claims (a configuration whose state file is gone): they cannot be told from
 * this one's, and rules of one priority catch each other's traffic.
 */
function checkUnclaimedRules(rules: readonly Rule[], config: NormalizedLanRouter, tables: ReadonlySet<number>): void {
  const stray = rules.find((r) => r.priority === config.priority && typeof r.table === 'number' && !tables.has(r.table));
  if (stray)
    throw new ConfigError(
      'priority',
      `rule priority ${stray.priority} is used by a netfwd rule for table ${String(stray.table)}, which no netfwd configuration in this namespace claims (its state file is gone, or an older netfwd made it)`,
      `another priority; or remove that rule: ip rule del priority ${stray.priority} proto ${NETFWD_PROTOCOL}`,
    );
}

/** The LAN interface exists; for the router, each `via` is of a family the machine has and on that interface's network. */
async function checkMachine(k: Kernel, config: NormalizedLanConfig, families: readonly IpFamily[]): Promise<void> {
  if (!(await k.rt.links.get(config.interface)))
    throw new ConfigError(
      'interface',
      `there is no interface ${JSON.stringify(config.interface)}${k.netns ? ` in namespace ${k.netns}` : ' here'}`,
      'the LAN interface as `ip link` lists it',
    );
  if (config.role !== 'lan-router') return;
  for (const [i, v] of config.via.entries()) {
    const field = config.via.length > 1 ? item('via', i) : 'via';
    if (!families.includes(v.family))
      throw new ConfigError(
        field,
        `${v.address} is an IPv${v.family} address but IPv${v.family} is off on this machine`,
        'addresses of the families the machine has',
      );
    let direct = false;
    try {
      // Without an output interface: given one, the kernel assumes any destination is on that link.
      const r = await k.rt.routes.get({ to: v.address });
      direct = r.gateway === undefined && r.link === config.interface && r.type === 'unicast';
    } catch (err) {
      if (!(err instanceof NetlinkError)) throw err;
    }
    if (!direct)
      throw new ConfigError(
        field,
        `${v.address} is not directly reachable on ${config.interface} (no route to it there without a gateway: is ${config.interface} up, with an address in that network?)`,
        `the VPN client's address in a network ${config.interface} is connected to`,
      );
  }
}

/** The steps that make the kernel match the spec. */
export async function planLanUp(k: Kernel, config: NormalizedLanConfig): Promise<Plan> {
  const name = config.interface;
  const previous = checkOwnState(k.netns, config);
  const others = otherClaims(k.netns, name);
  const claim = desiredLanClaim(config);
  checkLanClaim(k.netns, claim, others);
  const families = hostFamilies(k.netns);
  await checkMachine(k, config, families);
  const steps: Step[] = [...planClaim(k.netns, name, claim, previous)];
  const tables = ownedTables(config, previous, others);
  if (config.role === 'lan-router' || tables.length > 0) {
    const rules = await readNetfwdRules(k, true);
    const claimed = new Set([...tables, ...[...others.values()].flatMap((c) => (c.table !== undefined ? [c.table] : []))]);
    if (config.role === 'lan-router') checkUnclaimedRules(rules, config, claimed);
    const router = config.role === 'lan-router' ? config : undefined;
    steps.push(...planLanRoutes(k, router ? desiredLanRoutes(router, families) : [], await readLanRoutes(k, tables)));
    steps.push(...planRules(k, router ? desiredLanRules(router, families) : [], rulesOfTables(rules, tables)));
  }
  const table = desiredLanTable(config, families);
  steps.push(...planLanTable(k, table, await readLanTable(k, table.name)));
  const sysctls = desiredLanSysctls(config);
  steps.push(...planSysctls(k.netns, name, sysctls, readSysctls(k.netns, sysctls)));
  return new Plan(config.role, config.netns, steps, await lanWarnings(k, config));
}

/** The steps that remove everything netfwd owns for this spec and put the sysctls back. */
export async function planLanDown(k: Kernel, config: NormalizedLanConfig): Promise<Plan> {
  const name = config.interface;
  const previous = checkOwnState(k.netns, config);
  const others = otherClaims(k.netns, name);
  const tables = ownedTables(config, previous, others);
  const steps: Step[] = [...planSysctlRestore(k.netns, name, others)];
  const table = nftTableName(name);
  steps.push(...planLanTableRemoval(k, table, lanTableComment(config.role), await readLanTable(k, table)));
  if (tables.length > 0) {
    steps.push(...planRules(k, [], rulesOfTables(await readNetfwdRules(k, true), tables)));
    steps.push(...planLanRoutes(k, [], await readLanRoutes(k, tables)));
  }
  steps.push(...planClaimRemoval(k.netns, name));
  return new Plan(config.role, config.netns, steps);
}

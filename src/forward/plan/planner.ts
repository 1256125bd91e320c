/**
 * Spec → desired state → read what the kernel holds of netfwd's objects →
 * ordered steps: the sysctls the link would change, links, WireGuard,
 * addresses added, routes, rules, addresses deleted, nftables, the other
 * sysctls (teardown: sysctls restored first, then the reverse).
 *
 * Addresses are added before and deleted after the routes and rules, so a
 * route never names a source address that is missing — neither while the
 * plan runs nor while a rollback runs it backwards.
 */

import type { NormalizedConfig } from '../spec/normalized-config.js';
import { checkClaim, checkUnclaimedRules, desiredClaim, otherClaims, ownedTables, planClaim, planClaimRemoval } from './claims.js';
import type { Kernel } from './context.js';
import { planNftables, planNftablesRemoval, readNftables } from './nftables.js';
import { Plan, type Step } from './plan.js';
import type { PlanHealth } from './plan-health.js';
import {
  type AddressSteps,
  desiredPeerRoutes,
  desiredRoutes,
  desiredRules,
  hostFamilies,
  planAddresses,
  planRoutes,
  planRules,
  readAddresses,
  readNetfwdRules,
  readPeerRoutes,
  readRoutes,
  readRules,
  rulesOfTables,
  withoutForeign,
} from './routing.js';
import { readState } from './state-file.js';
import { desiredSysctls, planSysctlRestore, planSysctls, readSysctls } from './sysctls.js';
import { planLink, planTunnelRemoval, planWireGuard, readTunnel, TunnelAbsentError } from './tunnel.js';
import { planWarnings } from './warnings.js';

/** The steps that make the kernel match the spec. */
export async function planUp(k: Kernel, config: NormalizedConfig, health: PlanHealth = {}): Promise<Plan> {
  const name = config.tunnel.interface;
  // Another configuration's table, priority or mark is refused before anything is read or changed.
  const others = otherClaims(k.netns, name);
  const previous = readState(k.netns, name).claim;
  const claim = desiredClaim(config);
  checkClaim(k.netns, claim, others);
  const tables = ownedTables(config, previous, others);
  const rules = await readNetfwdRules(k, tables.length > 0 || !!claim.priorities?.length);
  checkUnclaimedRules(rules, claim, others, previous);
  const tunnel = await readTunnel(k, name);
  // An external tunnel (tunnel.external) is somebody else's: it must be there, and netfwd leaves it as it is.
  if (config.tunnel.external && !tunnel.link) throw new TunnelAbsentError(name);
  const steps: Step[] = [];
  steps.push(...planClaim(k.netns, name, claim, previous));
  const sysctls = desiredSysctls(config);
  // Those the link changes as it comes up are recorded (and set) before it.
  const early = sysctls.filter((s) => s.beforeLink);
  steps.push(...planSysctls(k.netns, name, early, readSysctls(k.netns, early), tunnel.link !== null));
  const addresses: AddressSteps = config.tunnel.external
    ? { adds: [], deletes: [] }
    : planAddresses(k, config, tunnel.link ? await readAddresses(k, name) : [], tunnel.link !== null);
  if (!config.tunnel.external) {
    steps.push(...planLink(k, config, tunnel));
    steps.push(...planWireGuard(k, config, tunnel));
  }
  steps.push(...addresses.adds);
  const machine = hostFamilies(k.netns);
  const peerRoutes = await readPeerRoutes(k, name, tunnel.link !== null);
  steps.push(...planRoutes(k, withoutForeign(desiredPeerRoutes(config), peerRoutes.foreign), peerRoutes.own));
  steps.push(...planRoutes(k, desiredRoutes(config, machine), await readRoutes(k, tables)));
  steps.push(...planRules(k, desiredRules(config, machine), rulesOfTables(rules, tables)));
  steps.push(...addresses.deletes);
  const nft = await readNftables(k, config);
  steps.push(...planNftables(k, config, nft, health));
  const late = sysctls.filter((s) => !s.beforeLink);
  // Global sysctls exist without the link; the tunnel's own appear with it.
  steps.push(
    ...planSysctls(
      k.netns,
      name,
      late,
      readSysctls(
        k.netns,
        late.filter((s) => s.global || tunnel.link !== null),
      ),
    ),
  );
  return new Plan(config.role, config.netns, steps, await planWarnings(k, config, nft.facts));
}

/** The steps that remove everything netfwd owns for this spec. */
export async function planDown(k: Kernel, config: NormalizedConfig): Promise<Plan> {
  const name = config.tunnel.interface;
  const others = otherClaims(k.netns, name);
  const tables = ownedTables(config, readState(k.netns, name).claim, others);
  const tunnel = await readTunnel(k, name);
  const steps: Step[] = [];
  steps.push(...planSysctlRestore(k.netns, name, others));
  steps.push(...planNftablesRemoval(k, config, await readNftables(k, config)));
  steps.push(...planRules(k, [], await readRules(k, tables)));
  steps.push(...planRoutes(k, [], await readRoutes(k, tables)));
  steps.push(...planRoutes(k, [], (await readPeerRoutes(k, name, tunnel.link !== null)).own));
  // The claim before the link: removing the link cannot be undone, so it stays the last step.
  steps.push(...planClaimRemoval(k.netns, name));
  steps.push(...planTunnelRemoval(k, config, tunnel));
  return new Plan(config.role, config.netns, steps);
}

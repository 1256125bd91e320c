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
  currentEgressTable,
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
import { planLink, planTunnelRemoval, planWireGuard, readTunnel, TunnelAbsentError, type TunnelState } from './tunnel.js';
import { egressTunnelOf, tunnelsOf, viewOf } from './tunnels.js';
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
  const tunnels = tunnelsOf(config).map((t) => ({ view: viewOf(config, t), state: undefined as unknown as TunnelState }));
  for (const t of tunnels) {
    t.state = await readTunnel(k, t.view.tunnel.interface);
    // An external tunnel (tunnel.external) is somebody else's: it must be there, and netfwd leaves it as it is.
    if (t.view.tunnel.external && !t.state.link) throw new TunnelAbsentError(t.view.tunnel.interface);
  }
  const linked = new Set(tunnels.filter((t) => t.state.link !== null).map((t) => t.view.tunnel.interface));
  const steps: Step[] = [];
  steps.push(...planClaim(k.netns, name, claim, previous));
  const sysctls = desiredSysctls(config);
  // Those the link changes as it comes up are recorded (and set) before it.
  const early = sysctls.filter((s) => s.beforeLink);
  steps.push(...planSysctls(k.netns, name, early, readSysctls(k.netns, early), linked.has(name)));
  const addresses: AddressSteps[] = [];
  for (const { view, state } of tunnels) {
    if (view.tunnel.external) continue;
    addresses.push(planAddresses(k, view, state.link ? await readAddresses(k, view.tunnel.interface) : [], state.link !== null));
    steps.push(...planLink(k, view, state));
    steps.push(...planWireGuard(k, view, state));
  }
  for (const a of addresses) steps.push(...a.adds);
  const machine = hostFamilies(k.netns);
  const peerRoutes = await readPeerRoutes(k, name, linked.has(name));
  steps.push(...planRoutes(k, withoutForeign(desiredPeerRoutes(config), peerRoutes.foreign), peerRoutes.own));
  steps.push(...planRoutes(k, desiredRoutes(config, machine), await readRoutes(k, tables)));
  const ours = rulesOfTables(rules, tables);
  const egress =
    config.role === 'backend' && config.tunnels.length > 1
      ? egressTunnelOf(config.tunnels, health.egressTunnel, currentEgressTable(config, ours))
      : undefined;
  steps.push(...planRules(k, desiredRules(config, machine, egress), ours));
  for (const a of addresses) steps.push(...a.deletes);
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
        late.filter((s) => s.global || (s.link !== undefined && linked.has(s.link))),
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
  const tunnels = [];
  for (const t of tunnelsOf(config)) tunnels.push({ view: viewOf(config, t), state: await readTunnel(k, t.interface) });
  const steps: Step[] = [];
  steps.push(...planSysctlRestore(k.netns, name, others));
  steps.push(...planNftablesRemoval(k, config, await readNftables(k, config)));
  steps.push(...planRules(k, [], await readRules(k, tables)));
  steps.push(...planRoutes(k, [], await readRoutes(k, tables)));
  steps.push(...planRoutes(k, [], (await readPeerRoutes(k, name, tunnels[0]!.state.link !== null)).own));
  // The claim before the links: removing a link cannot be undone, so they are the last steps.
  steps.push(...planClaimRemoval(k.netns, name));
  for (const { view, state } of tunnels) steps.push(...planTunnelRemoval(k, view, state));
  return new Plan(config.role, config.netns, steps);
}

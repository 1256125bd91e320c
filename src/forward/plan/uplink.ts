/**
 * What a frontend learns from its kernel to contain the backends' own traffic
 * (spec `egress`): which interfaces are its uplinks, and which networks it is
 * connected to. Both are read at every plan, so `netfwd up` (and `netfwd run`,
 * which plans again when the main table's default routes or the addresses
 * change) follows the machine.
 */
import { formatIp, networkAddress, type Prefix, parseIp, parsePrefix, prefixContains } from '../../grammar/index.js';
import { RT_TABLE_MAIN } from '../../route/index.js';
import type { IpFamily, NormalizedFrontend } from '../spec/normalized-config.js';
import type { Kernel } from './context.js';

export interface UplinkFacts {
  /**
   * Interfaces the backends' traffic may leave by: `public.interface` when
   * the spec names it, otherwise those of the main table's default routes.
   */
  uplinks: string[];
  /**
   * Destinations refused to the backends' traffic although they are reached by
   * an uplink, by family: the uplinks' own networks (the VPS's link: its
   * neighbours and the provider's router) and the link-local ranges.
   * Destinations by any other interface are refused for not being an uplink.
   */
  refused: Record<IpFamily, string[]>;
}

/** Link-local ranges: never the backends' business (a cloud's metadata service lives at 169.254.169.254). */
export const LINK_LOCAL: Record<IpFamily, string> = { 4: '169.254.0.0/16', 6: 'fe80::/10' };

export async function readUplinkFacts(k: Kernel, config: NormalizedFrontend): Promise<UplinkFacts> {
  const tunnel = config.tunnel.interface;
  let uplinks: string[];
  if (config.public.interface !== undefined) uplinks = [config.public.interface];
  else {
    const names = new Set<string>();
    for (const family of [4, 6] as const) {
      for await (const r of k.rt.routes.list({ table: RT_TABLE_MAIN, family })) {
        if (r.destination === 'default' && r.type === 'unicast' && r.link !== undefined && r.link !== tunnel) names.add(r.link);
      }
    }
    uplinks = [...names].sort();
  }
  const refused: Record<IpFamily, string[]> = { 4: [LINK_LOCAL[4]], 6: [LINK_LOCAL[6]] };
  // Only the uplinks' networks: a destination on another interface's network is routed by that
  // interface, which the forward chain already refuses (it is not an uplink).
  for (const a of await k.rt.addresses.list()) {
    if (a.link === undefined || !uplinks.includes(a.link)) continue;
    const ip = parseIp(a.peer?.split('/')[0] ?? a.local);
    if (!ip.ok) continue;
    const { family, bytes } = ip.value;
    const net = networkAddress({ family, address: bytes, length: a.prefixLength });
    refused[family].push(`${formatIp(net)}/${a.prefixLength}`);
  }
  return { uplinks, refused: { 4: outermost(refused[4]), 6: outermost(refused[6]) } };
}

/**
 * The prefixes without those inside another (an nftables interval set holds
 * no overlapping elements; two prefixes either nest or are disjoint), sorted.
 */
export function outermost(cidrs: readonly string[]): string[] {
  const parsed = [...new Set(cidrs)].map((text) => ({ text, prefix: cidrOf(text) }));
  parsed.sort((a, b) => a.prefix.length - b.prefix.length);
  const kept: typeof parsed = [];
  for (const p of parsed) {
    const inside = kept.some((o) => prefixContains(o.prefix, p.prefix));
    if (!inside) kept.push(p);
  }
  return kept.map((p) => p.text).sort();
}

/** A prefix this module wrote itself, parsed back. */
function cidrOf(text: string): Prefix {
  const r = parsePrefix(text);
  if (!r.ok) throw new Error(`internal error: prefix ${JSON.stringify(text)} ${r.problem}`);
  return r.value;
}

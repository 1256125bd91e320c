/**
 * Warnings about what would break forwarding and is not netfwd's to change:
 * other tables' base chains that drop by default on a hook netfwd's traffic
 * passes, and forwarding turned off. Computed once per plan; `plan` prints
 * them and `status` (and `doctor`) report them.
 */
import { type NftFamily, type NftRuleset, nftStmtsText } from '../../nft/index.js';
import type { NormalizedConfig, NormalizedService } from '../spec/normalized-config.js';
import type { Kernel } from './context.js';
import { nftTableName } from './ownership.js';
import { readSysctl } from './sysctl-access.js';
import type { UplinkFacts } from './uplink.js';

/** Base chains of other tables on `hook` with policy drop. */
function foreignDropChains(ruleset: NftRuleset, own: string, hook: string, what: string): string[] {
  return ruleset.chains
    .filter((c) => !(c.family === 'inet' && c.table === own) && c.hook === hook && c.policy === 'drop')
    .map(
      (c) => `table ${c.family} ${c.table} chain ${c.name} (hook ${c.hook}, policy drop) may drop ${what}; add an accept rule for it there`,
    );
}

/** The global forwarding sysctl of a family. */
export function forwardingKey(family: 4 | 6): string {
  return family === 4 ? 'net.ipv4.ip_forward' : 'net.ipv6.conf.all.forwarding';
}

/** The warnings for `config` in the namespace `k` works in (`facts`: a frontend's uplinks, as the plan read them). */
export async function planWarnings(k: Kernel, config: NormalizedConfig, facts?: UplinkFacts): Promise<string[]> {
  const own = nftTableName(config.tunnel.interface);
  const ruleset = await k.nft.list();
  const warnings: string[] = [];
  if (config.role === 'frontend') {
    warnings.push(...foreignDropChains(ruleset, own, 'forward', 'the traffic netfwd forwards'));
    warnings.push(
      ...foreignDropChains(
        ruleset,
        own,
        'input',
        `the tunnel's WireGuard packets (udp port ${config.tunnel.listenPort}) and with them every forward`,
      ),
    );
    if (config.egress.enabled && facts && facts.uplinks.length === 0) {
      warnings.push(
        "no default route in the main table: the backends' own traffic has no uplink and is refused until there is one " +
          '(`netfwd run` follows the routes; otherwise run `netfwd up` again), or name the uplink in public.interface',
      );
    }
    for (const f of config.families) {
      const key = forwardingKey(f);
      try {
        if (readSysctl(k.netns, key) !== '1') warnings.push(`${key} is off: the kernel does not forward; \`netfwd up\` turns it on`);
      } catch {
        /* unreadable: nothing to say */
      }
    }
  } else {
    warnings.push(...foreignDropChains(ruleset, own, 'input', 'the traffic netfwd delivers to the services'));
    const rp = config.returnPath;
    if ((rp.mode === 'uid' || rp.mode === 'mark') && rp.sources.length === 0) {
      for (const d of foreignServiceDnats(ruleset, own, config.services)) {
        warnings.push(
          `${d.protocol} port ${d.port} (a service) is DNATed by table ${d.where} (a container's published port, say): ` +
            `its replies return by the tunnel, but the container's own connections are forwarded packets that returnPath.${rp.mode === 'uid' ? 'uids' : 'uids/cgroup'} never selects — ` +
            'list the container network in returnPath.sources to send them through the tunnel too',
        );
      }
    }
  }
  return warnings;
}

/**
 * Services that another table DNATs on (Docker's `DOCKER` chain: `tcp dport
 * 9735 … xt target DNAT`, or a native dnat): read from the rules' text, so
 * both iptables-nft's and nft's own forms count.
 */
function foreignServiceDnats(
  ruleset: NftRuleset,
  own: string,
  services: readonly NormalizedService[],
): Array<{ protocol: string; port: number; where: string }> {
  const out = new Map<string, { protocol: string; port: number; where: string }>();
  for (const rule of ruleset.rules) {
    if (rule.family === 'inet' && rule.table === own) continue;
    const text = nftStmtsText(rule.expr, rule.family as NftFamily);
    if (!/\bxt target DNAT\b|\bdnat\b/.test(text)) continue;
    for (const m of text.matchAll(/\b(tcp|udp|th) dport (\d+)\b/g)) {
      const port = Number(m[2]);
      const protocols = m[1] === 'th' ? ['tcp', 'udp'] : [m[1]!];
      for (const s of services) {
        if (s.hosts.length > 0 || !protocols.includes(s.protocol) || port < s.ports.from || port > s.ports.to) continue;
        out.set(`${s.protocol}/${port}`, {
          protocol: s.protocol.toUpperCase(),
          port,
          where: `${rule.family} ${rule.table} chain ${rule.chain}`,
        });
      }
    }
  }
  return [...out.values()];
}

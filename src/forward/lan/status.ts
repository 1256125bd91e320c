/**
 * A LAN role's status: what of it is present (table, routes, rules, the
 * router's sysctls), the counters of the tagged packets, drift (what `up`
 * would change) and warnings. Read only.
 */
import { ConfigError } from '../../errors.js';
import type { NftRuleset, NftStmt } from '../../nft/index.js';
import type { Kernel } from '../plan/context.js';
import { NETFWD_PROTOCOL, nftTableName, OwnershipError } from '../plan/ownership.js';
import { readState } from '../plan/state-file.js';
import { readSysctl } from '../plan/sysctl-access.js';
import { desiredLanSysctls, lanTableComment } from './desired.js';
import { readLanTable } from './nftables.js';
import { planLanUp } from './planner.js';
import { describeLanRoute, readLanRoutes } from './routing.js';
import type { NormalizedLanConfig } from './spec.js';
import { lanWarnings } from './warnings.js';

/** Packets and bytes a rule counted. */
export interface PacketCount {
  packets: number;
  bytes: number;
}

/** Counts per family, for the families whose rule is present. */
export interface FamilyCounts {
  ipv4?: PacketCount;
  ipv6?: PacketCount;
}

export interface LanCounters {
  /**
   * Tagged packets that arrived on the LAN interface: on a service host, the
   * requests that gave their connection the mark; on a router, the replies it
   * marked (and routed to the VPN client, untracked).
   */
  tagged: FamilyCounts;
  /** Service host: the replies it tagged. */
  replies?: FamilyCounts;
  /** Router: marked packets dropped because they would have left by another interface than the LAN's. */
  leakDropped?: PacketCount;
}

/** What `status` reports for a LAN role. */
export interface LanRoleStatus {
  role: 'lan-router' | 'service-host';
  interface: string;
  netns: string | null;
  present: {
    /** `inet netfwd-br0`, or null. */
    nftTable: string | null;
    /** The router's routes in its table. */
    routes: string[];
    /** The router's rules. */
    rules: string[];
    /** The router's sysctls as they are now. */
    sysctls: Record<string, string | null>;
  };
  counters: LanCounters;
  /** The changes `up` would make (empty: the kernel matches the spec). */
  drift: string[];
  warnings: string[];
}

const counterOf = (stmts: readonly NftStmt[]): PacketCount | undefined => {
  const c = stmts.find((s) => s.type === 'counter');
  return c && c.type === 'counter' ? { packets: c.packets ?? 0, bytes: c.bytes ?? 0 } : undefined;
};

/** Which family a rule tags or matches: by its `ip dscp` / `ip6 dscp` statement. */
function familyOf(stmts: readonly NftStmt[]): 'ipv4' | 'ipv6' | undefined {
  for (const s of stmts) {
    if ((s.type === 'match' || s.type === 'set') && s.key === 'ip dscp') return 'ipv4';
    if ((s.type === 'match' || s.type === 'set') && s.key === 'ip6 dscp') return 'ipv6';
  }
  return undefined;
}

function countersOf(config: NormalizedLanConfig, r: NftRuleset | null): LanCounters {
  const table = nftTableName(config.interface);
  const rules = (chain: string) => (r?.rules ?? []).filter((x) => x.table === table && x.chain === chain);
  const byFamily = (chain: string): FamilyCounts => {
    const out: FamilyCounts = {};
    for (const rule of rules(chain)) {
      const family = familyOf(rule.expr);
      const count = counterOf(rule.expr);
      if (family && count) out[family] = count;
    }
    return out;
  };
  if (config.role === 'service-host') return { tagged: byFamily('prerouting'), replies: byFamily('postrouting') };
  const guard = rules('leakguard')
    .map((x) => counterOf(x.expr))
    .find((c) => c !== undefined);
  return { tagged: byFamily('prerouting'), ...(guard ? { leakDropped: guard } : {}) };
}

/** The status of `config` in the namespace `k` works in. */
export async function readLanStatus(k: Kernel, config: NormalizedLanConfig): Promise<LanRoleStatus> {
  const table = nftTableName(config.interface);
  const listed = await readLanTable(k, table);
  const ours = listed?.tables.some((t) => t.name === table && t.comment === lanTableComment(config.role)) ? listed : null;
  const routes: string[] = [];
  const rules: string[] = [];
  const claimed = readState(k.netns, config.interface).claim?.table;
  const tables = [...new Set([...(claimed !== undefined ? [claimed] : []), ...(config.role === 'lan-router' ? [config.table] : [])])];
  if (tables.length > 0) {
    for (const r of await readLanRoutes(k, tables)) routes.push(describeLanRoute(r).replace(/^route /, ''));
    for (const r of await k.rt.rules.list({ protocol: NETFWD_PROTOCOL })) {
      if (typeof r.table !== 'number' || !tables.includes(r.table)) continue;
      rules.push(
        `${r.priority}: ${r.fwmark !== undefined ? `fwmark 0x${r.fwmark.toString(16)} ` : ''}lookup ${r.table}${r.family === 6 ? ' (IPv6)' : ''}`,
      );
    }
  }
  const sysctls: Record<string, string | null> = {};
  for (const s of desiredLanSysctls(config)) {
    try {
      sysctls[s.key] = readSysctl(k.netns, s.key);
    } catch {
      sysctls[s.key] = null;
    }
  }
  let drift: string[];
  let warnings: string[];
  try {
    const plan = await planLanUp(k, config);
    drift = plan.lines();
    warnings = [...plan.warnings];
  } catch (err) {
    // A configuration `up` refuses (another one claims its mark, no such interface, a table of
    // its name that is not its own) has a status all the same.
    if (!(err instanceof ConfigError) && !(err instanceof OwnershipError)) throw err;
    drift = [];
    warnings = [`netfwd up would refuse this configuration: ${err.message}`, ...(await lanWarnings(k, config))];
  }
  return {
    role: config.role,
    interface: config.interface,
    netns: config.netns ?? null,
    present: { nftTable: ours ? `inet ${table}` : null, routes, rules, sysctls },
    counters: countersOf(config, ours),
    drift,
    warnings,
  };
}

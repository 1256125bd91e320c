/**
 * What a LAN role asks of the kernel: one nftables table, and for the router
 * policy routing (routes of table T, the fwmark rule), two sysctls, and the
 * claim that keeps other netfwd configurations of the namespace off its
 * table, priority and mark.
 *
 * Service host (`inet netfwd-eth0`):
 *   prerouting (mangle):  iifname "eth0" ip dscp 0x2a counter ct mark set 0x0000002a      (and ip6)
 *   postrouting (mangle): ct mark 0x0000002a ct direction reply ip dscp set 0x2a counter  (and ip6)
 * A tagged connection gets the connection mark on its first packet; every
 * reply of it — the SYN-ACK (the SYN's connection is confirmed by then), the
 * data, resets and ICMP errors the kernel makes — leaves with the tag.
 * Prerouting and postrouting rather than input and output: the same two rules
 * then also tag the replies of a service the host itself forwards to (a
 * container's published port), which never pass input or output.
 *
 * Router (`inet netfwd-br0`, table T, rule priority P):
 *   prerouting (raw):     iifname "br0" ip dscp 0x2a counter meta mark set 0x0000002a notrack  (and ip6)
 *   leakguard (forward):  meta mark 0x0000002a oifname != "br0" counter drop
 *   ip rule:              P: from all fwmark 0x2a lookup T                  (per family)
 *   table T:              default via VIA dev br0; unreachable default metric 4294967295
 * The router sees only the reply half of these connections (the VPN client
 * reaches the service host directly), so its conntrack would call the
 * replies INVALID: a router that drops `ct state invalid` would break the
 * recipe, and an invalid packet is never NATed, so a leak by the uplink would
 * leave with the LAN address. `notrack` (which needs the raw priority, before
 * conntrack) makes them untracked instead. The mark routes them to the VPN
 * client; `unreachable` keeps them off the main table when that route is gone,
 * and the forward rule drops a marked packet about to leave by any other
 * interface (the rule deleted, another route): none ever reaches the uplink.
 */
import { nftExpr as e, type NftChainSpec, type NftStmt } from '../../nft/index.js';
import type { RouteSpec, RuleSpec } from '../../route/index.js';
import { NETFWD_PROTOCOL, nftTableName } from '../plan/ownership.js';
import type { Claim } from '../plan/state-file.js';
import type { DesiredSysctl } from '../plan/sysctls.js';
import type { IpFamily } from '../spec/normalized-config.js';
import type { LanRoleName, NormalizedLanConfig, NormalizedLanRouter, NormalizedServiceHost } from './spec.js';

/** A LAN role's table holds both families, as the tunnel roles' do. */
export const LAN_FAMILY = 'inet' as const;

/** Chain priorities (nft's names): raw runs before conntrack (-200), mangle after it. */
const PRIORITY = { raw: -300, mangle: -150, filter: 0 } as const;

/**
 * The comment that marks a LAN role's table as netfwd's, naming the role: a
 * tunnel configuration of the same interface name refuses it as not its own,
 * and `netfwd status` without -c does not take it for a tunnel's left-over.
 */
export function lanTableComment(role: LanRoleName): string {
  return `managed by netfwd (${role}): changes here are overwritten`;
}

export interface DesiredLanChain {
  spec: NftChainSpec;
  rules: NftStmt[][];
}

export interface DesiredLanTable {
  /** `netfwd-<interface>`. */
  name: string;
  comment: string;
  chains: DesiredLanChain[];
}

const dscpKey = (f: IpFamily) => (f === 4 ? e.ip.dscp : e.ip6.dscp);

function serviceHostTable(config: NormalizedServiceHost, families: readonly IpFamily[]): DesiredLanTable {
  const name = nftTableName(config.interface);
  const base = { family: LAN_FAMILY, table: name };
  return {
    name,
    comment: lanTableComment('service-host'),
    chains: [
      {
        spec: { ...base, name: 'prerouting', type: 'filter', hook: 'prerouting', priority: PRIORITY.mangle, policy: 'accept' },
        rules: families.map((f) => [e.iifname.eq(config.interface), dscpKey(f).eq(config.dscp), e.counter(), e.ct.mark.set(config.mark)]),
      },
      {
        spec: { ...base, name: 'postrouting', type: 'filter', hook: 'postrouting', priority: PRIORITY.mangle, policy: 'accept' },
        // The counter after the tag: it counts per family (the tag brings the family's dependency).
        rules: families.map((f) => [e.ct.mark.eq(config.mark), e.ct.direction.eq('reply'), dscpKey(f).set(config.dscp), e.counter()]),
      },
    ],
  };
}

function routerTable(config: NormalizedLanRouter, families: readonly IpFamily[]): DesiredLanTable {
  const name = nftTableName(config.interface);
  const base = { family: LAN_FAMILY, table: name };
  const lan = config.interface;
  return {
    name,
    comment: lanTableComment('lan-router'),
    chains: [
      {
        spec: { ...base, name: 'prerouting', type: 'filter', hook: 'prerouting', priority: PRIORITY.raw, policy: 'accept' },
        rules: families.map((f) => [e.iifname.eq(lan), dscpKey(f).eq(config.dscp), e.counter(), e.meta.mark.set(config.mark), e.notrack()]),
      },
      {
        spec: { ...base, name: 'leakguard', type: 'filter', hook: 'forward', priority: PRIORITY.filter, policy: 'accept' },
        rules: [[e.meta.mark.eq(config.mark), e.oifname.neq(lan), e.counter(), e.drop()]],
      },
    ],
  };
}

/**
 * The table of either role. `families` are the machine's (hostFamilies):
 * both roles handle every family the machine has, whatever the router's
 * `via` lists — a tagged packet of a family without a `via` is routed into
 * the unreachable route rather than out by the uplink.
 */
export function desiredLanTable(config: NormalizedLanConfig, families: readonly IpFamily[]): DesiredLanTable {
  return config.role === 'lan-router' ? routerTable(config, families) : serviceHostTable(config, families);
}

/** The router's table T: the route to the VPN client per family of `via`, and the leak guard in every family. */
export function desiredLanRoutes(config: NormalizedLanRouter, families: readonly IpFamily[]): RouteSpec[] {
  const out: RouteSpec[] = [];
  for (const family of families) {
    const via = config.via.find((v) => v.family === family);
    const base = { destination: 'default', family, table: config.table, protocol: NETFWD_PROTOCOL } as const;
    if (via) out.push({ ...base, gateway: via.address, link: config.interface });
    // The largest metric: it loses to the route above while that exists, and is what is left without it.
    out.push({ ...base, type: 'unreachable', metric: 0xffffffff });
  }
  return out;
}

/** The router's `fwmark M lookup T` rule, per family. */
export function desiredLanRules(config: NormalizedLanRouter, families: readonly IpFamily[]): RuleSpec[] {
  return families.map((family) => ({
    priority: config.priority,
    family,
    table: config.table,
    fwmark: config.mark,
    protocol: NETFWD_PROTOCOL,
  }));
}

/** The interface's own send_redirects, in the form that survives dots in interface names (eth0.100). */
export const interfaceRedirectsKey = (link: string) => `net/ipv4/conf/${link}/send_redirects`;
export const ALL_REDIRECTS_KEY = 'net.ipv4.conf.all.send_redirects';

/**
 * The router forwards the tagged IPv4 replies out of the interface they came
 * in on, to a next hop on the sender's own subnet: the textbook case for an
 * ICMP redirect, which would tell the service host to send to those clients
 * directly via the VPN client — all its traffic for them, tagged or not. The
 * kernel sends one when `all` OR the interface's send_redirects is 1
 * (IN_DEV_TX_REDIRECTS is IN_DEV_ORCONF), so both are turned off; both are
 * recorded and restored by `down` (the interface is not netfwd's, so its
 * value outlives netfwd). IPv6 has no such sysctl and needs none: the kernel
 * sends an ICMPv6 redirect only towards a link-local next hop, and `via`
 * refuses those.
 */
export function desiredLanSysctls(config: NormalizedLanConfig): DesiredSysctl[] {
  if (config.role !== 'lan-router' || !config.families.includes(4)) return [];
  const why = 'no ICMP redirects for the tagged replies the router sends back into the LAN';
  return [
    { key: ALL_REDIRECTS_KEY, value: '0', global: true, why },
    { key: interfaceRedirectsKey(config.interface), value: '0', global: true, why },
  ];
}

/** What the configuration uses that no other netfwd configuration of the namespace may. */
export function desiredLanClaim(config: NormalizedLanConfig): Claim {
  const sysctls = desiredLanSysctls(config).map((s) => s.key);
  if (config.role === 'service-host') return { role: 'service-host', marks: [config.mark], sysctls };
  return { role: 'lan-router', table: config.table, priorities: [config.priority], marks: [config.mark], sysctls };
}

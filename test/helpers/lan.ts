/**
 * Test-side helpers for the LAN lab (src/lab/lan-topology.ts): nft counters on
 * an interface — by default the uplink of the LAN's gateway, where a leak
 * would leave the home — made with the nft tool in the test's own table and
 * read back with `nft -j`, and the namespace oracle `ip netns list`.
 */
import type { LanHostName, LanLab } from '../../src/lab/index.js';
import { inNetns, installCounters, readCounters, resetCounters } from './e2e.js';
import { run } from './kernel.js';

export interface WireCounter {
  /** Names the counter (the rule's comment); readWireCounters returns packets by name. */
  name: string;
  /**
   * 'out': leaving by the interface, counted after source NAT (postrouting,
   * priority 300: the addresses the next hop sees); 'out-before-nat': the same
   * packets before the gateway's masquerade (postrouting, priority -300);
   * 'in': arriving by it, before any NAT (prerouting, priority -300).
   */
  direction: 'out' | 'out-before-nat' | 'in';
  /** An address or prefix; the family follows from it (`ip` or `ip6`). */
  saddr?: string;
  daddr?: string;
  protocol?: 'tcp' | 'udp' | 'icmp' | 'ipv6-icmp';
  /** Ports: with `protocol` tcp/udp it is matched as such, without one as `th` of TCP or UDP. */
  sport?: number;
  dport?: number;
  /** More nft match text, appended as written (e.g. 'ct state invalid', 'ip dscp 42'). */
  match?: string;
}

const family = (a: string) => (a.includes(':') ? 'ip6' : 'ip');

/** The nft match of a counter on interface `iface`. */
export function wireCounterMatch(iface: string, c: WireCounter): string {
  const parts = [c.direction === 'in' ? `iifname "${iface}"` : `oifname "${iface}"`];
  if (c.saddr) parts.push(`${family(c.saddr)} saddr ${c.saddr}`);
  if (c.daddr) parts.push(`${family(c.daddr)} daddr ${c.daddr}`);
  const ported = c.sport !== undefined || c.dport !== undefined;
  if (c.protocol && !(ported && (c.protocol === 'tcp' || c.protocol === 'udp'))) parts.push(`meta l4proto ${c.protocol}`);
  if (ported) {
    const proto = c.protocol === 'tcp' || c.protocol === 'udp' ? c.protocol : 'th';
    if (proto === 'th') parts.push('meta l4proto { tcp, udp }');
    if (c.sport !== undefined) parts.push(`${proto} sport ${c.sport}`);
    if (c.dport !== undefined) parts.push(`${proto} dport ${c.dport}`);
  }
  if (c.match) parts.push(c.match);
  return parts.join(' ');
}

const hookOf = { out: 'postrouting', 'out-before-nat': 'postrouting-first', in: 'prerouting' } as const;

/** Installs the counters as the test's own inet table in a namespace (nft -f). */
export function installWireCounters(ns: string, iface: string, counters: WireCounter[], table = 'wire'): void {
  installCounters(
    ns,
    table,
    counters.map((c) => ({ name: c.name, match: wireCounterMatch(iface, c), hook: hookOf[c.direction] })),
  );
}

/** Packets counted so far, by counter name (nft -j list table). */
export function readWireCounters(ns: string, table = 'wire'): Record<string, number> {
  return readCounters(ns, table);
}

export interface UplinkCounters {
  /** Namespace and interface counted. */
  netns: string;
  iface: string;
  read(): Record<string, number>;
  /** Back to zero (the table is made again). */
  reset(): void;
  /** Removes the table. */
  remove(): void;
}

/**
 * Counters on a LAN lab host's uplink: by default the LAN gateway's (the home
 * router's eth0, or the VPN client's with gateway 'vpnclient'), i.e. what
 * leaves the home.
 */
export function installUplinkCounters(
  lab: LanLab,
  counters: WireCounter[],
  o: { host?: LanHostName; iface?: string; table?: string } = {},
): UplinkCounters {
  const host = o.host ? lab.host(o.host) : lab.gatewayHost;
  const iface = o.iface ?? host.uplink;
  if (!iface) throw new Error(`${host.name} has no uplink: name the interface`);
  const table = o.table ?? 'wire';
  installWireCounters(host.netns, iface, counters, table);
  return {
    netns: host.netns,
    iface,
    read: () => readWireCounters(host.netns, table),
    reset: () => resetCounters(host.netns, table),
    remove: () => {
      inNetns(host.netns, 'nft', ['delete', 'table', 'inet', table]);
    },
  };
}

/** The names `ip netns list` shows (the oracle for "every namespace is gone"). */
export function listedNamespaces(): string[] {
  return run('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0]!)
    .filter(Boolean);
}

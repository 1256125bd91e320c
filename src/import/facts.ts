/**
 * What the readers find in the input files, before any decision about the
 * netfwd configuration: one WireGuard interface, iptables rules, ip rules and
 * routes, and the notes about lines nothing here reads.
 */
import type { IpRoute, IpRule } from './iproute.js';
import type { IptRule } from './iptables.js';
import { type Located, Notes, type Origin } from './source.js';

/** A key written in the file, or the path of a file holding it. */
export type KeyRef = { kind: 'inline'; key: string; origin: Origin } | { kind: 'file'; path: string; origin: Origin };

export interface PeerFacts {
  /** The [Peer] / [wireguard-peer.KEY] line. */
  origin: Origin;
  publicKey?: Located<string>;
  presharedKey?: KeyRef;
  endpoint?: Located<string>;
  allowedIps: Array<Located<string>>;
  keepalive?: Located<number>;
}

export interface TunnelFacts {
  format: 'wg-quick' | 'keyfile';
  file: string;
  name?: Located<string>;
  /** CIDRs as written (v4 and v6). */
  addresses: Array<Located<string>>;
  listenPort?: Located<number>;
  privateKey?: KeyRef;
  peers: PeerFacts[];
  /** wg-quick Table= / NetworkManager route-table: where the peers' routes go. */
  table?: Located<number | 'off' | 'auto'>;
}

export interface Facts {
  /** The input files, in the order given. */
  files: string[];
  tunnels: TunnelFacts[];
  iptables: IptRule[];
  ipRules: IpRule[];
  ipRoutes: IpRoute[];
  /** Lines that turn IP forwarding on (sysctl, /proc). */
  forwarding: Origin[];
  /** Lines that set rp_filter (interface, value). */
  rpFilter: Array<Located<{ iface: string; value: string }>>;
  /** Interfaces an ifupdown hook's `case "$IFACE"` runs the commands for (`'inet-eth0')`). */
  ifupHooks: Array<Located<string>>;
  notes: Notes;
}

export function emptyFacts(): Facts {
  return {
    files: [],
    tunnels: [],
    iptables: [],
    ipRules: [],
    ipRoutes: [],
    forwarding: [],
    rpFilter: [],
    ifupHooks: [],
    notes: new Notes(),
  };
}

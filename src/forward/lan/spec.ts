/**
 * The two LAN roles of the tagged-routing recipe (three machines at home: the
 * router, the VPN client running netfwd's backend in return-path mode `dscp`,
 * and the host the service lives on). The backend forwards each connection
 * that arrives through the tunnel into the LAN with a DSCP tag; these roles
 * carry the tag back:
 *
 * - `service-host`: the service's machine tags its replies like the requests
 *   (a connection that arrived tagged gets a connection mark; everything it
 *   sends for that connection gets the tag). No routing change.
 * - `lan-router`: the LAN's default gateway sends tagged packets (the
 *   replies, addressed to the internet client) to the VPN client instead of
 *   the home uplink — and never lets one leave by another interface.
 *
 * What a caller writes (LanRouterSpec, ServiceHostSpec) and what validation
 * makes of it (NormalizedLanRouter, NormalizedServiceHost).
 */
import type { HostAddress, IpFamily } from '../spec/normalized-config.js';

/** The roles of this module (the tunnel roles are `frontend` and `backend`). */
export const LAN_ROLES = ['lan-router', 'service-host'] as const;
export type LanRoleName = (typeof LAN_ROLES)[number];

/** Defaults of the LAN roles. `mark` defaults to the DSCP value, a router's `table` to the mark. */
export const LAN_DEFAULTS = {
  /** The tag netfwd's backend in mode dscp puts on the connections it forwards into the LAN. */
  dscp: 42,
  /** The router's rule priority (the backend's default too: they are different machines). */
  priority: 100,
} as const;

/** The host a service lives on: tag the replies of tagged connections. */
export interface ServiceHostSpec {
  role: 'service-host';
  /**
   * The LAN interface, e.g. `eth0`: only tagged packets arriving on it mark
   * their connection. It also names the configuration (the nftables table
   * `netfwd-<interface>`, the state file).
   */
  interface: string;
  /** The DSCP value of the tag, 1-63. Default 42. */
  dscp?: number;
  /** The connection mark given to tagged connections, 1-4294967295. Default: the DSCP value. */
  mark?: number;
  /** Configure this network namespace instead of the current one. */
  netns?: string;
}

/** The LAN's default gateway: send tagged packets to the VPN client. */
export interface LanRouterSpec {
  role: 'lan-router';
  /**
   * The LAN interface, e.g. `br0`: tagged packets arrive on it and leave by it
   * again, towards `via`. Names the configuration (nftables table, state file).
   */
  interface: string;
  /**
   * The VPN client's (netfwd backend's) address on the LAN, one per family:
   * `198.51.100.130`, or `[198.51.100.130, "2001:db8:100::2"]`. The families
   * given are the ones routed to it; a tagged packet of another family is
   * refused (unreachable), never routed by the main table.
   */
  via: string | readonly string[];
  /** The DSCP value of the tag, 1-63. Default 42. */
  dscp?: number;
  /** The firewall mark tagged packets get and the rule routes by. Default: the DSCP value. */
  mark?: number;
  /** The routing table holding the route to `via`. Default: the mark. */
  table?: number;
  /** The priority of the `fwmark` rule, 1-32765. Default 100. */
  priority?: number;
  /** Configure this network namespace instead of the current one. */
  netns?: string;
}

/** Either LAN role's spec. */
export type LanRoleSpec = LanRouterSpec | ServiceHostSpec;

/** A validated service-host spec, defaults applied. */
export interface NormalizedServiceHost {
  role: 'service-host';
  netns: string | undefined;
  interface: string;
  dscp: number;
  mark: number;
}

/** A validated lan-router spec, defaults applied; `via` sorted by family. */
export interface NormalizedLanRouter {
  role: 'lan-router';
  netns: string | undefined;
  interface: string;
  via: HostAddress[];
  /** The families of `via`. */
  families: IpFamily[];
  dscp: number;
  mark: number;
  table: number;
  priority: number;
}

/** Either validated LAN role. */
export type NormalizedLanConfig = NormalizedLanRouter | NormalizedServiceHost;

/** True for a spec (or a validated config) of a LAN role. */
export function isLanRole(role: unknown): role is LanRoleName {
  return (LAN_ROLES as readonly unknown[]).includes(role);
}

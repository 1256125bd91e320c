/**
 * rtnetlink notifications as typed events. A monitor has its own socket
 * joined to the multicast groups of the kinds asked for; when the kernel drops
 * notifications (ENOBUFS) a `resync` event says the state must be read again,
 * so a lost event is never silent.
 */
import { ValidationError } from '../errors.js';
import { Connection } from '../netlink/connection.js';
import type { NetlinkMessage } from '../netlink/message.js';
import { eventMonitor } from '../netlink/monitor.js';
import { type Address, decodeAddress } from './addresses.js';
import * as C from './constants.js';
import { decodeLink, type Link, type Links } from './links.js';
import { decodeRoute, type RouteEntry } from './route-message.js';
import { decodeRule, type Rule } from './rules.js';

export type MonitorKind = 'link' | 'address' | 'route' | 'rule';
const KINDS: readonly MonitorKind[] = ['link', 'address', 'route', 'rule'];

/** 'new' covers both creation and change (the kernel sends RTM_NEW* for both). */
export type MonitorAction = 'new' | 'del';

/**
 * `sender` of an event is the netlink port (nlmsg_pid) of the socket whose
 * request made the change, as the kernel reports it: 0 when the kernel made it
 * on its own (a link going down takes its routes with it).
 */
export type RouteEvent =
  | { kind: 'link'; action: MonitorAction; link: Link; sender?: number }
  | { kind: 'address'; action: MonitorAction; address: Address; sender?: number }
  | { kind: 'route'; action: MonitorAction; route: RouteEntry; sender?: number }
  | { kind: 'rule'; action: MonitorAction; rule: Rule; sender?: number }
  /** Notifications were lost or could not be read: dump the state again. */
  | { kind: 'resync'; reason: string };

export interface MonitorOptions {
  /** Receive buffer of the monitor's socket. Default: the Connection default (4 MiB). */
  receiveBufferSize?: number;
}

export interface RouteMonitor extends AsyncIterableIterator<RouteEvent> {
  /** Stops the monitor and closes its socket; iteration ends. */
  close(): void;
  /** The monitor's own connection (for its stats, e.g. `overruns`). */
  readonly connection: Connection;
}

const GROUPS: Record<MonitorKind, number[]> = {
  link: [C.RTNLGRP_LINK],
  address: [C.RTNLGRP_IPV4_IFADDR, C.RTNLGRP_IPV6_IFADDR],
  route: [C.RTNLGRP_IPV4_ROUTE, C.RTNLGRP_IPV6_ROUTE],
  rule: [C.RTNLGRP_IPV4_RULE, C.RTNLGRP_IPV6_RULE],
};

export function checkMonitorKinds(kinds: unknown): Set<MonitorKind> {
  if (!Array.isArray(kinds) || kinds.length === 0) {
    throw new ValidationError('kinds', 'expected a non-empty array', `some of ${KINDS.map((k) => `'${k}'`).join(', ')}`);
  }
  kinds.forEach((k, i) => {
    if (!KINDS.includes(k))
      throw new ValidationError(`kinds[${i}]`, `unknown kind ${JSON.stringify(k)}`, KINDS.map((x) => `'${x}'`).join(', '));
  });
  return new Set(kinds as MonitorKind[]);
}

/**
 * Turns one notification into an event, keeping `names` (index → link name)
 * current. Undefined for messages of kinds not asked for or families other
 * than IPv4/IPv6. Throws DecodeError on malformed bytes.
 */
export function notificationEvent(
  msg: NetlinkMessage,
  kinds: ReadonlySet<MonitorKind>,
  names: Map<number, string>,
): RouteEvent | undefined {
  switch (msg.type) {
    case C.RTM_NEWLINK:
    case C.RTM_DELLINK: {
      const link = decodeLink(msg.data, names);
      if (msg.type === C.RTM_NEWLINK) names.set(link.index, link.name);
      else names.delete(link.index);
      return kinds.has('link') ? { kind: 'link', action: msg.type === C.RTM_NEWLINK ? 'new' : 'del', link, sender: msg.pid } : undefined;
    }
    case C.RTM_NEWADDR:
    case C.RTM_DELADDR: {
      if (!kinds.has('address')) return undefined;
      const address = decodeAddress(msg.data, names);
      return address && { kind: 'address', action: msg.type === C.RTM_NEWADDR ? 'new' : 'del', address, sender: msg.pid };
    }
    case C.RTM_NEWROUTE:
    case C.RTM_DELROUTE: {
      if (!kinds.has('route')) return undefined;
      const route = decodeRoute(msg.data, names);
      return route && { kind: 'route', action: msg.type === C.RTM_NEWROUTE ? 'new' : 'del', route, sender: msg.pid };
    }
    case C.RTM_NEWRULE:
    case C.RTM_DELRULE: {
      if (!kinds.has('rule')) return undefined;
      const rule = decodeRule(msg.data);
      return rule && { kind: 'rule', action: msg.type === C.RTM_NEWRULE ? 'new' : 'del', rule, sender: msg.pid };
    }
    default:
      return undefined;
  }
}

/**
 * Opens a monitor. The socket is subscribed before this returns, so every
 * change made after the call is seen, even before iteration starts.
 */
export function openMonitor(
  netns: string | undefined,
  kindList: readonly MonitorKind[],
  links: Links,
  options: MonitorOptions = {},
  onClose?: () => void,
): RouteMonitor {
  const kinds = checkMonitorKinds(kindList);
  // Link notifications are always joined: they keep the index → name map current.
  const groups = new Set<number>(GROUPS.link);
  for (const k of kinds) for (const g of GROUPS[k]) groups.add(g);
  const conn = Connection.openSync('route', { netns, groups: [...groups], receiveBufferSize: options.receiveBufferSize });
  let names: Map<number, string> | undefined;
  return eventMonitor<RouteEvent, Connection>(conn, {
    prepare: async () => {
      names ??= await links.names();
    },
    decode: (msg) => notificationEvent(msg, kinds, names!),
    resync: (reason) => ({ kind: 'resync', reason }),
    onResync: () => {
      names = undefined; // link notifications may be lost too
    },
    noun: 'notification',
    onClose,
  });
}

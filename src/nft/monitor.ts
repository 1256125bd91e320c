/**
 * nftables change notifications (the nfnetlink multicast group
 * NFNLGRP_NFTABLES, what `nft monitor` listens to) as typed events. Each
 * committed transaction produces one notification per object it changed,
 * followed by a NEWGEN message carrying the new generation id. When the kernel
 * drops notifications (ENOBUFS) a `resync` event says the ruleset must be read
 * again, so a lost change is never silent.
 *
 * Events carry what identifies the object (family, table, and the chain, set
 * or object name); they do not decode rule expressions or set elements — a
 * consumer that cares re-reads the table.
 */
import { DecodeError } from '../errors.js';
import { walkAttributes } from '../netlink/attributes.js';
import { Connection } from '../netlink/connection.js';
import type { NetlinkMessage } from '../netlink/message.js';
import { eventMonitor } from '../netlink/monitor.js';
import { nfgenmsg } from '../netlink/nfnetlink.js';
import {
  FAMILY_NAMES,
  NFNL_SUBSYS_NFTABLES,
  NFT_MSG_DELCHAIN,
  NFT_MSG_DELOBJ,
  NFT_MSG_DELRULE,
  NFT_MSG_DELSET,
  NFT_MSG_DELSETELEM,
  NFT_MSG_DELTABLE,
  NFT_MSG_NEWCHAIN,
  NFT_MSG_NEWGEN,
  NFT_MSG_NEWOBJ,
  NFT_MSG_NEWRULE,
  NFT_MSG_NEWSET,
  NFT_MSG_NEWSETELEM,
  NFT_MSG_NEWTABLE,
  type NftFamily,
} from './constants.js';

/** NFNLGRP_NFTABLES in linux/netfilter/nfnetlink.h. */
export const NFNLGRP_NFTABLES = 7;

export type NftObjectKind = 'table' | 'chain' | 'rule' | 'set' | 'element' | 'object';

export type NftMonitorEvent =
  | {
      kind: NftObjectKind;
      /** 'new' covers creation and change (the kernel sends NEW* for both). */
      action: 'new' | 'del';
      family: NftFamily;
      table: string;
      /** The chain (rules: their chain), set (elements: their set) or stateful object; absent for tables. */
      name?: string;
    }
  /** A transaction was committed: the ruleset is now at `generation`; `pid`/`process` made the change (when the kernel says). */
  | { kind: 'generation'; generation: number; pid?: number; process?: string }
  /** Notifications were lost or could not be read: read the ruleset again. */
  | { kind: 'resync'; reason: string };

export interface NftMonitorOptions {
  /** Namespace name under /run/netns, or a path. Default: the caller's. */
  netns?: string;
  /** Receive buffer of the monitor's socket. Default: the Connection default (4 MiB). */
  receiveBufferSize?: number;
}

export interface NftMonitor extends AsyncIterableIterator<NftMonitorEvent> {
  /** Stops the monitor and closes its socket; iteration ends. */
  close(): void;
  /** The monitor's own connection (its stats, e.g. `overruns`). */
  readonly connection: Connection;
}

const OBJECT_TYPES: Record<number, { kind: NftObjectKind; action: 'new' | 'del'; nameAttr?: number }> = {
  // Attribute numbers from linux/netfilter/nf_tables.h: every object's table is attribute 1.
  [NFT_MSG_NEWTABLE]: { kind: 'table', action: 'new' },
  [NFT_MSG_DELTABLE]: { kind: 'table', action: 'del' },
  [NFT_MSG_NEWCHAIN]: { kind: 'chain', action: 'new', nameAttr: 3 /* NFTA_CHAIN_NAME */ },
  [NFT_MSG_DELCHAIN]: { kind: 'chain', action: 'del', nameAttr: 3 },
  [NFT_MSG_NEWRULE]: { kind: 'rule', action: 'new', nameAttr: 2 /* NFTA_RULE_CHAIN */ },
  [NFT_MSG_DELRULE]: { kind: 'rule', action: 'del', nameAttr: 2 },
  [NFT_MSG_NEWSET]: { kind: 'set', action: 'new', nameAttr: 2 /* NFTA_SET_NAME */ },
  [NFT_MSG_DELSET]: { kind: 'set', action: 'del', nameAttr: 2 },
  [NFT_MSG_NEWSETELEM]: { kind: 'element', action: 'new', nameAttr: 2 /* NFTA_SET_ELEM_LIST_SET */ },
  [NFT_MSG_DELSETELEM]: { kind: 'element', action: 'del', nameAttr: 2 },
  [NFT_MSG_NEWOBJ]: { kind: 'object', action: 'new', nameAttr: 2 /* NFTA_OBJ_NAME */ },
  [NFT_MSG_DELOBJ]: { kind: 'object', action: 'del', nameAttr: 2 },
};

const cString = (buf: Buffer, at: number, len: number) => {
  const s = buf.toString('utf8', at, at + len);
  const nul = s.indexOf('\0');
  return nul === -1 ? s : s.slice(0, nul);
};

/**
 * One notification as an event; undefined for messages of other subsystems or
 * kinds (traces, flowtables). Throws DecodeError on malformed bytes.
 */
export function nftNotificationEvent(msg: NetlinkMessage): NftMonitorEvent | undefined {
  if (msg.type >> 8 !== NFNL_SUBSYS_NFTABLES) return undefined;
  const type = msg.type & 0xff;
  if (msg.data.length < nfgenmsg.size)
    throw new DecodeError(`nftables notification of ${msg.data.length} bytes is shorter than nfgenmsg`, 'nfgenmsg');
  if (type === NFT_MSG_NEWGEN) {
    let generation: number | undefined;
    let pid: number | undefined;
    let proc: string | undefined;
    for (const a of walkAttributes(msg.data, nfgenmsg.size, msg.data.length, 'gen')) {
      // NFTA_GEN_ID, NFTA_GEN_PROC_PID (big-endian u32), NFTA_GEN_PROC_NAME
      if (a.type === 1 && a.len >= 4) generation = msg.data.readUInt32BE(a.at);
      else if (a.type === 2 && a.len >= 4) pid = msg.data.readUInt32BE(a.at);
      else if (a.type === 3) proc = cString(msg.data, a.at, a.len);
    }
    if (generation === undefined) throw new DecodeError('NEWGEN without a generation id', 'gen');
    return { kind: 'generation', generation, ...(pid !== undefined ? { pid } : {}), ...(proc !== undefined ? { process: proc } : {}) };
  }
  const shape = OBJECT_TYPES[type];
  if (!shape) return undefined;
  const h = nfgenmsg.decode(msg.data, 0);
  const family = FAMILY_NAMES[h.family];
  if (!family) throw new DecodeError(`unknown family ${h.family}`, 'nfgenmsg');
  let table: string | undefined;
  let name: string | undefined;
  for (const a of walkAttributes(msg.data, nfgenmsg.size, msg.data.length, shape.kind)) {
    if (a.type === 1) table = cString(msg.data, a.at, a.len);
    else if (a.type === shape.nameAttr) name = cString(msg.data, a.at, a.len);
  }
  if (table === undefined) throw new DecodeError(`${shape.kind} notification without a table`, shape.kind);
  return { kind: shape.kind, action: shape.action, family, table, ...(name !== undefined ? { name } : {}) };
}

/**
 * Opens a monitor. The socket is subscribed before this returns: every change
 * committed after the call is seen, even before iteration starts.
 */
export function openNftMonitor(options: NftMonitorOptions = {}): NftMonitor {
  const conn = Connection.openSync('netfilter', {
    netns: options.netns,
    groups: [NFNLGRP_NFTABLES],
    receiveBufferSize: options.receiveBufferSize,
  });
  return eventMonitor<NftMonitorEvent, Connection>(conn, {
    decode: nftNotificationEvent,
    resync: (reason) => ({ kind: 'resync', reason }),
    noun: 'nftables notification',
  });
}

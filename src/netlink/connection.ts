/**
 * A netlink connection for one (protocol, namespace): sequence matching,
 * request → ACK or reply, multipart dumps as async iterables with
 * NLM_F_DUMP_INTR retry, pipelined bulk sends, nfnetlink batch transactions
 * and multicast monitoring. All protocol knowledge above nlmsghdr lives in the
 * layers that build the requests.
 *
 * This file opens the socket and is the public face; the work is done below
 * it: exchange.ts (sequence numbers, waiters, reading), request.ts, dump.ts,
 * bulk.ts and monitor.ts. The nfnetlink batch belongs to nftables
 * (nft/batch.ts), which installs it for `transaction()`.
 */
import { NetlinkError, ValidationError } from '../errors.js';
import { addon, type NativeSocket } from '../native.js';
import { netnsPath } from '../netns/path.js';
import { type BulkOptions, type BulkResult, bulk } from './bulk.js';
import {
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_CAP_ACK,
  NETLINK_DROP_MEMBERSHIP,
  NETLINK_EXT_ACK,
  NETLINK_GENERIC,
  NETLINK_GET_STRICT_CHK,
  NETLINK_NETFILTER,
  NETLINK_ROUTE,
  SOL_NETLINK,
} from './constants.js';
import { type DumpOptions, dump, dumpAll } from './dump.js';
import { type ConnectionStats, Exchange, type MonitorItem, newStats, wrapNative } from './exchange.js';
import type { NetlinkMessage, Request } from './message.js';
import { monitor } from './monitor.js';
import { request } from './request.js';

export type Protocol = 'route' | 'netfilter' | 'generic';

const PROTOCOLS: Record<Protocol, number> = {
  route: NETLINK_ROUTE,
  netfilter: NETLINK_NETFILTER,
  generic: NETLINK_GENERIC,
};

export interface ConnectionOptions {
  /** A namespace name under /run/netns, or a path to a namespace file. Default: the caller's. */
  netns?: string;
  /** Socket receive buffer in bytes (forced past rmem_max when privileged). Default 4 MiB. */
  receiveBufferSize?: number;
  /** Socket send buffer in bytes. Default 1 MiB. */
  sendBufferSize?: number;
  /** Multicast groups to join right away (for `monitor()`). */
  groups?: number[];
}

export interface TransactionOptions {
  /** Refuse the batch (ConflictError) unless the ruleset is still at this generation. */
  genId?: number;
  /** nfnetlink subsystem. Default NFNL_SUBSYS_NFTABLES. */
  subsystem?: number;
}

export interface TransactionResult {
  /** Messages echoed for each request (NLM_F_ECHO), by request index. */
  replies: NetlinkMessage[][];
}

/** An nfnetlink batch sender (nft/batch.ts). */
export type BatchSender = (conn: Connection, requests: readonly Request[], options: TransactionOptions) => Promise<TransactionResult>;
let batchSender: BatchSender | undefined;

/**
 * @internal Installs the nfnetlink batch behind `Connection.transaction()`.
 * nft/batch.ts does, when loaded: netlink knows no nftables.
 */
export function installBatch(send: BatchSender): void {
  batchSender = send;
}

const DEFAULT_RCVBUF = 4 * 1024 * 1024;
const DEFAULT_SNDBUF = 1024 * 1024;

/** The ports of the connections this process opened lately (notifications name the requesting port). */
const recentPorts: number[] = [];
const RECENT_PORTS = 256;

/**
 * True when `port` (a notification's nlmsg_pid) is one of the last 256
 * netlink ports this process opened: the change was this process's own.
 */
export function isOwnPort(port: number): boolean {
  return port !== 0 && recentPorts.includes(port >>> 0);
}

export class Connection {
  readonly protocol: Protocol;
  /** The namespace path, or undefined for the caller's namespace. */
  readonly netns?: string;
  readonly stats: ConnectionStats = newStats();
  /** @internal The sequence-matching core the operations run on. */
  readonly exchange: Exchange;

  private constructor(protocol: Protocol, sock: NativeSocket, netns?: string) {
    this.protocol = protocol;
    this.netns = netns;
    this.exchange = new Exchange(sock, this.stats);
  }

  /** Opens a connection; `netns` is a name under /run/netns or a path. */
  static async open(protocol: Protocol, options: ConnectionOptions = {}): Promise<Connection> {
    return Connection.openSync(protocol, options);
  }

  /** Synchronous variant of `open`. */
  static openSync(protocol: Protocol, options: ConnectionOptions = {}): Connection {
    const number = PROTOCOLS[protocol];
    if (number === undefined)
      throw new ValidationError('protocol', `unknown protocol ${JSON.stringify(protocol)}`, "'route', 'netfilter' or 'generic'");
    const path = options.netns === undefined ? undefined : netnsPath(options.netns);
    let sock: NativeSocket;
    try {
      sock = new (addon().NetlinkSocket)(number, path);
    } catch (err) {
      throw wrapNative(err, `open ${protocol} netlink socket${path ? ` in ${path}` : ''}`);
    }
    return Connection.over(sock, protocol, options, path);
  }

  /**
   * @internal A connection over a socket already open (netlink/testing.ts
   * builds one over a fake socket), configured as `openSync` configures it.
   */
  static over(sock: NativeSocket, protocol: Protocol, options: ConnectionOptions = {}, netns?: string): Connection {
    const conn = new Connection(protocol, sock, netns);
    try {
      recentPorts.push(sock.portId >>> 0);
      if (recentPorts.length > RECENT_PORTS) recentPorts.shift();
      sock.setOption(SOL_NETLINK, NETLINK_EXT_ACK, 1);
      sock.setOption(SOL_NETLINK, NETLINK_CAP_ACK, 1);
      if (protocol === 'route') sock.setOption(SOL_NETLINK, NETLINK_GET_STRICT_CHK, 1);
      conn.setBuffers(options.receiveBufferSize ?? DEFAULT_RCVBUF, options.sendBufferSize ?? DEFAULT_SNDBUF);
      for (const g of options.groups ?? []) conn.join(g);
    } catch (err) {
      sock.close();
      throw wrapNative(err, `configure ${protocol} netlink socket`);
    }
    return conn;
  }

  get portId(): number {
    return this.exchange.sock.portId;
  }

  get isClosed(): boolean {
    return this.exchange.isClosed;
  }

  /** Sets the socket buffers, forcing past the sysctl limits when privileged. */
  setBuffers(receive?: number, send?: number): void {
    this.exchange.setBuffers(receive, send);
  }

  /** The effective buffer sizes (the kernel doubles what was asked for). */
  bufferSizes(): { receive: number; send: number } {
    return this.exchange.bufferSizes();
  }

  /** Raw socket option access (SOL_NETLINK options and the like). */
  setOption(level: number, name: number, value: number): void {
    this.exchange.sock.setOption(level, name, value);
  }
  getOption(level: number, name: number): number {
    return this.exchange.sock.getOption(level, name);
  }

  /** Joins a multicast group. */
  join(group: number): void {
    this.exchange.sock.setOption(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group);
  }
  /** Leaves a multicast group. */
  leave(group: number): void {
    this.exchange.sock.setOption(SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, group);
  }

  /**
   * Sends one request and resolves with its replies once the kernel
   * acknowledges it. With `offload`, the write goes out from the libuv thread
   * pool (the kernel handles the request inside it): for a large request,
   * whose handling takes the kernel long, the caller can prepare the next one
   * meanwhile. The request's frame is its own buffer then.
   */
  request(req: Request, options: { offload?: boolean } = {}): Promise<NetlinkMessage[]> {
    return request(this.exchange, req, options);
  }

  /**
   * Runs a dump and yields its messages. Dumps on one connection run one at a
   * time (the kernel allows one per socket); stopping early drains the rest.
   */
  dump(req: Request, options: DumpOptions = {}): AsyncGenerator<NetlinkMessage, void, undefined> {
    return dump(this.exchange, req, options);
  }

  /** Runs a dump and collects every message. */
  dumpAll(req: Request, options: DumpOptions = {}): Promise<NetlinkMessage[]> {
    return dumpAll(this.exchange, req, options);
  }

  /**
   * Sends many requests pipelined: up to `window` messages per write, only
   * the last one asking for an ACK, so a success costs no reply. Each failure
   * is reported with its index; the rest are applied.
   *
   * The kernel handles a datagram inside the send, so each write goes out
   * from the libuv thread pool while the next one is encoded here: encoding
   * and the kernel's work overlap. Writes start small (the kernel starts
   * early) and double up to `window`; one is in the kernel at a time, so the
   * errors queued never exceed one window.
   */
  bulk(requests: Iterable<Request>, options: BulkOptions = {}): Promise<BulkResult> {
    return bulk(this.exchange, requests, options);
  }

  /**
   * Sends an nfnetlink batch (BATCH_BEGIN, the requests, BATCH_END) in one
   * write: all or nothing. On failure the error names the failing request
   * (`index`, `operation`); a generation mismatch is a ConflictError.
   */
  async transaction(requests: readonly Request[], options: TransactionOptions = {}): Promise<TransactionResult> {
    if (!batchSender) throw new NetlinkError(95 /* EOPNOTSUPP */, { operation: 'nfnetlink batch: nft/batch.ts is not loaded' });
    return batchSender(this, requests, options);
  }

  /**
   * Yields notifications from the joined multicast groups. When the kernel
   * drops notifications (ENOBUFS) a Resync item is yielded: the state must be
   * read again.
   */
  monitor(): AsyncIterableIterator<MonitorItem> {
    return monitor(this.exchange);
  }

  /** Closes the socket; pending requests fail, monitors end. */
  close(): void {
    this.exchange.close();
  }
}

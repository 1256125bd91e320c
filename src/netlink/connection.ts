/**
 * A netlink connection for one (protocol, namespace): sequence matching,
 * request → ACK or reply, multipart dumps as async iterables with
 * NLM_F_DUMP_INTR retry, pipelined bulk sends, nfnetlink batch transactions
 * and multicast monitoring. All protocol knowledge above nlmsghdr lives in the
 * layers that build the requests.
 */
import { ConflictError, DecodeError, DumpInterruptedError, NetlinkError, ValidationError } from '../errors.js';
import { netnsPath } from '../netns/path.js';
import { attrs } from './attributes.js';
import {
  NETLINK_ADD_MEMBERSHIP,
  NETLINK_CAP_ACK,
  NETLINK_DROP_MEMBERSHIP,
  NETLINK_EXT_ACK,
  NETLINK_GENERIC,
  NETLINK_GET_STRICT_CHK,
  NETLINK_NETFILTER,
  NETLINK_ROUTE,
  NFNL_BATCH_GENID,
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_DUMP_INTR,
  NLM_F_REQUEST,
  SOL_NETLINK,
  SOL_SOCKET,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
} from './constants.js';
import { type AckPayload, type NetlinkMessage, type Request, frame, frameRequest, parseAck, parseDatagram, parseDone, patchFrame } from './message.js';
import { type NativeError, type NativeSocket, addon } from '../native.js';
import { nfgenmsg } from './nfnetlink.js';
import { Writer } from './writer.js';

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

export interface ConnectionStats {
  /** Messages sent, batch markers excluded. */
  messages: number;
  /** Messages that change kernel state (everything but dumps and reads). */
  writes: number;
  datagramsSent: number;
  datagramsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  dumpRetries: number;
  overruns: number;
}

const newStats = (): ConnectionStats => ({
  messages: 0,
  writes: 0,
  datagramsSent: 0,
  datagramsReceived: 0,
  bytesSent: 0,
  bytesReceived: 0,
  dumpRetries: 0,
  overruns: 0,
});

export interface DumpOptions {
  /**
   * Identity of a dumped object. With it the dump streams, and a dump the
   * kernel marks as interrupted (NLM_F_DUMP_INTR) is re-run, yielding only the
   * objects not yet yielded. Without it each pass is collected before yielding.
   */
  key?: (msg: NetlinkMessage) => string;
  /** How often an interrupted dump is re-run before giving up. Default 5. */
  retries?: number;
}

export interface BulkOptions {
  /** Messages per write; also bounds the errors queued at once. */
  window?: number;
}

export interface BulkFailure {
  /** Position of the failing request in the input. */
  index: number;
  request: Request;
  error: NetlinkError;
}

export interface BulkResult {
  sent: number;
  failed: BulkFailure[];
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

/** Yielded by `monitor()` when notifications were lost: re-read the state. */
export interface Resync {
  resync: true;
  reason: string;
}

export type MonitorItem = NetlinkMessage | Resync;

interface Waiter {
  /** Returns true when finished with. */
  deliver(msg: NetlinkMessage): boolean;
  fail(error: Error): void;
}

interface RangeWaiter extends Waiter {
  first: number;
  last: number;
}

const batchGenId = attrs('nfnl_batch', { genid: { type: NFNL_BATCH_GENID, kind: 'be32' } });

const DEFAULT_RCVBUF = 4 * 1024 * 1024;
const DEFAULT_SNDBUF = 1024 * 1024;
const QUEUE_HIGH = 4096;
const QUEUE_LOW = 1024;

/** Totals over every connection of this process (e.g. to count writes of an apply). */
export const netlinkTotals: ConnectionStats = newStats();

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

function wrapNative(err: unknown, operation: string): Error {
  const e = err as NativeError;
  if (e && typeof e.errno === 'number') return new NetlinkError(e.errno, { operation });
  return err as Error;
}

/** 53-bit FNV-style hash of a string, for compact "already yielded" sets. */
function hash53(s: string): number {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x01000193);
    h2 = Math.imul(h2 ^ c, 0x5bd1e995);
  }
  return (h2 >>> 11) * 0x100000000 + (h1 >>> 0);
}

export class Connection {
  readonly protocol: Protocol;
  /** The namespace path, or undefined for the caller's namespace. */
  readonly netns?: string;
  readonly stats: ConnectionStats = newStats();

  private readonly sock: NativeSocket;
  private seq: number;
  private readonly waiters = new Map<number, Waiter>();
  private readonly dumpSeqs = new Set<number>();
  private ranges: RangeWaiter[] = [];
  private readonly subscribers = new Set<(item: MonitorItem | Error | null) => void>();
  private polling = false;
  private pollErrors = 0;
  private paused = false;
  private draining = false;
  private closed = false;
  /** An overrun was read; the resync is due once the notifications queued before it are delivered. */
  private resyncPending = false;
  private dumpLock: Promise<void> = Promise.resolve();
  private readonly writer = new Writer(64 * 1024);

  private constructor(protocol: Protocol, sock: NativeSocket, netns?: string) {
    this.protocol = protocol;
    this.sock = sock;
    this.netns = netns;
    this.seq = 1 + Math.floor(Math.random() * 0x3fffffff);
  }

  /** Opens a connection; `netns` is a name under /run/netns or a path. */
  static async open(protocol: Protocol, options: ConnectionOptions = {}): Promise<Connection> {
    return Connection.openSync(protocol, options);
  }

  /** Synchronous variant of `open`. */
  static openSync(protocol: Protocol, options: ConnectionOptions = {}): Connection {
    const number = PROTOCOLS[protocol];
    if (number === undefined) throw new ValidationError('protocol', `unknown protocol ${JSON.stringify(protocol)}`, "'route', 'netfilter' or 'generic'");
    const path = options.netns === undefined ? undefined : netnsPath(options.netns);
    let sock: NativeSocket;
    try {
      sock = new (addon().NetlinkSocket)(number, path);
    } catch (err) {
      throw wrapNative(err, `open ${protocol} netlink socket${path ? ` in ${path}` : ''}`);
    }
    const conn = new Connection(protocol, sock, path);
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
    return this.sock.portId;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Sets the socket buffers, forcing past the sysctl limits when privileged. */
  setBuffers(receive?: number, send?: number): void {
    const set = (force: number, plain: number, size: number) => {
      try {
        this.sock.setOption(SOL_SOCKET, force, size);
      } catch {
        this.sock.setOption(SOL_SOCKET, plain, size);
      }
    };
    if (receive) set(SO_RCVBUFFORCE, SO_RCVBUF, receive);
    if (send) set(SO_SNDBUFFORCE, SO_SNDBUF, send);
  }

  /** The effective buffer sizes (the kernel doubles what was asked for). */
  bufferSizes(): { receive: number; send: number } {
    return { receive: this.sock.getOption(SOL_SOCKET, SO_RCVBUF), send: this.sock.getOption(SOL_SOCKET, SO_SNDBUF) };
  }

  /** Raw socket option access (SOL_NETLINK options and the like). */
  setOption(level: number, name: number, value: number): void {
    this.sock.setOption(level, name, value);
  }
  getOption(level: number, name: number): number {
    return this.sock.getOption(level, name);
  }

  /** Joins a multicast group. */
  join(group: number): void {
    this.sock.setOption(SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, group);
  }
  /** Leaves a multicast group. */
  leave(group: number): void {
    this.sock.setOption(SOL_NETLINK, NETLINK_DROP_MEMBERSHIP, group);
  }

  // ---------------------------------------------------------------- requests

  /**
   * Sends one request and resolves with its replies once the kernel
   * acknowledges it. With `offload`, the write goes out from the libuv thread
   * pool (the kernel handles the request inside it): for a large request,
   * whose handling takes the kernel long, the caller can prepare the next one
   * meanwhile. The request's frame is its own buffer then.
   */
  request(req: Request, options: { offload?: boolean } = {}): Promise<NetlinkMessage[]> {
    this.ensureOpen();
    return new Promise<NetlinkMessage[]>((resolve, reject) => {
      const seq = this.allocSeq(1);
      const replies: NetlinkMessage[] = [];
      this.waiters.set(seq, {
        deliver: (msg) => {
          if (msg.type === NLMSG_ERROR) {
            const ack = this.safeAck(msg, reject);
            if (!ack) return true;
            if (ack.error === 0) resolve(replies);
            else reject(this.errorFor(ack, req));
            return true;
          }
          if (msg.type === NLMSG_DONE) {
            resolve(replies);
            return true;
          }
          replies.push(msg);
          return false;
        },
        fail: reject,
      });
      const failed = (err: unknown) => {
        this.waiters.delete(seq);
        reject(wrapNative(err, req.describe ?? 'send netlink request'));
      };
      try {
        const w = options.offload ? new Writer(NLMSG_HDRLEN + req.payload.length + 4) : this.writer;
        w.reset();
        frame(w, req.type, req.flags | NLM_F_REQUEST | NLM_F_ACK, seq, req.payload);
        this.count(req, 1);
        const datagram = w.buf.subarray(0, w.pos);
        if (options.offload) {
          this.sendBufferAsync(datagram).then(() => this.drain(), failed);
          return;
        }
        this.sendBuffer(datagram);
      } catch (err) {
        failed(err);
        return;
      }
      this.drain();
    });
  }

  /**
   * Runs a dump and yields its messages. Dumps on one connection run one at a
   * time (the kernel allows one per socket); stopping early drains the rest.
   */
  async *dump(req: Request, options: DumpOptions = {}): AsyncGenerator<NetlinkMessage, void, undefined> {
    this.ensureOpen();
    const release = await this.lockDumps();
    const retries = options.retries ?? 5;
    const seen = options.key ? new Set<number>() : undefined;
    let active: DumpPass | undefined;
    try {
      for (let attempt = 0; ; attempt++) {
        active = new DumpPass(this, req);
        const pass = active;
        const buffered: NetlinkMessage[] = [];
        for (;;) {
          const msg = await pass.next();
          if (msg === null) break;
          if (!seen) {
            buffered.push(msg);
            continue;
          }
          const k = hash53(options.key!(msg));
          if (seen.has(k)) continue;
          seen.add(k);
          yield msg;
        }
        if (!pass.interrupted) {
          for (const m of buffered) yield m;
          return;
        }
        this.stats.dumpRetries++;
        netlinkTotals.dumpRetries++;
        if (attempt >= retries) {
          throw new DumpInterruptedError(
            `${req.describe ?? 'dump'}: interrupted by concurrent changes ${attempt + 1} times in a row (NLM_F_DUMP_INTR); try again`,
          );
        }
      }
    } finally {
      if (active && !active.done) await active.discard();
      release();
    }
  }

  /** Runs a dump and collects every message. */
  async dumpAll(req: Request, options: DumpOptions = {}): Promise<NetlinkMessage[]> {
    const out: NetlinkMessage[] = [];
    for await (const m of this.dump(req, options)) out.push(m);
    return out;
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
  async bulk(requests: Iterable<Request>, options: BulkOptions = {}): Promise<BulkResult> {
    this.ensureOpen();
    const { receive, send } = this.bufferSizes();
    // An error reply takes about 1 KiB of receive buffer (skb overhead included).
    const window = Math.max(1, Math.min(options.window ?? 2048, Math.floor(receive / 1536)));
    const maxBytes = Math.max(4096, Math.min(256 * 1024, send / 2 - 1024));
    const failed: BulkFailure[] = [];
    const iterator = requests[Symbol.iterator]();
    let base = 0;
    let exhausted = false;
    let size = Math.min(window, 64);
    const writers = [new Writer(Math.min(maxBytes + 4096, 64 * 1024)), new Writer(Math.min(maxBytes + 4096, 64 * 1024))];
    let turn = 0;
    let inFlight: Promise<void> | undefined;
    try {
      while (!exhausted) {
        const w = writers[(turn ^= 1)]!;
        const chunk: Request[] = [];
        const offsets: number[] = [];
        w.reset();
        // Framed as they are taken (straight into the datagram when the
        // request can write itself), so the byte limit sees what was written;
        // sequence numbers and the ACK flag are set once the chunk is complete.
        while (chunk.length < size && w.pos < maxBytes) {
          const next = iterator.next();
          if (next.done) {
            exhausted = true;
            break;
          }
          const req = next.value;
          offsets.push(frameRequest(w, req, (req.flags & ~NLM_F_ACK) | NLM_F_REQUEST, 0));
          chunk.push(req);
        }
        size = Math.min(window, size * 2);
        if (inFlight) await inFlight; // the previous write is done and acknowledged
        inFlight = undefined;
        if (chunk.length === 0) break;
        this.ensureOpen();
        const first = this.allocSeq(chunk.length);
        const last = first + chunk.length - 1;
        const chunkBase = base;
        base += chunk.length;
        for (let i = 0; i < chunk.length; i++) {
          const req = chunk[i]!;
          patchFrame(w, offsets[i]!, (req.flags & ~NLM_F_ACK) | NLM_F_REQUEST | (i === chunk.length - 1 ? NLM_F_ACK : 0), first + i);
        }
        const done = new Promise<void>((resolve, reject) => {
          this.ranges.push({
            first,
            last,
            deliver: (msg) => {
              if (msg.type !== NLMSG_ERROR) return false;
              const ack = this.safeAck(msg, reject);
              if (!ack) return true;
              if (ack.error !== 0) {
                const i = msg.seq - first;
                const req = chunk[i]!;
                failed.push({ index: chunkBase + i, request: req, error: this.errorFor(ack, req, chunkBase + i) });
              }
              if (msg.seq === last) {
                resolve();
                return true;
              }
              return false;
            },
            fail: reject,
          });
        });
        this.count(chunk, chunk.length);
        const sent = this.sendBufferAsync(w.buf.subarray(0, w.pos)).catch((err: unknown) => {
          this.ranges = this.ranges.filter((r) => r.first !== first);
          throw wrapNative(err, `bulk send of ${chunk.length} messages`);
        });
        inFlight = sent.then(() => {
          this.drain();
          return done;
        });
        // Until awaited, a rejection is handled here and seen at the await.
        inFlight.catch(() => undefined);
      }
      if (inFlight) await inFlight;
    } finally {
      // An error thrown while encoding leaves the write in flight to finish (its buffer stays untouched).
      if (inFlight) await inFlight.catch(() => undefined);
    }
    return { sent: base, failed };
  }

  /**
   * Sends an nfnetlink batch (BATCH_BEGIN, the requests, BATCH_END) in one
   * write: all or nothing. On failure the error names the failing request
   * (`index`, `operation`); a generation mismatch is a ConflictError.
   */
  async transaction(requests: readonly Request[], options: TransactionOptions = {}): Promise<TransactionResult> {
    this.ensureOpen();
    if (this.protocol !== 'netfilter') throw new ValidationError('protocol', 'transactions are an nfnetlink feature', "a 'netfilter' connection");
    if (requests.length === 0) return { replies: [] };
    const subsystem = options.subsystem ?? NFNL_SUBSYS_NFTABLES;
    // Sized for the whole batch up front: growing a multi-megabyte buffer by doubling copies it each time.
    let size = 2 * (NLMSG_HDRLEN + 32);
    for (let i = 0; i < requests.length; i++) size += NLMSG_HDRLEN + ((requests[i]!.payload.length + 3) & ~3);
    const w = new Writer(size);
    const first = this.allocSeq(requests.length + 2);
    const last = first + requests.length + 1;
    const beginPayload = (() => {
      const b = new Writer(32);
      nfgenmsg.encode(b, { family: 0, version: 0, resId: subsystem });
      if (options.genId !== undefined) batchGenId.encode(b, { genid: options.genId });
      return b.finish();
    })();
    frame(w, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, first, beginPayload);
    requests.forEach((req, i) => {
      const flags = (req.flags & ~NLM_F_ACK) | NLM_F_REQUEST | (i === requests.length - 1 ? NLM_F_ACK : 0);
      frame(w, req.type, flags, first + 1 + i, req.payload);
    });
    const endPayload = (() => {
      const b = new Writer(8);
      nfgenmsg.encode(b, { family: 0, version: 0, resId: subsystem });
      return b.finish();
    })();
    frame(w, NFNL_MSG_BATCH_END, NLM_F_REQUEST, last, endPayload);
    const bytes = w.pos;
    this.ensureSendBuffer(bytes);
    const echoBytes = requests.reduce((n, r) => n + (r.flags & 0x08 ? r.payload.length * 2 + 1024 : 0), 0);
    if (echoBytes > 0) this.ensureReceiveBuffer(echoBytes + 256 * 1024);

    const replies: NetlinkMessage[][] = requests.map(() => []);
    const failures: NetlinkError[] = [];
    const lastRequest = last - 1;
    const done = new Promise<void>((resolve, reject) => {
      this.ranges.push({
        first,
        last,
        deliver: (msg) => {
          if (msg.type !== NLMSG_ERROR) {
            const i = msg.seq - first - 1;
            if (i >= 0 && i < requests.length) replies[i]!.push(msg);
            return false;
          }
          const ack = this.safeAck(msg, reject);
          if (!ack) return true;
          if (msg.seq === first) {
            // The batch as a whole was refused (generation mismatch, permission, ...).
            if (ack.error !== 0) failures.push(this.errorFor(ack, { type: NFNL_MSG_BATCH_BEGIN, flags: 0, payload: beginPayload, describe: 'begin batch' }));
            resolve();
            return true;
          }
          const i = msg.seq - first - 1;
          if (ack.error !== 0 && i >= 0 && i < requests.length) failures.push(this.errorFor(ack, requests[i]!, i));
          if (msg.seq >= lastRequest) {
            resolve();
            return true;
          }
          return false;
        },
        fail: reject,
      });
    });
    try {
      this.count(requests, requests.length);
      this.sendBuffer(w.buf.subarray(0, bytes));
    } catch (err) {
      this.ranges = this.ranges.filter((r) => r.first !== first);
      throw wrapNative(err, `send nftables batch of ${requests.length} messages (${bytes} bytes)`);
    }
    this.drain();
    await done;
    if (failures.length > 0) {
      const head = failures[0]!;
      if (options.genId !== undefined && head.errno === 85 /* ERESTART */ && head.index === undefined) {
        throw new ConflictError(`the ruleset changed since generation ${options.genId}; read it again and retry`);
      }
      const error = failures.length === 1 ? head : head.annotate({ operation: `${head.operation ?? 'batch'} (and ${failures.length - 1} more failures)` });
      (error as NetlinkError & { failures?: NetlinkError[] }).failures = failures;
      throw error;
    }
    return { replies };
  }

  // ---------------------------------------------------------------- monitor

  /**
   * Yields notifications from the joined multicast groups. When the kernel
   * drops notifications (ENOBUFS) a Resync item is yielded: the state must be
   * read again.
   */
  monitor(): AsyncIterableIterator<MonitorItem> {
    this.ensureOpen();
    const queue: Array<MonitorItem | Error | null> = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const push = (item: MonitorItem | Error | null) => {
      queue.push(item);
      if (queue.length > QUEUE_HIGH) this.pause();
      wake?.();
    };
    this.subscribers.add(push);
    this.updatePolling();
    const finish = () => {
      ended = true;
      this.subscribers.delete(push);
      this.updatePolling();
    };
    const self = this;
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next(): Promise<IteratorResult<MonitorItem>> {
        while (!ended) {
          if (queue.length > 0) {
            const item = queue.shift()!;
            if (queue.length < QUEUE_LOW) self.resume();
            if (item === null) {
              finish();
              break;
            }
            if (item instanceof Error) {
              finish();
              throw item;
            }
            return { value: item, done: false };
          }
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
        return { value: undefined, done: true };
      },
      async return(): Promise<IteratorResult<MonitorItem>> {
        finish();
        return { value: undefined, done: true };
      },
    };
  }

  /** Closes the socket; pending requests fail, monitors end. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const err = new NetlinkError(9, { operation: 'connection closed' });
    this.failAll(err);
    for (const s of this.subscribers) s(null);
    this.subscribers.clear();
    this.sock.close();
    this.polling = false;
  }

  // ---------------------------------------------------------------- internals

  /** @internal */
  allocSeq(n: number): number {
    if (this.seq + n >= 0xffffffff) this.seq = 1;
    const s = this.seq;
    this.seq += n;
    return s;
  }

  /** @internal Registers the waiter of a dump (whose backpressure may pause reading). */
  addDumpWaiter(seq: number, waiter: Waiter): void {
    this.waiters.set(seq, waiter);
    this.dumpSeqs.add(seq);
  }
  /** @internal */
  removeWaiter(seq: number): void {
    this.waiters.delete(seq);
    this.dumpSeqs.delete(seq);
    this.updatePolling();
  }

  /**
   * Reading stops while a slow dump consumer is behind, except when replies
   * to other requests are awaited: those would otherwise sit unread behind
   * the paused dump (a request made inside a dump loop would never finish).
   */
  private get readable(): boolean {
    return !this.paused || this.ranges.length > 0 || this.waiters.size > this.dumpSeqs.size;
  }

  /** @internal Frames and sends one request with the given flags. */
  sendRequest(req: Request, seq: number, flags: number): void {
    this.writer.reset();
    frame(this.writer, req.type, flags, seq, req.payload);
    this.count(req, 1);
    this.sendBuffer(this.writer.buf.subarray(0, this.writer.pos));
  }

  /** @internal Stop reading: the consumer is behind. The kernel holds the rest. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.updatePolling();
  }

  /** @internal */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.drain();
  }

  /** @internal Reads and dispatches what is queued on the socket. */
  drain(): void {
    if (this.draining || this.closed) return;
    this.draining = true;
    try {
      while (this.readable && !this.closed) {
        const items = this.sock.receive(16);
        if (items.length === 0) {
          this.flushResync();
          break;
        }
        for (const item of items) {
          if (!Buffer.isBuffer(item)) {
            this.onSocketError(item);
            continue;
          }
          this.stats.datagramsReceived++;
          this.stats.bytesReceived += item.length;
          netlinkTotals.datagramsReceived++;
          netlinkTotals.bytesReceived += item.length;
          let messages: NetlinkMessage[];
          try {
            messages = parseDatagram(item);
          } catch (err) {
            this.failAll(err as Error);
            continue;
          }
          for (const m of messages) this.dispatch(m);
        }
      }
    } finally {
      this.draining = false;
      this.updatePolling();
    }
  }

  private dispatch(msg: NetlinkMessage): void {
    if (msg.type === NLMSG_NOOP || msg.type === NLMSG_OVERRUN) return;
    if (msg.pid === this.sock.portId) {
      const waiter = this.waiters.get(msg.seq);
      if (waiter) {
        if (waiter.deliver(msg)) {
          this.waiters.delete(msg.seq);
          this.dumpSeqs.delete(msg.seq);
        }
        return;
      }
      for (let i = 0; i < this.ranges.length; i++) {
        const r = this.ranges[i]!;
        if (msg.seq >= r.first && msg.seq <= r.last) {
          if (r.deliver(msg)) this.ranges.splice(i, 1);
          return;
        }
      }
    }
    for (const s of this.subscribers) s(msg);
  }

  private onSocketError(err: NativeError): void {
    if (err.code === 'ENOBUFS') {
      this.stats.overruns++;
      netlinkTotals.overruns++;
      // The kernel reports the overrun before the datagrams still queued, and
      // those are older than the lost ones. Were the resync yielded now, a
      // consumer would re-read the state and then apply those stale
      // notifications on top of it (an "add" whose "del" was lost): the
      // resync comes once the socket has been read empty.
      if (this.subscribers.size > 0) this.resyncPending = true;
      if (this.waiters.size > 0 || this.ranges.length > 0) {
        this.failAll(new NetlinkError(err.errno, { operation: 'receive replies', extack: 'socket receive buffer overrun: replies were lost' }));
      }
      return;
    }
    this.failAll(new NetlinkError(err.errno, { operation: err.truncated ? `receive (datagram of ${err.length} bytes truncated)` : 'receive' }));
  }

  private flushResync(): void {
    if (!this.resyncPending) return;
    this.resyncPending = false;
    for (const s of this.subscribers) s({ resync: true, reason: 'the kernel dropped notifications (ENOBUFS): read the state again' });
  }

  private failAll(err: Error): void {
    const waiters = [...this.waiters.values(), ...this.ranges];
    this.waiters.clear();
    this.dumpSeqs.clear();
    this.ranges = [];
    for (const w of waiters) w.fail(err);
    for (const s of this.subscribers) s(err instanceof DecodeError ? { resync: true, reason: `undecodable datagram: ${err.message}` } : err);
    this.updatePolling();
  }

  private updatePolling(): void {
    const want = !this.closed && this.readable && (this.waiters.size > 0 || this.ranges.length > 0 || this.subscribers.size > 0);
    if (want && !this.polling) {
      this.sock.startPolling((err) => {
        if (err) {
          // libuv reports POLLERR as EBADF and stops the handle. On a netlink
          // socket POLLERR means a pending socket error (ENOBUFS): reading
          // surfaces the real error, and polling is restarted afterwards.
          this.polling = false;
          if (++this.pollErrors > 100) {
            this.failAll(new NetlinkError(err.errno, { operation: 'poll' }));
            return;
          }
        } else this.pollErrors = 0;
        this.drain();
      });
      this.polling = true;
    } else if (!want && this.polling) {
      this.sock.stopPolling();
      this.polling = false;
    }
  }

  private safeAck(msg: NetlinkMessage, reject: (e: Error) => void): AckPayload | undefined {
    try {
      return parseAck(msg);
    } catch (err) {
      reject(err as Error);
      return undefined;
    }
  }

  /** @internal Turns a negative-errno acknowledgement into a NetlinkError for `req`. */
  errorFor(ack: Pick<AckPayload, 'error' | 'extack'>, req: Request, index?: number): NetlinkError {
    const offset = ack.extack.offset;
    let attribute: string | undefined;
    if (offset !== undefined && offset >= NLMSG_HDRLEN && req.locate) {
      try {
        attribute = req.locate(offset - NLMSG_HDRLEN);
      } catch {
        attribute = undefined;
      }
    }
    return new NetlinkError(-ack.error, {
      extack: ack.extack.message,
      offset,
      attribute,
      operation: req.describe,
      index,
      missingType: ack.extack.missingType,
    });
  }

  private count(reqs: Request | readonly Request[], n: number): void {
    let writes = 0;
    const isWrite = (r: Request) => r.access !== 'read' && (r.flags & NLM_F_DUMP) !== NLM_F_DUMP;
    if (Array.isArray(reqs)) {
      for (const r of reqs as Request[]) if (isWrite(r)) writes++;
    } else if (isWrite(reqs as Request)) writes = 1;
    this.stats.messages += n;
    this.stats.writes += writes;
    netlinkTotals.messages += n;
    netlinkTotals.writes += writes;
  }

  /** sendBuffer from the libuv thread pool (NativeSocket.sendAsync); `buf` must not change until it settles. */
  private sendBufferAsync(buf: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.sock.sendAsync(buf, (error) => {
        if (error) return reject(error);
        this.stats.datagramsSent++;
        this.stats.bytesSent += buf.length;
        netlinkTotals.datagramsSent++;
        netlinkTotals.bytesSent += buf.length;
        resolve();
      });
    });
  }

  private sendBuffer(buf: Buffer): void {
    this.sock.send(buf);
    this.stats.datagramsSent++;
    this.stats.bytesSent += buf.length;
    netlinkTotals.datagramsSent++;
    netlinkTotals.bytesSent += buf.length;
  }

  private ensureSendBuffer(bytes: number): void {
    // The kernel refuses a datagram longer than sk_sndbuf - 32.
    if (this.bufferSizes().send >= bytes + 64) return;
    try {
      this.sock.setOption(SOL_SOCKET, SO_SNDBUFFORCE, bytes + 64 * 1024);
    } catch {
      try {
        this.sock.setOption(SOL_SOCKET, SO_SNDBUF, bytes + 64 * 1024);
      } catch {
        /* checked below */
      }
    }
    const have = this.bufferSizes().send;
    if (have < bytes + 64) {
      throw new NetlinkError(90 /* EMSGSIZE */, {
        operation: `nftables batch of ${bytes} bytes does not fit the socket send buffer (${have} bytes) and it cannot be raised without CAP_NET_ADMIN; splitting it would break atomicity, so nothing was sent`,
      });
    }
  }

  private ensureReceiveBuffer(bytes: number): void {
    if (this.bufferSizes().receive >= bytes) return;
    this.setBuffers(bytes, undefined);
  }

  private ensureOpen(): void {
    if (this.closed) throw new NetlinkError(9 /* EBADF */, { operation: 'the connection is closed' });
  }

  private lockDumps(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const prev = this.dumpLock;
    this.dumpLock = prev.then(() => next);
    return prev.then(() => release);
  }
}

/** One pass of a dump: queues messages with backpressure until NLMSG_DONE. */
class DumpPass {
  interrupted = false;
  done = false;
  private readonly queue: NetlinkMessage[] = [];
  private error?: Error;
  private wake?: () => void;
  private discarding = false;
  private readonly seq: number;

  constructor(
    private readonly conn: Connection,
    private readonly req: Request,
  ) {
    this.seq = conn.allocSeq(1);
    conn.addDumpWaiter(this.seq, {
      deliver: (msg) => this.deliver(msg),
      fail: (err) => {
        this.error = err;
        this.done = true;
        this.wake?.();
      },
    });
    try {
      conn.sendRequest(req, this.seq, req.flags | NLM_F_REQUEST | NLM_F_DUMP);
    } catch (err) {
      conn.removeWaiter(this.seq);
      this.done = true;
      throw wrapNative(err, req.describe ?? 'dump');
    }
    conn.drain();
  }

  private deliver(msg: NetlinkMessage): boolean {
    if (msg.flags & NLM_F_DUMP_INTR) this.interrupted = true;
    if (msg.type === NLMSG_DONE) {
      try {
        const d = parseDone(msg);
        if (d.error < 0) this.error = this.conn.errorFor({ error: d.error, extack: d.extack }, this.req);
      } catch (err) {
        this.error = err as Error;
      }
      this.done = true;
      this.wake?.();
      return true;
    }
    if (msg.type === NLMSG_ERROR) {
      try {
        const ack = parseAck(msg);
        if (ack.error !== 0) this.error = this.conn.errorFor(ack, this.req);
      } catch (err) {
        this.error = err as Error;
      }
      this.done = true;
      this.wake?.();
      return true;
    }
    if (!this.discarding) {
      this.queue.push(msg);
      if (this.queue.length >= QUEUE_HIGH) this.conn.pause();
    }
    this.wake?.();
    return false;
  }

  /** The next message, or null at the end of the dump. */
  async next(): Promise<NetlinkMessage | null> {
    for (;;) {
      if (this.queue.length > 0) {
        const m = this.queue.shift()!;
        if (this.queue.length <= QUEUE_LOW) this.conn.resume();
        return m;
      }
      if (this.done) {
        if (this.error) throw this.error;
        return null;
      }
      this.conn.resume();
      if (this.done || this.queue.length > 0) continue;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  /** Reads the rest of the dump and throws it away (the socket allows one dump at a time). */
  async discard(): Promise<void> {
    this.discarding = true;
    this.queue.length = 0;
    this.conn.resume();
    while (!this.done) {
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

/**
 * The exchange under a Connection: one socket, its sequence numbers, the
 * waiters for replies (one sequence number or a range of them), reading and
 * dispatching what arrives (replies by port and sequence number, everything
 * else to the monitors' subscribers), backpressure, and the counters. Requests,
 * dumps, bulk sends, batches and monitors are built on it (request.ts,
 * dump.ts, bulk.ts, monitor.ts, nft/batch.ts); it knows none of them.
 */
import { DecodeError, NetlinkError } from '../errors.js';
import type { NativeError, NativeSocket } from '../native.js';
import {
  NLM_F_DUMP,
  NLMSG_HDRLEN,
  NLMSG_NOOP,
  NLMSG_OVERRUN,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOL_SOCKET,
} from './constants.js';
import { type AckPayload, frame, type NetlinkMessage, parseAck, parseDatagram, type Request } from './message.js';
import { Writer } from './writer.js';

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

export const newStats = (): ConnectionStats => ({
  messages: 0,
  writes: 0,
  datagramsSent: 0,
  datagramsReceived: 0,
  bytesSent: 0,
  bytesReceived: 0,
  dumpRetries: 0,
  overruns: 0,
});

/** Totals over every connection of this process (e.g. to count writes of an apply). */
export const netlinkTotals: ConnectionStats = newStats();

/** Yielded by `monitor()` when notifications were lost: re-read the state. */
export interface Resync {
  resync: true;
  reason: string;
}

export type MonitorItem = NetlinkMessage | Resync;

/** What a subscriber is handed: a notification, a resync, an error, or null at the end. */
export type Delivery = MonitorItem | Error | null;

/** Who waits for the replies of one request. */
export interface Waiter {
  /** Returns true when finished with. */
  deliver(msg: NetlinkMessage): boolean;
  fail(error: Error): void;
}

/** Who waits for the replies of the requests numbered `first` to `last`. */
export interface RangeWaiter extends Waiter {
  first: number;
  last: number;
}

/** Queued items at which a consumer counts as behind (reading pauses), and at which reading resumes. */
export const QUEUE_HIGH = 4096;
export const QUEUE_LOW = 1024;

/** A native socket error as a NetlinkError naming `operation`; anything else as it is. */
export function wrapNative(err: unknown, operation: string): Error {
  const e = err as NativeError;
  if (e && typeof e.errno === 'number') return new NetlinkError(e.errno, { operation });
  return err as Error;
}

/** Turns a negative-errno acknowledgement into a NetlinkError for `req`. */
export function errorFor(ack: Pick<AckPayload, 'error' | 'extack'>, req: Request, index?: number): NetlinkError {
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

/** parseAck, handing a decoding error to `reject` (then undefined). */
export function safeAck(msg: NetlinkMessage, reject: (e: Error) => void): AckPayload | undefined {
  try {
    return parseAck(msg);
  } catch (err) {
    reject(err as Error);
    return undefined;
  }
}

export class Exchange {
  readonly sock: NativeSocket;
  readonly stats: ConnectionStats;
  /** A buffer to frame one message into, reused by every synchronous send. */
  readonly writer = new Writer(64 * 1024);

  private seq: number;
  private readonly waiters = new Map<number, Waiter>();
  private readonly dumpSeqs = new Set<number>();
  private ranges: RangeWaiter[] = [];
  private readonly subscribers = new Set<(item: Delivery) => void>();
  private polling = false;
  private pollErrors = 0;
  private paused = false;
  private draining = false;
  private closed = false;
  /** An overrun was read; the resync is due once the notifications queued before it are delivered. */
  private resyncPending = false;
  private dumpLock: Promise<void> = Promise.resolve();

  constructor(sock: NativeSocket, stats: ConnectionStats) {
    this.sock = sock;
    this.stats = stats;
    this.seq = 1 + Math.floor(Math.random() * 0x3fffffff);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  ensureOpen(): void {
    if (this.closed) throw new NetlinkError(9 /* EBADF */, { operation: 'the connection is closed' });
  }

  // ---------------------------------------------------------------- socket

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

  // ---------------------------------------------------------------- sending

  allocSeq(n: number): number {
    if (this.seq + n >= 0xffffffff) this.seq = 1;
    const s = this.seq;
    this.seq += n;
    return s;
  }

  /** Counts messages about to be sent (and those of them that change state). */
  count(reqs: Request | readonly Request[], n: number): void {
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

  send(buf: Buffer): void {
    this.sock.send(buf);
    this.sent(buf.length);
  }

  /** `send` from the libuv thread pool (NativeSocket.sendAsync); `buf` must not change until it settles. */
  sendAsync(buf: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.sock.sendAsync(buf, (error) => {
        if (error) return reject(error);
        this.sent(buf.length);
        resolve();
      });
    });
  }

  /** Frames and sends one request with the given flags. */
  sendRequest(req: Request, seq: number, flags: number): void {
    this.writer.reset();
    frame(this.writer, req.type, flags, seq, req.payload);
    this.count(req, 1);
    this.send(this.writer.buf.subarray(0, this.writer.pos));
  }

  private sent(bytes: number): void {
    this.stats.datagramsSent++;
    this.stats.bytesSent += bytes;
    netlinkTotals.datagramsSent++;
    netlinkTotals.bytesSent += bytes;
  }

  // ---------------------------------------------------------------- waiters

  /** Hands the replies numbered `seq` to `waiter`. */
  expect(seq: number, waiter: Waiter): void {
    this.waiters.set(seq, waiter);
  }

  /** Registers the waiter of a dump (whose backpressure may pause reading). */
  expectDump(seq: number, waiter: Waiter): void {
    this.waiters.set(seq, waiter);
    this.dumpSeqs.add(seq);
  }

  /** Hands the replies numbered `waiter.first` to `waiter.last` to `waiter`. */
  expectRange(waiter: RangeWaiter): void {
    this.ranges.push(waiter);
  }

  /** Forgets the waiter of `seq` (a request that could not be sent). */
  forget(seq: number): void {
    this.waiters.delete(seq);
    this.dumpSeqs.delete(seq);
    this.updatePolling();
  }

  /** Forgets the range starting at `first`. */
  forgetRange(first: number): void {
    this.ranges = this.ranges.filter((r) => r.first !== first);
  }

  /** Runs dumps one at a time (the kernel allows one per socket): resolves with the release. */
  lockDumps(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const prev = this.dumpLock;
    this.dumpLock = prev.then(() => next);
    return prev.then(() => release);
  }

  /** Adds a monitor's subscriber (handed every notification, resync and error); returns its removal. */
  subscribe(push: (item: Delivery) => void): () => void {
    this.subscribers.add(push);
    this.updatePolling();
    return () => {
      this.subscribers.delete(push);
      this.updatePolling();
    };
  }

  // ---------------------------------------------------------------- reading

  /**
   * Reading stops while a slow dump consumer is behind, except when replies
   * to other requests are awaited: those would otherwise sit unread behind
   * the paused dump (a request made inside a dump loop would never finish).
   */
  private get readable(): boolean {
    return !this.paused || this.ranges.length > 0 || this.waiters.size > this.dumpSeqs.size;
  }

  /** Stop reading: the consumer is behind. The kernel holds the rest. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.updatePolling();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.drain();
  }

  /** Reads and dispatches what is queued on the socket. */
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
        this.failAll(
          new NetlinkError(err.errno, { operation: 'receive replies', extack: 'socket receive buffer overrun: replies were lost' }),
        );
      }
      return;
    }
    this.failAll(
      new NetlinkError(err.errno, { operation: err.truncated ? `receive (datagram of ${err.length} bytes truncated)` : 'receive' }),
    );
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
    for (const s of this.subscribers)
      s(err instanceof DecodeError ? { resync: true, reason: `undecodable datagram: ${err.message}` } : err);
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

  /** Closes the socket; pending requests fail, subscribers are handed the end. */
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
}

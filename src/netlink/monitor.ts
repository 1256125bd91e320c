/**
 * Multicast notifications: `monitor` queues what the joined groups send
 * (with a Resync item where the kernel dropped some), and `eventMonitor`
 * turns that queue into typed events for a protocol layer (route/monitor.ts,
 * nft/monitor.ts): a notification it cannot decode, like a lost one, becomes
 * a resync event, so a lost change is never silent.
 */
import { DecodeError } from '../errors.js';
import { type Delivery, type Exchange, type MonitorItem, QUEUE_HIGH, QUEUE_LOW } from './exchange.js';
import type { NetlinkMessage } from './message.js';

/**
 * Yields notifications from the joined multicast groups. When the kernel
 * drops notifications (ENOBUFS) a Resync item is yielded: the state must be
 * read again.
 */
export function monitor(ex: Exchange): AsyncIterableIterator<MonitorItem> {
  ex.ensureOpen();
  const queue: Delivery[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  const unsubscribe = ex.subscribe((item) => {
    queue.push(item);
    if (queue.length > QUEUE_HIGH) ex.pause();
    wake?.();
  });
  const finish = () => {
    ended = true;
    unsubscribe();
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<MonitorItem>> {
      while (!ended) {
        if (queue.length > 0) {
          const item = queue.shift()!;
          if (queue.length < QUEUE_LOW) ex.resume();
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

/** What a typed monitor reads from and closes: a Connection with its groups joined. */
export interface MonitorSource {
  monitor(): AsyncIterableIterator<MonitorItem>;
  close(): void;
}

/** Typed events from a monitor's own connection. */
export interface EventMonitor<E, C extends MonitorSource = MonitorSource> extends AsyncIterableIterator<E> {
  /** Stops the monitor and closes its socket; iteration ends. */
  close(): void;
  /** The monitor's own connection (its stats, e.g. `overruns`). */
  readonly connection: C;
}

export interface EventDecoder<E> {
  /** The event of one notification, or undefined to skip it. Throws DecodeError on malformed bytes. */
  decode(msg: NetlinkMessage): E | undefined;
  /** The event that says: read the state again. */
  resync(reason: string): E;
  /** What a notification is called in a resync reason ('notification', 'nftables notification'). */
  noun: string;
  /** Runs before each read (e.g. to load the names the decoder needs). */
  prepare?(): Promise<void>;
  /** Called at each resync (e.g. to drop state that may have missed a change). */
  onResync?(): void;
  /** Called once when the monitor closes. */
  onClose?(): void;
}

/**
 * Typed events over `conn` (whose groups are joined: changes made after this
 * returns are seen). The monitor owns `conn`: closing it closes the socket.
 */
export function eventMonitor<E, C extends MonitorSource>(conn: C, decoder: EventDecoder<E>): EventMonitor<E, C> {
  const items = conn.monitor();
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    conn.close();
    decoder.onClose?.();
  };
  const resync = (reason: string): IteratorResult<E> => {
    decoder.onResync?.();
    return { value: decoder.resync(reason), done: false };
  };
  const monitor: EventMonitor<E, C> = {
    connection: conn,
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<E>> {
      for (;;) {
        if (closed) return { value: undefined, done: true };
        let item: IteratorResult<MonitorItem>;
        try {
          await decoder.prepare?.();
          item = await items.next();
        } catch (err) {
          // Closing the connection fails what is pending: that is the end, not an error.
          if (closed) return { value: undefined, done: true };
          throw err;
        }
        if (item.done) {
          close();
          return { value: undefined, done: true };
        }
        const value = item.value;
        if ('resync' in value) return resync(value.reason);
        try {
          const event = decoder.decode(value);
          if (event !== undefined) return { value: event, done: false };
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          return resync(`undecodable ${decoder.noun} (type ${value.type}): ${err.message}`);
        }
      }
    },
    async return(): Promise<IteratorResult<E>> {
      close();
      return { value: undefined, done: true };
    },
    close,
  };
  return monitor;
}

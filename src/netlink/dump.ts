/**
 * Multipart dumps: a dump's messages as an async iterable with backpressure,
 * re-run when the kernel marks it interrupted (NLM_F_DUMP_INTR); and
 * `dumpDecoded`, a dump streamed as decoded objects.
 */
import { DumpInterruptedError } from '../errors.js';
import { NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR } from './constants.js';
import { type Exchange, errorFor, netlinkTotals, QUEUE_HIGH, QUEUE_LOW, wrapNative } from './exchange.js';
import { type NetlinkMessage, parseAck, parseDone, type Request } from './message.js';

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

/**
 * Runs a dump and yields its messages. Dumps on one exchange run one at a
 * time (the kernel allows one per socket); stopping early drains the rest.
 */
export async function* dump(ex: Exchange, req: Request, options: DumpOptions = {}): AsyncGenerator<NetlinkMessage, void, undefined> {
  ex.ensureOpen();
  const release = await ex.lockDumps();
  const retries = options.retries ?? 5;
  const seen = options.key ? new Set<number>() : undefined;
  let active: DumpPass | undefined;
  try {
    for (let attempt = 0; ; attempt++) {
      active = new DumpPass(ex, req);
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
      ex.stats.dumpRetries++;
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
export async function dumpAll(ex: Exchange, req: Request, options: DumpOptions = {}): Promise<NetlinkMessage[]> {
  const out: NetlinkMessage[] = [];
  for await (const m of dump(ex, req, options)) out.push(m);
  return out;
}

/** What runs dumps: a Connection. */
export interface Dumper {
  dump(req: Request, options?: DumpOptions): AsyncIterable<NetlinkMessage>;
}

/**
 * Streams a dump as decoded objects: each message is decoded once, and its
 * identity (for the DUMP_INTR retry, which skips objects already yielded) is
 * computed from the decoded value.
 */
export async function* dumpDecoded<T>(
  conn: Dumper,
  req: Request,
  decode: (m: NetlinkMessage) => T | undefined,
  key: (value: T) => string,
): AsyncGenerator<T, void, undefined> {
  let lastMsg: NetlinkMessage | undefined;
  let lastValue: T | undefined;
  const get = (m: NetlinkMessage): T | undefined => {
    if (m !== lastMsg) {
      lastMsg = undefined; // a throwing decode must not leave a stale pairing behind
      lastValue = decode(m);
      lastMsg = m;
    }
    return lastValue;
  };
  const keyOf = (m: NetlinkMessage): string => {
    const v = get(m);
    return v === undefined ? `other:${m.type}:${m.data.toString('base64')}` : key(v);
  };
  for await (const m of conn.dump(req, { key: keyOf })) {
    const v = get(m);
    if (v !== undefined) yield v;
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
    private readonly ex: Exchange,
    private readonly req: Request,
  ) {
    this.seq = ex.allocSeq(1);
    ex.expectDump(this.seq, {
      deliver: (msg) => this.deliver(msg),
      fail: (err) => {
        this.error = err;
        this.done = true;
        this.wake?.();
      },
    });
    try {
      ex.sendRequest(req, this.seq, req.flags | NLM_F_REQUEST | NLM_F_DUMP);
    } catch (err) {
      ex.forget(this.seq);
      this.done = true;
      throw wrapNative(err, req.describe ?? 'dump');
    }
    ex.drain();
  }

  private deliver(msg: NetlinkMessage): boolean {
    if (msg.flags & NLM_F_DUMP_INTR) this.interrupted = true;
    if (msg.type === NLMSG_DONE) {
      try {
        const d = parseDone(msg);
        if (d.error < 0) this.error = errorFor({ error: d.error, extack: d.extack }, this.req);
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
        if (ack.error !== 0) this.error = errorFor(ack, this.req);
      } catch (err) {
        this.error = err as Error;
      }
      this.done = true;
      this.wake?.();
      return true;
    }
    if (!this.discarding) {
      this.queue.push(msg);
      if (this.queue.length >= QUEUE_HIGH) this.ex.pause();
    }
    this.wake?.();
    return false;
  }

  /** The next message, or null at the end of the dump. */
  async next(): Promise<NetlinkMessage | null> {
    for (;;) {
      if (this.queue.length > 0) {
        const m = this.queue.shift()!;
        if (this.queue.length <= QUEUE_LOW) this.ex.resume();
        return m;
      }
      if (this.done) {
        if (this.error) throw this.error;
        return null;
      }
      this.ex.resume();
      if (this.done || this.queue.length > 0) continue;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  /** Reads the rest of the dump and throws it away (the socket allows one dump at a time). */
  async discard(): Promise<void> {
    this.discarding = true;
    this.queue.length = 0;
    this.ex.resume();
    while (!this.done) {
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }
}

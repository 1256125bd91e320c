/**
 * Bulk sends: many requests pipelined in windows, one ACK per window
 * (`bulk`), and `runBulk`, which turns inputs into requests lazily and reports
 * every failure against the input it came from.
 */
import { NetfwdError, NetlinkError } from '../errors.js';
import { NLM_F_ACK, NLM_F_REQUEST, NLMSG_ERROR } from './constants.js';
import { type Exchange, errorFor, safeAck, wrapNative } from './exchange.js';
import { frameRequest, patchFrame, type Request } from './message.js';
import { Writer } from './writer.js';

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

/**
 * Sends many requests pipelined: up to `window` messages per write, only the
 * last one asking for an ACK, so a success costs no reply. Each failure is
 * reported with its index; the rest are applied.
 *
 * The kernel handles a datagram inside the send, so each write goes out from
 * the libuv thread pool while the next one is encoded here: encoding and the
 * kernel's work overlap. Writes start small (the kernel starts early) and
 * double up to `window`; one is in the kernel at a time, so the errors queued
 * never exceed one window.
 */
export async function bulk(ex: Exchange, requests: Iterable<Request>, options: BulkOptions = {}): Promise<BulkResult> {
  ex.ensureOpen();
  const { receive, send } = ex.bufferSizes();
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
      ex.ensureOpen();
      const first = ex.allocSeq(chunk.length);
      const last = first + chunk.length - 1;
      const chunkBase = base;
      base += chunk.length;
      for (let i = 0; i < chunk.length; i++) {
        const req = chunk[i]!;
        patchFrame(w, offsets[i]!, (req.flags & ~NLM_F_ACK) | NLM_F_REQUEST | (i === chunk.length - 1 ? NLM_F_ACK : 0), first + i);
      }
      const done = new Promise<void>((resolve, reject) => {
        ex.expectRange({
          first,
          last,
          deliver: (msg) => {
            if (msg.type !== NLMSG_ERROR) return false;
            const ack = safeAck(msg, reject);
            if (!ack) return true;
            if (ack.error !== 0) {
              const i = msg.seq - first;
              const req = chunk[i]!;
              failed.push({ index: chunkBase + i, request: req, error: errorFor(ack, req, chunkBase + i) });
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
      ex.count(chunk, chunk.length);
      const sent = ex.sendAsync(w.buf.subarray(0, w.pos)).catch((err: unknown) => {
        ex.forgetRange(first);
        throw wrapNative(err, `bulk send of ${chunk.length} messages`);
      });
      inFlight = sent.then(() => {
        ex.drain();
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

export interface BulkItemFailure<T> {
  /** Position of the input in the iterable. */
  index: number;
  input: T;
  /** NetlinkError from the kernel, or ValidationError for an input that was not sent. */
  error: NetfwdError;
}

export interface BulkReport<T> {
  /** Inputs read. */
  total: number;
  /** Inputs the kernel accepted. */
  applied: number;
  failed: BulkItemFailure<T>[];
}

/** What sends in bulk: a Connection. */
export interface BulkSender {
  bulk(requests: Iterable<Request>, options?: BulkOptions): Promise<BulkResult>;
}

interface Tagged<T> extends Request {
  input: T;
  inputIndex: number;
}

/**
 * Many requests through `bulk`, with every failure reported against the
 * input it came from. Inputs are turned into requests lazily, so a large
 * iterable is never held as requests; an input `build` refuses (NetfwdError)
 * is reported and not sent.
 */
export async function runBulk<T>(conn: BulkSender, inputs: Iterable<T>, build: (input: T) => Request): Promise<BulkReport<T>> {
  const failed: BulkItemFailure<T>[] = [];
  let total = 0;
  function* requests(): Generator<Request> {
    for (const input of inputs) {
      const index = total++;
      let req: Request;
      try {
        req = build(input);
      } catch (error) {
        if (!(error instanceof NetfwdError)) throw error;
        failed.push({ index, input, error });
        continue;
      }
      const tagged = req as Tagged<T>;
      tagged.input = input;
      tagged.inputIndex = index;
      yield tagged;
    }
  }
  const result = await conn.bulk(requests());
  for (const f of result.failed) {
    const r = f.request as Tagged<T>;
    if (f.error instanceof NetlinkError) f.error.index = r.inputIndex;
    failed.push({ index: r.inputIndex, input: r.input, error: f.error });
  }
  failed.sort((a, b) => a.index - b.index);
  return { total, applied: total - failed.length, failed };
}

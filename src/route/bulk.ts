/**
 * Many requests through Connection.bulk (pipelined, one ACK per window), with
 * every failure reported against the input it came from. Inputs are turned
 * into requests lazily, so a large iterable is never held as requests.
 */
import { NetfwdError, NetlinkError } from '../errors.js';
import type { Connection } from '../netlink/connection.js';
import type { Request } from '../netlink/message.js';

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

interface Tagged<T> extends Request {
  input: T;
  inputIndex: number;
}

export async function runBulk<T>(conn: Connection, inputs: Iterable<T>, build: (input: T) => Request): Promise<BulkReport<T>> {
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

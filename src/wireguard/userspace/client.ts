/**
 * Request and reply on a daemon's UAPI socket, one connection per exchange
 * as wg does: `get=1` read back as a RawDevice, `set=1` streamed from the
 * configuration.
 */
import { connect } from 'node:net';
import { NetlinkError } from '../../errors.js';
import type { ParsedConfig } from '../config.js';
import type { RawDevice } from '../state.js';
import { uapiSetChunks } from './configure.js';
import { checkUapiReply, parseUapiGet, UAPI_GET } from './parse.js';
import { socketPath } from './socket.js';

/** One request/reply exchange on a UAPI socket (a connection per exchange, as wg does). */
export function uapiExchange(path: string, request: string | Iterable<string>, operation: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let last: Buffer | undefined;
    let prev: Buffer | undefined;
    let done = false;
    const s = connect(path);
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      s.destroy();
      reject(err);
    };
    s.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
        fail(new NetlinkError(19 /* ENODEV */, { operation: `${operation}: no userspace WireGuard daemon answers on ${path}` }));
      } else fail(new NetlinkError(err.errno ? Math.abs(err.errno) : 5, { operation: `${operation} (${path})` }));
    });
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      prev = last;
      last = d;
      // A reply ends with a blank line: "\n\n" possibly split across chunks.
      const n = d.length;
      const ended =
        (n >= 2 && d[n - 1] === 10 && d[n - 2] === 10) || (n === 1 && d[0] === 10 && prev !== undefined && prev[prev.length - 1] === 10);
      if (ended && !done) {
        done = true;
        s.end();
        s.destroy();
        resolve(Buffer.concat(chunks).toString('utf8'));
      }
    });
    s.on('close', () =>
      fail(new NetlinkError(104 /* ECONNRESET */, { operation: `${operation}: the daemon closed ${path} before replying` })),
    );
    // The first chunk of a streamed request is made while the connection is
    // being accepted (making it sends nothing).
    const it = typeof request === 'string' ? undefined : request[Symbol.iterator]();
    let first: IteratorResult<string> | undefined;
    try {
      first = it?.next();
    } catch (err) {
      fail(err as Error);
      return;
    }
    s.once('connect', () => {
      if (!it) {
        s.write(request as string);
        return;
      }
      // Stream with backpressure: the daemon applies lines as they arrive.
      const pump = () => {
        while (!done) {
          let next: IteratorResult<string>;
          if (first) {
            next = first;
            first = undefined;
          } else {
            try {
              next = it.next();
            } catch (err) {
              fail(err as Error);
              return;
            }
          }
          if (next.done) return;
          if (!s.write(next.value)) {
            s.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
  });
}

export async function uapiGet(name: string): Promise<RawDevice> {
  const op = `read WireGuard ${name} (userspace)`;
  return parseUapiGet(await uapiExchange(socketPath(name), UAPI_GET, op), op);
}

export async function uapiSet(name: string, config: ParsedConfig): Promise<void> {
  const op = `configure WireGuard ${name} (userspace)`;
  checkUapiReply(await uapiExchange(socketPath(name), uapiSetChunks(config), op), op);
}

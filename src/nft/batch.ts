/**
 * The nfnetlink batch: BATCH_BEGIN, the requests, BATCH_END in one write,
 * which the kernel applies all or nothing. Only nftables uses it, so it lives
 * here, as a function over a Connection; loading this file also installs it
 * behind `Connection.transaction()`.
 */
import { ConflictError, NetlinkError, ValidationError } from '../errors.js';
import { attrs } from '../netlink/attributes.js';
import { type Connection, installBatch, type TransactionOptions, type TransactionResult } from '../netlink/connection.js';
import {
  NFNL_BATCH_GENID,
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  NLM_F_ACK,
  NLM_F_REQUEST,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOL_SOCKET,
} from '../netlink/constants.js';
import { errorFor, safeAck, wrapNative } from '../netlink/exchange.js';
import { frame, type NetlinkMessage, type Request } from '../netlink/message.js';
import { nfgenmsg } from '../netlink/nfnetlink.js';
import { Writer } from '../netlink/writer.js';

const batchGenId = attrs('nfnl_batch', { genid: { type: NFNL_BATCH_GENID, kind: 'be32' } });

/** The nfgenmsg (and generation check) of BATCH_BEGIN or BATCH_END. */
function markerPayload(subsystem: number, genId?: number): Buffer {
  const b = new Writer(32);
  nfgenmsg.encode(b, { family: 0, version: 0, resId: subsystem });
  if (genId !== undefined) batchGenId.encode(b, { genid: genId });
  return b.finish();
}

/**
 * Sends an nfnetlink batch (BATCH_BEGIN, the requests, BATCH_END) in one
 * write: all or nothing. On failure the error names the failing request
 * (`index`, `operation`); a generation mismatch is a ConflictError.
 */
export async function transaction(
  conn: Connection,
  requests: readonly Request[],
  options: TransactionOptions = {},
): Promise<TransactionResult> {
  const ex = conn.exchange;
  ex.ensureOpen();
  if (conn.protocol !== 'netfilter')
    throw new ValidationError('protocol', 'transactions are an nfnetlink feature', "a 'netfilter' connection");
  if (requests.length === 0) return { replies: [] };
  const subsystem = options.subsystem ?? NFNL_SUBSYS_NFTABLES;
  // Sized for the whole batch up front: growing a multi-megabyte buffer by doubling copies it each time.
  let size = 2 * (NLMSG_HDRLEN + 32);
  for (let i = 0; i < requests.length; i++) size += NLMSG_HDRLEN + ((requests[i]!.payload.length + 3) & ~3);
  const w = new Writer(size);
  const first = ex.allocSeq(requests.length + 2);
  const last = first + requests.length + 1;
  const beginPayload = markerPayload(subsystem, options.genId);
  frame(w, NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, first, beginPayload);
  requests.forEach((req, i) => {
    const flags = (req.flags & ~NLM_F_ACK) | NLM_F_REQUEST | (i === requests.length - 1 ? NLM_F_ACK : 0);
    frame(w, req.type, flags, first + 1 + i, req.payload);
  });
  frame(w, NFNL_MSG_BATCH_END, NLM_F_REQUEST, last, markerPayload(subsystem));
  const bytes = w.pos;
  ensureSendBuffer(conn, bytes);
  const echoBytes = requests.reduce((n, r) => n + (r.flags & 0x08 ? r.payload.length * 2 + 1024 : 0), 0);
  if (echoBytes > 0 && conn.bufferSizes().receive < echoBytes + 256 * 1024) conn.setBuffers(echoBytes + 256 * 1024, undefined);

  const replies: NetlinkMessage[][] = requests.map(() => []);
  const failures: NetlinkError[] = [];
  const lastRequest = last - 1;
  const done = new Promise<void>((resolve, reject) => {
    ex.expectRange({
      first,
      last,
      deliver: (msg) => {
        if (msg.type !== NLMSG_ERROR) {
          const i = msg.seq - first - 1;
          if (i >= 0 && i < requests.length) replies[i]!.push(msg);
          return false;
        }
        const ack = safeAck(msg, reject);
        if (!ack) return true;
        if (msg.seq === first) {
          // The batch as a whole was refused (generation mismatch, permission, ...).
          if (ack.error !== 0)
            failures.push(errorFor(ack, { type: NFNL_MSG_BATCH_BEGIN, flags: 0, payload: beginPayload, describe: 'begin batch' }));
          resolve();
          return true;
        }
        const i = msg.seq - first - 1;
        if (ack.error !== 0 && i >= 0 && i < requests.length) failures.push(errorFor(ack, requests[i]!, i));
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
    ex.count(requests, requests.length);
    ex.send(w.buf.subarray(0, bytes));
  } catch (err) {
    ex.forgetRange(first);
    throw wrapNative(err, `send nftables batch of ${requests.length} messages (${bytes} bytes)`);
  }
  ex.drain();
  await done;
  if (failures.length > 0) {
    const head = failures[0]!;
    if (options.genId !== undefined && head.errno === 85 /* ERESTART */ && head.index === undefined) {
      throw new ConflictError(`the ruleset changed since generation ${options.genId}; read it again and retry`);
    }
    const error =
      failures.length === 1
        ? head
        : head.annotate({ operation: `${head.operation ?? 'batch'} (and ${failures.length - 1} more failures)` });
    (error as NetlinkError & { failures?: NetlinkError[] }).failures = failures;
    throw error;
  }
  return { replies };
}

/** The kernel refuses a datagram longer than sk_sndbuf - 32, and a batch cannot be split. */
function ensureSendBuffer(conn: Connection, bytes: number): void {
  if (conn.bufferSizes().send >= bytes + 64) return;
  try {
    conn.setOption(SOL_SOCKET, SO_SNDBUFFORCE, bytes + 64 * 1024);
  } catch {
    try {
      conn.setOption(SOL_SOCKET, SO_SNDBUF, bytes + 64 * 1024);
    } catch {
      /* checked below */
    }
  }
  const have = conn.bufferSizes().send;
  if (have < bytes + 64) {
    throw new NetlinkError(90 /* EMSGSIZE */, {
      operation: `nftables batch of ${bytes} bytes does not fit the socket send buffer (${have} bytes) and it cannot be raised without CAP_NET_ADMIN; splitting it would break atomicity, so nothing was sent`,
    });
  }
}

installBatch(transaction);

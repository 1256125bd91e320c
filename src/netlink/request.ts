/**
 * One request answered by its acknowledgement (`request`), and LazyRequest: a
 * Request whose bytes, description and extended-ACK path lookup are made only
 * when needed — bulk sends build 100 000 of these and write each straight into
 * the datagram (`writePayload`), so the success path allocates nothing per
 * request beyond this object.
 */
import { NLM_F_ACK, NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN } from './constants.js';
import { type Exchange, errorFor, safeAck, wrapNative } from './exchange.js';
import { frame, type MessageCodec, type NetlinkMessage, type Request } from './message.js';
import { Writer } from './writer.js';

/**
 * Sends one request and resolves with its replies once the kernel
 * acknowledges it (or ends them with NLMSG_DONE). With `offload` the write
 * goes out from the libuv thread pool, from a buffer of its own.
 */
export function request(ex: Exchange, req: Request, options: { offload?: boolean } = {}): Promise<NetlinkMessage[]> {
  ex.ensureOpen();
  return new Promise<NetlinkMessage[]>((resolve, reject) => {
    const seq = ex.allocSeq(1);
    const replies: NetlinkMessage[] = [];
    ex.expect(seq, {
      deliver: (msg) => {
        if (msg.type === NLMSG_ERROR) {
          const ack = safeAck(msg, reject);
          if (!ack) return true;
          if (ack.error === 0) resolve(replies);
          else reject(errorFor(ack, req));
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
      ex.forget(seq);
      reject(wrapNative(err, req.describe ?? 'send netlink request'));
    };
    try {
      const w = options.offload ? new Writer(NLMSG_HDRLEN + req.payload.length + 4) : ex.writer;
      w.reset();
      frame(w, req.type, req.flags | NLM_F_REQUEST | NLM_F_ACK, seq, req.payload);
      ex.count(req, 1);
      const datagram = w.buf.subarray(0, w.pos);
      if (options.offload) {
        ex.sendAsync(datagram).then(() => ex.drain(), failed);
        return;
      }
      ex.send(datagram);
    } catch (err) {
      failed(err);
      return;
    }
    ex.drain();
  });
}

export class LazyRequest<H, A, S> implements Request {
  readonly access = 'write' as const;
  private encoded: Buffer | undefined;

  constructor(
    private readonly codec: MessageCodec<H, A>,
    readonly type: number,
    readonly flags: number,
    private readonly header: Partial<H>,
    private readonly attrs: A,
    private readonly subject: S,
    private readonly describer: (subject: S) => string,
  ) {}

  get payload(): Buffer {
    this.encoded ??= this.codec.encode(this.header, this.attrs);
    return this.encoded;
  }

  writePayload(w: Writer): void {
    this.codec.encodeInto(w, this.header, this.attrs);
  }

  get describe(): string {
    return this.describer(this.subject);
  }

  locate(offset: number): string | undefined {
    return this.codec.locate(this.header, this.attrs, offset);
  }
}

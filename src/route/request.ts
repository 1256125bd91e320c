/**
 * A Request whose bytes, description and extended-ACK path lookup are made
 * only when needed: bulk sends build 100 000 of these and write each straight
 * into the datagram (`writePayload`), so the success path allocates nothing
 * per request beyond this object.
 */
import type { MessageCodec, Request } from '../netlink/message.js';
import type { Writer } from '../netlink/writer.js';

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

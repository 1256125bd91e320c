/**
 * A Request whose description and extended-ACK path lookup are computed only
 * when an error needs them: bulk sends build 100 000 of these, so nothing per
 * request is spent on the success path beyond the encoded bytes.
 */
import type { MessageCodec, Request } from '../netlink/message.js';

export class LazyRequest<H, A, S> implements Request {
  readonly payload: Buffer;
  readonly access = 'write' as const;

  constructor(
    private readonly codec: MessageCodec<H, A>,
    readonly type: number,
    readonly flags: number,
    private readonly header: Partial<H>,
    private readonly attrs: A,
    private readonly subject: S,
    private readonly describer: (subject: S) => string,
  ) {
    this.payload = codec.encode(header, attrs);
  }

  get describe(): string {
    return this.describer(this.subject);
  }

  locate(offset: number): string | undefined {
    return this.codec.locate(this.header, this.attrs, offset);
  }
}

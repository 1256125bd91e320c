/**
 * A fake netlink socket for unit tests: a Connection built over it talks to a
 * script instead of the kernel. Each datagram the connection sends is split
 * into its messages and handed to the script, which answers with datagrams
 * (or socket errors such as ENOBUFS) queued for the connection to read; a test
 * can also queue datagrams of its own (notifications, late replies) with
 * `deliver`. Reading is announced asynchronously, as a real socket's poll is.
 */
import type { NativeError, NativeSocket } from '../native.js';
import { Connection, type ConnectionOptions, type Protocol } from './connection.js';
import {
  NLM_F_CAPPED,
  NLM_F_MULTI,
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  SO_RCVBUF,
  SO_RCVBUFFORCE,
  SO_SNDBUF,
  SO_SNDBUFFORCE,
  SOL_SOCKET,
} from './constants.js';
import { type NetlinkMessage, parseDatagram } from './message.js';

/** What the kernel would queue on the socket: a datagram, or a socket error read in its place. */
export type Queued = Buffer | NativeError;

/**
 * The script: given the messages of one datagram the connection sent, what
 * the kernel answers (nothing, for a script that answers later by `deliver`).
 */
export type Script = (messages: NetlinkMessage[], sock: FakeSocket) => Queued[] | void;

/** The port id a FakeSocket has unless told otherwise. */
export const FAKE_PORT = 4242;

export class FakeSocket implements NativeSocket {
  readonly fd = -1;
  closed = false;
  /** Every datagram sent, as its messages, in order. */
  readonly sent: NetlinkMessage[][] = [];
  private readonly queue: Queued[] = [];
  private readonly options = new Map<string, number>();
  private onReadable?: (error?: NativeError) => void;
  private announced = false;

  constructor(
    private readonly script: Script = () => [],
    readonly portId: number = FAKE_PORT,
  ) {}

  send(data: Buffer): number {
    if (this.closed) throw socketError(9, 'EBADF');
    const messages = parseDatagram(Buffer.from(data));
    this.sent.push(messages);
    const replies = this.script(messages, this);
    if (replies) this.deliver(...replies);
    return data.length;
  }

  sendAsync(data: Buffer, done: (error: NativeError | null, sent?: number) => void): void {
    setImmediate(() => {
      let n: number;
      try {
        n = this.send(data);
      } catch (err) {
        done(err as NativeError);
        return;
      }
      done(null, n);
    });
  }

  receive(maxDatagrams = 16): Queued[] {
    return this.queue.splice(0, maxDatagrams);
  }

  /** Queues datagrams (or socket errors) for the connection to read, as the kernel would. */
  deliver(...items: Queued[]): void {
    this.queue.push(...items);
    this.announce();
  }

  /** Datagrams queued and not yet read. */
  get pending(): number {
    return this.queue.length;
  }

  setOption(level: number, name: number, value: number): void {
    if (level === SOL_SOCKET && name === SO_RCVBUFFORCE) name = SO_RCVBUF;
    if (level === SOL_SOCKET && name === SO_SNDBUFFORCE) name = SO_SNDBUF;
    // The kernel doubles what is asked for (bookkeeping overhead); so does this.
    this.options.set(`${level}:${name}`, level === SOL_SOCKET && (name === SO_RCVBUF || name === SO_SNDBUF) ? value * 2 : value);
  }

  getOption(level: number, name: number): number {
    return this.options.get(`${level}:${name}`) ?? 0;
  }

  startPolling(onReadable: (error?: NativeError) => void): void {
    this.onReadable = onReadable;
    this.announce();
  }

  stopPolling(): void {
    this.onReadable = undefined;
  }

  close(): void {
    this.closed = true;
    this.onReadable = undefined;
  }

  private announce(): void {
    if (this.announced || this.queue.length === 0 || !this.onReadable) return;
    this.announced = true;
    setImmediate(() => {
      this.announced = false;
      if (this.queue.length > 0) this.onReadable?.();
    });
  }
}

/** A Connection over a FakeSocket running `script`. */
export function fakeConnection(
  script: Script,
  protocol: Protocol = 'route',
  options: ConnectionOptions = {},
): { conn: Connection; sock: FakeSocket } {
  const sock = new FakeSocket(script);
  return { conn: Connection.over(sock, protocol, options), sock };
}

/** A socket error as the addon reports it (e.g. socketError(105, 'ENOBUFS')). */
export function socketError(errno: number, code: string): NativeError {
  return Object.assign(new Error(code), { errno, code });
}

/** One framed message. */
export function message(type: number, flags: number, seq: number, pid: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const len = NLMSG_HDRLEN + data.length;
  const b = Buffer.alloc((len + 3) & ~3);
  b.writeUInt32LE(len, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  b.writeUInt32LE(pid, 12);
  data.copy(b, NLMSG_HDRLEN);
  return b;
}

/** Answers to the requests a script is handed, addressed to the fake socket's port. */
export const answer = {
  /** A reply message (part of a dump with `multi`). */
  reply(sock: FakeSocket, req: NetlinkMessage, type: number, data: Buffer, flags = 0): Buffer {
    return message(type, flags, req.seq, sock.portId, data);
  },
  /** NLMSG_ERROR: an acknowledgement (errno 0) or an error, with the request's header echoed (capped). */
  ack(sock: FakeSocket, req: NetlinkMessage, errno = 0): Buffer {
    const d = Buffer.alloc(4 + NLMSG_HDRLEN);
    d.writeInt32LE(-errno, 0);
    d.writeUInt32LE(NLMSG_HDRLEN + req.data.length, 4);
    d.writeUInt16LE(req.type, 8);
    d.writeUInt16LE(req.flags, 10);
    d.writeUInt32LE(req.seq, 12);
    d.writeUInt32LE(req.pid, 16);
    return message(NLMSG_ERROR, NLM_F_CAPPED, req.seq, sock.portId, d);
  },
  /** NLMSG_DONE ending a dump; `flags` may carry NLM_F_DUMP_INTR. */
  done(sock: FakeSocket, req: NetlinkMessage, flags = 0): Buffer {
    return message(NLMSG_DONE, NLM_F_MULTI | flags, req.seq, sock.portId, Buffer.alloc(4));
  },
};

/**
 * nlmsghdr framing, acknowledgements with extended-ACK TLVs, and message
 * codecs (a fixed family header followed by an attribute set).
 */
import { DecodeError } from '../errors.js';
import { type AttrSet, type Span, spanAt, walkAttributes } from './attributes.js';
import {
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_HDRLEN,
  NLMSGERR_ATTR_COOKIE,
  NLMSGERR_ATTR_MISS_NEST,
  NLMSGERR_ATTR_MISS_TYPE,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
} from './constants.js';
import type { Struct } from './struct.js';
import { Writer } from './writer.js';

/** One received netlink message; `data` is the payload after the 16-byte header. */
export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  data: Buffer;
}

/** A message to send: the payload after nlmsghdr, plus what error reporting needs. */
export interface Request {
  type: number;
  flags: number;
  payload: Buffer;
  /** Human description of the operation, used in error messages. */
  describe?: string;
  /** Maps a byte offset within `payload` to an attribute path (for extended ACKs). */
  locate?: (offset: number) => string | undefined;
  /** Counted as a state-changing write unless 'read'. Dumps are always reads. */
  access?: 'read' | 'write';
  /**
   * Writes the same bytes as `payload` at the writer's position. Bulk sends
   * use it to encode straight into the datagram, with no buffer per message.
   */
  writePayload?: (w: Writer) => void;
}

/** Writes an nlmsghdr of `len` bytes in all (port id 0: the kernel fills it in). */
function header(w: Writer, len: number, type: number, flags: number, seq: number): void {
  w.u32(len);
  w.u16(type);
  w.u16(flags);
  w.u32(seq);
  w.u32(0);
}

/** Appends one framed message to `w`. */
export function frame(w: Writer, type: number, flags: number, seq: number, payload: Buffer): void {
  const len = NLMSG_HDRLEN + payload.length;
  w.ensure(len + 3);
  header(w, len, type, flags, seq);
  w.bytes(payload);
  w.align();
}

/**
 * Appends one framed request to `w` (its payload written in place when the
 * request can) and returns the message's offset, for `patchFrame`.
 */
export function frameRequest(w: Writer, req: Request, flags: number, seq: number): number {
  if (!req.writePayload) {
    const at = w.pos;
    frame(w, req.type, flags, seq, req.payload);
    return at;
  }
  w.align();
  const at = w.pos;
  w.ensure(NLMSG_HDRLEN);
  header(w, 0, req.type, flags, seq); // the length once the payload is written
  req.writePayload(w);
  w.patchU32(at, w.pos - at);
  w.align();
  return at;
}

/** Sets the sequence number and flags of the message framed at `at`. */
export function patchFrame(w: Writer, at: number, flags: number, seq: number): void {
  w.buf.writeUInt16LE(flags, at + 6);
  w.patchU32(at + 8, seq);
}

/** Splits a received datagram into messages, validating every length. */
export function parseDatagram(buf: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let at = 0;
  while (at < buf.length) {
    if (buf.length - at < NLMSG_HDRLEN) {
      throw new DecodeError(`${buf.length - at} trailing bytes are shorter than a header`, 'nlmsghdr');
    }
    const len = buf.readUInt32LE(at);
    if (len < NLMSG_HDRLEN || at + len > buf.length) {
      throw new DecodeError(`message at byte ${at} claims ${len} bytes, ${buf.length - at} remain`, 'nlmsghdr');
    }
    out.push({
      type: buf.readUInt16LE(at + 4),
      flags: buf.readUInt16LE(at + 6),
      seq: buf.readUInt32LE(at + 8),
      pid: buf.readUInt32LE(at + 12),
      data: buf.subarray(at + NLMSG_HDRLEN, at + len),
    });
    at += (len + 3) & ~3;
  }
  return out;
}

export interface ExtAck {
  message?: string;
  /** Offset of the offending attribute from the start of the failing nlmsghdr. */
  offset?: number;
  cookie?: Buffer;
  missingType?: number;
  missingNest?: number;
}

export interface AckPayload {
  /** 0 for an acknowledgement, a negative errno for an error. */
  error: number;
  /** Header of the request this answers. */
  request: { type: number; flags: number; seq: number; pid: number };
  extack: ExtAck;
}

function parseExtAck(buf: Buffer, start: number): ExtAck {
  const ext: ExtAck = {};
  for (const a of walkAttributes(buf, start, buf.length, 'nlmsgerr')) {
    switch (a.type) {
      case NLMSGERR_ATTR_MSG: {
        const nul = buf.indexOf(0, a.at);
        ext.message = buf.toString('utf8', a.at, nul === -1 || nul > a.at + a.len ? a.at + a.len : nul);
        break;
      }
      case NLMSGERR_ATTR_OFFS:
        if (a.len === 4) ext.offset = buf.readUInt32LE(a.at);
        break;
      case NLMSGERR_ATTR_COOKIE:
        ext.cookie = Buffer.from(buf.subarray(a.at, a.at + a.len));
        break;
      case NLMSGERR_ATTR_MISS_TYPE:
        if (a.len === 4) ext.missingType = buf.readUInt32LE(a.at);
        break;
      case NLMSGERR_ATTR_MISS_NEST:
        if (a.len === 4) ext.missingNest = buf.readUInt32LE(a.at);
        break;
    }
  }
  return ext;
}

/** Decodes the payload of an NLMSG_ERROR message (struct nlmsgerr + TLVs). */
export function parseAck(msg: NetlinkMessage): AckPayload {
  const d = msg.data;
  if (d.length < 4 + NLMSG_HDRLEN) throw new DecodeError(`${d.length} bytes, nlmsgerr needs 20`, 'nlmsgerr');
  const error = d.readInt32LE(0);
  const request = {
    type: d.readUInt16LE(8),
    flags: d.readUInt16LE(10),
    seq: d.readUInt32LE(12),
    pid: d.readUInt32LE(16),
  };
  let extack: ExtAck = {};
  if (msg.flags & NLM_F_ACK_TLVS) {
    // Without NLM_F_CAPPED the whole request is echoed before the TLVs.
    let tlvStart = 4 + NLMSG_HDRLEN;
    if (!(msg.flags & NLM_F_CAPPED)) {
      const echoed = d.readUInt32LE(4);
      if (echoed < NLMSG_HDRLEN || 4 + echoed > d.length) throw new DecodeError(`echoed request of ${echoed} bytes`, 'nlmsgerr');
      tlvStart = 4 + ((echoed + 3) & ~3);
    }
    if (tlvStart < d.length) extack = parseExtAck(d, tlvStart);
  }
  return { error, request, extack };
}

/** Decodes the payload of NLMSG_DONE: an int (0 or a negative errno) and optional TLVs. */
export function parseDone(msg: NetlinkMessage): { error: number; extack: ExtAck } {
  if (msg.data.length < 4) return { error: 0, extack: {} };
  const error = msg.data.readInt32LE(0);
  const extack = msg.flags & NLM_F_ACK_TLVS && msg.data.length > 4 ? parseExtAck(msg.data, 4) : {};
  return { error, extack };
}

/** A family message: a fixed header struct followed by attributes. */
export interface MessageCodec<H, A> {
  readonly header: Struct<H>;
  readonly attrs: AttrSet<A>;
  /** Encodes the payload (without nlmsghdr). */
  encode(header: Partial<H>, attrs: A): Buffer;
  /** Encodes the payload at the writer's position. */
  encodeInto(w: Writer, header: Partial<H>, attrs: A): void;
  decode(payload: Buffer): { header: H; attrs: A };
  /** The attribute path at a byte offset of the payload, by re-encoding with tracking. */
  locate(header: Partial<H>, attrs: A, offset: number): string | undefined;
  /** Builds a request whose extended-ACK offsets map back to attribute paths. */
  request(type: number, flags: number, header: Partial<H>, attrs: A, describe?: string, access?: 'read' | 'write'): Request;
}

const shared = new Writer(4096);

export function messageCodec<H, A>(header: Struct<H>, attrSet: AttrSet<A>): MessageCodec<H, A> {
  const codec: MessageCodec<H, A> = {
    header,
    attrs: attrSet,
    encode(h, a) {
      shared.reset();
      header.encode(shared, h);
      attrSet.encode(shared, a);
      return shared.finish();
    },
    encodeInto(w, h, a) {
      header.encode(w, h);
      attrSet.encode(w, a);
    },
    decode(payload) {
      const h = header.decode(payload, 0);
      return { header: h, attrs: attrSet.decode(payload, header.size, payload.length) };
    },
    locate(h, a, offset) {
      const w = new Writer(1024);
      header.encode(w, h);
      const spans: Span[] = [];
      attrSet.encode(w, a, spans);
      if (offset < header.size) return header.name;
      return spanAt(spans, offset)?.path;
    },
    request(type, flags, h, a, describe, access) {
      return {
        type,
        flags,
        payload: codec.encode(h, a),
        describe,
        access,
        locate: (offset) => codec.locate(h, a, offset),
      };
    },
  };
  return codec;
}

/**
 * Userdata: the opaque bytes the kernel stores for nft on tables, chains,
 * rules, sets and elements. libnftnl lays them out as TLVs of a one-byte type
 * and a one-byte length; numbers are host-order u32s, strings end in NUL.
 * netfwd writes the same layout so `nft list` shows its comments and types.
 */
import { DecodeError, ValidationError } from '../errors.js';
import { COMMENT_MAXLEN } from './constants.js';
import { HOST_LE } from './datatype.js';

export type UdataEntry = readonly [type: number, value: Buffer];

export function udataEncode(entries: readonly UdataEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const [type, value] of entries) {
    if (value.length > 255) throw new RangeError(`userdata value of ${value.length} bytes (at most 255)`);
    parts.push(Buffer.from([type, value.length]), value);
  }
  return Buffer.concat(parts);
}

/** Decodes TLVs; throws DecodeError when a length runs past the end. */
export function udataDecode(buf: Buffer): UdataEntry[] {
  const out: UdataEntry[] = [];
  let at = 0;
  while (at < buf.length) {
    if (at + 2 > buf.length) throw new DecodeError(`truncated userdata TLV at byte ${at}`, 'userdata');
    const type = buf[at]!;
    const len = buf[at + 1]!;
    if (at + 2 + len > buf.length) throw new DecodeError(`userdata TLV at byte ${at} claims ${len} bytes`, 'userdata');
    out.push([type, buf.subarray(at + 2, at + 2 + len)]);
    at += 2 + len;
  }
  return out;
}

export function udataU32(v: number): Buffer {
  const b = Buffer.alloc(4);
  if (HOST_LE) b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}

export function readUdataU32(b: Buffer): number | undefined {
  if (b.length !== 4) return undefined;
  return HOST_LE ? b.readUInt32LE(0) : b.readUInt32BE(0);
}

export function udataString(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

export function readUdataString(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.toString('utf8', 0, nul === -1 ? b.length : nul);
}

/** Validates a comment the way nft does (at most 128 bytes with its NUL). */
export function checkComment(comment: string | undefined, field: string): void {
  if (comment === undefined) return;
  if (typeof comment !== 'string' || Buffer.byteLength(comment) + 1 > COMMENT_MAXLEN) {
    throw new ValidationError(
      field,
      `comment of ${typeof comment === 'string' ? Buffer.byteLength(comment) : '?'} bytes is too long`,
      `a string of at most ${COMMENT_MAXLEN - 1} bytes`,
    );
  }
}

/** The comment TLV (type 0) of table, chain or rule userdata. */
export function commentUdata(comment: string | undefined): Buffer | undefined {
  return comment === undefined ? undefined : udataEncode([[0, udataString(comment)]]);
}

/** Reads the comment TLV of table, chain or rule userdata; undefined when absent or unreadable. */
export function readCommentUdata(buf: Buffer | undefined, type = 0): string | undefined {
  if (!buf) return undefined;
  try {
    for (const [t, v] of udataDecode(buf)) if (t === type) return readUdataString(v);
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * Fixed-layout C structs (ifinfomsg, rtmsg, fib_rule_hdr, nfgenmsg, genlmsghdr,
 * struct fib_rule_uid_range, ...), declared once and used both ways.
 */
import { DecodeError } from '../errors.js';
import type { Writer } from './writer.js';

export type StructFieldKind = 'u8' | 's8' | 'u16' | 's16' | 'u32' | 's32' | 'u64' | 'be16' | 'be32' | { pad: number } | { bytes: number };

type FieldValue<K> = K extends 'u64' ? bigint : K extends { pad: number } ? never : K extends { bytes: number } ? Buffer : number;

export type StructValues<F extends Record<string, StructFieldKind>> = {
  -readonly [K in keyof F as F[K] extends { pad: number } ? never : K]: FieldValue<F[K]>;
};

export interface Struct<T> {
  readonly size: number;
  readonly name: string;
  /** Writes the struct; missing fields are zero. */
  encode(w: Writer, value: Partial<T>): void;
  /** Reads the struct at `offset`; throws a DecodeError when there are not enough bytes. */
  decode(buf: Buffer, offset?: number): T;
}

function width(kind: StructFieldKind): number {
  if (typeof kind === 'object') return 'pad' in kind ? kind.pad : kind.bytes;
  switch (kind) {
    case 'u8':
    case 's8':
      return 1;
    case 'u16':
    case 's16':
    case 'be16':
      return 2;
    case 'u64':
      return 8;
    default:
      return 4;
  }
}

export function struct<const F extends Record<string, StructFieldKind>>(name: string, fields: F): Struct<StructValues<F>> {
  const layout = Object.entries(fields).map(([field, kind]) => ({ field, kind, size: width(kind) }));
  const size = layout.reduce((n, f) => n + f.size, 0);
  type T = StructValues<F>;
  return {
    size,
    name,
    encode(w: Writer, value: Partial<T>): void {
      const v = value as Record<string, number | bigint | Buffer | undefined>;
      // An indexed loop: headers are encoded once per message, often on a cold JIT.
      for (let i = 0; i < layout.length; i++) {
        const f = layout[i]!;
        const kind = f.kind;
        const n = f.size;
        const x = v[f.field];
        if (typeof kind === 'object') {
          if ('bytes' in kind && Buffer.isBuffer(x)) {
            const b = Buffer.alloc(n);
            x.copy(b, 0, 0, Math.min(n, x.length));
            w.bytes(b);
          } else w.zeros(n);
          continue;
        }
        switch (kind) {
          case 'u8':
          case 's8':
            w.u8(Number(x ?? 0));
            break;
          case 'u16':
          case 's16':
            w.u16(Number(x ?? 0));
            break;
          case 'u32':
            w.u32(Number(x ?? 0));
            break;
          case 's32':
            w.s32(Number(x ?? 0));
            break;
          case 'u64':
            w.u64(BigInt((x as bigint | undefined) ?? 0n));
            break;
          case 'be16':
            w.be16(Number(x ?? 0));
            break;
          case 'be32':
            w.be32(Number(x ?? 0));
            break;
        }
      }
    },
    decode(buf: Buffer, offset = 0): T {
      if (buf.length - offset < size) {
        throw new DecodeError(`${buf.length - offset} bytes, a ${name} needs ${size}`, name);
      }
      const out: Record<string, unknown> = {};
      let at = offset;
      for (const { field, kind, size: n } of layout) {
        if (typeof kind === 'object') {
          if ('bytes' in kind) out[field] = Buffer.from(buf.subarray(at, at + n));
        } else {
          switch (kind) {
            case 'u8':
              out[field] = buf[at];
              break;
            case 's8':
              out[field] = buf.readInt8(at);
              break;
            case 'u16':
              out[field] = buf.readUInt16LE(at);
              break;
            case 's16':
              out[field] = buf.readInt16LE(at);
              break;
            case 'u32':
              out[field] = buf.readUInt32LE(at);
              break;
            case 's32':
              out[field] = buf.readInt32LE(at);
              break;
            case 'u64':
              out[field] = buf.readBigUInt64LE(at);
              break;
            case 'be16':
              out[field] = buf.readUInt16BE(at);
              break;
            case 'be32':
              out[field] = buf.readUInt32BE(at);
              break;
          }
        }
        at += n;
      }
      return out as T;
    },
  };
}

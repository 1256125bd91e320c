/**
 * A growable byte buffer for encoding messages, with length back-patching for nests.
 *
 * Multi-byte values go through a DataView: its setters are engine builtins,
 * fast from the first call, where Buffer's writeUInt32LE and friends are
 * JavaScript that is slow until the JIT has warmed up. A short-lived process
 * (a CLI run, a bulk add of 1 000 routes) encodes everything on a cold JIT.
 */

export class Writer {
  buf: Buffer;
  pos = 0;
  private view: DataView;

  constructor(initialSize = 1024) {
    this.buf = Buffer.allocUnsafe(initialSize);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
  }

  ensure(extra: number): void {
    const need = this.pos + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    // TypedArray#set is an engine builtin; Buffer#copy runs as JavaScript until the JIT warms up.
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer, next.byteOffset, next.length);
  }

  u8(v: number): void {
    if (this.pos + 1 > this.buf.length) this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }
  u16(v: number): void {
    if (this.pos + 2 > this.buf.length) this.ensure(2);
    this.view.setUint16(this.pos, v & 0xffff, true);
    this.pos += 2;
  }
  u32(v: number): void {
    if (this.pos + 4 > this.buf.length) this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, true);
    this.pos += 4;
  }
  s32(v: number): void {
    if (this.pos + 4 > this.buf.length) this.ensure(4);
    this.view.setInt32(this.pos, v | 0, true);
    this.pos += 4;
  }
  u64(v: bigint): void {
    if (this.pos + 8 > this.buf.length) this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), true);
    this.pos += 8;
  }
  be16(v: number): void {
    if (this.pos + 2 > this.buf.length) this.ensure(2);
    this.view.setUint16(this.pos, v & 0xffff, false);
    this.pos += 2;
  }
  be32(v: number): void {
    if (this.pos + 4 > this.buf.length) this.ensure(4);
    this.view.setUint32(this.pos, v >>> 0, false);
    this.pos += 4;
  }
  sbe32(v: number): void {
    if (this.pos + 4 > this.buf.length) this.ensure(4);
    this.view.setInt32(this.pos, v | 0, false);
    this.pos += 4;
  }
  be64(v: bigint): void {
    if (this.pos + 8 > this.buf.length) this.ensure(8);
    this.view.setBigUint64(this.pos, BigInt.asUintN(64, v), false);
    this.pos += 8;
  }
  bytes(data: Uint8Array): void {
    const n = data.length;
    if (this.pos + n > this.buf.length) this.ensure(n);
    if (n <= 16) {
      // Addresses and short keys: a loop beats the call into TypedArray#set.
      const buf = this.buf;
      const at = this.pos;
      for (let i = 0; i < n; i++) buf[at + i] = data[i]!;
    } else this.buf.set(data, this.pos);
    this.pos += n;
  }
  zeros(n: number): void {
    if (this.pos + n > this.buf.length) this.ensure(n);
    const buf = this.buf;
    if (n <= 16) for (let i = 0; i < n; i++) buf[this.pos + i] = 0;
    else buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }
  /** Pads with zeros to the next multiple of 4 (NLA_ALIGN / NLMSG_ALIGN). */
  align(): void {
    const pad = (4 - (this.pos & 3)) & 3;
    if (pad) this.zeros(pad);
  }

  /** Starts an attribute; returns its offset for `endAttr`. */
  beginAttr(type: number): number {
    if (type < 0 || type > 0xffff) throw new RangeError(`attribute type ${type} does not fit 16 bits`);
    const start = this.pos;
    if (start + 4 > this.buf.length) this.ensure(4);
    this.view.setUint16(start + 2, type, true);
    this.pos = start + 4;
    return start;
  }
  /** Writes the attribute length (unpadded, which must fit 16 bits) and pads. */
  endAttr(start: number): void {
    const len = this.pos - start;
    if (len > 0xffff) throw new RangeError(`attribute of ${len} bytes exceeds the 65535-byte netlink limit`);
    this.view.setUint16(start, len, true);
    this.align();
  }

  /** Writes a u32 (host order) at `at`, inside what was written (length back-patching). */
  patchU32(at: number, v: number): void {
    this.view.setUint32(at, v >>> 0, true);
  }

  /** A copy of the bytes written so far. */
  finish(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }

  reset(): void {
    this.pos = 0;
  }

  /** Continues writing into `buf` from offset 0 (what was written before stays where it was). */
  useBuffer(buf: Buffer): void {
    this.buf = buf;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.length);
    this.pos = 0;
  }
}

/**
 * A minimal writer of the "newc" cpio format the kernel unpacks as its
 * initramfs (Documentation/driver-api/early-userspace/buffer-format.rst):
 * a 110-byte ASCII header of 13 eight-digit hex fields after the magic
 * "070701", the NUL-terminated name, the data, each padded to 4 bytes, and a
 * "TRAILER!!!" entry at the end.
 */
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Buffer; mode?: number }
  | { type: 'symlink'; path: string; target: string }
  | { type: 'char'; path: string; major: number; minor: number; mode?: number };

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function header(ino: number, mode: number, size: number, nameSize: number, rdevMajor = 0, rdevMinor = 0): string {
  const fields = [ino, mode, 0, 0, 1, 0, size, 0, 0, rdevMajor, rdevMinor, nameSize, 0];
  return '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
}

/** The archive of `entries`, in order (a directory must come before what it holds). */
export function cpioArchive(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let offset = 0;
  const push = (b: Buffer) => {
    parts.push(b);
    offset += b.length;
  };
  const entry = (ino: number, mode: number, name: string, data: Buffer, rdev: [number, number] = [0, 0]) => {
    const nameBytes = Buffer.from(`${name}\0`);
    push(Buffer.from(header(ino, mode, data.length, nameBytes.length, rdev[0], rdev[1]), 'ascii'));
    push(nameBytes);
    push(Buffer.alloc(pad4(offset)));
    push(data);
    push(Buffer.alloc(pad4(offset)));
  };
  let ino = 1;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    if (!name) throw new Error(`cpio: empty path`);
    switch (e.type) {
      case 'dir':
        entry(ino++, S_IFDIR | (e.mode ?? 0o755), name, Buffer.alloc(0));
        break;
      case 'file':
        entry(ino++, S_IFREG | (e.mode ?? 0o644), name, e.data);
        break;
      case 'symlink':
        entry(ino++, S_IFLNK | 0o777, name, Buffer.from(e.target));
        break;
      case 'char':
        entry(ino++, S_IFCHR | (e.mode ?? 0o600), name, Buffer.alloc(0), [e.major, e.minor]);
        break;
    }
  }
  entry(0, 0, 'TRAILER!!!', Buffer.alloc(0));
  return Buffer.concat(parts);
}

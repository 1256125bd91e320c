/**
 * Files that hold secrets (key files, configuration files with inline keys):
 * reading them safely and the rule that only their owner may access them.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { errnoMessage, errnoNumber } from '../errors.js';

/** What a reader returns: the file's bytes and its permission bits. */
export interface FileContent {
  data: Buffer | string;
  /** st_mode (only the low 12 bits are looked at). */
  mode: number;
}

/** Reads a file by path; throws an Error with an errno `code` when it cannot. */
export type FileReader = (path: string) => FileContent;

/** An error from reading a file, with the errno name the operator can look up. */
export class FileReadError extends Error {
  override name = 'FileReadError';
  constructor(
    readonly code: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/**
 * Reads a regular file of at most `maxBytes` bytes. Opens it non-blocking, so
 * a FIFO or a device given by mistake is refused instead of hanging, and
 * takes the mode from the same descriptor it reads (no race with a chmod).
 */
export function readRegularFile(path: string, maxBytes: number): FileContent {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    throw asFileReadError(e);
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new FileReadError('EISDIR', describeErrno('EISDIR'));
    if (!st.isFile()) throw new FileReadError('EINVAL', 'not a regular file');
    const chunks: Buffer[] = [];
    let total = 0;
    const buf = Buffer.alloc(Math.min(maxBytes + 1, 64 * 1024));
    for (;;) {
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        throw asFileReadError(e);
      }
      if (n === 0) break;
      total += n;
      if (total > maxBytes) throw new FileReadError('EFBIG', `larger than ${maxBytes} bytes`);
      chunks.push(Buffer.from(buf.subarray(0, n)));
    }
    buf.fill(0);
    return { data: Buffer.concat(chunks), mode: st.mode };
  } finally {
    closeSync(fd);
  }
}

/** Node's fs errors (and anything else) as a FileReadError with a readable reason. */
export function asFileReadError(e: unknown): FileReadError {
  if (e instanceof FileReadError) return e;
  const code = typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'EIO';
  return new FileReadError(code, describeErrno(code));
}

function describeErrno(code: string): string {
  const n = errnoNumber(code);
  return n === undefined ? code : `${errnoMessage(n)} (${code})`;
}

/** True when the group or others have any permission on the file. */
export function isAccessibleByOthers(mode: number): boolean {
  return (mode & 0o077) !== 0;
}

/** `0644`-style text of the permission bits. */
export function formatMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}

/** The path quoted for a POSIX shell when it needs quoting. */
export function shellQuote(path: string): string {
  return /^[A-Za-z0-9_./@%+=:,-]+$/.test(path) ? path : `'${path.replace(/'/g, `'\\''`)}'`;
}

/** The command that fixes an over-permissive secret file. */
export function chmodFix(path: string): string {
  return `chmod 600 ${shellQuote(path)}`;
}

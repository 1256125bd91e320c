/**
 * Files that root reads and trusts (configuration files, key files): reading
 * them safely, the rule that only their owner may read those holding secrets,
 * and the rule that only root (or the user running netfwd) may change them or
 * the directories they are in.
 */
import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { dirname, resolve as resolvePath } from 'node:path';
import { errnoMessage, errnoNumber } from '../../errors.js';
import { looksLikeKeyMaterial } from '../../grammar/index.js';

/** What a reader returns: the file's bytes, its permission bits and (when known) its owner and directories. */
export interface FileContent {
  data: Buffer | string;
  /** st_mode (only the low 12 bits are looked at). */
  mode: number;
  /** st_uid, the owner. When absent (a virtual file system) the owner is not checked. */
  uid?: number;
  /**
   * The directories leading to the file, nearest first (see directoriesOf).
   * When absent they are not checked.
   */
  directories?: readonly DirectoryInfo[];
}

/** A directory on the way to a file: who owns it and who may write to it. */
export interface DirectoryInfo {
  path: string;
  /** st_mode (write bits and the sticky bit are looked at). */
  mode: number;
  uid: number;
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
export function readRegularFile(path: string, maxBytes: number, options: { directories?: boolean } = {}): FileContent {
  // The directories first: when they are safe, nobody else can swap the file between this and the open.
  const directories = options.directories === true ? directoriesOf(path) : undefined;
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
    return { data: Buffer.concat(chunks), mode: st.mode, uid: st.uid, ...(directories ? { directories } : {}) };
  } finally {
    closeSync(fd);
  }
}

/** Node's fs errors (and anything else) as a FileReadError with a readable reason. */
export function asFileReadError(e: unknown): FileReadError {
  if (e instanceof FileReadError) return e;
  const code =
    typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : 'EIO';
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

/**
 * Every directory whose owner, group or others could replace the file at
 * `path`: the ancestors of the path as written and of the path with symbolic
 * links resolved, nearest first. Directories that cannot be examined are left
 * out (the file could be read through them, so they exist and root may search
 * them).
 */
export function directoriesOf(path: string): DirectoryInfo[] {
  const paths: string[] = [];
  const addAncestors = (file: string) => {
    for (let d = dirname(file); ; d = dirname(d)) {
      if (!paths.includes(d)) paths.push(d);
      if (d === dirname(d)) break;
    }
  };
  const abs = resolvePath(path);
  addAncestors(abs);
  try {
    addAncestors(realpathSync(abs));
  } catch {
    /* the open reports a missing file */
  }
  const out: DirectoryInfo[] = [];
  for (const p of paths) {
    try {
      const st = statSync(p);
      out.push({ path: p, mode: st.mode, uid: st.uid });
    } catch {
      /* see above */
    }
  }
  return out;
}

/** The owner and directories of a file, for checks without reading it (doctor). */
export function describeFile(path: string): { mode: number; uid: number; directories: DirectoryInfo[] } {
  const directories = directoriesOf(path);
  const st = statSync(path);
  return { mode: st.mode, uid: st.uid, directories };
}

/** The users whose files root may trust: root and the user running netfwd. */
export function trustedOwners(): number[] {
  const euid = process.geteuid?.() ?? 0;
  return euid === 0 ? [0] : [0, euid];
}

/** What the file holds, which decides the rule it must follow. */
export type FileKind =
  /** A configuration file without a key inline: only root (or the user running netfwd) may change it. */
  | 'config'
  /** A configuration file with a key inline: besides, only its owner may access it. */
  | 'config-with-key'
  /** A key file: only its owner may access it, and only root (or the user running netfwd) may own it. */
  | 'key';

/** One reason a file is not safe to trust, and the command that removes it. */
export interface FileProblem {
  problem: string;
  fix: string;
}

/**
 * Why `file` (a configuration or key file at `path`) may not be trusted by
 * netfwd running as root, each with its fix: group or others may change it
 * (or, holding a key, access it at all); it belongs to a user other than root
 * and the one running netfwd; a directory on its way is writable by group or
 * others without the sticky bit, or belongs to another user (either could
 * replace the file). Empty when it is safe. Owner and directories are checked
 * only when `file` says what they are.
 */
export function fileProblems(
  path: string,
  file: Pick<FileContent, 'mode' | 'uid' | 'directories'>,
  kind: FileKind,
  trusted: readonly number[] = trustedOwners(),
): FileProblem[] {
  const out: FileProblem[] = [];
  const name = shownPath(path, 'FILE');
  const who = trustedText(trusted);
  if (file.uid !== undefined && !trusted.includes(file.uid)) {
    out.push({ problem: `belongs to uid ${file.uid}, not to ${who}`, fix: `chown root ${name}` });
  }
  if (kind !== 'config' && isAccessibleByOthers(file.mode)) {
    out.push({
      problem: `${kind === 'key' ? 'holds a secret key' : 'holds a secret key inline'} but group or others may access it (mode ${formatMode(file.mode)})`,
      fix: `chmod 600 ${name}`,
    });
  } else if (isWritableByOthers(file.mode)) {
    out.push({ problem: `may be changed by group or others (mode ${formatMode(file.mode)})`, fix: `chmod go-w ${name}` });
  }
  for (const [i, d] of (file.directories ?? []).entries()) {
    const where = looksLikeKey(d.path)
      ? i === 0
        ? 'is in a directory'
        : 'is under a directory'
      : `${i === 0 ? 'is in' : 'is under'} the directory ${JSON.stringify(d.path)}`;
    const dir = shownPath(d.path, 'DIR');
    if (!trusted.includes(d.uid)) {
      out.push({ problem: `${where}, which belongs to uid ${d.uid}, who could replace it`, fix: `chown root ${dir}` });
    }
    if (isWritableByOthers(d.mode) && (d.mode & 0o1000) === 0) {
      out.push({
        problem: `${where}, which group or others may write to and which has no sticky bit (mode ${formatMode(d.mode)}), so they could replace it`,
        fix: `chmod go-w ${dir}`,
      });
    }
  }
  return out;
}

/**
 * The message and expectation of a ConfigError for an unsafe file (the
 * problems of fileProblems). `subject` names the file in the message.
 * The expectation starts with "a file only", which isUnsafeFileError looks for.
 */
export function unsafeFileText(
  subject: string,
  problems: readonly FileProblem[],
  kind: FileKind,
  trusted: readonly number[] = trustedOwners(),
): { message: string; expected: string } {
  const onlyReadable = problems.length === 1 && problems[0]!.fix.startsWith('chmod 600 ');
  const fixes = `run ${problems.map((p) => p.fix).join(' and ')}`;
  if (onlyReadable) {
    // The long-standing rule for secrets, in its long-standing words.
    return {
      message: `${subject} ${problems[0]!.problem}`,
      expected: `a file only its owner can read: ${fixes}${kind === 'config-with-key' ? ', or move the key into a key file' : ''}`,
    };
  }
  const who = trustedText(trusted);
  return {
    message: `${subject} ${problems.map((p) => p.problem).join('; it ')}: whoever can change it controls what netfwd does as root`,
    expected: `a file only ${kind === 'config' ? '' : 'its owner can read and only '}${who} can change, in directories only ${who} can change: ${fixes}`,
  };
}

/** True for the ConfigErrors of unsafe files (unsafeFileText), which the CLI refuses with its own exit status. */
export function isUnsafeFileError(e: { expected?: string | undefined }): boolean {
  return /^a file only /.test(e.expected ?? '');
}

/** True when the group or others may write to the file (mode 0022). */
export function isWritableByOthers(mode: number): boolean {
  return (mode & 0o022) !== 0;
}

function trustedText(trusted: readonly number[]): string {
  const others = trusted.filter((u) => u !== 0);
  return others.length === 0 ? 'root' : `root or uid ${others.join(', ')} (who runs netfwd)`;
}

/** A path with a part that looks like a key is not shown (see field.ts, showPath). */
function looksLikeKey(path: string): boolean {
  return path.split('/').some((part) => looksLikeKeyMaterial(part));
}

/** The path for a shell command, or `placeholder` when it looks like key material. */
function shownPath(path: string, placeholder: string): string {
  return looksLikeKey(path) ? placeholder : shellQuote(path);
}

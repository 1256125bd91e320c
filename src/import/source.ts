/**
 * What every importer shares: where a fact came from (file and line), the
 * notes about what could not be translated or was changed, and the typed
 * error for input that cannot be read at all.
 *
 * Notes and errors never quote a value that may be a key: they name the
 * directive and say why.
 */
import { ConfigError } from '../errors.js';
import { looksLikeKeyMaterial } from '../grammar/index.js';

/** A place in an input file; `line` is 1-based. */
export interface Origin {
  file: string;
  line: number;
}

/** Something of the sources that the output does not say, or says differently. */
export interface ImportNote {
  file: string;
  line: number;
  /** The directive or command, shortened and with anything key-like hidden. */
  what: string;
  /** Why it was left out (kind 'not-translated') or how netfwd differs (kind 'changed'). */
  reason: string;
  kind: 'not-translated' | 'changed';
}

/**
 * Input that is not a valid wg-quick file, keyfile, iptables rule or ip
 * command (a missing value, a stray argument, a bad address), or sources from
 * which no netfwd configuration can be made. The message starts with
 * `FILE:LINE:` when a line is to blame. Nothing is written when it is thrown.
 */
export class ImportError extends ConfigError {
  override name = 'ImportError';
  /** The input file, when one is to blame. */
  readonly file: string | undefined;
  /** Its 1-based line, when one is to blame (0: the file as a whole). */
  readonly line: number;
  constructor(where: Origin | string | undefined, problem: string, expected?: string) {
    super('', problem, expected);
    const file = typeof where === 'string' ? where : where?.file;
    const line = typeof where === 'object' ? where.line : 0;
    this.file = file;
    this.line = line;
    const prefix = file === undefined ? '' : line > 0 ? `${file}:${line}: ` : `${file}: `;
    this.message = `${prefix}${problem}${expected ? ` (expected ${expected})` : ''}`;
  }
}

/** A fact with where it came from. */
export interface Located<T> {
  value: T;
  origin: Origin;
}

export const at = <T>(value: T, origin: Origin): Located<T> => ({ value, origin });

/** Text of a directive as it may appear in a note: one line, at most 100 characters, key-like words hidden. */
export function describe(text: string): string {
  const words = text
    .trim()
    .split(/\s+/)
    .map((w) => (looksLikeKeyMaterial(w.replace(/^[^A-Za-z0-9+/]+|[^A-Za-z0-9+/=]+$/g, '')) && !isPath(w) ? '(hidden)' : w));
  const one = words.join(' ');
  return one.length > 100 ? `${one.slice(0, 99)}…` : one;
}

/** A file path (as key files are named): absolute or relative with a directory, and not shaped like a key (44 characters ending in "="). */
function isPath(word: string): boolean {
  return /^\.{0,2}\/[^/]*\//.test(word) && !/^[A-Za-z0-9+/]{43}=$/.test(word);
}

/** Collects notes, once per (file, line, reason). */
export class Notes {
  private readonly list: ImportNote[] = [];
  private readonly seen = new Set<string>();

  notTranslated(origin: Origin, what: string, reason: string): void {
    this.add({ ...origin, what: describe(what), reason, kind: 'not-translated' });
  }

  changed(origin: Origin, what: string, reason: string): void {
    this.add({ ...origin, what: describe(what), reason, kind: 'changed' });
  }

  private add(n: ImportNote): void {
    const key = `${n.file}\0${n.line}\0${n.what}\0${n.reason}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push(n);
  }

  /** Takes over another collection's notes (the notes of one file into those of its machine). */
  absorb(other: Notes): void {
    for (const n of other.list) this.add(n);
  }

  /** In file order, then line order. */
  all(files: readonly string[]): ImportNote[] {
    const rank = (f: string) => {
      const i = files.indexOf(f);
      return i === -1 ? files.length : i;
    };
    return [...this.list].sort((a, b) => rank(a.file) - rank(b.file) || a.line - b.line);
  }
}

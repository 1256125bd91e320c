/**
 * Field paths and the ConfigErrors that name them. Every message built here
 * shows user values through `show`, which never echoes anything that looks
 * like key material: a key pasted into the wrong field must not end up in a
 * log because validation quoted it back.
 */
import { ConfigError } from '../../errors.js';
import { looksLikeKeyMaterial } from '../../grammar/index.js';

/**
 * A ConfigError for `field`. ValidationError composes `field: problem`; for
 * the root (field '') that would start with a bare colon, so the message is
 * rebuilt without it.
 */
export function configError(field: string, problem: string, expected?: string): ConfigError {
  const error = new ConfigError(field, problem, expected);
  if (field === '') {
    error.message = `${problem}${expected ? ` (expected ${expected})` : ''}`;
    Error.captureStackTrace(error, configError);
  }
  return error;
}

/** Throws a ConfigError for `field`. */
export function fail(field: string, problem: string, expected?: string): never {
  throw configError(field, problem, expected);
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** The path of `key` inside the object at `parent`: `tunnel.peers`, or `tunnel["odd key"]`. */
export function child(parent: string, key: string): string {
  if (IDENTIFIER.test(key) && !looksLikeKeyMaterial(key)) return parent === '' ? key : `${parent}.${key}`;
  return `${parent}[${show(key)}]`;
}

/** The path of element `index` of the list at `parent`: `forwards[2]`. */
export function item(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

/** Splits a path made by `child`/`item` back into keys and indexes. */
export function splitFieldPath(path: string): Array<string | number> {
  const out: Array<string | number> = [];
  let i = 0;
  while (i < path.length) {
    const c = path[i]!;
    if (c === '.') {
      i++;
      continue;
    }
    if (c === '[') {
      const close = findClosingBracket(path, i);
      const inner = path.slice(i + 1, close);
      if (/^[0-9]+$/.test(inner)) out.push(Number(inner));
      else {
        try {
          const parsed: unknown = JSON.parse(inner);
          out.push(typeof parsed === 'string' ? parsed : inner);
        } catch {
          out.push(inner);
        }
      }
      i = close + 1;
      continue;
    }
    let end = i;
    while (end < path.length && path[end] !== '.' && path[end] !== '[') end++;
    out.push(path.slice(i, end));
    i = end;
  }
  return out;
}

function findClosingBracket(path: string, open: number): number {
  let inString = false;
  for (let i = open + 1; i < path.length; i++) {
    const c = path[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === ']') return i;
  }
  return path.length;
}

const SHOW_MAX = 64;

/** A user value as it may appear in a message: quoted, shortened, and never key material. */
export function show(value: unknown): string {
  if (typeof value === 'string') {
    if (looksLikeKeyMaterial(value)) return '(a value that looks like key material, not shown)';
    const quoted = JSON.stringify(value);
    return quoted.length > SHOW_MAX ? `${quoted.slice(0, SHOW_MAX - 2)}…"` : quoted;
  }
  if (typeof value === 'number') return String(value);
  if (typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (typeof value === 'bigint') return `${value}n`;
  return typeName(value);
}

/** A file path as messages show it; a path with a key-like component (a key pasted by mistake) is not shown. */
export function showPath(path: string): string {
  return path.split('/').some((part) => looksLikeKeyMaterial(part)) ? 'the file' : JSON.stringify(path);
}

/** What kind of value this is, for "expected X, got Y" messages. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return 'a string';
    case 'number':
      return Number.isInteger(value) ? 'a number' : Number.isFinite(value) ? 'a fractional number' : String(value);
    case 'boolean':
      return 'a boolean';
    case 'bigint':
      return 'a bigint';
    case 'object':
      return isPlainObject(value) ? 'a mapping' : `an object (${Object.prototype.toString.call(value).slice(8, -1)})`;
    default:
      return `a ${typeof value}`;
  }
}

/** An object literal (or a null-prototype object), not an array, class instance, Map, Date… */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Edit distance (insertions, deletions, substitutions, adjacent transpositions). */
function distance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) => Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The candidate `word` was probably meant to be, if one is close enough. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  if (word.length > 64) return undefined;
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const cl = c.toLowerCase();
    let score: number;
    if (cl === lower) score = 0;
    else if (lower.replace(/[-_ ]/g, '') === cl) score = 0.5;
    else score = distance(lower, cl);
    const limit = Math.max(1, Math.floor(c.length / 3));
    if (score <= limit && score < bestScore) {
      best = c;
      bestScore = score;
    }
  }
  return best;
}

/** ` (did you mean X?)` or nothing. */
export function didYouMean(word: unknown, candidates: readonly string[]): string {
  if (typeof word !== 'string' || looksLikeKeyMaterial(word)) return '';
  const s = suggest(word, candidates);
  return s === undefined ? '' : `; did you mean ${JSON.stringify(s)}?`;
}

/** `a, b or c` */
export function listWords(words: readonly string[], quote = true): string {
  const q = quote ? words.map((w) => JSON.stringify(w)) : [...words];
  if (q.length <= 1) return q.join('');
  return `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
}

/** The shortest stretch of a secret that counts as leaked. */
const LEAK_WINDOW = 12;

/**
 * `text` with every stretch of LEAK_WINDOW or more characters that also
 * occurs in one of `secrets` replaced by "(hidden)". The last line of
 * defence: messages are built not to quote secrets in the first place.
 */
export function redact(text: string, secrets: readonly string[]): string {
  if (secrets.length === 0 || text.length < LEAK_WINDOW) return text;
  const covered = new Uint8Array(text.length);
  let any = false;
  for (const secret of secrets) {
    for (let i = 0; i + LEAK_WINDOW <= secret.length; i++) {
      const window = secret.slice(i, i + LEAK_WINDOW);
      for (let at = text.indexOf(window); at !== -1; at = text.indexOf(window, at + 1)) {
        covered.fill(1, at, at + LEAK_WINDOW);
        any = true;
      }
    }
  }
  if (!any) return text;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    if (!covered[i]) out += text[i];
    else if (i === 0 || !covered[i - 1]) out += '(hidden)';
  }
  return out;
}

/** The same ConfigError with every trace of `secrets` removed from its field, message and expectation. */
export function redactError(e: ConfigError, secrets: readonly string[]): ConfigError {
  const field = redact(e.field, secrets);
  const message = redact(e.message, secrets);
  const expected = e.expected === undefined ? undefined : redact(e.expected, secrets);
  if (field === e.field && message === e.message && expected === e.expected) return e;
  const out = new ConfigError(field, 'x', expected);
  out.message = message;
  Error.captureStackTrace(out, redactError);
  return out;
}

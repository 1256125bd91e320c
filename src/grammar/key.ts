/**
 * WireGuard keys: 32 bytes, written as `wg genkey` / `wg pubkey` write them
 * (canonical standard base64: 44 characters, one '=' of padding) or as the
 * userspace API writes them (64 hex digits). Problems never quote the text:
 * it may be a private key.
 */
import { fail, ok, type Parsed } from './result.js';

export const KEY_BYTES = 32;

export type KeyEncoding = 'base64' | 'hex';

/**
 * Canonical base64 of 32 bytes in one test: 42 characters, a 43rd whose two
 * low bits are zero (258 bits carry 256), and '='.
 */
const BASE64_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/** True when `text` is a key in the encoding (base64: canonical, as wg prints it; hex: either case). */
export function isKeyText(text: unknown, encoding: KeyEncoding = 'base64'): text is string {
  return typeof text === 'string' && (encoding === 'base64' ? BASE64_KEY : HEX_KEY).test(text);
}

/** Parses a key into its 32 bytes. */
export function parseKey(text: unknown, encoding: KeyEncoding = 'base64'): Parsed<Buffer> {
  if (typeof text !== 'string') return fail('type', 'is not a string');
  if (isKeyText(text, encoding)) return ok(Buffer.from(text, encoding));
  return encoding === 'base64' ? base64Problem(text) : hexProblem(text);
}

/** Why `text` is not a base64 key, in words that reveal nothing of it but its length. */
function base64Problem(text: string): Parsed<never> {
  const n = text.length;
  if (n === 0) return fail('empty', 'is empty');
  if (HEX_KEY.test(text))
    return fail('hex', 'is a hex key; WireGuard configuration uses the base64 form (as `wg genkey` and `wg pubkey` print it)');
  if (text.trim() !== text) return fail('space', 'has leading or trailing white space');
  if (/[^A-Za-z0-9+/=]/.test(text)) return fail('charset', 'contains characters that are not base64');
  if (n !== 44) {
    const bytes = Buffer.from(text, 'base64').length;
    return fail('length', `has ${n} characters (${bytes} bytes when decoded); a key has 44 (32 bytes)`);
  }
  if (!text.endsWith('=') || text.indexOf('=') !== 43) return fail('padding', "does not end with exactly one '='");
  return fail('canonical', 'is not canonical base64 (its last character before "=" has stray bits)');
}

function hexProblem(text: string): Parsed<never> {
  if (text.length === 0) return fail('empty', 'is empty');
  if (/[^0-9a-fA-F]/.test(text)) return fail('charset', 'contains characters that are not hex digits');
  return fail('length', `has ${text.length} hex digits; a key has 64 (32 bytes)`);
}

/** The key's text: canonical base64 (as wg prints keys) or lower-case hex (as the userspace API writes them). */
export function formatKey(bytes: Uint8Array, encoding: KeyEncoding = 'base64'): string {
  if (bytes.length !== KEY_BYTES) throw new RangeError(`a key has ${KEY_BYTES} bytes, not ${bytes.length}`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(encoding);
}

/** True for the all-zero key, which WireGuard takes as "no key". */
export function isZeroKey(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** A short, safe description of a string that may be a key: its first 4 characters and length only when long, else its length. */
export function describeKeyText(text: string): string {
  return text.length > 8 ? `${JSON.stringify(`${text.slice(0, 4)}…`)} (${text.length} characters)` : `a ${text.length}-character string`;
}

/** Text that could be (part of) a key: a long run of base64 or hex characters. A real key is 43 such characters plus '='. */
const KEY_LIKE = /[A-Za-z0-9+/]{32,}/;

/**
 * True when `text` holds something that might be key material: a long base64
 * run, or a string that is mostly base64 characters and about key-sized or
 * longer (a key with a character changed or cut off). Messages show such
 * text as "(hidden)" or not at all.
 */
export function looksLikeKeyMaterial(text: string): boolean {
  if (KEY_LIKE.test(text)) return true;
  const alphabet = text.match(/[A-Za-z0-9+/=]/g)?.length ?? 0;
  return alphabet >= 32 && alphabet >= 0.85 * text.length;
}

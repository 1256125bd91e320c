/**
 * WireGuard keys in a spec: given inline (a string, or a Secret from code) or
 * read from a file (`*KeyFile`, relative to the base directory, its
 * permissions checked when asked to). Every secret seen is remembered, so
 * that no error message can carry it.
 */
import { resolve as resolvePath } from 'node:path';
import { isZeroKey, parseKey } from '../../../grammar/index.js';
import { child, fail, showPath } from '../field.js';
import { asFileReadError, type FileContent, type FileReader, fileProblems, unsafeFileText } from '../private-file.js';
import { Secret } from '../secret.js';
import { own, string } from './shapes.js';

export const KEY_EXPECTED = "a WireGuard key: 44 base64 characters ending in '=' (32 bytes), as `wg genkey` / `wg pubkey` print it";

export interface Context {
  baseDir: string;
  enforce: boolean;
  read: FileReader;
  /** Every secret seen (key fields of the input, key file contents), to scrub from errors. */
  secrets: string[];
}

export interface LoadedKey {
  secret: Secret;
  bytes: Buffer;
  file?: string;
}

/** A key given inline (a string, or a Secret from code). */
function inlineKey(value: unknown, field: string, allowSecret: boolean): { text: string; bytes: Buffer } {
  let text: string;
  if (allowSecret && value instanceof Secret) text = value.reveal();
  else text = string(value, field, KEY_EXPECTED);
  const key = parseKey(text);
  if (!key.ok) fail(field, key.problem, KEY_EXPECTED);
  return { text, bytes: key.value };
}

/**
 * The key of `inlineName` / `fileName` in `obj`: exactly one of them when
 * `isRequired`, at most one otherwise. Files are read now, relative to the
 * base directory, and checked for their permissions when asked to.
 */
export function keySource(
  ctx: Context,
  obj: Record<string, unknown>,
  field: string,
  inlineName: string,
  fileName: string,
  isRequired: boolean,
): LoadedKey | undefined {
  const inline = own(obj, inlineName);
  const file = own(obj, fileName);
  if (inline !== undefined && file !== undefined) {
    fail(
      child(field, fileName),
      `is given together with ${inlineName}`,
      `either ${inlineName} (the key) or ${fileName} (a file holding it), not both`,
    );
  }
  if (inline === undefined && file === undefined) {
    if (isRequired) fail(child(field, inlineName), 'is required', `${inlineName} (the key) or ${fileName} (a file holding it)`);
    return undefined;
  }
  const zeroProblem =
    inlineName === 'privateKey'
      ? 'is all zeros, which WireGuard takes as "no private key"'
      : 'is all zeros, which WireGuard takes as "no preshared key"; remove the field instead';
  if (inline !== undefined) {
    const f = child(field, inlineName);
    const { text, bytes } = inlineKey(inline, f, true);
    if (isZeroKey(bytes)) fail(f, zeroProblem, KEY_EXPECTED);
    return { secret: new Secret(text), bytes };
  }
  const f = child(field, fileName);
  const fileExpected =
    inlineName === 'privateKey'
      ? 'a readable file holding the key, e.g. made by `wg genkey > FILE`'
      : 'a readable file holding the key, e.g. made by `wg genpsk > FILE`';
  const path = string(file, f, fileExpected);
  if (path === '' || path.includes('\0')) fail(f, path === '' ? 'is empty' : 'contains a NUL byte', fileExpected);
  const abs = resolvePath(ctx.baseDir, path);
  let content: FileContent;
  try {
    content = ctx.read(abs);
  } catch (e) {
    fail(f, `cannot read ${showPath(abs)}: ${asFileReadError(e).reason}`, fileExpected);
  }
  const unsafe = ctx.enforce ? fileProblems(abs, content, 'key') : [];
  if (unsafe.length > 0) {
    const { message, expected } = unsafeFileText(showPath(abs), unsafe, 'key');
    fail(f, message, expected);
  }
  const raw = typeof content.data === 'string' ? content.data : content.data.toString('utf8');
  const text = raw.trim();
  if (text.length > 0) ctx.secrets.push(text);
  const key = parseKey(text);
  if (!key.ok) fail(f, `${showPath(abs)} does not hold a WireGuard key: its content ${key.problem}`, KEY_EXPECTED);
  const bytes = key.value;
  if (isZeroKey(bytes)) fail(f, `the key in ${showPath(abs)} ${zeroProblem}`, KEY_EXPECTED);
  return { secret: new Secret(text), bytes, file: abs };
}

export function publicKey(value: unknown, field: string): string {
  const { text, bytes } = inlineKey(value, field, false);
  if (isZeroKey(bytes)) fail(field, 'is all zeros, which is not a public key', KEY_EXPECTED);
  return text;
}

/** Sets the preshared key (and the file it came from) on a normalised peer. */
export function withPresharedKey(peer: { presharedKey?: Secret; presharedKeyFile?: string }, psk: LoadedKey | undefined): void {
  if (!psk) return;
  peer.presharedKey = psk.secret;
  if (psk.file !== undefined) peer.presharedKeyFile = psk.file;
}

/**
 * WireGuard keys as they appear in a spec: base64 of exactly 32 bytes, the
 * 44 characters `wg genkey` prints. Problems are described without ever
 * quoting the text, since it may be a private key.
 */
import { WireGuardSecret } from '../../wireguard/curve25519.js';

export const KEY_BYTES = 32;

const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;

/** The 32 key bytes, or undefined when `text` is not a canonical base64 WireGuard key. */
export function decodeKey(text: string): Buffer | undefined {
  if (!BASE64_KEY.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Non-canonical text (stray low bits in the last character) decodes too; insist on the one spelling.
  if (bytes.length !== KEY_BYTES || bytes.toString('base64') !== text) return undefined;
  return bytes;
}

/** Why `text` is not a key, in words that reveal nothing of it but its length. */
export function keyProblem(text: string): string {
  const n = text.length;
  if (n === 0) return 'is empty';
  if (/^[0-9a-fA-F]{64}$/.test(text)) return 'is a hex key; WireGuard configuration uses the base64 form (as `wg genkey` and `wg pubkey` print it)';
  if (text.trim() !== text) return 'has leading or trailing white space';
  if (/[^A-Za-z0-9+/=]/.test(text)) return 'contains characters that are not base64';
  if (n !== 44) {
    const bytes = Buffer.from(text, 'base64').length;
    return `has ${n} characters (${bytes} bytes when decoded); a key has 44 (32 bytes)`;
  }
  if (!text.endsWith('=') || text.indexOf('=') !== 43) return "does not end with exactly one '='";
  return 'is not canonical base64 (its last character before "=" has stray bits)';
}

/** True for the all-zero key, which WireGuard treats as "no key". */
export function isZeroKey(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

/** The base64 public key of a 32-byte X25519 private key (what `wg pubkey` prints). */
export function publicKeyOf(privateKey: Uint8Array): string {
  return WireGuardSecret.fromBytes(privateKey).publicKey();
}

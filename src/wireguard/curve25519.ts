/**
 * WireGuard keys: Curve25519 (X25519) through node:crypto, written as
 * `wg genkey` / `wg pubkey` write them (standard base64 of 32 bytes, 44
 * characters with one '=' of padding).
 *
 * Secrets (private and preshared keys) live in WireGuardSecret, which never
 * shows its bytes in toString, template strings, util.inspect, console.log or
 * JSON: only an explicit `toBase64()` / `toHex()` / `bytes()` gives them out.
 */
import { createPrivateKey, createPublicKey, randomBytes } from 'node:crypto';
import { ValidationError } from '../errors.js';
import { describeKeyText, isZeroKey, KEY_BYTES, parseKey, Redacted, secretEquals } from '../grammar/index.js';

export const WG_KEY_LEN = KEY_BYTES;

const KEY_EXPECTED = '32 bytes in base64 (44 characters ending in "="), as `wg genkey` prints them';

// PKCS#8 wrapping of a raw X25519 private key (RFC 8410): the 16-byte prefix
// before the 32 key bytes.
const PKCS8_X25519_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
// SubjectPublicKeyInfo of X25519: the public key is the last 32 bytes.
const SPKI_X25519_LENGTH = 44;

/**
 * Decodes a key written in base64, strictly: exactly 44 characters that decode
 * to 32 bytes and re-encode to the same text. Throws a ValidationError naming
 * `field` otherwise.
 */
export function decodeKey(text: unknown, field: string): Buffer {
  const r = parseKey(text);
  if (r.ok) return r.value;
  if (typeof text !== 'string') throw new ValidationError(field, `not a string (${typeof text})`, KEY_EXPECTED);
  const what = r.code === 'canonical' ? 'is not canonical base64 of 32 bytes' : 'is not a WireGuard key';
  throw new ValidationError(field, `${describeKeyText(text)} ${what}`, KEY_EXPECTED);
}

/** Clamps a Curve25519 scalar in place, as `wg genkey` does. */
function clamp(k: Buffer): Buffer {
  k[0]! &= 248;
  k[31] = (k[31]! & 127) | 64;
  return k;
}

/** A private or preshared key that never prints itself (see Redacted). */
export class WireGuardSecret extends Redacted {
  readonly #bytes: Buffer;

  private constructor(bytes: Buffer) {
    super();
    this.#bytes = bytes;
  }

  /** Wraps 32 raw bytes (copied). */
  static fromBytes(bytes: Uint8Array, field = 'key'): WireGuardSecret {
    if (!(bytes instanceof Uint8Array) || bytes.length !== WG_KEY_LEN) {
      throw new ValidationError(field, `a key has ${WG_KEY_LEN} bytes`, KEY_EXPECTED);
    }
    return new WireGuardSecret(Buffer.from(bytes));
  }

  /** Parses base64 text (as `wg genkey` / `wg genpsk` print it). */
  static fromBase64(text: string, field = 'key'): WireGuardSecret {
    return new WireGuardSecret(decodeKey(text, field));
  }

  /** Accepts a secret or its base64 text. */
  static from(value: WireGuardSecret | string, field = 'key'): WireGuardSecret {
    if (value instanceof WireGuardSecret) return value;
    return WireGuardSecret.fromBase64(value, field);
  }

  /** The key in base64: the only way (with toHex and bytes) to reveal it. */
  toBase64(): string {
    return this.#bytes.toString('base64');
  }

  /** The key in hex, as the userspace API writes it. */
  toHex(): string {
    return this.#bytes.toString('hex');
  }

  /** A copy of the 32 raw bytes. */
  bytes(): Buffer {
    return Buffer.from(this.#bytes);
  }

  /** True when all 32 bytes are zero (the "no key" value of both APIs). */
  isZero(): boolean {
    return isZeroKey(this.#bytes);
  }

  /** Constant-time comparison. */
  equals(other: WireGuardSecret | string): boolean {
    const o = other instanceof WireGuardSecret ? other.#bytes : decodeKey(other, 'other');
    return secretEquals(this.#bytes, o);
  }

  /** The public key of this private key (base64). */
  publicKey(): string {
    return publicKeyOfBytes(this.#bytes);
  }

  protected override get inspectLabel(): string {
    return 'WireGuardSecret';
  }

  override get [Symbol.toStringTag](): string {
    return 'WireGuardSecret';
  }
}

let jwkImport = true;

function publicKeyOfBytes(priv: Buffer): string {
  // The JWK import is an order of magnitude faster than decoding PKCS#8; Node
  // only type-checks `x` of a private JWK. PKCS#8 stays as the fallback.
  if (jwkImport) {
    try {
      const key = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: priv.toString('base64url'), x: '' }, format: 'jwk' });
      const x = createPublicKey(key).export({ format: 'jwk' }).x;
      if (typeof x === 'string') return Buffer.from(x, 'base64url').toString('base64');
    } catch {
      /* fall through */
    }
    jwkImport = false;
  }
  const key = createPrivateKey({ key: Buffer.concat([PKCS8_X25519_PREFIX, priv]), format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  if (spki.length !== SPKI_X25519_LENGTH) throw new Error(`unexpected X25519 SubjectPublicKeyInfo of ${spki.length} bytes`);
  return spki.subarray(spki.length - WG_KEY_LEN).toString('base64');
}

/** A new private key: 32 random bytes clamped as `wg genkey` clamps them. */
export function generatePrivateKey(): WireGuardSecret {
  return WireGuardSecret.fromBytes(clamp(randomBytes(WG_KEY_LEN)));
}

/** The public key of a private key, in base64 (what `wg pubkey` prints). */
export function publicKey(privateKey: WireGuardSecret | string): string {
  return WireGuardSecret.from(privateKey, 'privateKey').publicKey();
}

/** A new preshared key: 32 random bytes (what `wg genpsk` makes). */
export function generatePresharedKey(): WireGuardSecret {
  return WireGuardSecret.fromBytes(randomBytes(WG_KEY_LEN));
}

/** Checks a public key and returns it unchanged (base64). */
export function checkPublicKey(text: unknown, field: string): string {
  decodeKey(text, field);
  return text as string;
}

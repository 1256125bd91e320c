/**
 * A value that must never be printed: WireGuard private and preshared keys,
 * held as their base64 text. The never-print behaviour is the grammar's
 * Redacted (src/grammar/secret.ts); the only way to read the value is the
 * explicit `reveal()`.
 */
import { HIDDEN, Redacted, secretEquals } from '../../grammar/index.js';

export { HIDDEN };

export class Secret extends Redacted {
  readonly #value: string;

  /** Wraps `value` (for keys: the canonical base64 text). */
  constructor(value: string) {
    super();
    if (typeof value !== 'string') throw new TypeError('a Secret holds a string');
    this.#value = value;
    Object.freeze(this);
  }

  /** The secret text itself. Call it only where the value leaves for the kernel or a key file. */
  reveal(): string {
    return this.#value;
  }

  /** The decoded bytes of a base64 secret (a fresh copy each call). */
  bytes(): Buffer {
    return Buffer.from(this.#value, 'base64');
  }

  /** Compares two secrets in constant time. */
  equals(other: Secret): boolean {
    if (!(other instanceof Secret)) return false;
    return secretEquals(Buffer.from(this.#value), Buffer.from(other.#value));
  }

  override get [Symbol.toStringTag](): string {
    return 'Secret';
  }
}

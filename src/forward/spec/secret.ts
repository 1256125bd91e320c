/**
 * A value that must never be printed: WireGuard private and preshared keys.
 *
 * Every way a value turns into text — String(), template literals, `+`,
 * JSON.stringify, util.inspect / console.log — gives "(hidden)". The value
 * lives in an ECMAScript private field, so it is not an own property either
 * (Object.keys, spread, structuredClone and assert's diffs do not see it).
 * The only way to read it is the explicit `reveal()`.
 */
import { timingSafeEqual } from 'node:crypto';

/** What a Secret prints as, everywhere. */
export const HIDDEN = '(hidden)';

const inspectCustom = Symbol.for('nodejs.util.inspect.custom');

export class Secret {
  readonly #value: string;

  /** Wraps `value` (for keys: the canonical base64 text). */
  constructor(value: string) {
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
    const a = Buffer.from(this.#value);
    const b = Buffer.from(other.#value);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  toString(): string {
    return HIDDEN;
  }

  toJSON(): string {
    return HIDDEN;
  }

  [Symbol.toPrimitive](): string {
    return HIDDEN;
  }

  [inspectCustom](): string {
    return HIDDEN;
  }

  get [Symbol.toStringTag](): string {
    return 'Secret';
  }
}

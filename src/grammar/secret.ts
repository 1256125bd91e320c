/**
 * Values that must never be printed (private and preshared keys). A Redacted
 * value gives "(hidden)" to every way a value turns into text — String(),
 * template literals, `+`, JSON.stringify, util.inspect / console.log — and
 * keeps what it holds in an ECMAScript private field, so it is no own
 * property either (Object.keys, spread, structuredClone and assert's diffs do
 * not see it). Subclasses add the explicit ways out (reveal(), toBase64(), …).
 */
import { timingSafeEqual } from 'node:crypto';

/** What a redacted value prints as, everywhere. */
export const HIDDEN = '(hidden)';

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** The never-print behaviour, for classes that hold a secret in a private field. */
export abstract class Redacted {
  toString(): string {
    return HIDDEN;
  }

  toJSON(): string {
    return HIDDEN;
  }

  [Symbol.toPrimitive](): string {
    return HIDDEN;
  }

  /** What util.inspect and console.log show: HIDDEN, or `${inspectLabel} ${HIDDEN}` when the subclass names itself. */
  [INSPECT](): string {
    const label = this.inspectLabel;
    return label ? `${label} ${HIDDEN}` : HIDDEN;
  }

  /** A name for util.inspect to show before HIDDEN; none by default. */
  protected get inspectLabel(): string | undefined {
    return undefined;
  }

  get [Symbol.toStringTag](): string {
    return 'Redacted';
  }
}

/** Compares two byte strings in constant time (for their common length; a length difference is false). */
export function secretEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

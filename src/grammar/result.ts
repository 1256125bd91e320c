/**
 * The one result shape of every parser in src/grammar: the value, or a
 * problem in words. A problem is a phrase that follows the quoted input
 * (`"10.0.0.300" is not an IP address`), never quotes the input itself (it
 * may be a key), and comes with a short code so that each layer can word its
 * own typed error (ValidationError, ConfigError, ImportError, DecodeError).
 */

export type Parsed<T> = { readonly ok: true; readonly value: T } | Problem;

export interface Problem {
  readonly ok: false;
  /** What is wrong, as a phrase that follows the quoted input: "is not an IP address". */
  readonly problem: string;
  /** What kind of problem, for callers that word each kind their own way (e.g. 'type', 'length', 'range'). */
  readonly code: string;
}

export const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });

export const fail = (code: string, problem: string): Problem => ({ ok: false, problem, code });

/** The value, or undefined for a problem (for callers that only ask "is it valid?"). */
export function valueOf<T>(p: Parsed<T>): T | undefined {
  return p.ok ? p.value : undefined;
}

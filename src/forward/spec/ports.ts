/**
 * Ports and port ranges (`9735`, `"8000-8100"`) and the other inclusive
 * number ranges of a spec (uid ranges), with the overlap search that finds
 * two forwards claiming the same public port.
 */
import { fail, show } from './field.js';

/** An inclusive range of numbers: ports `from`..`to`, or uids. */
export interface NumberRange {
  from: number;
  to: number;
}

/** An inclusive port range; `from === to` for a single port. */
export type PortRange = NumberRange;

export const PORT_EXPECTED = 'a port 1-65535, or a range "FROM-TO" such as "8000-8100"';

const DECIMAL = /^(0|[1-9][0-9]*)$/;
const RANGE = /^(0|[1-9][0-9]*)-(0|[1-9][0-9]*)$/;

/**
 * Parses a number or the text "N" / "A-B" into an inclusive range within
 * min..max, or throws a ConfigError naming `field`.
 */
export function parseRange(value: unknown, field: string, min: number, max: number, what: string, expected: string): NumberRange {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < min || value > max) fail(field, `${show(value)} is not a valid ${what}`, expected);
    return { from: value, to: value };
  }
  if (typeof value !== 'string') fail(field, `expected a ${what} but got ${show(value)}`, expected);
  if (DECIMAL.test(value)) return parseRange(Number(value), field, min, max, what, expected);
  const m = RANGE.exec(value);
  if (!m) fail(field, `${show(value)} is not a ${what} or a range`, expected);
  const from = Number(m[1]);
  const to = Number(m[2]);
  for (const n of [from, to]) {
    if (n < min || n > max) fail(field, `${n} in ${show(value)} is out of range`, expected);
  }
  if (from > to) fail(field, `the range ${show(value)} is reversed`, `"${to}-${from}"`);
  return { from, to };
}

/** A port or port range, 1..65535. */
export function parsePorts(value: unknown, field: string): PortRange {
  return parseRange(value, field, 1, 65535, 'port', PORT_EXPECTED);
}

export function rangeSize(r: NumberRange): number {
  return r.to - r.from + 1;
}

export function rangesOverlap(a: NumberRange, b: NumberRange): boolean {
  return a.from <= b.to && b.from <= a.to;
}

export function formatRange(r: NumberRange): string {
  return r.from === r.to ? String(r.from) : `${r.from}-${r.to}`;
}

/**
 * The first overlapping pair among `items` (by a sweep over the ranges sorted
 * by start, so thousands of forwards cost O(n log n)), reported as [earlier,
 * later] by their position in the input.
 */
export function findOverlap<T extends { range: NumberRange; order: number }>(items: readonly T[]): [T, T] | undefined {
  const sorted = [...items].sort((a, b) => a.range.from - b.range.from || a.order - b.order);
  let reach: T | undefined;
  let found: [T, T] | undefined;
  for (const it of sorted) {
    if (reach && it.range.from <= reach.range.to) {
      const pair: [T, T] = reach.order < it.order ? [reach, it] : [it, reach];
      // Report the overlap whose later member comes first in the input, so the error points at the first bad line.
      if (!found || pair[1].order < found[1].order) found = pair;
    }
    if (!reach || it.range.to > reach.range.to) reach = it;
  }
  return found;
}

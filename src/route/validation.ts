/**
 * Checks of caller input shared by the rtnetlink modules. Every check throws a
 * ValidationError naming the field and what would be valid, before anything
 * is sent to the kernel.
 */
import { ValidationError } from '../errors.js';
import { IFNAME_MAX, parseIfname } from '../grammar/index.js';
import { RT_TABLE_COMPAT, RT_TABLE_DEFAULT, RT_TABLE_LOCAL, RT_TABLE_MAIN, RT_TABLE_UNSPEC } from './constants.js';

/** 4 or 6; never called Family, which src/netlink exports. */
export type RouteFamily = 4 | 6;

export const familyNumber = (f: RouteFamily): number => (f === 4 ? 2 : 10);
export function familyOfNumber(n: number): RouteFamily | undefined {
  return n === 2 ? 4 : n === 10 ? 6 : undefined;
}

export function checkFamily(value: unknown, field: string): RouteFamily | undefined {
  if (value === undefined) return undefined;
  if (value === 4 || value === 6) return value;
  throw new ValidationError(field, `invalid address family ${JSON.stringify(value)}`, '4 or 6');
}

/** An interface name as the kernel's dev_valid_name accepts it (the grammar's parseIfname). */
export function checkIfname(name: unknown, field: string): string {
  const p = parseIfname(name);
  if (p.ok) return p.value;
  if (p.code === 'type' || p.code === 'empty') {
    throw new ValidationError(field, 'an interface name must be a non-empty string', `1 to ${IFNAME_MAX} bytes, such as "wg0"`);
  }
  if (p.code === 'length') {
    const bytes = Buffer.byteLength(name as string, 'utf8');
    throw new ValidationError(field, `interface name ${JSON.stringify(name)} is ${bytes} bytes long`, `at most ${IFNAME_MAX} bytes`);
  }
  throw new ValidationError(field, `invalid interface name ${JSON.stringify(name)}`, 'no whitespace, "/", ":" or NUL, not "." or ".."');
}

export function checkUint(value: unknown, field: string, max: number, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ValidationError(field, `invalid value ${JSON.stringify(value)}`, `an integer from ${min} to ${max}`);
  }
  return value;
}

export const U32_MAX = 0xffffffff;

const TABLE_NAMES: Record<string, number> = { main: RT_TABLE_MAIN, local: RT_TABLE_LOCAL, default: RT_TABLE_DEFAULT };

/** A routing table: 1 to 2^32-1 or main/local/default; 0 (unspec) and 252 (compat) are reserved. */
export type TableId = number | 'main' | 'local' | 'default';

export function checkTable(value: unknown, field: string): number {
  if (typeof value === 'string' && value in TABLE_NAMES) return TABLE_NAMES[value]!;
  const expected = "an integer from 1 to 4294967295 other than 252, or 'main', 'local', 'default'";
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new ValidationError(field, `invalid table ${JSON.stringify(value)}`, expected);
  }
  if (value === RT_TABLE_UNSPEC) throw new ValidationError(field, 'table 0 is RT_TABLE_UNSPEC, not a table', expected);
  if (value === RT_TABLE_COMPAT) {
    throw new ValidationError(
      field,
      'table 252 is reserved (RT_TABLE_COMPAT: how the kernel reports tables above 255 in the 8-bit header field)',
      expected,
    );
  }
  return value;
}

export function checkObject(value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ValidationError(field || 'spec', `expected an object, got ${value === null ? 'null' : typeof value}`);
  }
  return value as Record<string, unknown>;
}

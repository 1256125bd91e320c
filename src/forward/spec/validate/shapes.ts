/**
 * The generic shapes of a spec's values: mappings without unknown fields,
 * required fields, strings, booleans, integers, lists, protocols, interface
 * and namespace names. Each checks one value and throws a ConfigError naming
 * its field.
 */
import { ValidationError } from '../../../errors.js';
import { IFNAME_MAX, parseIfname } from '../../../grammar/index.js';
import { validateNetnsName } from '../../../netns/path.js';
import { child, didYouMean, fail, isPlainObject, listWords, show, typeName } from '../field.js';
import type { TransportProtocol } from '../normalized-config.js';

export const IFNAME_EXPECTED = `an interface name of 1 to ${IFNAME_MAX} bytes without "/", ":" or white space, e.g. "wg0"`;
export const PROTOCOL_EXPECTED = `"tcp", "udp" or "tcp+udp"`;

export const onlyIn = (role: string) => `this field belongs to a spec with role ${role}`;

export function own(obj: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(obj, key) ? obj[key] : undefined;
}

/**
 * Checks that `value` is a mapping with no field outside `allowed`. `foreign`
 * explains fields that belong elsewhere (e.g. a backend field in a frontend).
 */
export function mapping(
  value: unknown,
  field: string,
  allowed: readonly string[],
  expected: string,
  foreign: Readonly<Record<string, string>> = {},
): Record<string, unknown> {
  if (!isPlainObject(value)) fail(field, `expected a mapping but got ${typeName(value)}`, expected);
  for (const key of Object.keys(value)) {
    if (allowed.includes(key)) continue;
    const hint = Object.prototype.hasOwnProperty.call(foreign, key) ? `: ${foreign[key]}` : didYouMean(key, allowed);
    fail(child(field, key), `unknown field${hint}`, `one of the fields ${listWords(allowed)}`);
  }
  return value;
}

export function required(obj: Record<string, unknown>, key: string, field: string, expected: string): unknown {
  const v = own(obj, key);
  if (v === undefined) fail(child(field, key), 'is required', expected);
  return v;
}

export function string(value: unknown, field: string, expected: string): string {
  if (typeof value !== 'string') fail(field, `expected a string but got ${typeName(value)}`, expected);
  return value;
}

export function boolean(value: unknown, field: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') fail(field, `expected true or false but got ${show(value)}`, 'true or false');
  return value;
}

export function integer(value: unknown, field: string, min: number, max: number, expected: string): number {
  if (typeof value !== 'number') fail(field, `expected a number but got ${typeName(value)}`, expected);
  if (!Number.isInteger(value)) fail(field, `${show(value)} is not a whole number`, expected);
  if (value < min || value > max) fail(field, `${show(value)} is out of range`, expected);
  return value;
}

export function list(value: unknown, field: string, expected: string, min = 0, max = Infinity): unknown[] {
  if (!Array.isArray(value)) fail(field, `expected a list but got ${typeName(value)}`, expected);
  if (value.length < min)
    fail(field, value.length === 0 ? 'is empty' : `has ${value.length} entries, at least ${min} are needed`, expected);
  if (value.length > max) fail(field, `has ${value.length} entries, at most ${max} are allowed`, expected);
  return value;
}

export function protocols(value: unknown, field: string): TransportProtocol[] {
  if (value === 'tcp' || value === 'udp') return [value];
  if (value === 'tcp+udp') return ['tcp', 'udp'];
  if (typeof value !== 'string') fail(field, `expected a string but got ${typeName(value)}`, PROTOCOL_EXPECTED);
  const hint =
    value === 'udp+tcp' || value === 'both' || value === 'tcp/udp' ? '; write "tcp+udp"' : didYouMean(value, ['tcp', 'udp', 'tcp+udp']);
  fail(field, `${show(value)} is not a protocol${hint}`, PROTOCOL_EXPECTED);
}

export function interfaceName(value: unknown, field: string): string {
  const name = string(value, field, IFNAME_EXPECTED);
  // The kernel's own rule (dev_valid_name) plus control characters, which it accepts but no
  // tool prints safely, and the names of the sysctl directories every namespace has.
  const r = parseIfname(name, { refuseControl: true, refuseReserved: true });
  if (r.ok) return name;
  if (r.code === 'empty') fail(field, 'is empty', IFNAME_EXPECTED);
  if (r.code === 'length') fail(field, `${show(name)} is ${Buffer.byteLength(name, 'utf8')} bytes long`, IFNAME_EXPECTED);
  if (r.code === 'syntax') fail(field, `${show(name)} is not a valid interface name`, IFNAME_EXPECTED);
  fail(field, `${show(name)} ${r.problem}`, IFNAME_EXPECTED);
}

export function netnsName(value: unknown, field: string): string | undefined {
  if (value === undefined) return undefined;
  const expected = 'a namespace name as `ip netns` lists it: at most 255 bytes, no "/", not "." or ".."';
  const name = string(value, field, expected);
  try {
    return validateNetnsName(name, field);
  } catch (e) {
    if (e instanceof ValidationError) fail(field, `${show(name)} is not a namespace name`, expected);
    throw e;
  }
}

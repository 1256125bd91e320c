/**
 * The checks of a lan-router or service-host configuration that the import
 * makes itself: the shape and ranges docs/config-reference.md gives the two
 * LAN roles. TODO(issue 18): once src/forward/lan (validateLanSpec) is on
 * main, load the YAML with it instead, as the tunnel roles' is loaded with
 * parseConfig, and drop this file.
 */
import { ConfigError } from '../errors.js';
import { parseIfname, parseIp } from '../grammar/index.js';

const FIELDS = {
  'lan-router': ['role', 'interface', 'via', 'dscp', 'mark', 'table', 'priority', 'netns'],
  'service-host': ['role', 'interface', 'dscp', 'mark', 'netns'],
} as const;

const integer = (v: unknown, field: string, min: number, max: number, but: readonly number[] = []) => {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max || but.includes(v))
    throw new ConfigError(
      field,
      `${JSON.stringify(v)} is out of range`,
      `an integer from ${min} to ${max}${but.length ? ` but ${but.join(', ')}` : ''}`,
    );
};

/** Throws ConfigError when the spec is not a lan-router or service-host configuration netfwd takes. */
export function checkLanSpec(spec: Record<string, unknown>): void {
  const role = spec.role as keyof typeof FIELDS;
  const known: readonly string[] = FIELDS[role];
  for (const k of Object.keys(spec)) if (!known.includes(k)) throw new ConfigError(k, 'unknown field', `one of ${known.join(', ')}`);
  if (typeof spec.interface !== 'string' || !parseIfname(spec.interface).ok)
    throw new ConfigError('interface', 'is missing or not an interface name', 'the LAN interface, e.g. eth0');
  integer(spec.dscp, 'dscp', 1, 63);
  integer(spec.mark, 'mark', 1, 0xffffffff);
  if (role !== 'lan-router') return;
  const via = Array.isArray(spec.via) ? spec.via : [spec.via];
  const families = via.map((v, i) => {
    const ip = typeof v === 'string' ? parseIp(v) : undefined;
    if (!ip?.ok) throw new ConfigError(`via[${i}]`, 'is not an IP address', "the VPN client's address on the LAN");
    return ip.value.family;
  });
  if (via.length === 0 || new Set(families).size !== families.length)
    throw new ConfigError('via', 'needs one address per family', "the VPN client's LAN address, one per family");
  integer(spec.table, 'table', 1, 0xffffffff, [252, 253, 254, 255]);
  integer(spec.priority, 'priority', 1, 32765);
}

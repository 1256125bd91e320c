/**
 * validateLanSpec: checks a lan-router or service-host spec completely and
 * returns it normalised, in the style of the tunnel roles' validation
 * (spec/validate/): the first problem is a ConfigError whose `field` is the
 * path of the offending field and whose message says what would be valid;
 * unknown fields are errors, with a "did you mean" hint for typos. Nothing
 * here touches the kernel.
 */
import { DSCP_NAMES } from '../../nft/datatype-symbols.js';
import { didYouMean, fail, isPlainObject, item, listWords, show, typeName } from '../spec/field.js';
import type { HostAddress } from '../spec/normalized-config.js';
import { ipAddress } from '../spec/validate/addresses.js';
import { integer, interfaceName, list, mapping, netnsName, own, required } from '../spec/validate/shapes.js';
import {
  isLanRole,
  LAN_DEFAULTS,
  LAN_ROLES,
  type LanRouterSpec,
  type NormalizedLanConfig,
  type NormalizedLanRouter,
  type NormalizedServiceHost,
  type ServiceHostSpec,
} from './spec.js';

const U32_MAX = 0xffffffff;
const ROUTER_FIELDS = ['role', 'netns', 'interface', 'via', 'dscp', 'mark', 'table', 'priority'] as const;
const SERVICE_HOST_FIELDS = ['role', 'netns', 'interface', 'dscp', 'mark'] as const;

/** Fields that belong elsewhere, and why (the tunnel roles' fields, the router's on a service host). */
const TUNNEL_FIELDS: Record<string, string> = {
  tunnel: 'a LAN role has no tunnel of its own (the VPN client runs role backend with returnPath mode dscp)',
  returnPath: 'returnPath belongs to role backend (mode dscp is the VPN client of this recipe)',
  forwards: 'forwards belong to role frontend',
  services: 'services belong to role backend',
};
const ROUTER_HINTS: Record<string, string> = {
  ...TUNNEL_FIELDS,
  gateway: "the VPN client's address is via",
  nexthop: "the VPN client's address is via",
  fwmark: 'the firewall mark is mark',
  rulePriority: 'the rule priority is priority',
};
const SERVICE_HOST_HINTS: Record<string, string> = {
  ...TUNNEL_FIELDS,
  via: 'via belongs to role lan-router: the service host changes no routing (its replies go to its default gateway, the router)',
  table: 'table belongs to role lan-router: the service host changes no routing',
  priority: 'priority belongs to role lan-router: the service host changes no routing',
};

/**
 * Checks `input` against the lan-router or service-host spec and returns it
 * normalised. Throws a ConfigError (and nothing else) for any invalid input.
 */
export function validateLanSpec(input: LanRouterSpec): NormalizedLanRouter;
export function validateLanSpec(input: ServiceHostSpec): NormalizedServiceHost;
export function validateLanSpec(input: unknown): NormalizedLanConfig;
export function validateLanSpec(input: unknown): NormalizedLanConfig {
  const roles = listWords(LAN_ROLES);
  if (!isPlainObject(input)) fail('', `a spec is a mapping, not ${typeName(input)}`, `a mapping with role ${roles}`);
  const role = own(input, 'role');
  if (role === undefined) fail('role', 'is required', roles);
  if (!isLanRole(role)) {
    const tunnel =
      role === 'frontend' || role === 'backend' ? `: role ${role} is configured with forwardService()` : didYouMean(role, LAN_ROLES);
    fail('role', `${show(role)} is not a LAN role${tunnel}`, roles);
  }
  return role === 'lan-router' ? validateRouter(input) : validateServiceHost(input);
}

function validateServiceHost(input: Record<string, unknown>): NormalizedServiceHost {
  const spec = mapping(input, '', SERVICE_HOST_FIELDS, 'a service-host spec', SERVICE_HOST_HINTS);
  const netns = netnsName(own(spec, 'netns'), 'netns');
  const name = interfaceName(required(spec, 'interface', '', 'the LAN interface, e.g. "eth0"'), 'interface');
  const dscp = dscpValue(own(spec, 'dscp'), 'dscp');
  const mark = markValue(own(spec, 'mark'), 'mark', dscp);
  return { role: 'service-host', netns, interface: name, dscp, mark };
}

function validateRouter(input: Record<string, unknown>): NormalizedLanRouter {
  const spec = mapping(input, '', ROUTER_FIELDS, 'a lan-router spec', ROUTER_HINTS);
  const netns = netnsName(own(spec, 'netns'), 'netns');
  const name = interfaceName(required(spec, 'interface', '', 'the LAN interface, e.g. "br0"'), 'interface');
  const via = viaAddresses(required(spec, 'via', '', VIA_EXPECTED), 'via');
  const dscp = dscpValue(own(spec, 'dscp'), 'dscp');
  const mark = markValue(own(spec, 'mark'), 'mark', dscp);
  const table = routingTable(own(spec, 'table'), 'table', mark);
  const priority = rulePriority(own(spec, 'priority'), 'priority');
  return { role: 'lan-router', netns, interface: name, via, families: via.map((v) => v.family), dscp, mark, table, priority };
}

const DSCP_EXPECTED = 'a DSCP value 1-63, e.g. 42 (the value the backend in mode dscp tags with)';

function dscpValue(value: unknown, field: string): number {
  if (value === undefined) return LAN_DEFAULTS.dscp;
  if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(DSCP_NAMES, value)) {
    const n = DSCP_NAMES[value as keyof typeof DSCP_NAMES];
    fail(field, `${show(value)} is a DSCP name; write its number, ${n}`, DSCP_EXPECTED);
  }
  const n = integer(value, field, 0, 63, DSCP_EXPECTED);
  if (n === 0) fail(field, '0 is the default DSCP every untagged packet carries: it cannot tell tagged connections apart', DSCP_EXPECTED);
  return n;
}

function markValue(value: unknown, field: string, dscp: number): number {
  if (value === undefined) return dscp;
  return integer(value, field, 1, U32_MAX, `a mark 1-4294967295 (0 means "no mark"); default: the DSCP value, ${dscp}`);
}

const RESERVED_TABLES: Record<number, string> = {
  252: 'table 252 is reserved ("compat", how the kernel reports tables above 255)',
  253: 'table 253 is the "default" table',
  254: 'table 254 is the "main" table',
  255: 'table 255 is the "local" table',
};
const TABLE_EXPECTED = 'a routing table 1-4294967295 other than 252-255 that nothing else uses';

function routingTable(value: unknown, field: string, mark: number): number {
  if (value === undefined) {
    const why = RESERVED_TABLES[mark];
    if (why) fail(field, `defaults to the mark, ${mark}, but ${why}; netfwd needs a table of its own`, TABLE_EXPECTED);
    return mark;
  }
  if (typeof value === 'string' && ['main', 'local', 'default', 'compat'].includes(value))
    fail(field, `${show(value)} is a system table`, TABLE_EXPECTED);
  const n = integer(value, field, 0, U32_MAX, TABLE_EXPECTED);
  if (n === 0) fail(field, 'table 0 means "unspecified"', TABLE_EXPECTED);
  const why = RESERVED_TABLES[n];
  if (why) fail(field, `${why}; netfwd needs a table of its own`, TABLE_EXPECTED);
  return n;
}

function rulePriority(value: unknown, field: string): number {
  if (value === undefined) return LAN_DEFAULTS.priority;
  const expected = "a rule priority 1-32765, e.g. 100 (0 is the local table's rule, 32766 main's, 32767 default's)";
  const n = integer(value, field, 0, U32_MAX, expected);
  if (n === 0) fail(field, 'priority 0 is taken by the rule for the local table', expected);
  if (n >= 32766)
    fail(
      field,
      `priority ${n} is ${n === 32766 ? 'taken by the rule for the main table' : n === 32767 ? 'taken by the rule for the default table' : "after the main table's rule, so it would never be reached"}`,
      expected,
    );
  return n;
}

const VIA_EXPECTED =
  'the VPN client\'s LAN address, one per family: "198.51.100.130" or ["198.51.100.130", "2001:db8:100::2"] (global or unique-local, not link-local)';

function viaAddresses(value: unknown, field: string): HostAddress[] {
  const items = typeof value === 'string' ? [value] : list(value, field, VIA_EXPECTED, 1, 2);
  const out: Array<HostAddress & { at: string }> = [];
  items.forEach((v, i) => {
    const f = typeof value === 'string' ? field : item(field, i);
    const a = ipAddress(v, f, VIA_EXPECTED);
    // ICMPv6 redirects: the kernel sends one for a packet that leaves by the interface it came
    // in on only when the next hop is link-local (ndisc_send_redirect), and no sysctl stops it.
    // A global or unique-local next hop keeps the service host's routes untouched.
    if (a.family === 6 && a.bytes[0] === 0xfe && (a.bytes[1]! & 0xc0) === 0x80)
      fail(
        f,
        `${show(v)} is a link-local address: the router would send the service host ICMPv6 redirects towards it for every tagged reply, and the service host would then send its other traffic for those clients there too`,
        VIA_EXPECTED,
      );
    const same = out.find((x) => x.family === a.family);
    if (same) fail(f, `is a second IPv${a.family} address (${same.at} is one already)`, 'one address per family');
    out.push({ family: a.family, address: a.address, at: f });
  });
  return out.sort((a, b) => a.family - b.family).map(({ family, address }) => ({ family, address }));
}

/** The role of a raw (unvalidated) spec, when it is a LAN role. */
export function lanRoleOf(input: unknown): 'lan-router' | 'service-host' | undefined {
  if (!isPlainObject(input)) return undefined;
  const role = own(input, 'role');
  return isLanRole(role) ? role : undefined;
}

/**
 * src/forward/lan/validate.ts and the loader of files of any role
 * (src/forward/lan/config-file.ts): lan-router and service-host specs, what
 * they normalise to, and every error — its field path, its message and what
 * it says would be valid — from TypeScript objects and from YAML files.
 */
import test, { type ExecutionContext } from 'ava';
import { ConfigError } from '../../src/errors.js';
import { loadAnyConfigFile } from '../../src/forward/lan/config-file.js';
import type { LanRouterSpec, ServiceHostSpec } from '../../src/forward/lan/spec.js';
import { validateLanSpec } from '../../src/forward/lan/validate.js';
import type { FileReader } from '../../src/forward/spec/private-file.js';
import { validateSpec } from '../../src/forward/spec/validate/index.js';

const router = (extra: Record<string, unknown> = {}) =>
  ({ role: 'lan-router', interface: 'br0', via: ['198.51.100.130', '2001:db8:100::2'], ...extra }) as unknown as LanRouterSpec;
const host = (extra: Record<string, unknown> = {}) => ({ role: 'service-host', interface: 'eth0', ...extra }) as unknown as ServiceHostSpec;

/** The ConfigError validateLanSpec throws for `input`, checked for its field, message and expectation. */
function refused(t: ExecutionContext, input: unknown, field: string, message: RegExp, expected?: RegExp): void {
  const e = t.throws(() => validateLanSpec(input), { instanceOf: ConfigError });
  if (!e) return;
  t.is(e.field, field, e.message);
  t.regex(e.message, message);
  if (expected) t.regex(e.expected ?? '', expected);
}

// ---------------------------------------------------------------- good input

test('a service host: the defaults (dscp 42, the mark follows it, no namespace)', (t) => {
  t.deepEqual(validateLanSpec(host()), { role: 'service-host', netns: undefined, interface: 'eth0', dscp: 42, mark: 42 });
  t.deepEqual(validateLanSpec(host({ dscp: 10, mark: 0x1000, netns: 'svc' })), {
    role: 'service-host',
    netns: 'svc',
    interface: 'eth0',
    dscp: 10,
    mark: 0x1000,
  });
});

test('a router: via sorted by family and canonical, the table follows the mark, which follows the DSCP value', (t) => {
  t.deepEqual(validateLanSpec(router({ via: ['2001:DB8:100:0::2', '198.51.100.130'] })), {
    role: 'lan-router',
    netns: undefined,
    interface: 'br0',
    via: [
      { family: 4, address: '198.51.100.130' },
      { family: 6, address: '2001:db8:100::2' },
    ],
    families: [4, 6],
    dscp: 42,
    mark: 42,
    table: 42,
    priority: 100,
  });
  const one = validateLanSpec(router({ via: '198.51.100.130', dscp: 12, mark: 500, priority: 200, netns: 'home' }));
  t.deepEqual(one.via, [{ family: 4, address: '198.51.100.130' }]);
  t.deepEqual([one.families, one.dscp, one.mark, one.table, one.priority, one.netns], [[4], 12, 500, 500, 200, 'home']);
  t.is(validateLanSpec(router({ via: ['2001:db8:100::2'], table: 7 })).table, 7);
  t.deepEqual(validateLanSpec(router({ via: ['2001:db8:100::2'] })).families, [6]);
});

// ---------------------------------------------------------------- roles and fields

test('the spec and its role', (t) => {
  refused(t, [], '', /^a spec is a mapping, not a list/, /role "lan-router" or "service-host"/);
  refused(t, { interface: 'eth0' }, 'role', /^role: is required/, /"lan-router" or "service-host"/);
  refused(t, host({ role: 'backend' }), 'role', /"backend" is not a LAN role: role backend is configured with forwardService\(\)/);
  refused(t, host({ role: 'lan-routr' }), 'role', /"lan-routr" is not a LAN role; did you mean "lan-router"\?/);
  refused(t, host({ role: 7 }), 'role', /7 is not a LAN role/);
});

test('unknown fields are errors, with the role a field belongs to or a did-you-mean', (t) => {
  refused(t, router({ viaa: '198.51.100.130' }), 'viaa', /unknown field; did you mean "via"\?/, /one of the fields "role", "netns"/);
  refused(t, router({ gateway: '198.51.100.130' }), 'gateway', /unknown field: the VPN client's address is via/);
  refused(t, router({ fwmark: 42 }), 'fwmark', /unknown field: the firewall mark is mark/);
  refused(t, host({ via: '198.51.100.130' }), 'via', /unknown field: via belongs to role lan-router: the service host changes no routing/);
  refused(t, host({ table: 42 }), 'table', /table belongs to role lan-router/);
  refused(t, host({ priority: 100 }), 'priority', /priority belongs to role lan-router/);
  refused(t, host({ tunnel: {} }), 'tunnel', /a LAN role has no tunnel of its own/);
  refused(t, router({ returnPath: { mode: 'dscp' } }), 'returnPath', /returnPath belongs to role backend/);
  refused(t, host({ dsc: 42 }), 'dsc', /did you mean "dscp"\?/);
});

test('interface and netns', (t) => {
  refused(t, { role: 'service-host' }, 'interface', /^interface: is required/, /the LAN interface, e.g. "eth0"/);
  refused(t, { role: 'lan-router', via: '198.51.100.130' }, 'interface', /is required/, /e\.g\. "br0"/);
  refused(t, host({ interface: 'a/b' }), 'interface', /"a\/b" is not a valid interface name/);
  refused(t, host({ interface: 'a-very-long-interface' }), 'interface', /is 21 bytes long/);
  refused(t, host({ interface: 'all' }), 'interface', /"all"/);
  refused(t, host({ interface: 42 }), 'interface', /expected a string but got a number/);
  refused(t, host({ netns: 'a/b' }), 'netns', /"a\/b" is not a namespace name/);
});

test('dscp and mark', (t) => {
  refused(t, host({ dscp: 0 }), 'dscp', /0 is the default DSCP every untagged packet carries/, /a DSCP value 1-63/);
  refused(t, host({ dscp: 64 }), 'dscp', /64 is out of range/, /1-63/);
  refused(t, host({ dscp: 4.5 }), 'dscp', /4\.5 is not a whole number/);
  refused(t, host({ dscp: 'af41' }), 'dscp', /"af41" is a DSCP name; write its number, 34/);
  refused(t, host({ dscp: '42' }), 'dscp', /expected a number but got a string/);
  refused(t, host({ mark: 0 }), 'mark', /0 is out of range/, /a mark 1-4294967295 .*default: the DSCP value, 42/);
  refused(t, router({ mark: 2 ** 32 }), 'mark', /out of range/);
});

test('table and priority', (t) => {
  refused(t, router({ table: 254 }), 'table', /table 254 is the "main" table; netfwd needs a table of its own/, /other than 252-255/);
  refused(t, router({ table: 0 }), 'table', /table 0 means "unspecified"/);
  refused(t, router({ table: 'main' }), 'table', /"main" is a system table/);
  refused(t, router({ mark: 255 }), 'table', /defaults to the mark, 255, but table 255 is the "local" table/);
  refused(t, router({ priority: 0 }), 'priority', /priority 0 is taken by the rule for the local table/, /1-32765/);
  refused(t, router({ priority: 32766 }), 'priority', /taken by the rule for the main table/);
  refused(t, router({ priority: 40000 }), 'priority', /after the main table's rule, so it would never be reached/);
});

test('via: one address per family, host addresses, no link-local IPv6 (the kernel would send ICMPv6 redirects)', (t) => {
  refused(t, { role: 'lan-router', interface: 'br0' }, 'via', /^via: is required/, /the VPN client's LAN address, one per family/);
  refused(t, router({ via: [] }), 'via', /is empty/);
  refused(t, router({ via: ['198.51.100.130', '2001:db8::2', '198.51.100.131'] }), 'via', /has 3 entries, at most 2 are allowed/);
  refused(t, router({ via: ['198.51.100.130', '198.51.100.131'] }), 'via[1]', /is a second IPv4 address \(via\[0\] is one already\)/);
  refused(
    t,
    router({ via: 'fe80::2' }),
    'via',
    /"fe80::2" is a link-local address: the router would send the service host ICMPv6 redirects/,
  );
  refused(t, router({ via: ['198.51.100.130', 'fe80::1'] }), 'via[1]', /link-local/);
  refused(t, router({ via: '198.51.100.0/24' }), 'via', /is a prefix; an address is needed/);
  refused(t, router({ via: '127.0.0.1' }), 'via', /is a loopback address/);
  refused(t, router({ via: 'router.lan' }), 'via', /"router.lan" is not an IP address/);
  refused(t, router({ via: { address: '198.51.100.130' } }), 'via', /expected a list but got a mapping/);
});

test('validateSpec points a LAN role to lanRole()', (t) => {
  const e = t.throws(() => validateSpec({ role: 'lan-router', interface: 'br0' }), { instanceOf: ConfigError });
  t.is(e?.field, 'role');
  t.regex(e?.message ?? '', /lan-router is a LAN role of the tagged-routing recipe, not a tunnel role: it is set up with lanRole\(\)/);
});

// ---------------------------------------------------------------- files

/** A reader of one virtual file (no permissions checked: no owner or directories). */
const fileOf =
  (text: string): FileReader =>
  () => ({ data: text, mode: 0o644 });

test('files of any role: LAN roles from YAML and JSON, errors located at their line and column', (t) => {
  const yaml = 'role: lan-router\ninterface: br0\nvia:\n  - 198.51.100.130\n  - 2001:db8:100::2\ndscp: 42\n';
  const c = loadAnyConfigFile('/etc/netfwd/router.yaml', { readFile: fileOf(yaml) });
  t.is(c.role, 'lan-router');
  t.deepEqual(c.role === 'lan-router' ? c.families : [], [4, 6]);
  const json = '{ "role": "service-host", "interface": "eth0", "mark": 43 }';
  t.like(loadAnyConfigFile('/etc/netfwd/svc.json', { readFile: fileOf(json) }), { role: 'service-host', dscp: 42, mark: 43 });

  const bad = 'role: lan-router\ninterface: br0\nvia:\n  - 198.51.100.130\n  - fe80::1\n';
  const e = t.throws(() => loadAnyConfigFile('/etc/netfwd/router.yaml', { readFile: fileOf(bad) }), { instanceOf: ConfigError });
  t.regex(e?.message ?? '', /^\/etc\/netfwd\/router\.yaml:5:5: via\[1\]: "fe80::1" is a link-local address/);

  const typo = 'role: service-hots\ninterface: eth0\n';
  const e2 = t.throws(() => loadAnyConfigFile('/etc/netfwd/svc.yaml', { readFile: fileOf(typo) }), { instanceOf: ConfigError });
  t.regex(
    e2?.message ?? '',
    /svc\.yaml:1:1: role: "service-hots" is not a role; did you mean "service-host"\? \(expected "frontend", "backend", "lan-router" or "service-host"\)/,
  );

  // A tunnel role still goes through validateSpec, with its own messages.
  const fe = 'role: frontend\n';
  const e3 = t.throws(() => loadAnyConfigFile('/etc/netfwd/fe.yaml', { readFile: fileOf(fe) }), { instanceOf: ConfigError });
  t.regex(e3?.message ?? '', /fe\.yaml.*tunnel: is required/);
});

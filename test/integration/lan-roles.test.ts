/**
 * The LAN roles (src/forward/lan) in fresh namespaces, checked with the
 * system tools as oracles (`nft list`, `nft -j`, `ip -j rule`, `ip -j route`,
 * /proc/sys):
 *   - up installs exactly the intended objects, and netfwd's own nft decoder
 *     reads them back as nft prints them;
 *   - a second up writes nothing; down restores the namespace byte for byte,
 *     sysctls included (both send_redirects), and leaves foreign objects — a
 *     table, a rule, a route in the router's own table with another protocol —
 *     untouched through it all;
 *   - drift is reported and repaired, a failing step rolls everything back,
 *     claims keep configurations of one namespace apart, and what up cannot
 *     do (no interface, a via off the LAN, a table that is not netfwd's) is
 *     refused before anything changes;
 *   - the CLI takes the files (up, plan, status, down) and refuses run and doctor.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { ApplyError, ConfigError } from '../../src/errors.js';
import { forwardService, type LanRole, lanRole, OwnershipError } from '../../src/forward/index.js';
import { Nft, nftRulesetText } from '../../src/nft/index.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { cli, missingBuild, tempDir, writeFile } from '../helpers/cli.js';
import { inNetns, snapshot, sysctlIn } from '../helpers/e2e.js';
import { freshNetns, ipJson, kernelTest, toolPath } from '../helpers/kernel.js';

const test = kernelTest(['ip', 'nft']);

const ip = (ns: string, ...args: string[]) => execFileSync(toolPath('ip'), ['-n', ns, ...args], { encoding: 'utf8' });
const nft = (ns: string, ...args: string[]) => inNetns(ns, 'nft', args);
const nftFile = (ns: string, text: string) => inNetns(ns, 'nft', ['-f', '-'], text);

/** A namespace with a LAN interface (one end of a veth pair), its addresses, and foreign objects netfwd must leave alone. */
function lanNamespace(t: ExecutionContext, name: string, prefix = 'nflan'): string {
  const ns = freshNetns(t, prefix);
  // No duplicate address detection: a link-local address still tentative would make two snapshots differ.
  for (const scope of ['all', 'default']) sysctlIn(ns, `net.ipv6.conf.${scope}.accept_dad`, '0');
  ip(ns, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`);
  ip(ns, 'link', 'set', name, 'up');
  ip(ns, 'link', 'set', `${name}p`, 'up');
  ip(ns, 'addr', 'add', '198.51.100.1/24', 'dev', name);
  ip(ns, 'addr', 'add', '2001:db8:100::1/64', 'dev', name, 'nodad');
  // Foreign: a firewall table that drops ct state invalid, a rule, a route in another table — and one in table 42 of another protocol.
  nftFile(
    ns,
    'table inet fw {\n chain forward {\n  type filter hook forward priority filter; policy accept;\n  ct state invalid drop\n }\n}\n',
  );
  ip(ns, 'rule', 'add', 'fwmark', '7', 'lookup', '43', 'priority', '50');
  ip(ns, 'route', 'add', 'default', 'via', '198.51.100.9', 'table', '43');
  ip(ns, 'route', 'add', '203.0.113.0/24', 'via', '198.51.100.9', 'table', '42');
  return ns;
}

/** snapshot() with nftables as `nft list ruleset` prints it: a table made again has new handles, nothing else differs. */
function state(ns: string): Record<string, unknown> {
  const { nft: _nft, ...rest } = snapshot(ns);
  return { ...rest, nft: nft(ns, 'list', 'ruleset') };
}

function cleanup(t: ExecutionContext, ...roles: LanRole[]): void {
  t.teardown(async () => {
    for (const r of roles) await r.down().catch(() => undefined);
  });
}

const ROUTER_TABLE = `table inet netfwd-br0 {
	comment "managed by netfwd (lan-router): changes here are overwritten"
	chain prerouting {
		type filter hook prerouting priority raw; policy accept;
		iifname "br0" ip dscp 0x2a counter packets 0 bytes 0 meta mark set 0x0000002a notrack
		iifname "br0" ip6 dscp 0x2a counter packets 0 bytes 0 meta mark set 0x0000002a notrack
	}

	chain leakguard {
		type filter hook forward priority filter; policy accept;
		meta mark 0x0000002a oifname != "br0" counter packets 0 bytes 0 drop
	}
}
`;

const SERVICE_HOST_TABLE = `table inet netfwd-eth0 {
	comment "managed by netfwd (service-host): changes here are overwritten"
	chain prerouting {
		type filter hook prerouting priority mangle; policy accept;
		iifname "eth0" ip dscp 0x2a counter packets 0 bytes 0 ct mark set 0x0000002a
		iifname "eth0" ip6 dscp 0x2a counter packets 0 bytes 0 ct mark set 0x0000002a
	}

	chain postrouting {
		type filter hook postrouting priority mangle; policy accept;
		ct mark 0x0000002a ct direction reply ip dscp set 0x2a counter packets 0 bytes 0
		ct mark 0x0000002a ct direction reply ip6 dscp set 0x2a counter packets 0 bytes 0
	}
}
`;

/** netfwd's own reading of a table, printed. */
async function decoded(ns: string, table: string): Promise<string> {
  const n = await Nft.open({ netns: ns });
  try {
    return nftRulesetText(await n.list({ family: 'inet', table }));
  } finally {
    n.close();
  }
}

const router = (ns: string, extra: Record<string, unknown> = {}) =>
  lanRole({ role: 'lan-router', interface: 'br0', via: ['198.51.100.130', '2001:db8:100::2'], netns: ns, ...extra } as never);

test('lan-router: exactly the intended objects; a second up writes nothing; down restores the namespace byte for byte', async (t) => {
  const ns = lanNamespace(t, 'br0');
  const before = snapshot(ns);
  const r = router(ns);
  cleanup(t, r);

  const first = await r.apply();
  t.true(first.netlinkWrites > 0);
  t.is(nft(ns, 'list', 'table', 'inet', 'netfwd-br0'), ROUTER_TABLE);
  t.is(`${await decoded(ns, 'netfwd-br0')}`.trim(), ROUTER_TABLE.trim(), "netfwd's decoder reads back what nft prints");
  const tables = (JSON.parse(nft(ns, '-j', 'list', 'tables')) as { nftables: Array<{ table?: { name: string } }> }).nftables
    .flatMap((x) => (x.table ? [x.table.name] : []))
    .sort();
  t.deepEqual(tables, ['fw', 'netfwd-br0']);
  for (const family of ['-4', '-6']) {
    t.deepEqual(
      ipJson(ns, [family, 'rule', 'show']).filter((r: { priority: number }) => r.priority !== 0 && r.priority < 32766),
      [
        ...(family === '-4' ? [{ priority: 50, src: 'all', fwmark: '0x7', table: '43' }] : []),
        { priority: 100, src: 'all', fwmark: '0x2a', table: '42', protocol: '233' },
      ],
    );
  }
  t.deepEqual(ipJson(ns, ['-4', 'route', 'show', 'table', '42']), [
    { dst: 'default', gateway: '198.51.100.130', dev: 'br0', protocol: '233', flags: [] },
    { type: 'unreachable', dst: 'default', protocol: '233', metric: 4294967295, flags: [] },
    { dst: '203.0.113.0/24', gateway: '198.51.100.9', dev: 'br0', flags: [] },
  ]);
  t.like(ipJson(ns, ['-6', 'route', 'show', 'table', '42']), [
    { dst: 'default', gateway: '2001:db8:100::2', dev: 'br0', protocol: '233', metric: 1024 },
    { type: 'unreachable', dst: 'default', protocol: '233', metric: 4294967295 },
  ]);
  t.is(ipJson(ns, ['-6', 'route', 'show', 'table', '42']).length, 2);
  t.is(sysctlIn(ns, 'net.ipv4.conf.all.send_redirects'), '0');
  t.is(sysctlIn(ns, 'net.ipv4.conf.br0.send_redirects'), '0');

  const second = await r.apply();
  t.true(second.plan.empty, second.plan.toString());
  t.is(second.netlinkWrites, 0);

  const down = await r.down();
  t.true(down.plan.lines().includes('~ sysctl net.ipv4.conf.all.send_redirects: 0 → 1 (restored)'), down.plan.toString());
  t.deepEqual(snapshot(ns), before);
  t.true((await r.down()).plan.empty, 'a second down has nothing to do');
});

test('service-host: exactly its table; a second up writes nothing; down restores the namespace byte for byte', async (t) => {
  const ns = lanNamespace(t, 'eth0');
  const before = snapshot(ns);
  const s = lanRole({ role: 'service-host', interface: 'eth0', netns: ns });
  cleanup(t, s);
  const first = await s.apply();
  t.deepEqual(first.plan.lines(), ['+ claim of eth0: mark 0x2a', '+ nftables table inet netfwd-eth0: 2 chains, 4 rules']);
  t.is(nft(ns, 'list', 'table', 'inet', 'netfwd-eth0'), SERVICE_HOST_TABLE);
  t.is((await decoded(ns, 'netfwd-eth0')).trim(), SERVICE_HOST_TABLE.trim());
  t.is(ipJson(ns, ['rule', 'show']).length, 4, 'no routing change: the foreign rule and the three defaults');
  const second = await s.apply();
  t.is(second.netlinkWrites, 0);
  t.true(second.plan.empty);
  await s.down();
  t.deepEqual(snapshot(ns), before);
});

test('sysctls: only what netfwd changed is put back, and not when someone changed it since', async (t) => {
  const ns = lanNamespace(t, 'br0');
  sysctlIn(ns, 'net.ipv4.conf.all.send_redirects', '0');
  const r = router(ns, { via: '198.51.100.130' });
  cleanup(t, r);
  const up = await r.apply();
  t.deepEqual(
    up.plan.lines().filter((l) => l.includes('sysctl')),
    ['~ sysctl net/ipv4/conf/br0/send_redirects: 1 → 0 (no ICMP redirects for the tagged replies the router sends back into the LAN)'],
  );
  t.deepEqual(
    ipJson(ns, ['-6', 'rule', 'show']).find((x: { priority: number }) => x.priority === 100),
    {
      priority: 100,
      src: 'all',
      fwmark: '0x2a',
      table: '42',
      protocol: '233',
    },
  );
  // IPv6 without via: tagged IPv6 meets only the unreachable route.
  t.like(ipJson(ns, ['-6', 'route', 'show', 'table', '42']), [{ type: 'unreachable', dst: 'default', protocol: '233' }]);
  sysctlIn(ns, 'net.ipv4.conf.br0.send_redirects', '1'); // the operator's change after up
  const down = await r.down();
  t.true(down.plan.lines().some((l) => l === '~ sysctl net/ipv4/conf/br0/send_redirects: left at 1: changed since netfwd set it'));
  t.is(sysctlIn(ns, 'net.ipv4.conf.all.send_redirects'), '0');
  t.is(sysctlIn(ns, 'net.ipv4.conf.br0.send_redirects'), '1');
});

test('drift is reported by status and repaired by up with as many writes as objects missing', async (t) => {
  const ns = lanNamespace(t, 'br0');
  const r = router(ns);
  cleanup(t, r);
  await r.apply();
  ip(ns, '-6', 'rule', 'del', 'priority', '100');
  nft(ns, 'add', 'rule', 'inet', 'netfwd-br0', 'leakguard', 'accept');
  const s = await r.status();
  t.deepEqual(s.drift, ['+ rule 100: IPv6 fwmark 0x2a lookup 42', '~ nftables table inet netfwd-br0: rebuilt: 2 chains, 3 rules']);
  t.deepEqual(s.present.rules, ['100: fwmark 0x2a lookup 42']);
  t.like(s.counters, { tagged: { ipv4: { packets: 0 }, ipv6: { packets: 0 } }, leakDropped: { packets: 0 } });
  const repair = await r.apply();
  t.is(repair.plan.changes.length, 2);
  t.is(nft(ns, 'list', 'table', 'inet', 'netfwd-br0'), ROUTER_TABLE);
  t.is((await r.apply()).netlinkWrites, 0);
});

test('a failing step rolls back every step before it', async (t) => {
  const ns = lanNamespace(t, 'br0');
  const before = snapshot(ns);
  const r = router(ns);
  cleanup(t, r);
  const steps = (await r.plan()).changes.length;
  const e = await t.throwsAsync(
    r.apply({
      hooks: {
        beforeStep(_s, i) {
          if (i === steps) throw new Error('injected failure');
        },
      },
    }),
    { instanceOf: ApplyError },
  );
  t.regex(e?.message ?? '', new RegExp(`${steps}/${steps}`));
  t.deepEqual(snapshot(ns), before);
});

test('a changed via replaces the route in place; a changed dscp rebuilds the table', async (t) => {
  const ns = lanNamespace(t, 'br0');
  const r = router(ns);
  cleanup(t, r);
  await r.apply();
  const moved = router(ns, { via: ['198.51.100.131', '2001:db8:100::2'], dscp: 43, mark: 42 });
  const plan = await moved.apply();
  t.deepEqual(plan.plan.lines(), [
    '~ route default table 42: via 198.51.100.130 → 198.51.100.131',
    '~ nftables table inet netfwd-br0: rebuilt: 2 chains, 3 rules',
  ]);
  t.like(ipJson(ns, ['-4', 'route', 'show', 'table', '42'])[0], { gateway: '198.51.100.131', protocol: '233' });
  t.regex(nft(ns, 'list', 'table', 'inet', 'netfwd-br0'), /ip dscp 0x2b counter/);
});

test('what up cannot do is refused before anything changes', async (t) => {
  const ns = lanNamespace(t, 'br0');
  const before = snapshot(ns);
  const refused = async (role: LanRole, field: string, message: RegExp) => {
    const e = await t.throwsAsync(role.apply(), { instanceOf: ConfigError });
    t.is(e?.field, field);
    t.regex(e?.message ?? '', message);
  };
  await refused(lanRole({ role: 'service-host', interface: 'eth9', netns: ns }), 'interface', /there is no interface "eth9" in namespace/);
  await refused(router(ns, { via: '192.0.2.1' }), 'via', /192\.0\.2\.1 is not directly reachable on br0/);
  await refused(router(ns, { via: ['198.51.100.130', '2001:db8:7::2'] }), 'via[1]', /2001:db8:7::2 is not directly reachable on br0/);
  t.deepEqual(snapshot(ns), before);
  nft(ns, 'add', 'table', 'inet', 'netfwd-br0');
  await t.throwsAsync(router(ns).apply(), { instanceOf: OwnershipError, message: /not this configuration's/ });
  nft(ns, 'delete', 'table', 'inet', 'netfwd-br0');
  t.deepEqual(snapshot(ns), before);
});

test('claims keep the configurations of one namespace apart', async (t) => {
  const ns = lanNamespace(t, 'br0');
  ip(ns, 'link', 'add', 'br1', 'type', 'veth', 'peer', 'name', 'br1p');
  ip(ns, 'link', 'set', 'br1', 'up');
  ip(ns, 'addr', 'add', '192.0.2.1/24', 'dev', 'br1');
  const first = router(ns);
  cleanup(t, first);
  await first.apply();
  const other = (extra: Record<string, unknown>) =>
    lanRole({ role: 'lan-router', interface: 'br1', via: '192.0.2.2', netns: ns, ...extra } as never);
  const refused = async (role: LanRole, field: string, message: RegExp) => {
    const e = await t.throwsAsync(role.plan(), { instanceOf: ConfigError });
    t.is(e?.field, field);
    t.regex(e?.message ?? '', message);
  };
  await refused(
    other({ mark: 50, table: 42 }),
    'table',
    /table 42 is used by the netfwd lan-router configuration of br0 in this namespace \(/,
  );
  await refused(other({ mark: 50, table: 50 }), 'priority', /rule priority 100 is used by the netfwd lan-router configuration of br0/);
  await refused(other({ table: 50, priority: 101 }), 'mark', /mark 0x2a is used by the netfwd lan-router configuration of br0/);
  await refused(
    lanRole({ role: 'service-host', interface: 'br0', netns: ns }),
    'role',
    /br0 already names the netfwd lan-router configuration/,
  );
  // Apart, both work, and each down leaves the other alone.
  const second = other({ mark: 50, table: 50, priority: 101, dscp: 50 });
  cleanup(t, second);
  await second.apply();
  const withBoth = state(ns);
  await second.down();
  t.is((await first.apply()).netlinkWrites, 0, 'the first is untouched');
  t.is(sysctlIn(ns, 'net.ipv4.conf.all.send_redirects'), '0', 'the shared sysctl stays while the first still needs it');
  await second.apply();
  t.deepEqual(state(ns), withBoth);
});

test("a tunnel configuration of the namespace reads a LAN role's claim: a backend that wants its mark is refused", async (t) => {
  const ns = lanNamespace(t, 'eth0');
  const s = lanRole({ role: 'service-host', interface: 'eth0', netns: ns });
  cleanup(t, s);
  await s.apply();
  const backend = (mark: number) =>
    forwardService({
      role: 'backend',
      netns: ns,
      tunnel: {
        interface: 'wgl0',
        addresses: ['10.0.0.2/24'],
        privateKey: generatePrivateKey().toBase64(),
        peer: { publicKey: publicKey(generatePrivateKey()), endpoint: '192.0.2.1:51820' },
      },
      returnPath: { mode: 'connmark', mark },
      services: [{ protocol: 'tcp', port: 8080 }],
    });
  const e = await t.throwsAsync(backend(42).plan(), { instanceOf: ConfigError });
  t.is(e?.field, 'returnPath.mark');
  t.regex(e?.message ?? '', /mark 0x2a is used by the netfwd configuration of tunnel eth0 in this namespace/);
  await t.notThrowsAsync(backend(43).plan());
});

// ---------------------------------------------------------------- the CLI

test('the CLI: up, plan, status and down take LAN role files; run and doctor refuse them', async (t) => {
  const missing = missingBuild();
  if (missing) return t.fail(missing);
  const ns = lanNamespace(t, 'br0');
  const dir = tempDir(t);
  const file = writeFile(
    join(dir, 'router.yaml'),
    `role: lan-router\nnetns: ${ns}\ninterface: br0\nvia: [198.51.100.130, 2001:db8:100::2]\n`,
    0o644,
  );
  t.teardown(() => cli(['down', '-c', file]).then(() => undefined));
  const up = await cli(['up', '-c', file]);
  t.is(up.code, 0, up.stderr);
  t.regex(up.stdout, /\+ route default via 198\.51\.100\.130 dev br0 table 42\n/);
  t.regex(up.stdout, /up: 10 change\(s\) applied/);
  t.regex(up.stdout, /warning: net\.ipv4\.ip_forward is off/);
  const again = await cli(['up', '-c', file, '--json']);
  t.like(JSON.parse(again.stdout), { command: 'up', applied: [], netlinkWrites: 0 });
  const plan = await cli(['plan', '-c', file]);
  t.regex(plan.stdout, /^no changes\n/);
  const status = await cli(['status', '-c', file]);
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, new RegExp(`^lan-router br0 \\(namespace ${ns}\\)\n  tagged packets in: IPv4 0 packets, IPv6 0 packets\n`));
  t.regex(status.stdout, /rule 100: fwmark 0x2a lookup 42\n/);
  t.regex(status.stdout, /drift: none/);
  const json = JSON.parse((await cli(['status', '-c', file, '--json'])).stdout);
  t.like(json, { role: 'lan-router', present: { nftTable: 'inet netfwd-br0' } });
  const run = await cli(['run', '-c', file]);
  t.is(run.code, 3);
  t.regex(run.stderr, /netfwd run is for tunnel configurations \(frontend, backend\); a lan-router configuration has no tunnel/);
  const doctor = await cli(['doctor', '-c', file]);
  t.is(doctor.code, 3);
  t.regex(doctor.stderr, /netfwd doctor is for tunnel configurations/);
  const down = await cli(['down', '-c', file]);
  t.is(down.code, 0, down.stderr);
  t.regex(down.stdout, /- nftables table inet netfwd-br0/);
  t.is(nft(ns, 'list', 'tables').trim(), 'table inet fw');
});

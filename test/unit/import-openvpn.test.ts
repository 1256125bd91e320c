/**
 * `netfwd import` of seed 003, the tagged-routing recipe: an OpenVPN server on
 * the remote side, its client at home, the home router and the service host
 * (test/fixtures/import/seed-003-openvpn-dscp). All the recipe's files are
 * given at once; each goes to the machine its content belongs to, and each
 * machine's configuration must equal the expected YAML in expected/ — which
 * netfwd's own loader must load — with every line that is not translated
 * listed with its file:line. Then the cases where a machine gets no
 * configuration (a DSCP value another machine does not use, a missing piece),
 * with the reason, while the others are still made. No kernel is touched.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import type { NormalizedBackend, NormalizedFrontend } from '../../src/forward/spec/normalized-config.js';
import { ImportError, importSetup, type MachineImport, type SetupImport } from '../../src/import/index.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/import');
const DIR = 'seed-003-openvpn-dscp';
const fixture = (path: string) => readFileSync(join(FIXTURES, path), 'utf8');

/** The recipe's files, in the order a reader of the HOWTO meets them. */
const RECIPE = [
  'remote-server/firewall.sh',
  'remote-server/route.sh',
  'remote-server/sysctl.conf',
  'vpn-server/server.vpn.example.net.conf',
  'vpn-server/client/home.vpn.example.net',
  'vpn-server/firewall.sh',
  'vpn-server/sysctl.conf',
  'vpn-client/home.vpn.example.net.conf',
  'vpn-client/up.sh',
  'vpn-client/down.sh',
  'vpn-client/firewall.sh',
  'vpn-client/sysctl.conf',
  'home-server/routing.sh',
  'home-server/connmark.sh',
].map((f) => `${DIR}/${f}`);

type Edits = Record<string, (text: string) => string>;
function run(paths: string[] = RECIPE, edits: Edits = {}, role?: MachineImport['machine']): SetupImport {
  return importSetup(
    paths.map((p) => ({ path: p, text: (edits[p.slice(DIR.length + 1)] ?? ((x) => x))(fixture(p)) })),
    role ? { role } : {},
  );
}
const machine = (r: SetupImport, m: MachineImport['machine']) => r.machines.find((x) => x.machine === m)!;
const noteAt = (m: MachineImport, file: string, line: number) => m.notes.filter((n) => n.file === `${DIR}/${file}` && n.line === line);

test('seed 003: every file goes to its machine, and each machine gets the expected configuration', (t) => {
  const r = run();
  t.deepEqual(
    r.machines.map((m) => [m.machine, m.notWritten]),
    [
      ['frontend', undefined],
      ['backend', undefined],
      ['lan-router', undefined],
      ['service-host', undefined],
    ],
  );
  t.deepEqual(Object.fromEntries(r.inputs.map((i) => [i.path.slice(DIR.length + 1), `${i.format} ${i.machine}`])), {
    'remote-server/firewall.sh': 'rules frontend',
    'remote-server/route.sh': 'rules frontend',
    'remote-server/sysctl.conf': 'rules frontend',
    'vpn-server/server.vpn.example.net.conf': 'openvpn frontend',
    'vpn-server/client/home.vpn.example.net': 'openvpn frontend',
    'vpn-server/firewall.sh': 'rules frontend',
    'vpn-server/sysctl.conf': 'rules frontend',
    'vpn-client/home.vpn.example.net.conf': 'openvpn backend',
    'vpn-client/up.sh': 'rules backend',
    'vpn-client/down.sh': 'rules backend',
    'vpn-client/firewall.sh': 'rules backend',
    'vpn-client/sysctl.conf': 'rules backend',
    'home-server/routing.sh': 'rules lan-router',
    'home-server/connmark.sh': 'rules service-host',
  });
  t.deepEqual(r.notes, [], 'no file is left without a machine');
  for (const m of r.machines) t.is(m.yaml, fixture(`${DIR}/expected/${m.machine}.yaml`), `${m.machine}.yaml`);
});

test('seed 003, frontend: the external tun0 with the client "home" and its LAN, tcp 443 to 192.168.100.3 on eth0', (t) => {
  const m = machine(run(), 'frontend');
  t.regex(m.reason, /server\.vpn\.example\.net\.conf is an OpenVPN server's configuration/);
  const c = m.config as NormalizedFrontend;
  t.true(c.tunnel.external);
  t.is(c.tunnel.interface, 'tun0');
  t.deepEqual(
    c.tunnel.addresses.map((a) => a.cidr),
    ['10.0.0.1/24'],
  );
  t.deepEqual(
    c.tunnel.peers.map((p) => [p.name, p.addresses.map((a) => a.address), p.routes.map((x) => x.cidr), p.publicKey]),
    [['home', ['10.0.0.4'], ['192.168.100.0/24'], undefined]],
  );
  t.deepEqual(
    c.forwards.map((f) => [f.protocol, f.publicPorts.from, f.peer, f.peerAddresses[4], f.behindPeer]),
    [['tcp', 443, 'home', '192.168.100.3', true]],
  );
  t.deepEqual(
    c.public.addresses.map((a) => a.address),
    ['192.0.2.200'],
  );
  t.is(c.public.interface, 'eth0');
  t.false(c.masquerade, 'the remote server masquerades nothing');
  // The point-to-point pair is written as a subnet, and the note says so.
  const ifconfig = noteAt(m, 'vpn-server/server.vpn.example.net.conf', 27)[0]!;
  t.is(ifconfig.kind, 'changed');
  t.regex(
    ifconfig.reason,
    /written as 10\.0\.0\.1\/24: a point-to-point pair \(10\.0\.0\.1 with the peer address 10\.0\.0\.2.*10\.0\.0\.4/,
  );
  // The DNAT of OpenVPN's own port to the VPN server's host, and its FORWARD accept, are not translated.
  t.regex(noteAt(m, 'remote-server/firewall.sh', 3)[0]!.reason, /neither a VPN client's tunnel address nor in a network behind one/);
  t.is(noteAt(m, 'remote-server/firewall.sh', 8)[0]!.kind, 'not-translated');
  t.regex(noteAt(m, 'vpn-server/server.vpn.example.net.conf', 28)[0]!.reason, /pushes to its clients/);
  // The route via the VPN server's host becomes the peer's routes; the DNAT of 443 is translated.
  t.regex(
    noteAt(m, 'remote-server/route.sh', 3).find((n) => n.what.startsWith('ip route'))!.reason,
    /into the tunnel \(tun0, peer home's routes\), not via 192\.168\.200\.2/,
  );
  t.deepEqual(noteAt(m, 'remote-server/firewall.sh', 5), []);
  t.deepEqual(noteAt(m, 'vpn-server/client/home.vpn.example.net', 5), [], 'iroute: the peer route');
  t.false(m.yaml!.includes('PRIVATE'), 'no key material');
});

test('seed 003, backend: the VPN client in mode dscp 42 (mark 42, table 42) with the service on 192.168.100.3', (t) => {
  const m = machine(run(), 'backend');
  const c = m.config as NormalizedBackend;
  t.true(c.tunnel.external);
  t.is(c.tunnel.interface, 'tun0');
  t.deepEqual(
    c.tunnel.addresses.map((a) => a.cidr),
    ['10.0.0.4/24'],
    "the address the server's client-config-dir file pushes, in the frontend's subnet",
  );
  t.deepEqual(c.returnPath, { mode: 'dscp', dscp: 42, mark: 42, table: 42, priority: 100, leakGuard: true, exclude: [], sources: [] });
  t.deepEqual(
    c.services.map((s) => [s.protocol, s.ports.from, s.hosts.map((h) => h.address)]),
    [['tcp', 443, ['192.168.100.3']]],
  );
  t.regex(
    noteAt(m, 'vpn-client/home.vpn.example.net.conf', 7)[0]!.reason,
    /first free tunN: the interface is tun0 \(as the scripts name it/,
  );
  t.regex(noteAt(m, 'vpn-client/home.vpn.example.net.conf', 29)[0]!.reason, /read from .*vpn-client\/up\.sh/);
  t.regex(
    noteAt(m, 'vpn-client/home.vpn.example.net.conf', 30)[0]!.reason,
    /read from .*vpn-client\/down\.sh: what it removes, `netfwd down` removes/,
  );
  t.regex(noteAt(m, 'vpn-client/firewall.sh', 5)[0]!.reason, /routes their replies by that mark, not by -m dscp --dscp 42 -i eth0/);
  const clear = noteAt(m, 'vpn-client/firewall.sh', 6)[0]!;
  t.is(clear.kind, 'not-translated');
  t.regex(clear.reason, /clears the DSCP tag/);
  t.regex(noteAt(m, 'vpn-client/up.sh', 6)[0]!.reason, /loose reverse-path filtering/);
  // The tag itself (line 3), the table's default route (up.sh:3) and the down script's removals are translated without a note.
  for (const [file, line] of [
    ['vpn-client/firewall.sh', 3],
    ['vpn-client/up.sh', 3],
    ['vpn-client/down.sh', 3],
    ['vpn-client/down.sh', 4],
  ] as const)
    t.deepEqual(noteAt(m, file, line), [], `${file}:${line}`);
});

test('seed 003, LAN router and service host: routing.sh and connmark.sh, the interface from the ifupdown hook', (t) => {
  const r = run();
  const router = machine(r, 'lan-router');
  t.deepEqual(router.spec, { role: 'lan-router', interface: 'eth0', via: ['192.168.100.2'], dscp: 42, mark: 42, table: 42 });
  t.regex(noteAt(router, 'home-server/routing.sh', 4)[0]!.reason, /the ifupdown hook runs the commands for eth0/);
  t.is(noteAt(router, 'home-server/routing.sh', 6)[0]!.kind, 'not-translated', 'ip rule del outside a down script');
  const host = machine(r, 'service-host');
  t.deepEqual(host.spec, { role: 'service-host', interface: 'eth0', dscp: 42, mark: 42 });
  t.deepEqual(
    host.notes.filter((n) => n.file.endsWith('connmark.sh')),
    [],
    'all three lines of connmark.sh are what netfwd does',
  );
});

test("a DSCP value that differs from the VPN client's tag: that machine gets no configuration, and the reason names both lines", (t) => {
  const r = run(RECIPE, {
    'home-server/connmark.sh': (s) => s.replace('--dscp 42', '--dscp 43').replace('--set-dscp 42', '--set-dscp 43'),
  });
  const host = machine(r, 'service-host');
  t.is(host.yaml, undefined);
  t.is(host.config, undefined);
  t.regex(
    host.notWritten!,
    /DSCP 43 \(.*home-server\/connmark\.sh:3, which matches it\) is not the tag 42 that the VPN client sets .*\(.*vpn-client\/firewall\.sh:3\)/,
  );
  for (const m of ['frontend', 'backend', 'lan-router'] as const) t.is(machine(r, m).notWritten, undefined, m);
  t.is(machine(r, 'lan-router').spec!.dscp, 42);

  // Within the VPN client: replies matched by another value than the tag.
  const b = run(RECIPE, { 'vpn-client/firewall.sh': (s) => s.replace('-m dscp --dscp 42', '-m dscp --dscp 41') });
  t.regex(machine(b, 'backend').notWritten!, /DSCP 41 \(.*vpn-client\/firewall\.sh:5, which matches it\) is not the tag 42/);
  t.is(machine(b, 'service-host').notWritten, undefined);

  // The service host itself: tagged in with one value, tagging out with another.
  const s = run(RECIPE, {
    'home-server/connmark.sh': (x) => x.replace('--set-dscp 42', '--set-dscp 0x2a').replace('-m dscp --dscp 42', '-m dscp --dscp 42'),
  });
  t.is(machine(s, 'service-host').notWritten, undefined, '0x2a is 42');
});

test('a missing piece: the machine that needs it gets no configuration, with the reason; the others are made', (t) => {
  // Without the server's client-config-dir file neither end knows the client's address.
  const noCcd = run(RECIPE.filter((p) => !p.endsWith('client/home.vpn.example.net')));
  t.regex(machine(noCcd, 'frontend').notWritten!, /no client with a fixed address among the inputs.*client-config-dir file/);
  t.regex(machine(noCcd, 'backend').notWritten!, /the VPN client's tunnel address is not among the inputs.*ifconfig-push/);
  t.is(machine(noCcd, 'lan-router').notWritten, undefined);

  // Without the server's configuration the frontend's tunnel is unknown.
  const noServer = run(RECIPE.filter((p) => !p.endsWith('server.vpn.example.net.conf')));
  t.regex(machine(noServer, 'frontend').notWritten!, /no OpenVPN server configuration among the frontend's files/);

  // The LAN router without the ifupdown hook: its LAN interface is not said anywhere.
  const noHook = run(RECIPE, { 'home-server/routing.sh': (s) => s.replace(/case .*\n'inet-eth0'\)\n/, '').replace(/;;\nesac\n/, '') });
  t.regex(
    machine(noHook, 'lan-router').notWritten!,
    /routing\.sh:5: the LAN interface is not in the sources: the route via 192\.168\.100\.2 names no dev/,
  );
  t.regex(
    machine(noHook, 'service-host').notWritten!,
    /connmark\.sh:3: the service host's LAN interface is not in the sources/,
    'no interface either',
  );
  const withIface = run(RECIPE, {
    'home-server/routing.sh': (s) =>
      s
        .replace(/case .*\n'inet-eth0'\)\n/, '')
        .replace(/;;\nesac\n/, '')
        .replace('via 192.168.100.2 table', 'via 192.168.100.2 dev br0 table'),
    'home-server/connmark.sh': (s) => s.replace('-A INPUT -m dscp', '-A INPUT -i ens3 -m dscp'),
  });
  t.is(machine(withIface, 'lan-router').spec!.interface, 'br0', "the route's dev");
  t.is(machine(withIface, 'service-host').spec!.interface, 'ens3', 'the -i of the rule that marks');

  // The LAN router with nothing that gives the tag's value.
  const noTag = run([`${DIR}/vpn-server/server.vpn.example.net.conf`, `${DIR}/home-server/routing.sh`]);
  t.regex(machine(noTag, 'lan-router').notWritten!, /no DSCP value among the inputs/);

  // The service host that marks tagged connections but never tags the replies.
  const noTagOut = run(RECIPE, { 'home-server/connmark.sh': (s) => s.replace(/.*-j DSCP --set-dscp 42\n/, '') });
  t.regex(
    machine(noTagOut, 'service-host').notWritten!,
    /connmark\.sh:3: nothing tags the replies of the connections marked 42 with DSCP 42/,
  );

  // The VPN client without the forward accept: the frontend's forward still gives it its service.
  const noAccept = run(RECIPE, { 'vpn-client/firewall.sh': (s) => s.replace(/iptables -A FORWARD.*\n/, '') });
  const b = machine(noAccept, 'backend');
  t.deepEqual(b.spec!.services, [{ protocol: 'tcp', port: 443, host: '192.168.100.3' }]);
  t.true(b.notes.some((n) => n.kind === 'changed' && /the frontend forwards it to this VPN client/.test(n.reason)));
});

test('--role writes one machine; a file of two machines is an error; a file of none is listed', (t) => {
  const r = run(RECIPE, {}, 'backend');
  t.deepEqual(
    r.machines.map((m) => m.machine),
    ['backend'],
  );
  t.is((r.machines[0]!.spec!.services as unknown[]).length, 1);
  t.throws(() => run([`${DIR}/vpn-client/up.sh`, `${DIR}/home-server/connmark.sh`], {}, 'frontend'), {
    instanceOf: ImportError,
    message: /none of the inputs is the frontend's/,
  });

  t.throws(
    () =>
      importSetup([{ path: 'all.sh', text: `${fixture(`${DIR}/remote-server/firewall.sh`)}${fixture(`${DIR}/home-server/connmark.sh`)}` }]),
    {
      instanceOf: ImportError,
      message:
        /^all\.sh: holds the setup of two machines: a DNAT at all\.sh:3 \(the frontend's\) and DSCP\/CONNMARK tagging .* at all\.sh:13 \(the service-host's\)/,
    },
  );

  const extra = importSetup([
    ...RECIPE.map((p) => ({ path: p, text: fixture(p) })),
    { path: 'elsewhere/ssh.sh', text: 'iptables -A INPUT -p tcp --dport 22 -j ACCEPT\n' },
  ]);
  t.deepEqual(
    extra.notes.map((n) => [n.file, n.line, n.kind]),
    [['elsewhere/ssh.sh', 0, 'not-translated']],
  );
  t.regex(extra.notes[0]!.reason, /none of its lines tells which machine it belongs to/);
});

/**
 * `netfwd import` of OpenVPN configurations, directive by directive: how a
 * file is recognised, the server's addresses (`ifconfig`, `server`,
 * topology subnet, IPv6), the clients (`ifconfig-push`, `iroute`, which
 * client-config-dir file is whose), a point-to-point pair, inline key blocks
 * (never read, never quoted), and malformed input — an ImportError naming
 * file and line. No kernel is touched.
 */
import test from 'ava';
import type { NormalizedBackend, NormalizedFrontend } from '../../src/forward/spec/normalized-config.js';
import { ImportError, importConfig, importSetup, inputFormat, isSetup, type SetupImport } from '../../src/import/index.js';

type Files = Record<string, string>;
const lines = (...l: string[]) => `${l.join('\n')}\n`;
const setup = (files: Files): SetupImport => importSetup(Object.entries(files).map(([path, text]) => ({ path, text })));
const m = (r: SetupImport, name: string) => r.machines.find((x) => x.machine === name)!;
const fe = (r: SetupImport) => m(r, 'frontend').config as NormalizedFrontend;
const be = (r: SetupImport) => m(r, 'backend').config as NormalizedBackend;

const SERVER = lines(
  'mode server',
  'tls-server',
  'dev tun0',
  'proto udp',
  'port 1194',
  'server 10.8.0.0 255.255.255.0',
  'route 198.51.100.0 255.255.255.0',
);
const CCD = lines('ifconfig-push 10.8.0.6 10.8.0.5', 'iroute 198.51.100.0 255.255.255.0');
const CLIENT = lines(
  'client',
  'dev tun',
  'remote 203.0.113.1 1194',
  'cert /etc/openvpn/pki/home.example.net-cert.pem',
  'up /etc/openvpn/up.sh',
);
const DNAT = 'iptables -t nat -A PREROUTING -i eth0 -p tcp --dport 8443 -j DNAT --to-destination 198.51.100.7:443\n';

test('OpenVPN files are told by their first directive; an OpenVPN file or DSCP tagging makes a setup of several machines', (t) => {
  t.is(inputFormat(SERVER), 'openvpn');
  t.is(inputFormat(`# ccd\n${CCD}`), 'openvpn');
  t.is(inputFormat(CLIENT), 'openvpn');
  t.is(inputFormat('<ca>\n-----BEGIN CERTIFICATE-----\n</ca>\n'), 'openvpn');
  t.is(inputFormat('route add -net 198.51.100.0/24 gw 10.8.0.2\n'), 'rules', 'net-tools route, a command');
  t.is(inputFormat('#!/bin/sh\nip route add default dev tun0 table 42\n'), 'rules');
  const inputs = (...texts: string[]) => texts.map((text, i) => ({ path: `f${i}`, text }));
  t.true(isSetup(inputs(SERVER), inputFormat));
  t.true(isSetup(inputs('iptables -t mangle -A INPUT -m dscp --dscp 42 -j CONNMARK --set-mark 42\n'), inputFormat));
  t.false(isSetup(inputs(DNAT), inputFormat));
  t.false(isSetup(inputs('[Interface]\nAddress = 10.0.0.1/24\n', SERVER), inputFormat), 'a WireGuard file: one WireGuard machine');
  const e = t.throws(
    () =>
      importConfig([
        { path: 'wg0.conf', text: '[Interface]\nAddress = 10.0.0.1/24\n' },
        { path: 'server.conf', text: SERVER },
      ]),
    { instanceOf: ImportError },
  );
  t.regex(e!.message, /^server\.conf: an OpenVPN configuration among the files of a WireGuard machine/);
});

test('server NET MASK: the server takes the first address, the subnet holds the clients; ifconfig-push and iroute make the peer', (t) => {
  const r = setup({ 'server.conf': SERVER, 'ccd/home.example.net': CCD, 'client.conf': CLIENT, 'nat.sh': DNAT });
  t.deepEqual(
    fe(r).tunnel.addresses.map((a) => a.cidr),
    ['10.8.0.1/24'],
  );
  t.deepEqual(
    fe(r).tunnel.peers.map((p) => [p.name, p.addresses[0]!.address, p.routes.map((x) => x.cidr)]),
    [['home', '10.8.0.6', ['198.51.100.0/24']]],
  );
  t.deepEqual(
    fe(r).forwards.map((f) => [f.publicPorts.from, f.targetPorts.from, f.peerAddresses[4]]),
    [[8443, 443, '198.51.100.7']],
  );
  t.false(
    m(r, 'frontend').notes.some((n) => n.file === 'server.conf' && n.line === 6),
    'the server directive gives the subnet itself: nothing to note',
  );
  t.deepEqual(
    be(r).tunnel.addresses.map((a) => a.cidr),
    ['10.8.0.6/24'],
  );
  t.deepEqual(be(r).returnPath, { mode: 'snat' }, 'no tag, no fwmark rule');
  t.deepEqual(
    be(r).services.map((s) => [s.protocol, s.ports.from, s.hosts[0]?.address]),
    [['tcp', 443, '198.51.100.7']],
    "from the frontend's forward",
  );
  const up = m(r, 'backend').notes.find((n) => n.file === 'client.conf' && n.line === 5)!;
  t.is(up.kind, 'not-translated');
  t.regex(up.reason, /the script up\.sh is not among the inputs/);
});

test('topology subnet and IPv6: netmasks and prefixes, one peer address per family, routes of both families', (t) => {
  const r = setup({
    'server.conf': lines(
      'mode server',
      'dev tun1',
      'topology subnet',
      'ifconfig 10.8.0.1 255.255.255.0',
      'ifconfig-ipv6 fd00:8::1/64 fd00:8::2',
      'route 198.51.100.0 255.255.255.128',
      'route-ipv6 2001:db8:100::/64',
    ),
    'ccd/home': lines(
      'ifconfig-push 10.8.0.10 255.255.255.0',
      'ifconfig-ipv6-push fd00:8::10/64',
      'iroute 198.51.100.0 255.255.255.128',
      'iroute-ipv6 2001:db8:100::/64',
    ),
    'client.conf': lines('client', 'dev tun1', 'remote vpn.example.org 1194'),
  });
  t.deepEqual(
    fe(r).tunnel.addresses.map((a) => a.cidr),
    ['10.8.0.1/24', 'fd00:8::1/64'],
  );
  t.deepEqual(
    fe(r).tunnel.peers.map((p) => [p.addresses.map((a) => a.address), p.routes.map((x) => x.cidr)]),
    [
      [
        ['10.8.0.10', 'fd00:8::10'],
        ['198.51.100.0/25', '2001:db8:100::/64'],
      ],
    ],
  );
  t.is(fe(r).tunnel.interface, 'tun1');
  t.deepEqual(
    be(r).tunnel.addresses.map((a) => a.cidr),
    ['10.8.0.10/24', 'fd00:8::10/64'],
  );
  t.is(be(r).tunnel.interface, 'tun1');
});

test('point to point: ifconfig A B on both ends, no client-config-dir; the peer is the remote end and the server routes are its; a dev of its own name', (t) => {
  const r = setup({
    'home/p2p.conf': lines('dev vpnhome', 'dev-type tun', 'remote 203.0.113.1', 'ifconfig 10.9.0.2 10.9.0.1'),
    'vps/p2p.conf': lines('dev tun0', 'ifconfig 10.9.0.1 10.9.0.2', 'route 198.51.100.0 255.255.255.0'),
  });
  t.deepEqual(
    fe(r).tunnel.peers.map((p) => [p.name, p.addresses[0]!.address, p.routes.map((x) => x.cidr)]),
    [['peer1', '10.9.0.2', ['198.51.100.0/24']]],
  );
  t.deepEqual(
    fe(r).tunnel.addresses.map((a) => a.cidr),
    ['10.9.0.1/24'],
  );
  t.deepEqual(
    be(r).tunnel.addresses.map((a) => a.cidr),
    ['10.9.0.2/24'],
  );
  t.is(be(r).tunnel.interface, 'vpnhome', 'a name of its own (dev-type tun)');
  t.regex(m(r, 'frontend').notes.find((n) => n.file === 'vps/p2p.conf' && n.line === 2)!.reason, /a point-to-point pair/);
});

test("which client-config-dir file is the client's: the one its certificate is named after", (t) => {
  const files = {
    'server.conf': SERVER,
    'ccd/home.example.net': CCD,
    'ccd/office.example.net': lines('ifconfig-push 10.8.0.10 10.8.0.9', 'iroute 203.0.113.128 255.255.255.128'),
    'client.conf': CLIENT,
  };
  const r = setup(files);
  t.deepEqual(
    fe(r).tunnel.peers.map((p) => p.name),
    ['home', 'office'],
  );
  t.deepEqual(
    be(r).tunnel.addresses.map((a) => a.cidr),
    ['10.8.0.6/24'],
  );
  t.true(
    m(r, 'frontend').notes.some(
      (n) => n.file === 'ccd/office.example.net' && n.line === 2 && /no route in server\.conf sends it into the tunnel/.test(n.reason),
    ),
  );
  const unnamed = setup({ ...files, 'client.conf': CLIENT.replace('home.example.net', 'laptop') });
  t.regex(m(unnamed, 'backend').notWritten!, /2 client-config-dir files among the inputs .* none is named like the client's certificate/);
});

test("inline key blocks are skipped unread and never quoted; OpenVPN's own settings are one note; unknown options are listed", (t) => {
  const secret = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9';
  const r = setup({
    'server.conf': `${SERVER}<tls-auth>\n-----BEGIN OpenVPN Static key V1-----\n${secret}\n-----END OpenVPN Static key V1-----\n</tls-auth>\nsome-new-option 1\nroute 192.0.2.0 255.255.255.0 net_gateway\npush "redirect-gateway def1"\n`,
    'ccd/home': CCD,
  });
  const notes = m(r, 'frontend').notes;
  t.false(JSON.stringify(r).includes(secret), 'the key is nowhere in the result');
  t.regex(notes.find((n) => n.line === 1)!.what, /^OpenVPN's own settings: mode, tls-server, proto, port, <tls-auth>/);
  t.regex(notes.find((n) => n.line === 13)!.reason, /an OpenVPN option netfwd import does not know/);
  t.regex(notes.find((n) => n.line === 14)!.reason, /a route around the tunnel \(net_gateway\)/);
  t.regex(notes.find((n) => n.line === 15)!.reason, /an option OpenVPN pushes to its clients/);
  t.is(m(r, 'frontend').notWritten, undefined);
});

test('malformed OpenVPN input is an ImportError at its line', (t) => {
  const at = (text: string, line: number, pattern: RegExp) => {
    const e = t.throws(() => setup({ 's.conf': text }), { instanceOf: ImportError })!;
    t.is(e.line, line);
    t.regex(e.message, pattern);
  };
  at(lines('mode server', 'dev tun0', 'ifconfig 10.0.0.1 10.0.0.300'), 3, /^s\.conf:3: ifconfig "10\.0\.0\.300" is not an IPv4 address/);
  at(lines('mode server', 'route 198.51.100.0 255.0.255.0'), 2, /"255\.0\.255\.0" is not a netmask/);
  at(lines('mode server', 'iroute-ipv6 2001:db8::'), 2, /is not an IPv6 prefix/);
  at(lines('mode server', 'push "route 10.0.0.0'), 2, /a quote is not closed/);
  at(lines('mode server', '<key>', 'x'), 2, /<key> is not closed/);
  at(lines('client', 'dev'), 2, /dev needs a value/);
});

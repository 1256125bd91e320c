/**
 * `netfwd import`, directive by directive: every wg-quick key, the
 * NetworkManager keyfile settings, iptables rules (save files and command
 * lines, ip6tables, multiport, ranges, MARK/CONNMARK), ip rule/route
 * commands, the role decision, and malformed input — a typed ImportError
 * naming file and line, never a key. No kernel is touched.
 */
import test from 'ava';
import { ConfigError } from '../../src/errors.js';
import type { NormalizedBackend, NormalizedFrontend } from '../../src/forward/spec/normalized-config.js';
import { ImportError, type ImportResult, importConfig, inputFormat } from '../../src/import/index.js';
import { generatePresharedKey, generatePrivateKey, publicKey } from '../../src/wireguard/index.js';

const K = {
  front: generatePrivateKey().toBase64(),
  back: generatePrivateKey().toBase64(),
  back2: generatePrivateKey().toBase64(),
  psk: generatePresharedKey().toBase64(),
};
const PUB = { front: publicKey(K.front), back: publicKey(K.back), back2: publicKey(K.back2) };

type Files = Record<string, string>;
const run = (files: Files, role?: 'frontend' | 'backend'): ImportResult =>
  importConfig(
    Object.entries(files).map(([path, text]) => ({ path, text })),
    { output: '/nonexistent-import-test/out.yaml', ...(role ? { role } : {}) },
  );
const fe = (r: ImportResult) => r.config as NormalizedFrontend;
const be = (r: ImportResult) => r.config as NormalizedBackend;
const note = (r: ImportResult, line: number, file = 'wg0.conf') => r.notes.find((n) => n.file === file && n.line === line);
const lines = (...l: string[]) => `${l.join('\n')}\n`;

function frontendConf(extra: string[] = [], peerExtra: string[] = []): string {
  return lines(
    '[Interface]',
    'Address = 10.0.0.1/24, fd00::1/64',
    `PrivateKey = ${K.front}`,
    'ListenPort = 51820',
    ...extra,
    '',
    '[Peer]',
    `PublicKey = ${PUB.back}`,
    'AllowedIPs = 10.0.0.2/32, fd00::2/128',
    ...peerExtra,
  );
}
function backendConf(extra: string[] = [], peerExtra: string[] = []): string {
  return lines(
    '[Interface]',
    'Address = 10.0.0.2/24',
    `PrivateKey = ${K.back}`,
    ...extra,
    '',
    '[Peer]',
    `PublicKey = ${PUB.front}`,
    'Endpoint = 203.0.113.1:51820',
    'AllowedIPs = 0.0.0.0/0',
    ...peerExtra,
  );
}
const DNAT = 'PostUp = iptables -t nat -A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 10.0.0.2:8080';

function throwsAt(t: import('ava').ExecutionContext, fn: () => unknown, file: string, line: number, pattern: RegExp): ImportError {
  const e = t.throws(fn, { instanceOf: ImportError })!;
  t.true(e instanceof ConfigError, 'an ImportError is a ConfigError (exit code 3)');
  t.is(e.file, file);
  t.is(e.line, line);
  t.true(e.message.startsWith(line > 0 ? `${file}:${line}: ` : `${file}: `), e.message);
  t.regex(e.message, pattern);
  for (const k of Object.values(K)) t.false(e.message.includes(k), 'no key in the message');
  return e;
}

// ------------------------------------------------------------------ formats

test('input formats are told by content', (t) => {
  t.is(inputFormat('# c\n[Interface]\nAddress = 10.0.0.1/24\n'), 'wg-quick');
  t.is(inputFormat('[connection]\ntype=wireguard\n'), 'keyfile');
  t.is(inputFormat('*nat\n-A PREROUTING -j ACCEPT\nCOMMIT\n'), 'rules');
  t.is(inputFormat('#!/bin/sh\niptables -A FORWARD -j ACCEPT\n'), 'rules');
});

// ----------------------------------------------------------------- wg-quick

test('wg-quick [Interface]: two addresses (v4, v6), ListenPort, PrivateKey into a key file; [Peer] PresharedKey into a key file', (t) => {
  const r = run({ 'wg0.conf': frontendConf([DNAT], [`PresharedKey = ${K.psk}`]) });
  const c = fe(r);
  t.deepEqual(
    c.tunnel.addresses.map((a) => a.cidr),
    ['10.0.0.1/24', 'fd00::1/64'],
  );
  t.is(c.tunnel.listenPort, 51820);
  t.is(c.tunnel.publicKey, PUB.front);
  t.deepEqual(
    c.tunnel.peers[0]!.addresses.map((a) => a.address),
    ['10.0.0.2', 'fd00::2'],
  );
  t.deepEqual(
    r.keyFiles.map((k) => [k.name, k.key, k.path]),
    [
      ['out.key', K.front, '/nonexistent-import-test/out.key'],
      ['out-peer1.psk', K.psk, '/nonexistent-import-test/out-peer1.psk'],
    ],
  );
  for (const k of Object.values(K))
    t.false(r.yaml.includes(k) || JSON.stringify(r.spec).includes(k) || JSON.stringify(r.notes).includes(k));
  t.regex(r.yaml, /\n {2}privateKeyFile: out\.key\n/);
});

test('wg-quick directives netfwd has no equivalent of are listed with their line: DNS, MTU, FwMark, SaveConfig, unknown PostUp commands', (t) => {
  const r = run({
    'wg0.conf': frontendConf([
      'DNS = 1.1.1.1, 2606:4700::1111',
      'MTU = 1380',
      'FwMark = 0x1234',
      'SaveConfig = true',
      DNAT,
      'PostUp = resolvectl dns %i 10.0.0.53',
      'PreUp = modprobe wireguard',
    ]),
  });
  t.regex(note(r, 5)!.reason, /DNS/);
  t.regex(note(r, 6)!.reason, /MTU|1420/);
  t.regex(note(r, 7)!.reason, /firewall mark/);
  t.regex(note(r, 8)!.reason, /never writes the running state back/);
  t.regex(note(r, 10)!.what, /^resolvectl dns wg0 10\.0\.0\.53$/, '%i is the interface');
  t.regex(note(r, 10)!.reason, /no equivalent of the resolvectl command/);
  t.regex(note(r, 11)!.reason, /modprobe/);
  t.true(r.notes.filter((n) => n.line !== 9).every((n) => n.kind === 'not-translated'));
  // An IPv4 DNAT to a peer with an IPv6 address too: netfwd forwards both families, and says so.
  t.is(note(r, 9)!.kind, 'changed');
  t.regex(note(r, 9)!.reason, /also forwarded over IPv6/);
  // The notes open the YAML as comments, each with file:line.
  for (const l of [5, 6, 7, 8, 10, 11]) t.regex(r.yaml, new RegExp(`^#   wg0\\.conf:${l}: `, 'm'));
});

test('wg-quick PostUp lists (;, &&), %i, PostDown deletions, ip6tables, multiport and port ranges with shifted targets', (t) => {
  const r = run({
    'wg0.conf': frontendConf([
      'PostUp = iptables -t nat -A PREROUTING -i eth0 -p tcp -m multiport --dports 80,443 -j DNAT --to-destination 10.0.0.2 && iptables -A FORWARD -i eth0 -o %i -j ACCEPT',
      'PostUp = iptables -t nat -A PREROUTING -i eth0 -p udp --dport 8000:8009 -j DNAT --to-destination 10.0.0.2:18000-18009; ip6tables -t nat -A PREROUTING -i eth0 -p udp --dport 8000:8009 -j DNAT --to-destination [fd00::2]:18000-18009',
      'PostUp = iptables -t nat -A POSTROUTING -s 10.0.0.0/24 -o eth0 -j MASQUERADE',
      'PostDown = iptables -t nat -D PREROUTING -i eth0 -p tcp -m multiport --dports 80,443 -j DNAT --to-destination 10.0.0.2',
      'PostDown = iptables -t nat -F; iptables -t nat -A POSTROUTING -j ACCEPT',
    ]),
  });
  const c = fe(r);
  t.deepEqual(
    c.forwards.map((f) => [
      f.protocol,
      `${f.publicPorts.from}-${f.publicPorts.to}`,
      `${f.targetPorts.from}-${f.targetPorts.to}`,
      f.families.join(','),
    ]),
    [
      ['tcp', '80-80', '80-80', '4,6'],
      ['tcp', '443-443', '443-443', '4,6'],
      ['udp', '8000-8009', '18000-18009', '4,6'],
    ],
  );
  t.is(c.public.interface, 'eth0');
  t.true(c.masquerade);
  t.is(note(r, 8), undefined, 'PostDown -D: what netfwd down does');
  t.regex(note(r, 9)!.reason, /adds to the ruleset/, 'PostDown that adds a rule');
});

test('wg-quick PostUp ip rule/route and wg set private-key FILE make a backend in mode uid with exclusions; Table= is the table', (t) => {
  const conf = lines(
    '[Interface]',
    'Address = 10.0.0.2/24',
    'Table = 5001',
    'PostUp = wg set %i private-key /etc/wireguard/home.key',
    'PostUp = ip rule add priority 90 from all uidrange 1000-1002 lookup 5001',
    'PostUp = ip -4 route add throw 192.168.1.0/24 table 5001; ip route add 192.168.2.0/24 dev eth1 table 5001',
    'PostUp = ip route add unreachable default metric 4294967295 table 5001',
    'PostUp = echo 2 > /proc/sys/net/ipv4/conf/%i/rp_filter',
    'PostDown = ip rule del priority 90 from all uidrange 1000-1002 lookup 5001',
    '',
    '[Peer]',
    `PublicKey = ${PUB.front}`,
    'Endpoint = [2001:db8::1]:51820',
    'AllowedIPs = 0.0.0.0/0',
  );
  const r = run({ 'home.conf': conf });
  t.is(r.role, 'backend');
  t.regex(r.roleReason, /table 5001 at home\.conf:5/);
  const c = be(r);
  t.is(c.tunnel.interface, 'home', 'wg-quick names the interface after the file');
  t.is(c.tunnel.privateKeyFile, '/etc/wireguard/home.key');
  t.is(c.tunnel.peer!.endpoint.text, '[2001:db8::1]:51820');
  t.deepEqual(c.returnPath, {
    mode: 'uid',
    uids: [{ from: 1000, to: 1002 }],
    mark: 5001,
    table: 5001,
    priority: 90,
    leakGuard: true,
    exclude: [
      { family: 4, address: '192.168.1.0', prefixLength: 24, cidr: '192.168.1.0/24' },
      { family: 4, address: '192.168.2.0', prefixLength: 24, cidr: '192.168.2.0/24' },
    ],
    sources: [],
  });
  t.regex(note(r, 6, 'home.conf')!.reason, /exclusion: netfwd writes a throw route/);
  t.is(note(r, 7, 'home.conf'), undefined, 'the unreachable default is the leak guard');
  t.regex(note(r, 8, 'home.conf')!.reason, /loose reverse-path/);
  t.is(note(r, 9, 'home.conf'), undefined);
  t.regex(note(r, 4, 'home.conf')!.reason, /cannot be read here/);
  t.deepEqual(r.keyFiles, []);
});

test('wg-quick: fwmark rule and MARK by --uid-owner → mode mark with uids; fwmark rule alone → mode mark (the application marks)', (t) => {
  const withUid = run({
    'wg0.conf': backendConf([
      'PostUp = ip rule add fwmark 0x2a table 42 priority 200',
      'PostUp = iptables -t mangle -A OUTPUT -m owner --uid-owner 1000 -j MARK --set-mark 42',
    ]),
  });
  t.deepEqual(be(withUid).returnPath, {
    mode: 'mark',
    uids: [{ from: 1000, to: 1000 }],
    cgroup: undefined,
    mark: 42,
    table: 42,
    priority: 200,
    leakGuard: true,
    exclude: [],
    sources: [],
  });
  t.deepEqual(
    withUid.notes.filter((n) => n.kind === 'not-translated'),
    [],
  );
  const alone = run({ 'wg0.conf': backendConf(['PostUp = ip rule add fwmark 7 table 70']) });
  t.deepEqual(be(alone).returnPath, {
    mode: 'mark',
    uids: [],
    cgroup: undefined,
    mark: 7,
    table: 70,
    priority: 100,
    leakGuard: true,
    exclude: [],
    sources: [],
  });
});

test('wg-quick: CONNMARK set on the tunnel and restored, with a fwmark rule → mode connmark', (t) => {
  const r = run({
    'wg0.conf': backendConf([
      'PostUp = ip rule add fwmark 0x2b lookup 43 pref 50',
      'PostUp = iptables -t mangle -A PREROUTING -i %i -m conntrack --ctstate NEW -j CONNMARK --set-mark 0x2b',
      'PostUp = iptables -t mangle -A OUTPUT -j CONNMARK --restore-mark',
    ]),
  });
  t.deepEqual(
    be(r).returnPath,
    { mode: 'connmark', mark: 43, table: 43, priority: 50, leakGuard: true, exclude: [], sources: [] } as never,
    'mark is the fwmark',
  );
});

test('the role can be forced; a backend with DNAT rules lists them as not translated', (t) => {
  const r = run({ 'wg0.conf': backendConf([DNAT.replace('10.0.0.2', '10.0.0.9')]) }, 'backend');
  t.is(r.roleReason, 'given with --role');
  t.regex(note(r, 4)!.reason, /NAT on a backend/);
  const e = t.throws(() => run({ 'wg0.conf': lines('[Interface]', 'Address = 10.0.0.1/24', `PrivateKey = ${K.front}`) }), {
    instanceOf: ImportError,
  });
  t.regex(e!.message, /cannot tell whether this machine is the frontend or a backend.*--role/);
});

test('a DNAT whose target is not a peer, without a port, or with a negated match is listed, not guessed', (t) => {
  const r = run({
    'wg0.conf': frontendConf([
      DNAT,
      'PostUp = iptables -t nat -A PREROUTING -p tcp --dport 81 -j DNAT --to-destination 192.168.100.3',
      'PostUp = iptables -t nat -A PREROUTING -p tcp -j DNAT --to-destination 10.0.0.2',
      'PostUp = iptables -t nat -A PREROUTING ! -i wg0 -p tcp --dport 82 -j DNAT --to 10.0.0.2',
      'PostUp = iptables -t nat -A PREROUTING -s 198.51.100.0/24 -p udp --dport 83 -j DNAT --to 10.0.0.2:8300',
    ]),
  });
  t.deepEqual(
    fe(r).forwards.map((f) => [f.protocol, f.publicPorts.from, f.targetPorts.from]),
    [
      ['tcp', 80, 8080],
      ['udp', 83, 8300],
    ],
  );
  t.regex(note(r, 6)!.reason, /not a WireGuard peer/);
  t.regex(note(r, 7)!.reason, /no destination port/);
  t.regex(note(r, 8)!.reason, /negated -i/);
  t.is(note(r, 9)!.kind, 'changed');
  t.regex(note(r, 9)!.reason, /from any source/);
});

// ---------------------------------------------------------------- keyfiles

test('NetworkManager keyfile: listen-port, fwmark, mtu, routes with options, routing rules, route-table, [ipv6] addresses, escapes', (t) => {
  const keyfile = lines(
    '[connection]',
    'id=vpn',
    'type=wireguard',
    'interface-name=wgback',
    'autoconnect=false',
    '',
    '[wireguard]',
    `private-key=${K.back}`,
    'fwmark=51820',
    'mtu=1380',
    '',
    `[wireguard-peer.${PUB.front}]`,
    'endpoint=203.0.113.1:51820',
    'allowed-ips=0.0.0.0/0;::/0;',
    `preshared-key=${K.psk}`,
    'persistent-keepalive=15',
    '',
    '[ipv4]',
    'address1=10.0.0.2/24',
    'method=manual',
    'route-table=5002',
    'route1=0.0.0.0/0,10.0.0.1',
    'route2=192.168.1.0/24',
    'route2_options=type=throw',
    'routing-rule1=priority 110 uidrange 1000-1000 table 5002',
    'dns-search=example.org;',
    '',
    '[ipv6]',
    'address1=fd00::2/64',
    'method=manual',
    'routing-rule1=priority 110 uidrange 1000-1000 table 5002',
  );
  const r = run({ 'wgback.nmconnection': keyfile });
  const c = be(r);
  t.is(c.tunnel.interface, 'wgback');
  t.deepEqual(
    c.tunnel.addresses.map((a) => a.cidr),
    ['10.0.0.2/24', 'fd00::2/64'],
  );
  t.is(c.tunnel.peer!.persistentKeepalive, 15);
  t.truthy(c.tunnel.peer!.presharedKey);
  t.deepEqual(c.returnPath, {
    mode: 'uid',
    uids: [{ from: 1000, to: 1000 }],
    mark: 5002,
    table: 5002,
    priority: 110,
    leakGuard: true,
    exclude: [{ family: 4, address: '192.168.1.0', prefixLength: 24, cidr: '192.168.1.0/24' }],
    sources: [],
  });
  const f = 'wgback.nmconnection';
  t.regex(note(r, 5, f)!.reason, /connection setting/);
  t.regex(note(r, 9, f)!.reason, /no equivalent/);
  t.regex(note(r, 10, f)!.reason, /no equivalent/);
  t.regex(note(r, 26, f)!.reason, /\[ipv4\] setting/);
  t.is(note(r, 22, f), undefined, 'route1: the default via the frontend in table 5002');
  t.deepEqual(
    r.keyFiles.map((k) => k.name),
    ['out.key', 'out.psk'],
  );
});

test('NetworkManager keyfile errors: not WireGuard, a bad value, a bad escape, routeN_options without routeN', (t) => {
  throwsAt(
    t,
    () => run({ 'eth.nmconnection': lines('[connection]', 'type=ethernet') }),
    'eth.nmconnection',
    2,
    /"ethernet" connection, not a WireGuard one/,
  );
  throwsAt(
    t,
    () => run({ 'w.nmconnection': lines('[connection]', 'type=wireguard', '[wireguard]', 'listen-port=70000') }),
    'w.nmconnection',
    4,
    /listen-port "70000"/,
  );
  throwsAt(t, () => run({ 'w.nmconnection': lines('[connection]', 'type=wireguard', 'id=a\\qb') }), 'w.nmconnection', 3, /invalid escape/);
  throwsAt(
    t,
    () => run({ 'w.nmconnection': lines('[connection]', 'type=wireguard', '[ipv4]', 'route1_options=table=5') }),
    'w.nmconnection',
    4,
    /route1_options without route1/,
  );
  throwsAt(
    t,
    () => run({ 'w.nmconnection': lines('[connection]', 'type=wireguard', '[ipv4]', 'routing-rule1=priority 1 frobnicate 2') }),
    'w.nmconnection',
    4,
    /unknown ip rule selector "frobnicate"/,
  );
});

// ------------------------------------------------------------ iptables files

test('iptables-save files: *table, user chains reached by jumps, policies, counters, COMMIT', (t) => {
  const rules = lines(
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':FWD - [0:0]',
    '-A PREROUTING -j FWD',
    '[5:300] -A FWD -d 203.0.113.1/32 -p tcp -m tcp --dport 9735 -j DNAT --to-destination 10.0.0.2:9735',
    'COMMIT',
    '*filter',
    ':FORWARD DROP [0:0]',
    '-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    '-A FORWARD -m limit --limit 5/s -j LOG',
    'COMMIT',
  );
  const r = run({ 'wg0.conf': frontendConf(), 'rules.v4': rules });
  t.deepEqual(
    fe(r).forwards.map((f) => [f.publicAddress?.address, f.publicPorts.from, f.targetPorts.from]),
    [['203.0.113.1', 9735, 9735]],
  );
  t.regex(note(r, 8, 'rules.v4')!.reason, /policy/);
  t.is(note(r, 9, 'rules.v4'), undefined, 'established forwarding: netfwd accepts it');
  t.regex(note(r, 10, 'rules.v4')!.what, /--limit 5\/s -j LOG/);
});

test('iptables errors name file and line: stray word, missing value, unknown table, missing COMMIT, bad port, two commands', (t) => {
  const conf = frontendConf();
  throwsAt(
    t,
    () => run({ 'wg0.conf': conf, 's.sh': lines('#!/bin/sh', 'sudo iptables -t nat -A POSTROUTING -o wg0 -j SNAT MASQURADE') }),
    's.sh',
    2,
    /unexpected word "MASQURADE"/,
  );
  throwsAt(
    t,
    () => run({ 'wg0.conf': conf, 's.sh': lines('iptables -t nat -A PREROUTING -p tcp --dport') }),
    's.sh',
    1,
    /--dport needs a value/,
  );
  throwsAt(t, () => run({ 'wg0.conf': conf, r: lines('*nats', 'COMMIT') }), 'r', 1, /unknown iptables table "\*nats"/);
  throwsAt(t, () => run({ 'wg0.conf': conf, r: lines('*nat', '-A PREROUTING -j ACCEPT') }), 'r', 3, /no COMMIT/);
  throwsAt(
    t,
    () => run({ 'wg0.conf': conf, r: lines('-t nat -A PREROUTING -p tcp --dport 70000 -j DNAT --to 10.0.0.2') }),
    'r',
    1,
    /port 70000 is out of range/,
  );
  throwsAt(t, () => run({ 'wg0.conf': conf, r: lines('-A INPUT -D INPUT -j ACCEPT') }), 'r', 1, /one command/);
  throwsAt(t, () => run({ 'wg0.conf': conf, r: lines('iptables -A INPUT -j ACCEPT "unterminated') }), 'r', 1, /double quote is not closed/);
});

test('ip command errors name file and line', (t) => {
  const conf = backendConf();
  throwsAt(t, () => run({ 'wg0.conf': conf, 'up.sh': lines('ip rule add uidrange 1001-1000 table 5000') }), 'up.sh', 1, /runs backwards/);
  throwsAt(
    t,
    () => run({ 'wg0.conf': conf, 'up.sh': lines('', 'ip rule add uidrange 1000-1000 table vpn') }),
    'up.sh',
    2,
    /table "vpn" is a name/,
  );
  throwsAt(
    t,
    () => run({ 'wg0.conf': conf, 'up.sh': lines('ip route add default via wg0 table 5000') }),
    'up.sh',
    1,
    /via "wg0" is not an address/,
  );
  throwsAt(t, () => run({ 'wg0.conf': conf, 'up.sh': lines('ip rule frob') }), 'up.sh', 1, /unknown ip command "frob"/);
});

// --------------------------------------------------------- wg-quick errors

test('wg-quick errors name file and line and never quote keys', (t) => {
  throwsAt(
    t,
    () => run({ 'wg0.conf': lines('[Interface]', 'Adress = 10.0.0.1/24') }),
    'wg0.conf',
    2,
    /unknown \[Interface\] setting "Adress"/,
  );
  throwsAt(t, () => run({ 'wg0.conf': lines('[Peer]', `PublicKey = ${PUB.back}`) }), 'wg0.conf', 0, /no \[Interface\] section/);
  throwsAt(
    t,
    () => run({ 'wg0.conf': lines('[Interface]', 'Address = 10.0.0.300/24', `PrivateKey = ${K.front}`) }),
    'wg0.conf',
    2,
    /"10\.0\.0\.300\/24" is not an IP address or CIDR/,
  );
  throwsAt(
    t,
    () => run({ 'wg0.conf': lines('[Interface]', 'Address = 10.0.0.1/24', 'ListenPort = 0x10') }),
    'wg0.conf',
    3,
    /ListenPort "0x10"/,
  );
  throwsAt(
    t,
    () => run({ 'wg0.conf': lines('[Interface]', 'Address = 10.0.0.1/24', 'garbage') }),
    'wg0.conf',
    3,
    /neither a \[section\] nor "Key = Value"/,
  );
  throwsAt(t, () => run({ 'wg0.conf': lines('[Interface]', 'Address = 10.0.0.1/24', '[Wat]') }), 'wg0.conf', 3, /unknown section \[Wat\]/);
  throwsAt(t, () => run({ 'wg0.conf': frontendConf([], ['Bogus = 1']) }), 'wg0.conf', 9, /unknown \[Peer\] setting "Bogus"/);
  // A private key with one character changed: the message says where, not what.
  const typo = `${K.front.slice(0, 10)}!${K.front.slice(11)}`;
  const e = throwsAt(
    t,
    () => run({ 'wg0.conf': frontendConf().replace(K.front, typo) }),
    'wg0.conf',
    3,
    /PrivateKey is not a WireGuard key/,
  );
  t.false(e.message.includes(typo));
  throwsAt(
    t,
    () => run({ 'wg0.conf': backendConf().replace('Endpoint = 203.0.113.1:51820', 'Endpoint = 203.0.113.1') }),
    'wg0.conf',
    7,
    /not HOST:PORT/,
  );
  throwsAt(t, () => run({ 'wg0.conf': backendConf().replace(/Endpoint = .*\n/, '') }, 'backend'), 'wg0.conf', 5, /no Endpoint/);
  throwsAt(t, () => run({ 'wg0.conf': frontendConf([DNAT]).replace(/ListenPort = .*\n/, '') }, 'frontend'), 'wg0.conf', 0, /no ListenPort/);
  throwsAt(t, () => run({ 'wg0.conf': frontendConf([DNAT]).replace(/PrivateKey = .*\n/, '') }), 'wg0.conf', 0, /no private key/);
});

test('two WireGuard files, no WireGuard file, no input', (t) => {
  const e = t.throws(() => run({ 'a.conf': frontendConf([DNAT]), 'b.conf': frontendConf([DNAT]) }), { instanceOf: ImportError });
  t.regex(e!.message, /^b\.conf: a second WireGuard configuration \(the first is a\.conf\)/);
  t.throws(() => run({ 'r.sh': 'iptables -A INPUT -j ACCEPT\n' }), { instanceOf: ImportError, message: /no WireGuard configuration/ });
  t.throws(() => importConfig([]), { instanceOf: ImportError, message: /no input files/ });
});

test('frontend peers: Endpoint and keepalive are listed; a second peer, a routed network and a peer without a tunnel address', (t) => {
  const conf = lines(
    '[Interface]',
    'Address = 10.0.0.1/24',
    `PrivateKey = ${K.front}`,
    'ListenPort = 51820',
    DNAT,
    '[Peer]',
    `PublicKey = ${PUB.back}`,
    'AllowedIPs = 10.0.0.2/32, 192.168.100.0/24',
    'Endpoint = 198.51.100.7:4000',
    'PersistentKeepalive = 25',
    '[Peer]',
    `PublicKey = ${PUB.back2}`,
    'AllowedIPs = 10.0.0.3/32',
    '[Peer]',
    `PublicKey = ${publicKey(generatePrivateKey())}`,
    'AllowedIPs = 172.16.0.0/16',
  );
  const r = run({ 'wg0.conf': conf });
  t.deepEqual(
    fe(r).tunnel.peers.map((p) => [p.name, p.addresses.map((a) => a.address)]),
    [
      ['peer1', ['10.0.0.2']],
      ['peer2', ['10.0.0.3']],
    ],
  );
  t.regex(note(r, 8)!.reason, /network routed to the peer/);
  t.regex(note(r, 9)!.reason, /does not dial/);
  t.regex(note(r, 10)!.reason, /keeps the tunnel alive/);
  t.regex(note(r, 14)!.reason, /no address in the tunnel subnet/);
});

test('a key piped into wg set in PostUp never reaches a note; PreDown is read like PostDown', (t) => {
  const r = run({
    'wg0.conf': frontendConf([
      DNAT,
      `PostUp = echo ${K.psk} | wg set %i private-key /dev/stdin`,
      'PreDown = iptables -t nat -D PREROUTING -p tcp --dport 80 -j DNAT --to-destination 10.0.0.2:8080; ip link del dummy0',
    ]),
  });
  const text = JSON.stringify(r.notes) + r.yaml;
  t.false(text.includes(K.psk));
  t.regex(note(r, 6)!.what, /^echo \(hidden\)$/);
  t.true(r.notes.some((n) => n.line === 6 && /pipe/.test(n.reason)));
  t.deepEqual(
    r.notes.filter((n) => n.line === 7).map((n) => n.what),
    ['ip link del dummy0'],
  );
  t.is(fe(r).tunnel.publicKey, PUB.front, 'the PrivateKey line still gives the key');
});

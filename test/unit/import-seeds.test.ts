/**
 * Round trips of the seed HOWTOs' own files (test/fixtures/import): each
 * machine's files are imported, the YAML is loaded again with netfwd's own
 * loader (parseConfig, as `netfwd up -c` does), and the normalized
 * configuration must carry the seed's forwards, modes, addresses, ports and
 * uids. Seed 002's placeholder keys are filled in with generated keys first,
 * as a reader of the HOWTO would; no kernel is touched.
 */

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { parseConfig } from '../../src/forward/spec/config-file.js';
import type { NormalizedBackend, NormalizedConfig, NormalizedFrontend } from '../../src/forward/spec/normalized-config.js';
import { ImportError, type ImportResult, importConfig } from '../../src/import/index.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/import');
const fixture = (path: string) => readFileSync(join(FIXTURES, path), 'utf8');

/** Imports fixture files (paths relative to the fixtures directory), optionally rewriting their text. */
function importFixtures(paths: string[], edit: (text: string) => string = (x) => x, role?: 'frontend' | 'backend'): ImportResult {
  return importConfig(
    paths.map((p) => ({ path: p, text: edit(fixture(p)) })),
    { output: '/nonexistent-import-test/out.yaml', ...(role ? { role } : {}) },
  );
}

/** Loads the YAML again the way the CLI does, with the planned key files. */
function reload(r: ImportResult): NormalizedConfig {
  const files = new Map(r.keyFiles.map((k) => [k.path, k.key]));
  return parseConfig(r.yaml, {
    fileName: 'imported.yaml',
    baseDir: '/nonexistent-import-test',
    readFile: (p) => {
      const key = files.get(p);
      if (key === undefined) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return { data: `${key}\n`, mode: 0o100600 };
    },
  });
}

const notesAt = (r: ImportResult, file: string, line: number) => r.notes.filter((n) => n.file === file && n.line === line);

test('seed 000, frontend: NetworkManager keyfile + /etc/sysconfig/iptables → DNAT 9735 to the peer, masquerade', (t) => {
  const dir = 'seed-000-networkmanager-iptables/frontend';
  const r = importFixtures([`${dir}/wg0.nmconnection`, `${dir}/iptables`]);
  t.is(r.role, 'frontend');
  t.regex(r.roleReason, /DNAT to a WireGuard peer at .*iptables:8/);
  const c = reload(r) as NormalizedFrontend;
  t.deepEqual(
    c.tunnel.addresses.map((a) => a.cidr),
    ['10.0.0.1/24'],
  );
  t.is(c.tunnel.interface, 'wg0');
  t.is(c.tunnel.listenPort, 12345);
  t.is(c.tunnel.publicKey, 'tDbXnzbg81/H9HY1a7AhO+G7FsDkOuzbXJA6k8mGbiM=', 'the seed private key, through a key file');
  t.is(c.tunnel.peers.length, 1);
  t.is(c.tunnel.peers[0]!.publicKey, 'AaxtOheAXrhGAIrOboi2Cjq+u2vNmVDb3rSQSv02NXU=');
  t.deepEqual(
    c.tunnel.peers[0]!.addresses.map((a) => a.address),
    ['10.0.0.2'],
  );
  t.truthy(c.tunnel.peers[0]!.presharedKey, 'the preshared key came through its key file');
  t.deepEqual(
    c.forwards.map((f) => ({
      p: f.protocol,
      ports: f.publicPorts,
      to: f.targetPorts,
      peer: f.peerAddresses[4],
      addr: f.publicAddress?.address,
    })),
    [{ p: 'tcp', ports: { from: 9735, to: 9735 }, to: { from: 9735, to: 9735 }, peer: '10.0.0.2', addr: '142.250.179.110' }],
  );
  t.true(c.masquerade, 'the WIREGUARD_PRT MASQUERADE of 10.0.0.0/24');
  t.false(c.sourceNat);
  // The key files hold the seed's keys; the YAML names them and holds no key.
  t.deepEqual(r.keyFiles.map((k) => k.name).sort(), ['out-peer1.psk', 'out.key']);
  t.is(r.keyFiles.find((k) => k.name === 'out.key')!.key, 'mH7ne9DOC4jCESHYjzsc91qDSVXhOLY3oPiADurPMHc=');
  t.false(r.yaml.includes('mH7ne9DOC4jCESHYjzsc91qDSVXhOLY3oPiADurPMHc='));
  t.false(r.yaml.includes('rzZQ8bvdD1W1wPzHKFWO5k1D/ddsGT9lYQPp05Cvdn0='));
  // Untranslatable lines are listed with file:line, and as comments at the top of the YAML.
  const iptables = `${dir}/iptables`;
  t.regex(notesAt(r, iptables, 26)[0]!.reason, /CHECKSUM/);
  t.regex(notesAt(r, iptables, 42)[0]!.reason, /filters only what it opens .*not the rest of the traffic to this machine/);
  t.regex(notesAt(r, iptables, 62)[0]!.reason, /between peers/);
  t.regex(notesAt(r, iptables, 11)[0]!.reason, /exception/);
  t.true(r.yaml.startsWith('# Imported by `netfwd import`'));
  t.regex(r.yaml, new RegExp(`\\n#   ${iptables}:42: -A INPUT -p tcp --dport 22`));
  // The port forward's FORWARD accept, the DNAT itself and the MASQUERADE are translated, not listed.
  for (const line of [8, 13, 14, 15, 47, 58, 60])
    t.deepEqual(
      notesAt(r, iptables, line).filter((n) => n.kind === 'not-translated'),
      [],
      `line ${line}`,
    );
});

test('seed 000, backend: NetworkManager keyfile with uidrange routing rule → mode uid, uids 1000-1001, table 5000, priority 100', (t) => {
  const dir = 'seed-000-networkmanager-iptables/backend';
  const r = importFixtures([`${dir}/wg0.nmconnection`, `${dir}/iptables`]);
  t.is(r.role, 'backend');
  t.regex(r.roleReason, /table 5000 at .*wg0\.nmconnection:26/);
  const c = reload(r) as NormalizedBackend;
  t.deepEqual(
    c.tunnel.addresses.map((a) => a.cidr),
    ['10.0.0.2/24'],
  );
  t.is(c.tunnel.listenPort, 12345);
  t.is(c.tunnel.publicKey, 'AaxtOheAXrhGAIrOboi2Cjq+u2vNmVDb3rSQSv02NXU=');
  t.is(c.tunnel.peer!.publicKey, 'tDbXnzbg81/H9HY1a7AhO+G7FsDkOuzbXJA6k8mGbiM=');
  t.is(c.tunnel.peer!.endpoint.text, '142.250.179.110:12345');
  t.is(c.tunnel.peer!.persistentKeepalive, 25);
  t.truthy(c.tunnel.peer!.presharedKey);
  t.deepEqual(c.returnPath, {
    mode: 'uid',
    uids: [{ from: 1000, to: 1001 }],
    mark: 5000,
    table: 5000,
    priority: 100,
    leakGuard: true,
    exclude: [],
    sources: [],
  });
  t.deepEqual(
    c.services.map((s) => [s.protocol, s.ports.from, s.ports.to]),
    [['tcp', 9735, 9735]],
    'the INPUT accept of 9735 on wg0',
  );
  // route1 (default via 10.0.0.1 table 5000) is what netfwd's table 5000 does: not listed.
  t.deepEqual(notesAt(r, `${dir}/wg0.nmconnection`, 25), []);
  t.regex(notesAt(r, `${dir}/iptables`, 9)[0]!.reason, /filters only what it opens/);
});

test('seed 001, router: wg-quick + rules with -t nat lines → DNAT 8000, sourceNat (SNAT to the tunnel address), /32 widened', (t) => {
  const dir = 'seed-001-wg-quick-router/router';
  const r = importFixtures([`${dir}/wg0.conf`, `${dir}/firewall.rules`]);
  t.is(r.role, 'frontend');
  const c = reload(r) as NormalizedFrontend;
  t.deepEqual(
    c.tunnel.addresses.map((a) => a.cidr),
    ['10.172.16.1/24'],
  );
  t.is(c.tunnel.listenPort, 51913);
  t.is(c.tunnel.publicKey, 'GL33DRrI8/2yAT6+r5mTtBLd7CoErAAsio3yNqQ3K1M=');
  t.deepEqual(
    c.forwards.map((f) => [f.protocol, f.publicPorts.from, f.targetPorts.from, f.peerAddresses[4]]),
    [['tcp', 8000, 8000, '10.172.16.2']],
  );
  t.true(c.sourceNat);
  t.false(c.masquerade, 'the router masquerades nothing');
  t.is(c.public.interface, undefined);
  const widened = notesAt(r, `${dir}/wg0.conf`, 2)[0]!;
  t.is(widened.kind, 'changed');
  t.regex(widened.reason, /10\.172\.16\.1\/24/);
  for (const line of [1, 2, 3]) t.regex(notesAt(r, `${dir}/firewall.rules`, line)[0]!.reason, /policy/);
  // FORWARD eth0 <-> wg0 accepts are what netfwd's forward chain does.
  t.deepEqual(notesAt(r, `${dir}/firewall.rules`, 7), []);
  t.deepEqual(notesAt(r, `${dir}/firewall.rules`, 8), []);
});

test('seed 001, host: wg-quick backend without policy routing → mode snat, /32 widened to the AllowedIPs subnet', (t) => {
  const dir = 'seed-001-wg-quick-router/host';
  const r = importFixtures([`${dir}/wg0.conf`, `${dir}/firewall.rules`]);
  t.is(r.role, 'backend');
  t.regex(r.roleReason, /Endpoint/);
  const c = reload(r) as NormalizedBackend;
  t.deepEqual(
    c.tunnel.addresses.map((a) => a.cidr),
    ['10.172.16.2/24'],
  );
  t.is(c.tunnel.publicKey, '/wH4OzafBUJVvRGzK8itUweV/GpwoUzn7OS99lr7gHI=');
  t.is(c.tunnel.peer!.endpoint.text, '93.184.216.34:51913');
  t.is(c.tunnel.peer!.persistentKeepalive, 25);
  t.deepEqual(c.returnPath, { mode: 'snat' });
  t.deepEqual(c.services, []);
  t.true(r.notes.some((n) => n.kind === 'changed' && /mode snat/.test(n.reason)));
});

/** Seed 002's placeholders replaced by generated keys. */
function fillKeys(): { edit: (text: string) => string; vps: string; rpi: string } {
  const vps = generatePrivateKey().toBase64();
  const rpi = generatePrivateKey().toBase64();
  const peer2 = publicKey(generatePrivateKey());
  return {
    vps,
    rpi,
    edit: (text) =>
      text
        .replace('<privatekey of VPS>', vps)
        .replace('<privatekey of RPi>', rpi)
        .replace('<publickey of RPi>', publicKey(rpi))
        .replace('<publickey of VPS>', publicKey(vps))
        .replace('<publickey of peer 2>', peer2),
  };
}

test('seed 002, VPS: wg-quick + iptables commands → 80 → 8080 on ens3, sourceNat, two peers', (t) => {
  const keys = fillKeys();
  const dir = 'seed-002-wg-quick-vps/vps';
  const r = importFixtures([`${dir}/wg0.conf`, `${dir}/iptables.sh`], keys.edit);
  t.is(r.role, 'frontend');
  const c = reload(r) as NormalizedFrontend;
  t.deepEqual(
    c.tunnel.addresses.map((a) => a.cidr),
    ['10.8.0.1/24'],
  );
  t.is(c.tunnel.listenPort, 42069);
  t.deepEqual(
    c.tunnel.peers.map((p) => p.addresses.map((a) => a.address)),
    [['10.8.0.2'], ['10.8.0.3']],
  );
  t.is(c.tunnel.peers[0]!.publicKey, publicKey(keys.rpi));
  t.deepEqual(
    c.forwards.map((f) => [f.protocol, f.publicPorts.from, f.targetPorts.from, f.peer]),
    [['tcp', 80, 8080, 'peer1']],
  );
  t.is(c.public.interface, 'ens3');
  t.true(c.sourceNat);
  t.false(c.masquerade);
  // sysctl -w net.ipv4.ip_forward=1 and the sysctl.conf line: netfwd turns forwarding on itself.
  t.deepEqual(notesAt(r, `${dir}/iptables.sh`, 8), []);
  t.deepEqual(notesAt(r, `${dir}/iptables.sh`, 10), []);
  t.deepEqual(
    r.notes.filter((n) => n.kind === 'not-translated'),
    [],
    'everything of the VPS is translated',
  );
});

test('seed 002, VPS as one wg-quick file: PostUp iptables lines, %i, PostDown, and the key in the file wg set names', (t) => {
  const keys = fillKeys();
  const file = 'seed-002-wg-quick-vps/vps-postup/wg0.conf';
  const r = importFixtures([file], keys.edit);
  t.is(r.role, 'frontend');
  t.is((r.spec.tunnel as { privateKeyFile: string }).privateKeyFile, '/etc/wireguard/privatekey', 'the reference is kept');
  t.deepEqual(r.keyFiles, [], 'no key is written: the source kept it in a file');
  t.regex(notesAt(r, file, 6)[0]!.reason, /cannot be read here/);
  t.deepEqual(
    (r.config as NormalizedFrontend).forwards.map((f) => [f.protocol, f.publicPorts.from, f.targetPorts.from]),
    [['tcp', 80, 8080]],
  );
  t.true((r.config as NormalizedFrontend).sourceNat);
  t.is((r.config as NormalizedFrontend).public.interface, 'ens3');
  // PostDown's iptables -D lines are what netfwd down does; nothing is listed for them.
  t.deepEqual(notesAt(r, file, 11), []);
  t.deepEqual(notesAt(r, file, 12), []);
});

test('seed 002, RPi: wg-quick backend → endpoint, keepalive, snat', (t) => {
  const keys = fillKeys();
  const r = importFixtures(['seed-002-wg-quick-vps/rpi/wg0.conf'], keys.edit);
  t.is(r.role, 'backend');
  const c = reload(r) as NormalizedBackend;
  t.is(c.tunnel.peer!.endpoint.text, '203.0.113.42:42069');
  t.is(c.tunnel.peer!.publicKey, publicKey(keys.vps));
  t.is(c.tunnel.publicKey, publicKey(keys.rpi));
  t.deepEqual(
    c.tunnel.addresses.map((a) => a.cidr),
    ['10.8.0.2/24'],
  );
  t.deepEqual(c.returnPath, { mode: 'snat' });
});

test('seed 002 as published: the placeholder keys are typed errors with file:line that do not quote the value', (t) => {
  const e = t.throws(() => importFixtures(['seed-002-wg-quick-vps/vps/wg0.conf']), { instanceOf: ImportError });
  t.regex(e!.message, /^seed-002-wg-quick-vps\/vps\/wg0\.conf:7: the peer's PublicKey is not a WireGuard key/);
  t.false(e!.message.includes('publickey of RPi'));
  t.is(e!.line, 7);
});

test('seed 003 (OpenVPN): its scripts alone are not a netfwd setup; with a WireGuard tunnel the fwmark/CONNMARK tagging becomes mode connmark', (t) => {
  const dir = 'seed-003-openvpn-dscp';
  const e = t.throws(() => importFixtures([`${dir}/remote-server/firewall.sh`, `${dir}/remote-server/route.sh`]), {
    instanceOf: ImportError,
  });
  t.regex(e!.message, /no WireGuard configuration among the inputs.*OpenVPN/);

  // The home server's tagged routing (fwmark 42 → table 42, CONNMARK 42 set and restored), with a wg-quick tunnel to a frontend.
  const frontendKey = publicKey(generatePrivateKey());
  const wg = [
    '[Interface]',
    'Address = 10.0.0.2/24',
    `PrivateKey = ${generatePrivateKey().toBase64()}`,
    '',
    '[Peer]',
    `PublicKey = ${frontendKey}`,
    'Endpoint = 192.0.2.200:51820',
    'AllowedIPs = 0.0.0.0/0',
    'PersistentKeepalive = 25',
    '',
  ].join('\n');
  const r = importConfig(
    [
      { path: 'home/wg0.conf', text: wg },
      { path: `${dir}/home-server/routing.sh`, text: fixture(`${dir}/home-server/routing.sh`) },
      { path: `${dir}/home-server/connmark.sh`, text: fixture(`${dir}/home-server/connmark.sh`) },
    ],
    { output: '/nonexistent-import-test/home.yaml' },
  );
  t.is(r.role, 'backend');
  const c = r.config as NormalizedBackend;
  t.deepEqual(c.returnPath, { mode: 'connmark', mark: 42, table: 42, priority: 100, leakGuard: true, exclude: [], sources: [] });
  const routing = `${dir}/home-server/routing.sh`;
  const connmark = `${dir}/home-server/connmark.sh`;
  t.regex(notesAt(r, routing, 3)[0]!.reason, /ifupdown hook/, 'case "${ADDRFAM}-${IFACE}"');
  t.regex(notesAt(r, routing, 7)[0]!.reason, /not via 192\.168\.100\.2/, 'the default via the VPN client becomes the tunnel');
  t.regex(notesAt(r, routing, 8)[0]!.reason, /priority 100/, 'no priority in the source');
  t.regex(notesAt(r, connmark, 3)[0]!.reason, /arrive on the tunnel.*dscp/);
  t.deepEqual(notesAt(r, connmark, 4), [], "CONNMARK --restore-mark is part of netfwd's connmark mode");
  t.regex(notesAt(r, connmark, 5)[0]!.reason, /DSCP/);
});

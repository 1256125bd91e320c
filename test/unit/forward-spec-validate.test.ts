/**
 * Valid ServiceForward specs and what they normalise to: both roles, all four
 * return-path modes, IPv4-only, IPv6-only and dual stack; key files and their
 * permissions with real files; the same spec from TypeScript, YAML and JSON;
 * and the Secret wrapper, which must never print a key.
 */

import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { format, inspect } from 'node:util';
import test from 'ava';
import { stringify as toYaml } from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { loadConfigFile, parseConfig } from '../../src/forward/spec/config-file.js';
import { publicKeyOf } from '../../src/forward/spec/key-text.js';
import type { NormalizedBackend, NormalizedConfig, NormalizedFrontend } from '../../src/forward/spec/normalized-config.js';
import { Secret } from '../../src/forward/spec/secret.js';
import type { BackendSpec, FrontendSpec } from '../../src/forward/spec/spec.js';
import { validateSpec } from '../../src/forward/spec/validate/index.js';
import { backendSpec, frontendSpec, KEYS, SECRET_KEYS } from '../fixtures/invalid-specs/base.js';

/** The single-target forwards of these tests as the normaliser lists them: `targets` holds the one target, balance failover. */
function singleTarget<T extends { peer: string; peerAddresses: object; behindPeer: boolean; targetPorts: object; source: string }>(
  fws: T[],
) {
  return fws.map((f) => ({
    ...f,
    targets: [
      {
        peer: f.peer,
        addresses: f.peerAddresses,
        behindPeer: f.behindPeer,
        ports: f.targetPorts,
        name: f.peer,
        key: `${f.source} ${f.peer}`,
        source: `${f.source}.to`,
      },
    ],
    balance: 'failover',
  }));
}

function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'netfwd-spec-'));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function containsSecret(text: string): boolean {
  return SECRET_KEYS.some(
    (k) => text.includes(k) || text.includes(k.slice(0, 20)) || text.includes(Buffer.from(k, 'base64').toString('hex')),
  );
}

// ---------------------------------------------------------------- keys

test('the public key is derived as `wg pubkey` derives it', (t) => {
  t.is(publicKeyOf(Buffer.from(KEYS.frontendPrivate, 'base64')), KEYS.frontendPublic);
  t.is(publicKeyOf(Buffer.from(KEYS.backendPrivate, 'base64')), KEYS.backendPublic);
  t.is(publicKeyOf(Buffer.from(KEYS.office, 'base64')), KEYS.officePublic);
});

// ---------------------------------------------------------------- frontend

test('a dual-stack frontend normalises with every default and field', (t) => {
  const c = validateSpec(frontendSpec());
  t.is(c.role, 'frontend');
  t.is(c.netns, 'vps');
  t.deepEqual(c.families, [4, 6]);
  t.is(c.tunnel.interface, 'wg0');
  t.deepEqual(c.tunnel.addresses, [
    { family: 4, address: '10.0.0.1', prefixLength: 24, cidr: '10.0.0.1/24', network: '10.0.0.0/24' },
    { family: 6, address: 'fd00::1', prefixLength: 64, cidr: 'fd00::1/64', network: 'fd00::/64' },
  ]);
  t.is(c.tunnel.listenPort, 51820);
  t.true(c.tunnel.privateKey! instanceof Secret);
  t.is(c.tunnel.privateKey!.reveal(), KEYS.frontendPrivate);
  t.is(c.tunnel.privateKeyFile, undefined);
  t.is(c.tunnel.publicKey, KEYS.frontendPublic);
  const [home, office] = c.tunnel.peers;
  t.is(home!.name, 'home');
  t.is(home!.publicKey, KEYS.backendPublic);
  t.is(home!.presharedKey!.reveal(), KEYS.psk);
  t.deepEqual(home!.addresses, [
    { family: 4, address: '10.0.0.2' },
    { family: 6, address: 'fd00::2' },
  ]);
  t.deepEqual(home!.addressByFamily, { 4: '10.0.0.2', 6: 'fd00::2' });
  t.deepEqual(home!.allowedIps, ['10.0.0.2/32', 'fd00::2/128']);
  t.is(home!.source, 'tunnel.peers[0]');
  t.deepEqual(office!.addresses, [{ family: 4, address: '10.0.0.3' }]);
  t.deepEqual(office!.allowedIps, ['10.0.0.3/32']);
  t.false('presharedKey' in office!);
  t.deepEqual(c.public, {
    addresses: [
      { family: 4, address: '203.0.113.1' },
      { family: 6, address: '2001:db8::1' },
    ],
    interface: 'eth0',
  });
  t.deepEqual(
    c.forwards,
    singleTarget([
      {
        protocol: 'tcp',
        publicPorts: { from: 9735, to: 9735 },
        peer: 'home',
        peerAddresses: { 4: '10.0.0.2', 6: 'fd00::2' },
        targetPorts: { from: 9735, to: 9735 },
        behindPeer: false,
        families: [4, 6],
        source: 'forwards[0]',
      },
      {
        protocol: 'tcp',
        publicPorts: { from: 8000, to: 8009 },
        peer: 'home',
        peerAddresses: { 4: '10.0.0.2', 6: 'fd00::2' },
        targetPorts: { from: 18000, to: 18009 },
        behindPeer: false,
        families: [4, 6],
        source: 'forwards[1]',
      },
      {
        protocol: 'udp',
        publicPorts: { from: 8000, to: 8009 },
        peer: 'home',
        peerAddresses: { 4: '10.0.0.2', 6: 'fd00::2' },
        targetPorts: { from: 18000, to: 18009 },
        behindPeer: false,
        families: [4, 6],
        source: 'forwards[1]',
      },
      {
        protocol: 'tcp',
        publicAddress: { family: 4, address: '203.0.113.1' },
        publicPorts: { from: 80, to: 80 },
        peer: 'office',
        peerAddresses: { 4: '10.0.0.3' },
        targetPorts: { from: 8080, to: 8080 },
        behindPeer: false,
        families: [4],
        source: 'forwards[2]',
      },
    ]),
  );
  t.false(c.sourceNat);
  t.true(c.masquerade);
  t.true(c.mssClamp);
});

test('a minimal IPv4-only frontend gets the defaults', (t) => {
  const spec: FrontendSpec = {
    role: 'frontend',
    tunnel: {
      interface: 'wg0',
      addresses: ['10.0.0.1/24'],
      listenPort: 51820,
      privateKey: KEYS.frontendPrivate,
      peers: [{ name: 'home', publicKey: KEYS.backendPublic, addresses: ['10.0.0.2'] }],
    },
    forwards: [{ protocol: 'tcp', port: 9735, to: { peer: 'home' } }],
  };
  const c = validateSpec(spec);
  t.is(c.netns, undefined);
  t.deepEqual(c.families, [4]);
  t.deepEqual(c.public, { addresses: [], interface: undefined });
  t.false(c.sourceNat);
  t.true(c.masquerade);
  t.true(c.mssClamp);
  t.deepEqual(c.egress, { enabled: true, allow: [] }, 'the backends reach the internet and nothing else');
  t.deepEqual(c.tunnelPorts, [], 'and no port of the frontend');
  t.deepEqual(c.forwards[0]!.families, [4]);
  t.deepEqual(c.forwards[0]!.peerAddresses, { 4: '10.0.0.2' });
});

test('an IPv6-only frontend, with canonical address text and a /128 peer', (t) => {
  const spec: FrontendSpec = {
    role: 'frontend',
    tunnel: {
      interface: 'wg-v6',
      addresses: ['FD00:0:0:0::1/64'],
      listenPort: 443,
      privateKey: KEYS.frontendPrivate,
      peers: [{ name: 'home', publicKey: KEYS.backendPublic, addresses: ['fd00::00a/128'] }],
    },
    public: { addresses: ['2001:DB8::10'] },
    forwards: [{ protocol: 'udp', port: '60000-60010', to: { peer: 'home' } }],
    sourceNat: true,
    masquerade: false,
    mssClamp: false,
  };
  const c = validateSpec(spec);
  t.deepEqual(c.families, [6]);
  t.deepEqual(c.tunnel.addresses, [{ family: 6, address: 'fd00::1', prefixLength: 64, cidr: 'fd00::1/64', network: 'fd00::/64' }]);
  t.deepEqual(c.tunnel.peers[0]!.addresses, [{ family: 6, address: 'fd00::a' }]);
  t.deepEqual(c.public.addresses, [{ family: 6, address: '2001:db8::10' }]);
  t.deepEqual(
    c.forwards,
    singleTarget([
      {
        protocol: 'udp',
        publicPorts: { from: 60000, to: 60010 },
        peer: 'home',
        peerAddresses: { 6: 'fd00::a' },
        targetPorts: { from: 60000, to: 60010 },
        behindPeer: false,
        families: [6],
        source: 'forwards[0]',
      },
    ]),
  );
  t.true(c.sourceNat);
  t.false(c.masquerade);
  t.false(c.mssClamp);
});

test('forwards: families follow the public side and the peer; the same port may serve different addresses', (t) => {
  const spec = frontendSpec();
  spec.forwards = [
    // office has IPv4 only, so this forward is IPv4 only although the tunnel is dual stack
    { protocol: 'tcp', port: 443, to: { peer: 'office' } },
    // the same port on different addresses, to different peers
    { protocol: 'tcp', port: 80, address: '203.0.113.1', to: { peer: 'office' } },
    { protocol: 'tcp', port: 80, address: '2001:db8::1', to: { peer: 'home' } },
    // the same port number for the other protocol
    { protocol: 'udp', port: 443, to: { peer: 'home', port: '8443' } },
    // an empty range edge: port as decimal text
    { protocol: 'tcp', port: '65535', to: { peer: 'home', port: 1 } },
  ];
  const c = validateSpec(spec);
  t.deepEqual(
    c.forwards.map((f) => [f.source, f.protocol, f.families, f.publicAddress?.address, f.peerAddresses, f.targetPorts]),
    [
      ['forwards[0]', 'tcp', [4], undefined, { 4: '10.0.0.3' }, { from: 443, to: 443 }],
      ['forwards[1]', 'tcp', [4], '203.0.113.1', { 4: '10.0.0.3' }, { from: 80, to: 80 }],
      ['forwards[2]', 'tcp', [6], '2001:db8::1', { 6: 'fd00::2' }, { from: 80, to: 80 }],
      ['forwards[3]', 'udp', [4, 6], undefined, { 4: '10.0.0.2', 6: 'fd00::2' }, { from: 8443, to: 8443 }],
      ['forwards[4]', 'tcp', [4, 6], undefined, { 4: '10.0.0.2', 6: 'fd00::2' }, { from: 1, to: 1 }],
    ],
  );
});

test('forwards may be empty and ports may abut without overlapping', (t) => {
  const spec = frontendSpec();
  spec.forwards = [];
  t.deepEqual(validateSpec(spec).forwards, []);
  spec.forwards = [
    { protocol: 'tcp', port: '1000-1999', to: { peer: 'home' } },
    { protocol: 'tcp', port: '2000-2999', to: { peer: 'office' } },
  ];
  t.is(validateSpec(spec).forwards.length, 2);
});

test('ten thousand forwards validate, and an overlap among them is found', (t) => {
  const spec = frontendSpec();
  spec.forwards = Array.from({ length: 10000 }, (_, i) => ({
    protocol: 'tcp+udp' as const,
    port: 20000 + i,
    to: { peer: i % 2 ? 'home' : 'office', port: 30000 + i },
  }));
  t.is(validateSpec(spec).forwards.length, 20000);
  spec.forwards.push({ protocol: 'udp', port: 25000, to: { peer: 'home' } });
  const e = t.throws(() => validateSpec(spec), { instanceOf: ConfigError });
  t.is(e.field, 'forwards[10000].port');
  t.regex(e.message, /overlaps forwards\[5000\]/);
});

// ---------------------------------------------------------------- backend

test('a dual-stack backend in mode uid normalises with every field', (t) => {
  const c = validateSpec(backendSpec());
  t.is(c.role, 'backend');
  t.is(c.netns, 'home');
  t.deepEqual(c.families, [4, 6]);
  t.deepEqual(
    c.tunnel.addresses.map((a) => a.cidr),
    ['10.0.0.2/24', 'fd00::2/64'],
  );
  t.is(c.tunnel.listenPort, undefined);
  t.is(c.tunnel.privateKey!.reveal(), KEYS.backendPrivate);
  t.is(c.tunnel.publicKey, KEYS.backendPublic);
  const peer = c.tunnel.peer!;
  t.is(peer.publicKey, KEYS.frontendPublic);
  t.is(peer.presharedKey!.reveal(), KEYS.psk);
  t.deepEqual(peer.endpoint, { family: 4, host: '203.0.113.1', port: 51820, text: '203.0.113.1:51820' });
  t.is(peer.persistentKeepalive, 25);
  t.deepEqual(peer.allowedIps, ['0.0.0.0/0', '::/0']);
  t.deepEqual(c.returnPath, {
    mode: 'uid',
    uids: [{ from: 1000, to: 1001 }],
    mark: 5000,
    table: 5000,
    priority: 100,
    leakGuard: true,
    exclude: [{ family: 4, address: '192.168.1.0', prefixLength: 24, cidr: '192.168.1.0/24' }],
    sources: [],
  });
  t.deepEqual(c.services, [
    { protocol: 'tcp', ports: { from: 9735, to: 9735 }, source: 'services[0]', hosts: [] },
    { protocol: 'tcp', ports: { from: 18000, to: 18009 }, source: 'services[1]', hosts: [] },
    { protocol: 'udp', ports: { from: 18000, to: 18009 }, source: 'services[1]', hosts: [] },
  ]);
});

function minimalBackend(returnPath: BackendSpec['returnPath'], addresses = ['10.0.0.2/24']): BackendSpec {
  return {
    role: 'backend',
    tunnel: {
      interface: 'wg0',
      addresses,
      privateKey: KEYS.backendPrivate,
      peer: { publicKey: KEYS.frontendPublic, endpoint: '[2001:DB8::1]:51820' },
    },
    returnPath,
    services: [{ protocol: 'tcp', port: 9735 }],
  };
}

test('mode uid: defaults, several uids and ranges, exclusions of the tunnel families', (t) => {
  const c = validateSpec(minimalBackend({ mode: 'uid', uids: [1000, '1002', '2000-2999', 4294967294] }, ['10.0.0.2/24', 'fd00::2/64']));
  t.deepEqual(c.returnPath, {
    mode: 'uid',
    uids: [
      { from: 1000, to: 1000 },
      { from: 1002, to: 1002 },
      { from: 2000, to: 2999 },
      { from: 4294967294, to: 4294967294 },
    ],
    mark: 5000,
    table: 5000,
    priority: 100,
    leakGuard: true,
    exclude: [],
    sources: [],
  });
  t.deepEqual(c.tunnel.peer!.endpoint, { family: 6, host: '2001:db8::1', port: 51820, text: '[2001:db8::1]:51820' });
  t.is(c.tunnel.peer!.persistentKeepalive, 25);
  t.deepEqual(c.tunnel.peer!.allowedIps, ['0.0.0.0/0', '::/0']);
});

test('mode uid: a mark of its own for the connections that arrive through the tunnel; exclusions of a family the tunnel lacks (its unreachable table)', (t) => {
  const c = validateSpec(
    minimalBackend({ mode: 'uid', uids: [1000], mark: 0x2a, table: 7000, exclude: ['192.168.1.0/24', 'fd12:3456::/48'] }),
  );
  t.like(c.returnPath, { mode: 'uid', mark: 0x2a, table: 7000 });
  t.deepEqual(
    (c.returnPath as { exclude: Array<{ cidr: string }> }).exclude.map((x) => x.cidr),
    ['192.168.1.0/24', 'fd12:3456::/48'],
  );
});

test('tunnelPorts (both roles) and egress (frontend): defaults and normalised forms', (t) => {
  const b = validateSpec({ ...minimalBackend({ mode: 'snat' }), tunnelPorts: [{ protocol: 'tcp+udp', port: '22-23' }] });
  t.deepEqual(b.tunnelPorts, [
    { protocol: 'tcp', ports: { from: 22, to: 23 }, source: 'tunnelPorts[0]' },
    { protocol: 'udp', ports: { from: 22, to: 23 }, source: 'tunnelPorts[0]' },
  ]);
  t.deepEqual(validateSpec(minimalBackend({ mode: 'snat' })).tunnelPorts, []);
  const f = validateSpec({
    role: 'frontend',
    tunnel: {
      interface: 'wg0',
      addresses: ['10.0.0.1/24', 'fd00::1/64'],
      listenPort: 51820,
      privateKey: KEYS.frontendPrivate,
      peers: [{ name: 'home', publicKey: KEYS.backendPublic, addresses: ['10.0.0.2'] }],
    },
    forwards: [],
    egress: { enabled: false, allow: ['192.168.10.0/24', '198.51.100.7', '2001:db8:5::/64'] },
    tunnelPorts: [{ protocol: 'udp', port: 53 }],
  });
  t.deepEqual(f.egress, {
    enabled: false,
    allow: [
      { family: 4, address: '192.168.10.0', prefixLength: 24, cidr: '192.168.10.0/24' },
      { family: 4, address: '198.51.100.7', prefixLength: 32, cidr: '198.51.100.7/32' },
      { family: 6, address: '2001:db8:5::', prefixLength: 64, cidr: '2001:db8:5::/64' },
    ],
  });
  t.deepEqual(f.tunnelPorts, [{ protocol: 'udp', ports: { from: 53, to: 53 }, source: 'tunnelPorts[0]' }]);
});

test('mode mark: by uid, by cgroup, or by a mark the application sets', (t) => {
  const byUid = validateSpec(minimalBackend({ mode: 'mark', uids: ['1000-1001'] }));
  t.deepEqual(byUid.returnPath, {
    mode: 'mark',
    uids: [{ from: 1000, to: 1001 }],
    cgroup: undefined,
    mark: 5000,
    table: 5000,
    priority: 100,
    leakGuard: true,
    exclude: [],
    sources: [],
  });
  const byCgroup = validateSpec(minimalBackend({ mode: 'mark', cgroup: '/system.slice/lnd.service/', table: 7000, leakGuard: false }));
  t.deepEqual(byCgroup.returnPath, {
    mode: 'mark',
    uids: [],
    cgroup: 'system.slice/lnd.service',
    mark: 7000,
    table: 7000,
    priority: 100,
    leakGuard: false,
    exclude: [],
    sources: [],
  });
  const byApp = validateSpec(minimalBackend({ mode: 'mark', mark: 0x2a, priority: 32765, exclude: ['10.1.0.0/16', '192.0.2.7'] }));
  t.deepEqual(byApp.returnPath, {
    mode: 'mark',
    uids: [],
    cgroup: undefined,
    mark: 42,
    table: 5000,
    priority: 32765,
    leakGuard: true,
    exclude: [
      { family: 4, address: '10.1.0.0', prefixLength: 16, cidr: '10.1.0.0/16' },
      { family: 4, address: '192.0.2.7', prefixLength: 32, cidr: '192.0.2.7/32' },
    ],
    sources: [],
  });
});

test('mode connmark: the mark defaults to the table', (t) => {
  t.deepEqual(validateSpec(minimalBackend({ mode: 'connmark' })).returnPath, {
    mode: 'connmark',
    mark: 5000,
    table: 5000,
    priority: 100,
    leakGuard: true,
    exclude: [],
    sources: [],
  });
  t.deepEqual(validateSpec(minimalBackend({ mode: 'connmark', mark: 0xffffffff, table: 0xffffffff, priority: 1 })).returnPath, {
    mode: 'connmark',
    mark: 0xffffffff,
    table: 0xffffffff,
    priority: 1,
    leakGuard: true,
    exclude: [],
    sources: [],
  });
});

test('mode snat: nothing but the mode', (t) => {
  const c = validateSpec(minimalBackend({ mode: 'snat' }, ['fd00::2/64']));
  t.deepEqual(c.returnPath, { mode: 'snat' });
  t.deepEqual(c.families, [6]);
  t.deepEqual(c.tunnel.peer!.allowedIps, ['::/0']);
});

test('a backend with a listen port, keepalive off and no services', (t) => {
  const spec = minimalBackend({ mode: 'uid', uids: ['1000'] });
  spec.tunnel!.listenPort = 51821;
  spec.tunnel!.peer!.persistentKeepalive = 0;
  spec.services = [];
  const c: NormalizedBackend = validateSpec(spec);
  t.is(c.tunnel.listenPort, 51821);
  t.is(c.tunnel.peer!.persistentKeepalive, 0);
  t.deepEqual(c.services, []);
});

test('validation does not modify its input', (t) => {
  const deepFreeze = (o: unknown): void => {
    if (typeof o === 'object' && o !== null) {
      Object.freeze(o);
      for (const v of Object.values(o)) deepFreeze(v);
    }
  };
  const fe = frontendSpec();
  const be = backendSpec();
  const feCopy = structuredClone(fe);
  deepFreeze(fe);
  deepFreeze(be);
  validateSpec(fe);
  validateSpec(be);
  t.deepEqual(fe, feCopy);
});

// ---------------------------------------------------------------- keys from files and Secrets

test('key files are read relative to baseDir; a Secret is accepted inline', (t) => {
  withTempDir((dir) => {
    mkdirSync(join(dir, 'keys'));
    writeFileSync(join(dir, 'keys', 'wg0.key'), `${KEYS.frontendPrivate}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'home.psk'), `  ${KEYS.psk}\r\n`, { mode: 0o600 });
    const spec = frontendSpec();
    spec.tunnel = { ...spec.tunnel, privateKey: undefined, privateKeyFile: 'keys/wg0.key' };
    spec.tunnel.peers[0] = { ...spec.tunnel.peers[0]!, presharedKey: undefined, presharedKeyFile: join(dir, 'home.psk') };
    spec.tunnel.peers[1] = { name: 'office', publicKey: KEYS.officePublic, addresses: ['10.0.0.3'], presharedKey: new Secret(KEYS.psk) };
    const c = validateSpec(spec, { baseDir: dir, enforceKeyFilePermissions: true });
    t.is(c.tunnel.privateKey!.reveal(), KEYS.frontendPrivate);
    t.is(c.tunnel.privateKeyFile, join(dir, 'keys', 'wg0.key'));
    t.is(c.tunnel.peers[0]!.presharedKey!.reveal(), KEYS.psk);
    t.is(c.tunnel.peers[0]!.presharedKeyFile, join(dir, 'home.psk'));
    t.is(c.tunnel.peers[1]!.presharedKey!.reveal(), KEYS.psk);
    t.is(c.tunnel.peers[1]!.presharedKeyFile, undefined);
  });
});

test('key file permissions are enforced only when asked: 0644 refused, 0600 and 0400 accepted', (t) => {
  withTempDir((dir) => {
    const key = join(dir, 'wg0.key');
    writeFileSync(key, `${KEYS.frontendPrivate}\n`);
    const spec = frontendSpec();
    spec.tunnel = { ...spec.tunnel, privateKey: undefined, privateKeyFile: key };
    chmodSync(key, 0o644);
    t.is(validateSpec(spec).tunnel.privateKey!.reveal(), KEYS.frontendPrivate);
    const e = t.throws(() => validateSpec(spec, { enforceKeyFilePermissions: true }), { instanceOf: ConfigError });
    t.is(e.field, 'tunnel.privateKeyFile');
    t.true(e.expected!.includes(`chmod 600 ${key}`));
    chmodSync(key, 0o600);
    t.is(validateSpec(spec, { enforceKeyFilePermissions: true }).tunnel.privateKeyFile, key);
    chmodSync(key, 0o400);
    t.is(validateSpec(spec, { enforceKeyFilePermissions: true }).tunnel.privateKeyFile, key);
  });
});

test('an injected reader serves key files', (t) => {
  const spec = frontendSpec();
  spec.tunnel = { ...spec.tunnel, privateKey: undefined, privateKeyFile: 'wg0.key' };
  const seen: string[] = [];
  const c = validateSpec(spec, {
    baseDir: '/etc/netfwd',
    readFile: (path) => {
      seen.push(path);
      return { data: Buffer.from(`${KEYS.frontendPrivate}\n`), mode: 0o100600 };
    },
    enforceKeyFilePermissions: true,
  });
  t.deepEqual(seen, ['/etc/netfwd/wg0.key']);
  t.is(c.tunnel.privateKeyFile, '/etc/netfwd/wg0.key');
});

// ---------------------------------------------------------------- configuration files

test('the same spec from TypeScript, YAML and JSON normalises identically', (t) => {
  withTempDir((dir) => {
    for (const spec of [frontendSpec(), backendSpec()]) {
      const fromTs = comparable(validateSpec(spec));
      const yamlFile = join(dir, `${spec.role}.yaml`);
      const jsonFile = join(dir, `${spec.role}.json`);
      const sniffedFile = join(dir, `${spec.role}.conf`);
      writeFileSync(yamlFile, toYaml(spec), { mode: 0o600 });
      writeFileSync(jsonFile, JSON.stringify(spec, null, '\t'), { mode: 0o600 });
      writeFileSync(sniffedFile, JSON.stringify(spec), { mode: 0o600 });
      t.deepEqual(comparable(loadConfigFile(yamlFile, { enforcePermissions: true })), fromTs);
      t.deepEqual(comparable(loadConfigFile(jsonFile, { enforcePermissions: true })), fromTs);
      t.deepEqual(comparable(loadConfigFile(sniffedFile, { enforcePermissions: true })), fromTs);
      t.deepEqual(comparable(parseConfig(toYaml(spec))), fromTs);
    }
  });
});

/** The config with Secrets revealed, for deep comparison. */
function comparable(c: NormalizedConfig): unknown {
  return JSON.parse(JSON.stringify(c, (_k, v: unknown) => (v instanceof Secret ? `secret:${v.reveal()}` : v)));
}

test('a YAML file as an operator writes it, with key files next to it', (t) => {
  withTempDir((dir) => {
    const etc = join(dir, 'etc', 'netfwd');
    mkdirSync(etc, { recursive: true });
    writeFileSync(join(etc, 'wg0.key'), `${KEYS.backendPrivate}\n`, { mode: 0o600 });
    writeFileSync(join(etc, 'vps.psk'), `${KEYS.psk}\n`, { mode: 0o600 });
    const file = join(etc, 'backend.yaml');
    writeFileSync(
      file,
      [
        '# The home node behind the VPS',
        'role: backend',
        'tunnel:',
        '  interface: wg0',
        '  addresses: [10.0.0.2/24, "fd00::2/64"]',
        '  privateKeyFile: wg0.key',
        '  peer:',
        `    publicKey: ${KEYS.frontendPublic}`,
        '    endpoint: 203.0.113.1:51820',
        '    presharedKeyFile: ./vps.psk',
        'returnPath:',
        '  mode: uid',
        '  uids: [1000-1001]',
        '  exclude:',
        '    - 192.168.1.0/24',
        '    - fd12:3456::/48',
        'services:',
        '  - { protocol: tcp, port: 9735 }',
        '',
      ].join('\n'),
    );
    chmodSync(file, 0o644); // no key inline: readable is fine
    const c = loadConfigFile(file, { enforcePermissions: true });
    t.is(c.role, 'backend');
    if (c.role !== 'backend') return;
    t.is(c.tunnel.privateKeyFile, join(etc, 'wg0.key'));
    t.is(c.tunnel.peer!.presharedKeyFile, join(etc, 'vps.psk'));
    t.deepEqual(c.returnPath.mode === 'uid' && c.returnPath.uids, [{ from: 1000, to: 1001 }]);
    t.deepEqual(c.returnPath.mode === 'uid' && c.returnPath.exclude.map((e) => e.cidr), ['192.168.1.0/24', 'fd12:3456::/48']);
  });
});

test('a configuration file with inline keys: 0600 accepted, 0644 refused only when enforcing', (t) => {
  withTempDir((dir) => {
    const file = join(dir, 'frontend.yaml');
    writeFileSync(file, toYaml(frontendSpec()));
    chmodSync(file, 0o600);
    t.is(loadConfigFile(file, { enforcePermissions: true }).role, 'frontend');
    chmodSync(file, 0o644);
    t.is(loadConfigFile(file).role, 'frontend');
    const e = t.throws(() => loadConfigFile(file, { enforcePermissions: true }), { instanceOf: ConfigError });
    t.is(e.field, 'tunnel.privateKey');
    t.regex(e.message, new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:3: tunnel\\.privateKey: `));
    t.true(e.expected!.includes(`chmod 600 ${file}`));
    t.false(containsSecret(e.message));
  });
});

test('validation errors from a file point at the line and column of the field', (t) => {
  const text = [
    'role: backend',
    'tunnel:',
    '  interface: wg0',
    '  addresses: [10.0.0.2/24]',
    `  privateKey: ${KEYS.backendPrivate}`,
    '  peer:',
    `    publicKey: ${KEYS.frontendPublic}`,
    '    endpoint: 203.0.113.1:51820',
    'returnPath:',
    '  mode: uid',
    '  uids: [1000, 1000]',
    'services: []',
    '',
  ].join('\n');
  const e = t.throws(() => parseConfig(text, { fileName: 'home.yaml' }), { instanceOf: ConfigError });
  t.is(e.field, 'returnPath.uids[1]');
  t.regex(e.message, /^home\.yaml:11:16: returnPath\.uids\[1\]: 1000 overlaps returnPath\.uids\[0\]/);
});

// ---------------------------------------------------------------- secrets never print

test('a Secret prints as (hidden) everywhere and reveals only on request', (t) => {
  const s = new Secret(KEYS.frontendPrivate);
  t.is(String(s), '(hidden)');
  t.is(`${s}`, '(hidden)');
  t.is('' + s, '(hidden)');
  t.is(s.toString(), '(hidden)');
  t.is(JSON.stringify(s), '"(hidden)"');
  t.is(JSON.stringify({ s }), '{"s":"(hidden)"}');
  t.is(inspect(s), '(hidden)');
  t.is(inspect({ s }, { depth: 5, showHidden: true }), '{ s: (hidden) }');
  t.is(format('%s %o %O %j', s, s, s, s), '(hidden) (hidden) (hidden) "(hidden)"');
  t.false(containsSecret(inspect(s, { customInspect: false, showHidden: true, depth: Infinity })));
  t.deepEqual(Reflect.ownKeys(s), []);
  t.deepEqual(Object.keys(s), []);
  t.deepEqual({ ...s }, {});
  t.is(Object.prototype.toString.call(s), '[object Secret]');
  t.false(containsSecret(inspect(structuredClone({ s }))));
  t.false(containsSecret(new Error(`failed with ${s}`).message));
  t.is(s.reveal(), KEYS.frontendPrivate);
  t.deepEqual(s.bytes(), Buffer.from(KEYS.frontendPrivate, 'base64'));
  t.true(s.equals(new Secret(KEYS.frontendPrivate)));
  t.false(s.equals(new Secret(KEYS.backendPrivate)));
  t.true(Object.isFrozen(s));
});

test('a normalised config shows no key in inspect, JSON, String or console output', (t) => {
  withTempDir((dir) => {
    writeFileSync(join(dir, 'wg0.key'), `${KEYS.backendPrivate}\n`, { mode: 0o600 });
    const be = backendSpec();
    be.tunnel = { ...be.tunnel!, privateKey: undefined, privateKeyFile: 'wg0.key' };
    const configs: NormalizedConfig[] = [validateSpec(frontendSpec()), validateSpec(be, { baseDir: dir })];
    for (const c of configs) {
      for (const text of [
        inspect(c, { depth: Infinity, showHidden: true }),
        JSON.stringify(c),
        `${JSON.stringify(c, null, 2)}`,
        format('%o', c),
        format('%j', c),
        String(c.tunnel.privateKey!),
      ]) {
        t.false(containsSecret(text), text.slice(0, 200));
      }
    }
    const fe = configs[0] as NormalizedFrontend;
    t.true(JSON.stringify(fe).includes('"privateKey":"(hidden)"'));
    t.true(JSON.stringify(fe).includes('"presharedKey":"(hidden)"'));
  });
});

// ---------------------------------------------------------------- the configuration reference

test('the complete examples of docs/config-reference.md are valid', (t) => {
  const doc = readFileSync(join(import.meta.dirname, '../../docs/config-reference.md'), 'utf8');
  const examples = doc.slice(doc.indexOf('## Complete examples'));
  const blocks = [...examples.matchAll(/```(yaml|json)\n([\s\S]*?)```/g)].map((m) => m[2]!);
  const readFile = (path: string) => ({
    data: path.endsWith('.psk') ? KEYS.psk : path.includes('backend') ? KEYS.backendPrivate : KEYS.frontendPrivate,
    mode: 0o100600,
  });
  const full = blocks.filter((b) => b.startsWith('role:'));
  t.is(full.length, 2);
  const fe = parseConfig(full[0]!, { baseDir: '/etc/netfwd/frontend', readFile, enforceKeyFilePermissions: true });
  const be = parseConfig(full[1]!, { baseDir: '/etc/netfwd/backend', readFile, enforceKeyFilePermissions: true });
  t.is(fe.role, 'frontend');
  t.is(be.role, 'backend');
  if (fe.role !== 'frontend' || be.role !== 'backend') return;
  // the two examples agree with each other
  t.is(fe.tunnel.peers[0]!.publicKey, be.tunnel.publicKey);
  t.is(be.tunnel.peer!.publicKey, fe.tunnel.publicKey!);
  t.deepEqual(
    fe.tunnel.peers[0]!.addresses.map((a) => a.address),
    be.tunnel.addresses.map((a) => a.address),
  );
  t.is(be.tunnel.peer!.endpoint.text, `${fe.public.addresses[0]!.address}:${fe.tunnel.listenPort}`);
  t.is(fe.forwards.length, 4);
  // the return-path fragments, each in a backend
  for (const fragment of blocks.filter((b) => b.trimStart().startsWith('{'))) {
    const spec = minimalBackend(JSON.parse(fragment) as BackendSpec['returnPath']);
    t.is(validateSpec(spec).returnPath.mode as string, (JSON.parse(fragment) as { mode: string }).mode);
  }
});

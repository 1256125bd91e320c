/**
 * `netfwd import` and the grammar: prefixes, route destinations and zone ids
 * the translator cannot take are a typed ImportError at their line, never a
 * TypeError later and never a spec that netfwd's validator refuses.
 */
import test from 'ava';
import type { NormalizedBackend } from '../../src/forward/spec/normalized-config.js';
import { ImportError, type ImportResult, importConfig } from '../../src/import/index.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';

const K = { back: generatePrivateKey().toBase64(), front: generatePrivateKey().toBase64() };
const PUB_FRONT = publicKey(K.front);
const lines = (...l: string[]) => `${l.join('\n')}\n`;
const run = (files: Record<string, string>): ImportResult =>
  importConfig(
    Object.entries(files).map(([path, text]) => ({ path, text })),
    { output: '/nonexistent-import-test/out.yaml' },
  );

function backendConf(extra: string[] = [], endpoint = '203.0.113.1:51820', address = '10.0.0.2/24'): string {
  return lines(
    '[Interface]',
    `Address = ${address}`,
    `PrivateKey = ${K.back}`,
    'Table = 5001',
    ...extra,
    '',
    '[Peer]',
    `PublicKey = ${PUB_FRONT}`,
    `Endpoint = ${endpoint}`,
    'AllowedIPs = 0.0.0.0/0',
  );
}

function throwsAt(t: import('ava').ExecutionContext, fn: () => unknown, file: string, line: number, pattern: RegExp): void {
  const e = t.throws(fn);
  t.true(e instanceof ImportError, `an ImportError, not ${e?.name}: ${e?.message}`);
  if (!(e instanceof ImportError)) return;
  t.is(e.file, file);
  t.is(e.line, line);
  t.regex(e.message, pattern);
}

test('an ip rule prefix with a long run of leading zeros in its length is an ImportError at its line, not a TypeError', (t) => {
  const conf = backendConf(['PostUp = ip rule add priority 90 to 10.0.0.0/0008 uidrange 1000-1002 lookup 5001']);
  throwsAt(t, () => run({ 'wg0.conf': conf }), 'wg0.conf', 5, /to "10\.0\.0\.0\/0008" is not an address or prefix/);
  // What `ip` prints and the importer always took still works.
  const ok = run({ 'wg0.conf': backendConf(['PostUp = ip rule add priority 90 from all uidrange 1000-1002 lookup 5001']) });
  t.is((ok.config as NormalizedBackend).returnPath.mode, 'uid');
});

test('a NetworkManager route with a prefix length out of range, or a second "/", is an ImportError, not a default route', (t) => {
  const keyfile = (route: string) =>
    lines(
      '[connection]',
      'type=wireguard',
      'interface-name=wgback',
      '[wireguard]',
      `private-key=${K.back}`,
      `[wireguard-peer.${PUB_FRONT}]`,
      'endpoint=203.0.113.1:51820',
      'allowed-ips=0.0.0.0/0;',
      '[ipv4]',
      'address1=10.0.0.2/24',
      'route-table=5002',
      'routing-rule1=priority 110 uidrange 1000-1000 table 5002',
      `route1=${route}`,
    );
  const f = 'w.nmconnection';
  throwsAt(
    t,
    () => run({ [f]: keyfile('192.168.1.0/99,10.0.0.1') }),
    f,
    13,
    /route "192\.168\.1\.0\/99,10\.0\.0\.1" does not start with a destination prefix/,
  );
  throwsAt(t, () => run({ [f]: keyfile('192.168.1.0/24/0') }), f, 13, /does not start with a destination prefix/);
  const r = run({ [f]: keyfile('192.168.1.0/24') });
  const rp = (r.config as NormalizedBackend).returnPath as { exclude?: Array<{ cidr: string }> };
  t.deepEqual(
    rp.exclude?.map((e) => e.cidr),
    ['192.168.1.0/24'],
  );
});

test('zone ids, which netfwd does not take, are an ImportError where they are written', (t) => {
  throwsAt(
    t,
    () => run({ 'wg0.conf': backendConf([], '[fe80::1%eth0]:51820') }),
    'wg0.conf',
    8,
    /Endpoint "\[fe80::1%eth0\]:51820" has a zone id/,
  );
  throwsAt(
    t,
    () => run({ 'wg0.conf': backendConf([], undefined, 'fe80::2%eth0/64') }),
    'wg0.conf',
    2,
    /Address "fe80::2%eth0\/64" has a zone id/,
  );
  throwsAt(
    t,
    () => run({ 'wg0.conf': backendConf(['PostUp = ip -6 route add fd00:1::/64 via fe80::1%eth0 table 5001']) }),
    'wg0.conf',
    5,
    /via "fe80::1%eth0" is not an address/,
  );
  throwsAt(
    t,
    () => run({ 'wg0.conf': backendConf(['PostUp = ip -6 rule add priority 90 to fd00::%eth0/64 uidrange 1000-1002 lookup 5001']) }),
    'wg0.conf',
    5,
    /is not an address or prefix/,
  );
});

test('policy routing whose only rules select by destination or are negated is an ImportError naming the rule, not a TypeError', (t) => {
  throwsAt(
    t,
    () => run({ 'wg0.conf': backendConf(['PostUp = ip rule add priority 90 to 10.0.0.0/8 uidrange 1000-1002 lookup 5001']) }),
    'wg0.conf',
    5,
    /no routing rule into table 5001 netfwd can translate \(a destination selector \(to 10\.0\.0\.0\/8\)\)/,
  );
  throwsAt(
    t,
    () => run({ 'wg0.conf': backendConf(['PostUp = ip rule add priority 90 not from all uidrange 1000-1002 lookup 5001']) }),
    'wg0.conf',
    5,
    /a negated rule/,
  );
});

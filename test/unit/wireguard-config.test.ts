/**
 * Validation of configure() input: every bad key, endpoint, CIDR or number is
 * a ValidationError naming the field, raised before anything is sent.
 */
import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import { normalizeAllowedIp, parseConfig, parseConfigSync, validateInterfaceName } from '../../src/wireguard/config.js';
import { decodeSockaddr, encodeSockaddr, formatEndpoint, isResolved, parseEndpoint } from '../../src/wireguard/endpoint.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/keys.js';
import type { WireGuardConfig } from '../../src/wireguard/types.js';
import { ipv4At, ipv4Bytes } from '../../src/wireguard/ipv4.js';
import { parseIPv4 } from '../../src/netlink/ip.js';

const KEY = publicKey(generatePrivateKey());
const KEY2 = publicKey(generatePrivateKey());

function rejects(t: import('ava').ExecutionContext, config: unknown, field: string) {
  const err = t.throws(() => parseConfigSync(config as WireGuardConfig), { instanceOf: ValidationError }, JSON.stringify(config));
  t.is(err?.field, field, err?.message);
}

test('bad device fields', (t) => {
  rejects(t, { privateKey: 'x' }, 'privateKey');
  rejects(t, { privateKey: KEY.slice(1) }, 'privateKey');
  rejects(t, { listenPort: 65536 }, 'listenPort');
  rejects(t, { listenPort: -1 }, 'listenPort');
  rejects(t, { listenPort: 1.5 }, 'listenPort');
  rejects(t, { listenPort: '51820' }, 'listenPort');
  rejects(t, { fwmark: 2 ** 32 }, 'fwmark');
  rejects(t, { replacePeers: 'yes' }, 'replacePeers');
  rejects(t, { peers: {} }, 'peers');
  rejects(t, { privateKey: KEY, listenport: 1 }, 'listenport');
  rejects(t, null, 'config');
});

test('bad peer fields name the peer and the field', (t) => {
  rejects(t, { peers: [{ publicKey: KEY }, { publicKey: 'AAAA' }] }, 'peers[1].publicKey');
  rejects(t, { peers: [{}] }, 'peers[0].publicKey');
  rejects(t, { peers: [{ publicKey: KEY }, { publicKey: KEY }] }, 'peers[1].publicKey');
  rejects(t, { peers: [{ publicKey: KEY, presharedKey: 'short' }] }, 'peers[0].presharedKey');
  rejects(t, { peers: [{ publicKey: KEY, persistentKeepalive: 70000 }] }, 'peers[0].persistentKeepalive');
  rejects(t, { peers: [{ publicKey: KEY, allowedIps: '10.0.0.0/8' }] }, 'peers[0].allowedIps');
  rejects(t, { peers: [{ publicKey: KEY, allowedIps: ['10.0.0.0/8', '10.0.0.0/33'] }] }, 'peers[0].allowedIps[1]');
  rejects(t, { peers: [{ publicKey: KEY, allowedIps: ['10.0.0.256/32'] }] }, 'peers[0].allowedIps[0]');
  rejects(t, { peers: [{ publicKey: KEY, allowedIps: ['fd00::/129'] }] }, 'peers[0].allowedIps[0]');
  rejects(t, { peers: [{ publicKey: KEY, allowedIps: ['010.0.0.0/8'] }] }, 'peers[0].allowedIps[0]');
  rejects(t, { peers: [{ publicKey: KEY, allowedIps: ['10.0.0.0/08'] }] }, 'peers[0].allowedIps[0]');
  rejects(t, { peers: [{ publicKey: KEY, allowedIps: ['example.org/32'] }] }, 'peers[0].allowedIps[0]');
  rejects(t, { peers: [{ publicKey: KEY, allowedIps: [42] }] }, 'peers[0].allowedIps[0]');
  rejects(t, { peers: [{ publicKey: KEY, remove: true, allowedIps: ['10.0.0.1/32'] }] }, 'peers[0].remove');
  rejects(t, { peers: [{ publicKey: KEY, updateOnly: 1 }] }, 'peers[0].updateOnly');
  rejects(t, { peers: [{ publicKey: KEY, allowedIPs: [] }] }, 'peers[0].allowedIPs');
});

test('bad endpoints', (t) => {
  const bad = [
    '192.0.2.1',
    '192.0.2.1:',
    '192.0.2.1:0',
    '192.0.2.1:65536',
    '192.0.2.1:0080',
    '192.0.2.1:port',
    '2001:db8::1:51820', // IPv6 without brackets
    '[2001:db8::1]',
    '[2001:db8::1]51820',
    '[2001:db8::g]:51820',
    '[fe80::1%eth0]:51820',
    '[192.0.2.1]:51820',
    '300.0.0.1:51820',
    '1.2.3:51820',
    ':51820',
    'bad host!:51820',
    '-leading.example:51820',
  ];
  for (const e of bad) rejects(t, { peers: [{ publicKey: KEY, endpoint: e }] }, 'peers[0].endpoint');
  rejects(t, { peers: [{ publicKey: KEY, endpoint: 51820 }] }, 'peers[0].endpoint');
});

test('good endpoints: text, sockaddr and back', (t) => {
  const cases: Array<[string, string, number]> = [
    ['192.0.2.1:51820', '192.0.2.1:51820', 16],
    ['[2001:db8::1]:1', '[2001:db8::1]:1', 28],
    ['[2001:DB8:0:0::1]:65535', '[2001:db8::1]:65535', 28],
    ['[fe80::1%3]:51820', '[fe80::1%3]:51820', 28],
    ['[::ffff:192.0.2.1]:51820', '[::ffff:192.0.2.1]:51820', 28],
  ];
  for (const [input, text, size] of cases) {
    const e = parseEndpoint(input, 'e');
    if (!isResolved(e)) return t.fail(input);
    t.is(formatEndpoint(e), text);
    const sa = encodeSockaddr(e);
    t.is(sa.length, size);
    t.is(formatEndpoint(decodeSockaddr(sa)!), text);
  }
  t.is(decodeSockaddr(Buffer.alloc(16)), undefined, 'AF_UNSPEC: no endpoint');
  const host = parseEndpoint('vpn.example.org:51820', 'e');
  t.false(isResolved(host));
  t.deepEqual(host, { host: 'vpn.example.org', port: 51820 });
});

test('host names are resolved before anything is sent; failures are ValidationErrors', async (t) => {
  const parsed = await parseConfig({ peers: [{ publicKey: KEY, endpoint: 'localhost:51820' }] });
  const e = parsed.peers[0]!.endpoint!;
  t.true(['127.0.0.1:51820', '[::1]:51820'].includes(formatEndpoint(e)), formatEndpoint(e));
  const err = await t.throwsAsync(parseConfig({ peers: [{ publicKey: KEY }, { publicKey: KEY2, endpoint: 'no-such-host.invalid:51820' }] }), { instanceOf: ValidationError });
  t.is(err?.field, 'peers[1].endpoint');
});

test('a valid configuration', (t) => {
  const { parsed, pending } = parseConfigSync({
    privateKey: null,
    listenPort: 0,
    fwmark: 0,
    peers: [
      { publicKey: KEY, presharedKey: null, endpoint: '[2001:db8::1]:51820', persistentKeepalive: 0, allowedIps: ['10.0.0.1', 'fd00::/64'], replaceAllowedIps: true },
      { publicKey: KEY2, remove: true },
    ],
  });
  t.is(pending.length, 0);
  t.deepEqual(parsed.privateKey, Buffer.alloc(32), 'null removes: 32 zero bytes');
  t.deepEqual(parsed.peers[0]!.presharedKey, Buffer.alloc(32));
  t.is(parsed.peers[0]!.allowedIps[0]!.length, 32, 'a bare address is a host prefix');
  t.true(parsed.peers[1]!.remove);
});

test('normalizeAllowedIp prints prefixes as wg does', (t) => {
  t.is(normalizeAllowedIp('10.0.0.7/24'), '10.0.0.0/24');
  t.is(normalizeAllowedIp('10.0.0.7'), '10.0.0.7/32');
  t.is(normalizeAllowedIp('FD00:0000::1/64'), 'fd00::/64');
  t.is(normalizeAllowedIp('::/0'), '::/0');
  t.is(normalizeAllowedIp('0.0.0.0/0'), '0.0.0.0/0');
  t.throws(() => normalizeAllowedIp('10.0.0.0/40'), { instanceOf: ValidationError });
});

test('interface names', (t) => {
  for (const good of ['wg0', 'a', 'x'.repeat(15), 'wg-front_1.2']) t.is(validateInterfaceName(good), good);
  for (const bad of ['', 'x'.repeat(16), 'a/b', 'a b', 'a:b', '.', '..', 'é'.repeat(8), 7]) {
    t.throws(() => validateInterfaceName(bad), { instanceOf: ValidationError }, String(bad));
  }
});

test('the fast IPv4 parser accepts exactly what the core parser accepts', (t) => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000);
  const alphabet = '0123456789.....//:x ';
  const samples = ['0.0.0.0', '255.255.255.255', '1.2.3.4', '01.2.3.4', '1.2.3', '1.2.3.4.', '256.1.1.1', '1..2.3', '', '1.2.3.4 ', '00.0.0.0', '0.0.0.00'];
  for (let i = 0; i < 20000; i++) {
    const len = 1 + Math.floor(rand() * 16);
    let s = '';
    for (let j = 0; j < len; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
    samples.push(s);
    samples.push(`${Math.floor(rand() * 300)}.${Math.floor(rand() * 300)}.${Math.floor(rand() * 300)}.${Math.floor(rand() * 300)}`);
  }
  for (const s of samples) {
    const core = parseIPv4(s);
    const fast = ipv4At(s, 0, s.length);
    t.is(fast >= 0 ? ipv4Bytes(fast).toString('hex') : undefined, core?.toString('hex'), JSON.stringify(s));
  }
});

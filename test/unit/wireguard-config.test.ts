/**
 * Validation of configure() input: every bad key, endpoint, CIDR or number is
 * a ValidationError naming the field, raised before anything is sent.
 */
import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import {
  decimalAt,
  ipv4At,
  ipv4Bytes,
  IPV4_ENDPOINT_TEXT as V4_ENDPOINT_TEXT,
  IPV4_PREFIX_TEXT as V4_PREFIX_TEXT,
} from '../../src/grammar/index.js';
import { parseIPv4 } from '../../src/netlink/ip.js';
import {
  fastPeer,
  normalizeAllowedIp,
  type ParsedPeer,
  parseConfig,
  parseConfigSync,
  parsePeer,
  validateInterfaceName,
} from '../../src/wireguard/config.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/curve25519.js';
import { formatEndpoint, isResolved, parseEndpoint } from '../../src/wireguard/endpoint.js';
import { encodeSetDevice, setDeviceMessages } from '../../src/wireguard/kernel/configure.js';
import { decodeSockaddr, encodeSockaddr } from '../../src/wireguard/kernel/sockaddr.js';
import type { WireGuardConfig, WireGuardPeerConfig } from '../../src/wireguard/types.js';
import { encodeUapiSet } from '../../src/wireguard/userspace/configure.js';

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
  const err = await t.throwsAsync(
    parseConfig({ peers: [{ publicKey: KEY }, { publicKey: KEY2, endpoint: 'no-such-host.invalid:51820' }] }),
    { instanceOf: ValidationError },
  );
  t.is(err?.field, 'peers[1].endpoint');
});

test('a valid configuration', (t) => {
  const { parsed, pending } = parseConfigSync({
    privateKey: null,
    listenPort: 0,
    fwmark: 0,
    peers: [
      {
        publicKey: KEY,
        presharedKey: null,
        endpoint: '[2001:db8::1]:51820',
        persistentKeepalive: 0,
        allowedIps: ['10.0.0.1', 'fd00::/64'],
        replaceAllowedIps: true,
      },
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
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  const alphabet = '0123456789.....//:x ';
  const samples = [
    '0.0.0.0',
    '255.255.255.255',
    '1.2.3.4',
    '01.2.3.4',
    '1.2.3',
    '1.2.3.4.',
    '256.1.1.1',
    '1..2.3',
    '',
    '1.2.3.4 ',
    '00.0.0.0',
    '0.0.0.00',
  ];
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

const PEER_FIELDS = [
  'index',
  'publicKey',
  'presharedKey',
  'endpoint',
  'persistentKeepalive',
  'allowedIps',
  'removeAllowedIps',
  'replaceAllowedIps',
  'remove',
  'updateOnly',
];

/** Every field of a parsed peer as a plain object (a fast-path peer makes its byte forms when read). */
function plainPeer(p: ParsedPeer): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of PEER_FIELDS) {
    const v = (p as unknown as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = k === 'index' ? 0 : Array.isArray(v) ? [...v] : v;
  }
  return out;
}

test('the fast peer path accepts a subset of what the field-by-field path accepts, with the same result', (t) => {
  let seed = 11;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const psk = publicKey(generatePrivateKey());
  const keys = [
    KEY,
    KEY2,
    `${KEY.slice(0, 42)}B=`,
    KEY.slice(0, 43),
    `${KEY.slice(0, 43)}A`,
    'AAAA',
    `${KEY.slice(0, 10)}-${KEY.slice(11)}`,
    `${KEY.slice(0, 10)}é${KEY.slice(11)}`,
    42,
    null,
  ];
  const endpoints = [
    '192.0.2.1:51820',
    '192.0.2.1:0',
    '192.0.2.1:65536',
    '192.0.2.1:065',
    '192.0.2.256:1',
    '[2001:db8::1]:51820',
    '2001:db8::1:1',
    'vpn.example:1',
    '192.0.2.1',
    ':1',
    7,
    '198.51.100.7:1',
  ];
  const cidrs = [
    '10.0.0.0/24',
    '10.0.0.7/24',
    '10.0.0.1/32',
    '10.0.0.1/33',
    '10.0.0.1',
    '0.0.0.0/0',
    'fd00::/64',
    '10.0.0.0/024',
    '10.0.0/8',
    'x',
    5,
  ];
  const fields: Array<[string, readonly unknown[]]> = [
    ['presharedKey', [psk, null, 'short', 3, `${psk.slice(0, 42)}B=`]],
    ['endpoint', endpoints],
    ['persistentKeepalive', [0, 25, 65535, 65536, -1, 1.5, '25']],
    ['allowedIps', [[], ['10.0.0.0/24'], 'x', [pick(cidrs), pick(cidrs)]]],
    ['removeAllowedIps', [[], ['10.0.1.0/24']]],
    ['replaceAllowedIps', [true, false, 'yes']],
    ['remove', [true, false, 1]],
    ['updateOnly', [true, false, null]],
    ['unknownField', [1]],
  ];
  let fast = 0;
  let slowOnly = 0;
  for (let i = 0; i < 20000; i++) {
    const p: Record<string, unknown> = { publicKey: rand() < 0.8 ? KEY : pick(keys) };
    for (const [name, values] of fields) {
      if (rand() < 0.35)
        p[name] = name === 'allowedIps' && rand() < 0.5 ? [pick(cidrs), pick(cidrs)].slice(0, 1 + Math.floor(rand() * 2)) : pick(values);
    }
    if (rand() < 0.02) delete p.publicKey;
    const peer = p as never;
    const got = fastPeer(peer);
    let want: unknown;
    try {
      want = parsePeer(peer, 0, new Map(), []);
      for (const k of Object.keys(want as object)) t.true(PEER_FIELDS.includes(k), `ParsedPeer field ${k} is not compared here`);
    } catch (err) {
      t.true(err instanceof ValidationError, String(err));
      t.is(got, undefined, `the fast path accepted what is refused: ${JSON.stringify(p)}`);
      continue;
    }
    if (got === undefined) {
      slowOnly++;
      continue;
    }
    fast++;
    t.deepEqual(plainPeer(got), plainPeer(want as ParsedPeer), JSON.stringify(p));
  }
  // Both paths were exercised: common peers go fast, the rest by field.
  t.true(fast > 1000, `${fast} peers took the fast path`);
  t.true(slowOnly > 100, `${slowOnly} valid peers were left to the field-by-field path`);
  // The shapes of a large configuration take the fast path.
  for (const p of [
    { publicKey: KEY, endpoint: '192.0.2.1:51820', persistentKeepalive: 25, allowedIps: ['10.0.0.0/30'], replaceAllowedIps: true },
    { publicKey: KEY, presharedKey: psk, allowedIps: ['10.0.0.1/32', '10.0.1.0/24'] },
    { publicKey: KEY, presharedKey: null, updateOnly: true },
    { publicKey: KEY, remove: true },
  ]) {
    t.not(fastPeer(p), undefined, JSON.stringify(p));
  }
});

test('the endpoint and prefix expressions accept exactly what the character parsers accept', (t) => {
  let seed = 5;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  const num = () =>
    String(
      pick([
        0,
        1,
        9,
        10,
        32,
        33,
        99,
        100,
        199,
        200,
        249,
        250,
        255,
        256,
        999,
        1000,
        9999,
        10000,
        65535,
        65536,
        99999,
        100000,
        Math.floor(rand() * 70000),
      ]),
    );
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const alphabet = '0123456789..:/x';
  const samples = [
    '1.2.3.4:1',
    '1.2.3.4:0',
    '1.2.3.4:01',
    '1.2.3.4:65535',
    '1.2.3.4:65536',
    '0.0.0.0/0',
    '1.2.3.4/32',
    '1.2.3.4/33',
    '1.2.3.4/032',
    '01.2.3.4/8',
    '1.2.3.4/',
    '1.2.3.4:',
  ];
  for (let i = 0; i < 30000; i++) {
    const quad = `${num()}.${num()}.${num()}.${num()}`;
    const lead = rand() < 0.1 ? '0' : '';
    samples.push(`${quad}:${lead}${num()}`, `${quad}/${lead}${num()}`);
    let s = '';
    for (let j = 0, n = 1 + Math.floor(rand() * 20); j < n; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
    samples.push(s);
  }
  let endpoints = 0;
  let prefixes = 0;
  for (const s of samples) {
    const sep = s.lastIndexOf(':');
    const port = sep > 0 && ipv4At(s, 0, sep) >= 0 ? decimalAt(s, sep + 1, s.length, 65535) : -1;
    t.is(V4_ENDPOINT_TEXT.test(s), port > 0, `endpoint ${JSON.stringify(s)}`);
    const slash = s.indexOf('/');
    const length = slash > 0 && ipv4At(s, 0, slash) >= 0 ? decimalAt(s, slash + 1, s.length, 32) : -1;
    t.is(V4_PREFIX_TEXT.test(s), length >= 0, `prefix ${JSON.stringify(s)}`);
    if (port > 0) endpoints++;
    if (length >= 0) prefixes++;
  }
  t.true(endpoints > 1000 && prefixes > 500, `${endpoints} valid endpoints, ${prefixes} valid prefixes among the samples`);
});

test('a fast-path peer writes the same UAPI text and netlink bytes as the same peer validated field by field', (t) => {
  let seed = 3;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
  const octet = () => String(Math.floor(rand() * 256));
  const fast: ParsedPeer[] = [];
  const slow: ParsedPeer[] = [];
  for (let i = 0; i < 3000; i++) {
    const p: WireGuardPeerConfig = { publicKey: publicKey(generatePrivateKey()) };
    if (rand() < 0.7) p.endpoint = `${octet()}.${octet()}.${octet()}.${octet()}:${1 + Math.floor(rand() * 65535)}`;
    if (rand() < 0.5) p.persistentKeepalive = Math.floor(rand() * 65536);
    if (rand() < 0.3) p.presharedKey = rand() < 0.5 ? null : publicKey(generatePrivateKey());
    if (rand() < 0.9) {
      // Host bits set or clear, every length from /0 to /32.
      p.allowedIps = Array.from(
        { length: Math.floor(rand() * 4) },
        () => `${octet()}.${octet()}.${octet()}.${octet()}/${Math.floor(rand() * 33)}`,
      );
    }
    if (rand() < 0.5) p.replaceAllowedIps = true;
    if (rand() < 0.1) p.updateOnly = true;
    const f = fastPeer(p);
    t.not(f, undefined, JSON.stringify(p));
    fast.push(Object.assign(f!, { index: i }));
    slow.push(parsePeer(p, i, new Map(), []));
  }
  const config = { privateKey: Buffer.alloc(32, 7), listenPort: 51820, replacePeers: true };
  t.is(encodeUapiSet({ ...config, peers: fast }), encodeUapiSet({ ...config, peers: slow }));
  const target = { ifindex: 7 };
  const bytes = (peers: ParsedPeer[]) => Buffer.concat(encodeSetDevice(target, { ...config, peers }).map((m) => m.payload));
  t.true(bytes(fast).equals(bytes(slow)), 'SET_DEVICE payloads');
  // Without spans, checked peers are copies of their shape's template: the same
  // messages, also where small messages split peers (down to the smallest budget).
  for (const budget of [32 * 1024, 4096, 1000, 0]) {
    const messages = (peers: ParsedPeer[]) =>
      [...setDeviceMessages(target, { ...config, peers }, budget, false)].map((m) => m.payload.toString('hex'));
    const want = messages(slow);
    t.deepEqual(messages(fast), want, `budget ${budget}`);
    t.true(want.length > 1, `budget ${budget}: ${want.length} messages`);
  }
});

test("a checked peer keeps what was checked: changing the caller's objects afterwards changes nothing sent", (t) => {
  const input = { publicKey: KEY, endpoint: '192.0.2.1:51820', allowedIps: ['10.0.0.0/24', '10.0.1.0/24'], persistentKeepalive: 25 };
  const config = { peers: [input] };
  const { parsed } = parseConfigSync(config);
  const want = encodeUapiSet(parsed);
  input.publicKey = 'not a key';
  input.endpoint = 'nowhere';
  input.allowedIps[0] = 'x';
  input.allowedIps.push('10.9.9.0/24');
  t.is(encodeUapiSet(parsed), want);
  t.regex(want, /allowed_ip=10\.0\.0\.0\/24\nallowed_ip=10\.0\.1\.0\/24\n\n$/);
  t.is(parsed.peers[0]!.publicKey.toString('base64'), KEY);
});

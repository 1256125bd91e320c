import test from 'ava';
import {
  type EndpointOptions,
  formatEndpoint,
  IPV4_ENDPOINT_TEXT,
  isIpEndpoint,
  parseEndpoint,
  parseHostname,
} from '../../src/grammar/endpoint.js';
import { mutate, randomBytes, rng } from '../helpers/random.js';

/** The result as text: the formatted endpoint, or !code. */
const text = (input: unknown, options?: EndpointOptions) => {
  const r = parseEndpoint(input, options);
  return r.ok ? formatEndpoint(r.value) : `!${r.code}`;
};

// The option sets of the callers today (see the report of the grammar helper).
const WIREGUARD: EndpointOptions = { zone: 'numeric', hostnames: { underscore: true, numeric: 'not-all', dotInLength: true } };
const FORWARD: EndpointOptions = { portDigits: 5, hostnames: { numeric: 'letter', canonical: true } };
const IMPORT: EndpointOptions = { portDigits: Infinity, zone: 'any', brackets: 'any', hostnames: { dotInLength: true } };

test('host:port and [IPv6]:port', (t) => {
  t.is(text('192.0.2.1:51820'), '192.0.2.1:51820');
  t.is(text('[2001:DB8::1]:51820'), '[2001:db8::1]:51820');
  t.is(text('[::ffff:192.0.2.1]:1'), '[::ffff:192.0.2.1]:1');
  t.is(text('vpn.example.org:65535'), 'vpn.example.org:65535');
  const v4 = parseEndpoint('192.0.2.1:51820');
  t.true(
    v4.ok &&
      isIpEndpoint(v4.value) &&
      v4.value.family === 4 &&
      v4.value.address.equals(Buffer.from([192, 0, 2, 1])) &&
      v4.value.port === 51820,
  );
  const named = parseEndpoint('vpn.example.org:1');
  t.deepEqual(named.ok && named.value, { host: 'vpn.example.org', port: 1 });
});

test('refused, with a code for each kind', (t) => {
  for (const bad of [
    '192.0.2.1:0',
    '192.0.2.1:65536',
    '192.0.2.1:080',
    '192.0.2.1:',
    '192.0.2.1:x',
    '192.0.2.1: 1',
    '[::1]:0',
    '[::1]:',
    'host:-1',
  ])
    t.is(text(bad), '!port', bad);
  t.is(text('192.0.2.1'), '!no-port');
  t.is(text('vpn'), '!no-port');
  t.is(text('2001:db8::1:51820'), '!brackets');
  t.is(text('a:b:c'), '!brackets');
  t.is(text('[1.2.3.4]:80'), '!brackets');
  t.is(text('[::1]80'), '!syntax');
  t.is(text('[::1:80'), '!syntax');
  t.is(text('[::1%1]:80'), '!zone');
  t.is(text('[]:80'), '!host');
  t.is(text('[vpn.example.org]:80'), '!address');
  t.is(text(':80'), '!host');
  t.is(text('1.2.3.256:80'), '1.2.3.256:80', 'a name of digits, unless refused');
  t.is(text('1.2.3.256:80', { hostnames: { numeric: 'not-all' } }), '!host');
  t.is(text('-vpn.example:80'), '!host');
  t.is(text('vpn..example:80'), '!host');
  t.is(text('a_b.example:80'), '!host');
  t.is(text(51820), '!type');
});

test('host names: labels, length, digits, underscores, trailing dot', (t) => {
  const name = (s: string, o?: Parameters<typeof parseHostname>[1]) => {
    const r = parseHostname(s, o);
    return r.ok ? r.value : `!${r.code}`;
  };
  t.is(name('vpn.example.org'), 'vpn.example.org');
  t.is(name('VPN.Example.org.'), 'VPN.Example.org.');
  t.is(name('VPN.Example.org.', { canonical: true }), 'vpn.example.org');
  t.is(name('a'.repeat(63)), 'a'.repeat(63));
  t.is(name('a'.repeat(64)), '!label');
  t.is(name('-a'), '!label');
  t.is(name('a-'), '!label');
  t.is(name(''), '!length');
  t.is(name('.'), '!length');
  const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`; // 253
  t.is(name(long), long);
  t.is(name(`${long}.`), `${long}.`);
  t.is(name(`${long}.`, { dotInLength: true }), '!length');
  t.is(name(`${long}x`), '!length');
  t.is(name('a_b'), '!label');
  t.is(name('a_b', { underscore: true }), 'a_b');
  t.is(name('_srv.example', { underscore: true }), '_srv.example');
  t.is(name('999.1.1.1'), '999.1.1.1');
  t.is(name('999.1.1.1', { numeric: 'not-all' }), '!numeric');
  t.is(name('a.123', { numeric: 'not-all' }), 'a.123');
  t.is(name('a.123', { numeric: 'letter' }), '!numeric');
  t.is(name('1-2', { numeric: 'not-all' }), '1-2');
  t.is(name('1-2', { numeric: 'letter' }), '!numeric');
  t.is(name('123.example', { numeric: 'letter' }), '123.example');
});

test("WireGuard's options: numeric zone ids, underscores, names not all digits", (t) => {
  t.is(text('[fe80::1%3]:51820', WIREGUARD), '[fe80::1%3]:51820');
  t.is(text('[fe80::1%eth0]:51820', WIREGUARD), '!zone');
  t.is(text('[fe80::1%03]:51820', WIREGUARD), '!zone');
  t.is(text('a_b.example:1', WIREGUARD), 'a_b.example:1');
  t.is(text('1.2.3:1', WIREGUARD), '!host');
  t.is(text('a.123:1', WIREGUARD), 'a.123:1');
  t.is(text('Vpn.Example.:1', WIREGUARD), 'Vpn.Example.:1');
  t.is(text('192.0.2.1:08', WIREGUARD), '!port');
});

test("the spec's options: ports of up to five digits, names with a letter, lower-cased", (t) => {
  t.is(text('192.0.2.1:080', FORWARD), '192.0.2.1:80');
  t.is(text('192.0.2.1:00080', FORWARD), '192.0.2.1:80');
  t.is(text('192.0.2.1:000080', FORWARD), '!port');
  t.is(text('[::1]:00001', FORWARD), '[::1]:1');
  t.is(text('VPN.Example.Org.:51820', FORWARD), 'vpn.example.org:51820');
  t.is(text('1.2.3:1', FORWARD), '!host');
  t.is(text('a.123:1', FORWARD), '!host');
  t.is(text('a_b:1', FORWARD), '!host');
  t.is(text('[fe80::1%1]:1', FORWARD), '!zone');
});

test("the importer's options: any leading zeros, any zone id, any host in brackets", (t) => {
  t.is(text('192.0.2.1:0000000080', IMPORT), '192.0.2.1:80');
  t.is(text('[fe80::1%eth0]:1', IMPORT), '[fe80::1%eth0]:1');
  t.is(text('[192.0.2.1]:1', IMPORT), '192.0.2.1:1');
  t.is(text('[vpn.example.org]:1', IMPORT), 'vpn.example.org:1');
  t.is(text('999.1.1.1:1', IMPORT), '999.1.1.1:1');
  t.is(text('a_b:1', IMPORT), '!host');
  t.is(text('2001:db8::1:1', IMPORT), '!brackets');
});

test('IP literals only', (t) => {
  t.is(text('vpn.example.org:1', { hostnames: false }), '!address');
  t.is(text('192.0.2.1:1', { hostnames: false }), '192.0.2.1:1');
});

test('property: format(parse(x)) round-trips for random IP endpoints', (t) => {
  const r = rng(0x6b7);
  for (let i = 0; i < 20000; i++) {
    const address = randomBytes(r, r(2) === 0 ? 4 : 16);
    const e = {
      family: address.length === 4 ? (4 as const) : (6 as const),
      address,
      port: 1 + r(65535),
      ...(address.length === 16 && r(4) === 0 ? { zone: String(r(100)) } : {}),
    };
    const s = formatEndpoint(e);
    const back = parseEndpoint(s, { zone: 'numeric' });
    if (
      !back.ok ||
      !isIpEndpoint(back.value) ||
      !back.value.address.equals(address) ||
      back.value.port !== e.port ||
      back.value.zone !== e.zone ||
      formatEndpoint(back.value) !== s
    )
      return t.fail(s);
  }
  t.pass();
});

test('property: mutated endpoints either fail or re-format to an endpoint that parses the same', (t) => {
  const r = rng(0x7c5);
  const seeds = ['192.0.2.1:51820', '[2001:db8::1]:51820', 'vpn.example.org:51820', '[fe80::1%3]:80', 'a-b.example:1'];
  for (const options of [{}, WIREGUARD, FORWARD, IMPORT]) {
    for (let i = 0; i < 5000; i++) {
      const s = mutate(r, seeds[r(seeds.length)]!, '0123456789abcdefxyz.:[]%_-', ['0', '::', '65535', '65536', '.', ':', '%1']);
      const p = parseEndpoint(s, options);
      if (!p.ok) continue;
      const again = parseEndpoint(formatEndpoint(p.value), options);
      if (!again.ok || formatEndpoint(again.value) !== formatEndpoint(p.value))
        return t.fail(`${JSON.stringify(s)} with ${JSON.stringify(options)}`);
    }
  }
  t.pass();
});

test('IPV4_ENDPOINT_TEXT accepts exactly the IPv4 endpoints parseEndpoint takes with a canonical port', (t) => {
  const r = rng(0xa07);
  const seeds = ['192.0.2.1:51820', '1.2.3.4:1', '255.255.255.255:65535', '10.0.0.1:65529', '8.8.8.8:9999'];
  for (let i = 0; i < 20000; i++) {
    const s = mutate(r, seeds[r(seeds.length)]!, '0123456789.:x', ['0', '65535', '65536', '6553', ':', '.']);
    const p = parseEndpoint(s, { hostnames: false });
    if (IPV4_ENDPOINT_TEXT.test(s) !== (p.ok && isIpEndpoint(p.value) && p.value.family === 4)) return t.fail(JSON.stringify(s));
  }
  t.pass();
});

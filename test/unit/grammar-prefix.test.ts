import test from 'ava';
import { formatIp } from '../../src/grammar/ip.js';
import {
  commonLength,
  formatPrefix,
  IPV4_PREFIX_TEXT,
  inPrefix,
  isAllOnesHost,
  isNetworkAddress,
  networkAddress,
  type Prefix,
  type PrefixOptions,
  parsePrefix,
  prefixContains,
} from '../../src/grammar/prefix.js';
import { mutate, randomBytes, rng } from '../helpers/random.js';

const text = (input: unknown, options?: PrefixOptions) => {
  const r = parsePrefix(input, options);
  return r.ok ? formatPrefix(r.value) : `!${r.code}`;
};

test('address/length, and a bare address as a host prefix', (t) => {
  t.is(text('192.0.2.0/24'), '192.0.2.0/24');
  t.is(text('192.0.2.1/24'), '192.0.2.1/24', 'host bits kept by default');
  t.is(text('0.0.0.0/0'), '0.0.0.0/0');
  t.is(text('10.0.0.1'), '10.0.0.1/32');
  t.is(text('2001:DB8::/32'), '2001:db8::/32');
  t.is(text('::/0'), '::/0');
  t.is(text('fd00::1'), 'fd00::1/128');
  t.is(text('fd00::1/128'), 'fd00::1/128');
});

test('refused: bad addresses and lengths, with a code for each kind', (t) => {
  for (const bad of [
    '192.0.2.0/',
    '192.0.2.0/33',
    '192.0.2.0/-1',
    '192.0.2.0/ 24',
    '192.0.2.0/24 ',
    '192.0.2.0/024',
    '192.0.2.0/0x18',
    '192.0.2.0/24/1',
    '::/129',
    '::/0128',
  ])
    t.is(text(bad), '!length', bad);
  for (const bad of ['', '/24', '192.0.2/24', '192.0.02.0/24', ' 10.0.0.0/8', 'host/24', '1::2::3/64', '[::1]/128'])
    t.is(text(bad), '!address', bad);
  t.is(text('fe80::/64%1'), '!length');
  t.is(text('fe80::1%eth0/64'), '!zone');
  t.is(text(24), '!type');
  t.is(text(null), '!type');
});

test('options: host bits, bare addresses, family, leading zeros, zone ids', (t) => {
  t.is(text('192.0.2.1/24', { hostBits: 'refuse' }), '!host-bits');
  t.is(text('192.0.2.0/24', { hostBits: 'refuse' }), '192.0.2.0/24');
  t.is(text('2001:db8::1/32', { hostBits: 'refuse' }), '!host-bits');
  t.is(text('192.0.2.1/24', { hostBits: 'clear' }), '192.0.2.0/24');
  t.is(text('2001:db8:ffff::1/33', { hostBits: 'clear' }), '2001:db8:8000::/33');
  t.is(text('10.0.0.1', { bare: 'refuse' }), '!no-length');
  t.is(text('10.0.0.1/32', { bare: 'refuse' }), '10.0.0.1/32');
  t.is(text('10.0.0.0/8', { family: 6 }), '!family');
  t.is(text('fd00::/8', { family: 4 }), '!family');
  t.is(text('fd00::/8', { family: 6 }), 'fd00::/8');
  t.is(text('10.0.0.0/08', { lengthDigits: 3 }), '10.0.0.0/8');
  t.is(text('10.0.0.0/008', { lengthDigits: 3 }), '10.0.0.0/8');
  t.is(text('10.0.0.0/0008', { lengthDigits: 3 }), '!length');
  t.is(text('10.0.0.0/00000000008', { lengthDigits: Infinity }), '10.0.0.0/8');
  t.is(text('10.0.0.0/033', { lengthDigits: Infinity }), '!length');
  t.is(text('fe80::1%eth0/64', { zone: 'any' }), 'fe80::1/64');
  t.is(text('fe80::1%3/64', { zone: 'numeric' }), 'fe80::1/64');
});

test('network arithmetic: masks, containment, shared bits', (t) => {
  const p = (s: string): Prefix => {
    const r = parsePrefix(s);
    if (!r.ok) throw new Error(s);
    return r.value;
  };
  t.true(isNetworkAddress(p('10.0.0.0/8')));
  t.false(isNetworkAddress(p('10.0.0.1/8')));
  t.true(isNetworkAddress(p('10.0.0.1/32')));
  t.true(isNetworkAddress(p('0.0.0.0/0')));
  t.false(isNetworkAddress(p('2001:db8::1/64')));
  t.is(formatIp(networkAddress(p('192.168.1.77/20'))), '192.168.0.0');
  t.is(formatIp(networkAddress(p('2001:db8:1:2::1/63'))), '2001:db8:1:2::');
  const original = p('10.1.2.3/8');
  networkAddress(original);
  t.is(formatPrefix(original), '10.1.2.3/8', 'networkAddress copies');
  t.true(isAllOnesHost(p('10.0.0.255/24')));
  t.false(isAllOnesHost(p('10.0.0.254/24')));
  t.true(prefixContains(p('10.0.0.0/8'), p('10.1.0.0/16')));
  t.true(prefixContains(p('10.0.0.0/8'), p('10.1.2.3')));
  t.true(prefixContains(p('10.0.0.0/8'), p('10.0.0.0/8')));
  t.false(prefixContains(p('10.1.0.0/16'), p('10.0.0.0/8')));
  t.false(prefixContains(p('10.0.0.0/8'), p('11.0.0.0/16')));
  t.false(prefixContains(p('::/0'), p('10.0.0.0/8')), 'families differ');
  t.true(prefixContains(p('0.0.0.0/0'), p('203.0.113.9')));
  t.true(inPrefix(p('192.0.2.0/24'), Buffer.from([192, 0, 2, 200])));
  t.false(inPrefix(p('192.0.2.0/24'), Buffer.from([192, 0, 3, 1])));
  t.false(inPrefix(p('::/0'), Buffer.from([192, 0, 3, 1])));
  t.is(commonLength(Buffer.from([10, 0, 0, 1]), Buffer.from([10, 0, 0, 1])), 32);
  t.is(commonLength(Buffer.from([10, 0, 0, 1]), Buffer.from([10, 0, 0, 2])), 30);
  t.is(commonLength(Buffer.from([10, 0, 0, 0]), Buffer.from([138, 0, 0, 0])), 0);
  t.is(commonLength(Buffer.from([192, 168, 1, 0]), Buffer.from([192, 168, 2, 0])), 22);
});

test('property: format(parse(x)) round-trips for random prefixes; cleared host bits make a network address', (t) => {
  const r = rng(0x3e1);
  for (let i = 0; i < 20000; i++) {
    const address = randomBytes(r, r(2) === 0 ? 4 : 16);
    const length = r(address.length * 8 + 1);
    const s = formatPrefix({ family: address.length === 4 ? 4 : 6, address, length });
    const back = parsePrefix(s);
    if (!back.ok || !back.value.address.equals(address) || back.value.length !== length || formatPrefix(back.value) !== s) return t.fail(s);
    const cleared = parsePrefix(s, { hostBits: 'clear' });
    if (!cleared.ok || !isNetworkAddress(cleared.value) || !prefixContains(cleared.value, back.value)) return t.fail(`clear ${s}`);
    const refused = parsePrefix(s, { hostBits: 'refuse' });
    if (refused.ok !== isNetworkAddress(back.value)) return t.fail(`refuse ${s}`);
  }
  t.pass();
});

test('property: mutated prefixes either fail or re-format to what parses the same', (t) => {
  const r = rng(0x4d3);
  const seeds = ['10.0.0.0/8', '192.168.1.1/24', '0.0.0.0/0', '2001:db8::/32', '::/0', 'fe80::1/64', '::ffff:1.2.3.0/120'];
  for (let i = 0; i < 20000; i++) {
    const s = mutate(r, seeds[r(seeds.length)]!, '0123456789abcdef.:/ %', ['/', '//', '/0', '/33', '/129', '::', '0']);
    const p = parsePrefix(s);
    if (!p.ok) continue;
    const again = parsePrefix(formatPrefix(p.value));
    if (!again.ok || !again.value.address.equals(p.value.address) || again.value.length !== p.value.length)
      return t.fail(JSON.stringify(s));
  }
  t.pass();
});

test("IPV4_PREFIX_TEXT accepts exactly what parsePrefix takes with { family: 4, bare: 'refuse' }", (t) => {
  const r = rng(0x9f1);
  const seeds = ['10.0.0.0/8', '192.168.1.1/24', '0.0.0.0/0', '255.255.255.255/32', '1.2.3.4/19'];
  for (let i = 0; i < 20000; i++) {
    const s = mutate(r, seeds[r(seeds.length)]!, '0123456789./x', ['0', '/3', '/33', '/0', '255', '256']);
    if (IPV4_PREFIX_TEXT.test(s) !== parsePrefix(s, { family: 4, bare: 'refuse' }).ok) return t.fail(JSON.stringify(s));
  }
  t.pass();
});

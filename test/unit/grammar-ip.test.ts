import { isIP } from 'node:net';
import test from 'ava';
import {
  familyOf,
  formatIPv4,
  formatIPv6,
  formatIp,
  IPV4_TEXT,
  ipv4At,
  ipv4Bytes,
  parseIPv4,
  parseIPv6,
  parseIp,
  writeIPv4,
} from '../../src/grammar/ip.js';
import { mutate, randomBytes, rng } from '../helpers/random.js';

const hex = (text: string, options?: Parameters<typeof parseIp>[1]) => {
  const r = parseIp(text, options);
  return r.ok ? r.value.bytes.toString('hex') : undefined;
};

test('IPv4: four decimal octets, nothing else', (t) => {
  t.is(hex('192.0.2.1'), 'c0000201');
  t.is(hex('0.0.0.0'), '00000000');
  t.is(hex('255.255.255.255'), 'ffffffff');
  for (const bad of [
    '192.0.2',
    '192.0.2.256',
    '01.2.3.4',
    '1.2.3.04',
    '1.2.3.4.',
    '.1.2.3.4',
    '1.2.3.4.5',
    '',
    ' 1.2.3.4',
    '1.2.3.4 ',
    '1..2.3',
    '0x1.2.3.4',
    '1.2.3.4/32',
    '1.2.3.4%1',
    '1000.2.3.4',
    '१.2.3.4',
  ]) {
    t.false(parseIp(bad).ok, bad);
    t.false(parseIPv4(bad).ok, bad);
  }
});

test('IPv4 by character codes: ipv4At, ipv4Bytes, writeIPv4', (t) => {
  t.is(ipv4At('192.0.2.1'), 0xc0000201);
  t.is(ipv4At('x192.0.2.1:80', 1, 10), 0xc0000201);
  t.is(ipv4At('192.0.2.1:80', 0, 12), -1);
  t.is(ipv4At('1.2.3'), -1);
  t.is(ipv4At('00.1.2.3'), -1);
  t.is(ipv4At('1.2.3.2555'), -1);
  t.deepEqual(ipv4Bytes(0xc0000201), Buffer.from([192, 0, 2, 1]));
  const out = Buffer.alloc(6, 0xee);
  t.true(writeIPv4('10.1.2.3', out, 1));
  t.is(out.toString('hex'), 'ee0a010203ee');
  const untouched = Buffer.alloc(4, 0xee);
  t.false(writeIPv4('10.1.2.300', untouched, 0));
  t.is(untouched.toString('hex'), 'eeeeeeee', 'nothing written for a bad address');
});

test('IPv6: groups, :: and a trailing dotted quad', (t) => {
  t.is(hex('2001:db8::1'), '20010db8000000000000000000000001');
  t.is(hex('::'), '0'.repeat(32));
  t.is(hex('::1'), '0'.repeat(31) + '1');
  t.is(hex('::ffff:192.0.2.1'), '00000000000000000000ffffc0000201');
  t.is(hex('1:2:3:4:5:6:1.2.3.4'), '00010002000300040005000601020304');
  t.is(hex('1:2:3:4:5:6:7::'), '00010002000300040005000600070000');
  t.is(hex('::2:3:4:5:6:7:8'), '00000002000300040005000600070008');
  t.is(hex('FD00::ABCD'), 'fd00' + '0'.repeat(24) + 'abcd');
  for (const bad of [
    '2001:db8:::1',
    '1:2:3:4:5:6:7:8:9',
    '2001:db8::g',
    '::1::',
    '1::2::3',
    '1:2:3:4:5:6:7',
    ':1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:',
    ':::',
    '00000::1',
    '::ffff:01.2.3.4',
    '1.2.3.4::',
    '::1.2.3',
    '1:2:3:4:5:6::1.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4',
    ' ::1',
    '[::1]',
    '::1/128',
  ]) {
    t.false(parseIp(bad).ok, bad);
    t.false(parseIPv6(bad).ok, bad);
  }
});

test('IPv6 zone ids: refused by default, numeric or any on request', (t) => {
  const refused = parseIp('fe80::1%eth0');
  t.false(refused.ok);
  t.is(!refused.ok && refused.code, 'zone');
  t.false(parseIp('fe80::1%3').ok);
  const numeric = parseIp('fe80::1%3', { zone: 'numeric' });
  t.true(numeric.ok);
  t.is(numeric.ok && numeric.value.zone, '3');
  t.is(hex('fe80::1%4294967295', { zone: 'numeric' }), 'fe80' + '0'.repeat(27) + '1');
  for (const bad of ['fe80::1%eth0', 'fe80::1%03', 'fe80::1%4294967296', 'fe80::1%', 'fe80::1%-1'])
    t.false(parseIp(bad, { zone: 'numeric' }).ok, bad);
  for (const good of ['fe80::1%eth0', 'fe80::1%a.b', 'fe80::1%a:b', 'fe80::1%0']) t.true(parseIp(good, { zone: 'any' }).ok, good);
  for (const bad of ['fe80::1%', 'fe80::1%a_b', 'fe80::1%ä', '1.2.3.4%1']) t.false(parseIp(bad, { zone: 'any' }).ok, bad);
});

test('the family option, and what is not a string', (t) => {
  const v4 = parseIp('192.0.2.1', { family: 6 });
  t.false(v4.ok);
  t.is(!v4.ok && v4.code, 'family');
  const v6 = parseIp('::1', { family: 4 });
  t.is(!v6.ok && v6.code, 'family');
  t.is(hex('::1', { family: 6 }), '0'.repeat(31) + '1');
  for (const v of [undefined, null, 1, {}, Buffer.from([1, 2, 3, 4])]) {
    const r = parseIp(v);
    t.is(!r.ok && r.code, 'type');
  }
  t.is(familyOf('10.0.0.1'), 4);
  t.is(familyOf('fd00::1'), 6);
  t.is(familyOf('fd00::1%1'), undefined);
  t.is(familyOf('host'), undefined);
});

// Expected texts are what glibc's inet_ntop (and so `ip`) prints for these addresses.
test('formatting matches inet_ntop', (t) => {
  const cases: Array<[string, string]> = [
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
    ['000000000000000000000000c0000201', '::192.0.2.1'],
    ['0000000000000000000000000000ffff', '::ffff'],
    ['00000000000000000001ffffc0000201', '::1:ffff:c000:201'],
    ['20010db8000000010000000000000000', '2001:db8:0:1::'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000100000000000100000000', '2001:db8:1::1:0:0'],
    ['fe800000000000000000000000000000', 'fe80::'],
    ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
    ['20010000000100000000000000000001', '2001:0:1::1'],
  ];
  for (const [h, text] of cases) {
    t.is(formatIPv6(Buffer.from(h, 'hex')), text);
    t.is(formatIp(Buffer.from(h, 'hex')), text);
  }
  t.is(formatIPv4(Buffer.from([0, 192, 0, 2, 1]), 1), '192.0.2.1');
  t.is(formatIp(Buffer.from([9, 10, 0, 0, 1]), 1, 4), '10.0.0.1');
  t.throws(() => formatIp(Buffer.alloc(5)), { instanceOf: RangeError });
});

test('property: format(parse(x)) round-trips, for random addresses of both families', (t) => {
  const r = rng(0x1b5);
  for (let i = 0; i < 20000; i++) {
    const bytes = randomBytes(r, r(2) === 0 ? 4 : 16);
    const text = formatIp(bytes);
    const back = parseIp(text);
    if (!back.ok || !back.value.bytes.equals(bytes)) return t.fail(`${bytes.toString('hex')} → ${text}`);
    if (formatIp(back.value.bytes) !== text) return t.fail(text);
  }
  t.pass();
});

test('property: mutated text is accepted exactly when node:net isIP accepts it (zone any), and then re-formats to the same bytes', (t) => {
  const r = rng(0x2c7);
  const seeds = [
    '1.2.3.4',
    '255.255.255.255',
    '::',
    '::1',
    'fe80::1',
    '2001:db8::1',
    '::ffff:1.2.3.4',
    '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:1.2.3.4',
    'fe80::1%eth0',
    '1:2:3:4:5:6:7::',
  ];
  for (let i = 0; i < 20000; i++) {
    const text = mutate(r, seeds[r(seeds.length)]!, '0123456789abcdefABCDEF.:%g x', ['0', '00', '::', '255', '256', '.', ':', '%1']);
    const any = parseIp(text, { zone: 'any' });
    if (any.ok !== (isIP(text) !== 0)) return t.fail(`${JSON.stringify(text)}: grammar ${any.ok}, isIP ${isIP(text)}`);
    const strict = parseIp(text);
    if (strict.ok && (text.includes('%') || !parseIp(formatIp(strict.value.bytes)).ok)) return t.fail(JSON.stringify(text));
    if (any.ok && !(parseIp(formatIp(any.value.bytes)) as { value: { bytes: Buffer } }).value.bytes.equals(any.value.bytes))
      return t.fail(JSON.stringify(text));
  }
  t.pass();
});

test('IPV4_TEXT accepts exactly what parseIp takes as IPv4', (t) => {
  const r = rng(0x8e3);
  const seeds = ['1.2.3.4', '255.255.255.255', '0.0.0.0', '10.20.30.40', '199.249.250.251'];
  for (let i = 0; i < 20000; i++) {
    const s = mutate(r, seeds[r(seeds.length)]!, '0123456789.x ', ['0', '00', '25', '255', '256', '.']);
    if (IPV4_TEXT.test(s) !== parseIPv4(s).ok) return t.fail(JSON.stringify(s));
  }
  t.pass();
});

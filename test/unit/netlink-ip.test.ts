import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import { formatIPv6, isNetworkAddress, networkAddress, parseIP, parseIPv4, parseIPv6, parsePrefix } from '../../src/netlink/ip.js';

test('IPv4 parsing is strict', (t) => {
  t.deepEqual(parseIPv4('192.0.2.1'), Buffer.from([192, 0, 2, 1]));
  for (const bad of ['192.0.2', '192.0.2.256', '01.2.3.4', '1.2.3.4.5', '', ' 1.2.3.4', '1..2.3', '0x1.2.3.4']) {
    t.is(parseIPv4(bad), undefined, bad);
  }
});

test('IPv6 parsing handles :: and a trailing dotted quad', (t) => {
  t.is(parseIPv6('2001:db8::1')!.toString('hex'), '20010db8000000000000000000000001');
  t.is(parseIPv6('::')!.toString('hex'), '0'.repeat(32));
  t.is(parseIPv6('::ffff:192.0.2.1')!.toString('hex'), '00000000000000000000ffffc0000201');
  t.is(parseIPv6('fd00::')!.toString('hex'), 'fd00' + '0'.repeat(28));
  for (const bad of ['2001:db8:::1', '1:2:3:4:5:6:7:8:9', '2001:db8::g', '::1::', '1:2:3:4:5:6:7', 'fe80::1%eth0', ':1:2']) {
    t.is(parseIPv6(bad), undefined, bad);
  }
});

// Expected texts are what glibc's inet_ntop (and so `ip`) prints for these addresses.
test('IPv6 formatting matches inet_ntop', (t) => {
  const cases: Array<[string, string]> = [
    ['20010db8000000000000000000000001', '2001:db8::1'],
    ['00000000000000000000000000000000', '::'],
    ['00000000000000000000000000000001', '::1'],
    ['00000000000000000000ffffc0000201', '::ffff:192.0.2.1'],
    ['000000000000000000000000c0000201', '::192.0.2.1'],
    ['20010db8000000010000000000000000', '2001:db8:0:1::'],
    ['20010db8000000000001000000000001', '2001:db8::1:0:0:1'],
    ['20010db8000100000000000100000000', '2001:db8:1::1:0:0'],
    ['fe800000000000000000000000000000', 'fe80::'],
    ['20010db8000100010001000100010001', '2001:db8:1:1:1:1:1:1'],
    ['20010000000100000000000000000001', '2001:0:1::1'],
  ];
  for (const [hex, text] of cases) t.is(formatIPv6(Buffer.from(hex, 'hex')), text);
});

test('prefixes: parse, validate and mask', (t) => {
  const p = parsePrefix('192.0.2.77/24', 'destination');
  t.is(p.family, 4);
  t.is(p.length, 24);
  t.false(isNetworkAddress(p));
  t.deepEqual(networkAddress(p), parseIP('192.0.2.0'));
  t.is(parsePrefix('2001:db8::/32', 'x').length, 32);
  t.is(parsePrefix('2001:db8::1', 'x').length, 128);
  const e1 = t.throws(() => parsePrefix('192.0.2.0/33', 'routes[3].destination'), { instanceOf: ValidationError });
  t.is(e1.field, 'routes[3].destination');
  t.throws(() => parsePrefix('300.0.0.0/8', 'x'), { instanceOf: ValidationError });
  t.throws(() => parsePrefix('2001:db8::/129', 'x'), { instanceOf: ValidationError });
  t.throws(() => parsePrefix('10.0.0.0/08', 'x'), { instanceOf: ValidationError });
});

/** src/nft/datatype.ts: the write fast path agrees with the strict parser; the messages of bad addresses, prefixes and names. */
import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import { Writer } from '../../src/netlink/writer.js';
import { DATATYPES, type NftDatatype } from '../../src/nft/datatype.js';
import { parsePart, valueText } from '../../src/nft/values.js';

const strict = (t: NftDatatype, s: unknown): Buffer | undefined => {
  try {
    return t.parse(s, 'a');
  } catch {
    return undefined;
  }
};

test('the address fast paths agree with the strict parser', (t) => {
  const cases: Array<[NftDatatype, unknown[]]> = [
    [
      DATATYPES.ipv4_addr,
      ['0.0.0.0', '255.255.255.255', '10.0.0.1', '1.2.3', '01.2.3.4', '1.2.3.4.', '256.1.1.1', '1..2.3', '', ' 1.2.3.4', '::1', 7],
    ],
    [DATATYPES.ipv6_addr, ['::', '::1', '2001:db8::1', '::ffff:1.2.3.4', 'fe80::1%eth0', '1.2.3.4', ':::', '2001:db8::1::2', '', 7]],
  ];
  for (const [type, values] of cases) {
    for (const s of values) {
      const w = new Writer(2);
      // Something before the value, so a failed write would show as a moved position.
      w.u8(0xaa);
      const wrote = type.write!(s, w);
      const b = strict(type, s);
      if (wrote) t.deepEqual(w.buf.subarray(1, w.pos), b, String(s));
      else {
        t.is(w.pos, 1, `nothing written for ${String(s)}`);
        t.is(b, undefined, String(s));
      }
    }
  }
});

test('bad addresses, prefixes and interface names keep their messages', (t) => {
  t.throws(() => DATATYPES.ipv4_addr.parse('10.0.0.256', 'f'), {
    instanceOf: ValidationError,
    message: 'f: invalid IPv4 address "10.0.0.256" (expected an IPv4 address)',
  });
  t.throws(() => DATATYPES.ipv6_addr.parse('fe80::1%eth0', 'f'), {
    instanceOf: ValidationError,
    message: 'f: invalid IPv6 address "fe80::1%eth0" (expected an IPv6 address)',
  });
  t.throws(() => parsePart(DATATYPES.ipv4_addr, '10.0.0/24', 'f'), {
    message: 'f: invalid IPv4 address "10.0.0" (expected an IPv4 address)',
  });
  t.throws(() => parsePart(DATATYPES.ipv4_addr, '::1/24', 'f'), { message: 'f: invalid IPv4 address "::1" (expected an IPv4 address)' });
  t.throws(() => parsePart(DATATYPES.ipv4_addr, '10.0.0.0/33', 'f'), { message: 'f: invalid prefix length "33" (expected 0 to 32)' });
  t.throws(() => parsePart(DATATYPES.ipv6_addr, '2001:db8::/024', 'f'), { message: 'f: invalid prefix length "024" (expected 0 to 128)' });
  t.throws(() => parsePart(DATATYPES.ipv6_addr, '10.0.0.0/8', 'f'), {
    message: 'f: invalid IPv6 address "10.0.0.0" (expected an IPv6 address)',
  });
  t.deepEqual(parsePart(DATATYPES.ipv4_addr, '10.1.2.3/16', 'f'), {
    from: Buffer.from([10, 1, 0, 0]),
    to: Buffer.from([10, 1, 255, 255]),
    prefix: 16,
  });
  t.deepEqual(parsePart(DATATYPES.ipv4_addr, '10.1.2.3/32', 'f'), { from: Buffer.from([10, 1, 2, 3]), to: Buffer.from([10, 1, 2, 3]) });
  for (const bad of ['', 'a-very-long-name0', 7]) {
    t.throws(() => DATATYPES.ifname.parse(bad, 'f'), {
      instanceOf: ValidationError,
      message: `f: invalid interface name ${JSON.stringify(String(bad))} (expected a name of 1 to 15 bytes, or a prefix followed by *)`,
    });
  }
  t.deepEqual(DATATYPES.ifname.parse('wg 0/:', 'f'), Buffer.from('wg 0/:\0\0\0\0\0\0\0\0\0\0'), 'an nft match takes any bytes');
});

test('a prefix with a second "/" is refused, not read as its first part', (t) => {
  // Before, '10.0.0.0/24/5' was split at '/' and the rest dropped: it matched 10.0.0.0/24.
  t.throws(() => parsePart(DATATYPES.ipv4_addr, '10.0.0.0/24/5', 'f'), {
    instanceOf: ValidationError,
    message: 'f: invalid prefix length "24/5" (expected 0 to 32)',
  });
});

test('the text of a prefix checks its length as parsing does', (t) => {
  t.is(valueText([DATATYPES.ipv4_addr], '10.0.0.0/8'), '10.0.0.0/8');
  t.is(valueText([DATATYPES.ipv6_addr], '2001:0db8::/32'), '2001:db8::/32');
  // Before, the length was printed as written: `10.0.0.0/99`, which nft refuses.
  t.throws(() => valueText([DATATYPES.ipv4_addr], '10.0.0.0/99'), { instanceOf: ValidationError, message: /invalid prefix length "99"/ });
});

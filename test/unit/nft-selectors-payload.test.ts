/**
 * src/nft/selectors/payload.ts bit fields (`ip dscp`, `ip6 dscp`): the
 * expressions nft 1.0.6 makes for them (recorded with `nft --debug=netlink`;
 * the byte-for-byte batches are in the golden cases "dscp inet" and "dscp
 * notrack inet"), reading them back, and what is refused rather than written
 * differently from nft.
 */
import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import { nftExpr as x } from '../../src/nft/builder.js';
import { delinearize } from '../../src/nft/delinearize.js';
import { exprDebug, type NftExpr } from '../../src/nft/expr/index.js';
import { linearize } from '../../src/nft/linearize.js';
import type { NftStmt } from '../../src/nft/model.js';
import { ruleText } from '../../src/nft/ruleset-text.js';

const family = 'inet';
const debug = (stmts: NftStmt[]) => linearize(stmts, { family }).map(exprDebug);
const round = (stmts: NftStmt[]) => delinearize(linearize(stmts, { family }), { family });

test('ip dscp and ip6 dscp: the bytes that hold the field, masked, compared with the value shifted into place', (t) => {
  t.deepEqual(debug([x.ip.dscp.eq(42)]), [
    'meta load nfproto => reg 1',
    'cmp eq reg 1 0x00000002',
    'payload load 1b @ network header + 1 => reg 1',
    'bitwise reg 1 = ( reg 1 & 0x000000fc ) ^ 0x00000000',
    'cmp eq reg 1 0x000000a8',
  ]);
  t.deepEqual(debug([x.ip6.dscp.neq(42)]), [
    'meta load nfproto => reg 1',
    'cmp eq reg 1 0x0000000a',
    'payload load 2b @ network header + 0 => reg 1',
    'bitwise reg 1 = ( reg 1 & 0x0000c00f ) ^ 0x00000000',
    'cmp neq reg 1 0x0000800a',
  ]);
});

test('ip dscp set: two bytes at an even offset with the IPv4 checksum fixed up; ip6 dscp set without a checksum', (t) => {
  t.deepEqual(debug([x.ct.mark.eq(42), x.ip.dscp.set(42)]), [
    'ct load mark => reg 1',
    'cmp eq reg 1 0x0000002a',
    'meta load nfproto => reg 1',
    'cmp eq reg 1 0x00000002',
    'payload load 2b @ network header + 0 => reg 1',
    'bitwise reg 1 = ( reg 1 & 0x000003ff ) ^ 0x0000a800',
    'payload write reg 1 => 2b @ network header + 0 csum_type 1 csum_off 10 csum_flags 0x0',
  ]);
  t.deepEqual(debug([x.ip6.dscp.set(42)]).slice(2), [
    'payload load 2b @ network header + 0 => reg 1',
    'bitwise reg 1 = ( reg 1 & 0x00003ff0 ) ^ 0x0000800a',
    'payload write reg 1 => 2b @ network header + 0 csum_type 0 csum_off 0 csum_flags 0x0',
  ]);
});

test('bit-field matches and writes read back as statements and print as nft lists them', (t) => {
  const rules: NftStmt[][] = [
    [x.iifname.eq('br0'), x.ip.dscp.eq(42), x.counter(), x.meta.mark.set(42), x.notrack()],
    [x.iifname.eq('br0'), x.ip6.dscp.eq(42), x.meta.mark.set(42), x.notrack()],
    [x.ct.mark.eq(42), x.ct.direction.eq('reply'), x.ip.dscp.set(42), x.counter()],
    [x.ct.mark.eq(42), x.ip6.dscp.set(63)],
    [x.ip.dscp.neq('cs1')],
    [x.ip6.dscp.set('ef')],
  ];
  for (const r of rules) t.deepEqual(round(r), r);
  t.is(ruleText(rules[0]!, family), 'iifname "br0" ip dscp 0x2a counter packets 0 bytes 0 meta mark set 0x0000002a notrack');
  t.is(ruleText(rules[2]!, family), 'ct mark 0x0000002a ct direction reply ip dscp set 0x2a counter packets 0 bytes 0');
  t.is(ruleText(rules[4]!, family), 'ip dscp != cs1');
  t.is(ruleText([x.ip.dscp.eq(0)], family), 'ip dscp cs0', 'the first name of a value is printed, as nft does');
});

test('other masks and writes of the same bytes stay what they are', (t) => {
  // The whole TOS byte under another mask: a raw payload match, not ip dscp.
  const tos = delinearize(
    [
      { name: 'meta', key: 15, dreg: 1 },
      { name: 'cmp', sreg: 1, op: 'eq', data: Buffer.from([2]) },
      { name: 'payload', dreg: 1, base: 1, offset: 1, len: 1 },
      { name: 'bitwise', sreg: 1, dreg: 1, len: 1, mask: Buffer.from([0xff]), xor: Buffer.from([0]) },
      { name: 'cmp', sreg: 1, op: 'eq', data: Buffer.from([0xa8]) },
    ] as NftExpr[],
    { family },
  );
  t.is(tos.at(-1)!.type, 'match');
  t.not((tos.at(-1) as { key: string }).key, 'ip dscp');
  // A write of the DSCP bytes without the checksum fix-up is not what nft makes for ip dscp set: raw.
  const write = delinearize(
    [
      { name: 'meta', key: 15, dreg: 1 },
      { name: 'cmp', sreg: 1, op: 'eq', data: Buffer.from([2]) },
      { name: 'payload', dreg: 1, base: 1, offset: 0, len: 2 },
      { name: 'bitwise', sreg: 1, dreg: 1, len: 2, mask: Buffer.from([0xff, 0x03]), xor: Buffer.from([0, 0xa8]) },
      { name: 'payload', sreg: 1, base: 1, offset: 0, len: 2 },
    ] as NftExpr[],
    { family },
  );
  t.is(write.at(-1)!.type, 'raw');
  // ip ttl set stays raw as before.
  const ttl = delinearize(
    [
      { name: 'meta', key: 15, dreg: 1 },
      { name: 'cmp', sreg: 1, op: 'eq', data: Buffer.from([2]) },
      { name: 'immediate', dreg: 1, data: Buffer.from([64]) },
      { name: 'payload', sreg: 1, base: 1, offset: 8, len: 1, csumType: 1, csumOffset: 10 },
    ] as NftExpr[],
    { family },
  );
  t.is(ttl.at(-1)!.type, 'raw');
});

test('what nft writes with shifts (sets, ranges) and values beyond 6 bits are refused, not written differently', (t) => {
  const refused = (stmts: () => NftStmt[], pattern: RegExp) =>
    t.throws(() => linearize(stmts(), { family }), { instanceOf: ValidationError, message: pattern });
  refused(() => [x.ip.dscp.in([10, 12])], /ip dscp is a bit field .*sets, ranges and concatenations/);
  refused(() => [x.ip.dscp.range(10, 12)], /ip dscp is a bit field/);
  refused(() => [x.ip6.dscp.gt(10)], /ip6 dscp is a bit field/);
  refused(() => [x.concat(x.ip.dscp, x.tcp.dport).eq([42, 22])], /ip dscp is a bit field/);
  refused(() => [{ type: 'set', key: 'ip dscp', from: 'meta mark' }], /ip dscp is a bit field: it is set to a value/);
  t.throws(() => x.ip.dscp.eq(64), { instanceOf: ValidationError, message: /invalid value "64"/ });
  t.throws(() => x.ip.dscp.set('af99'), { instanceOf: ValidationError });
});

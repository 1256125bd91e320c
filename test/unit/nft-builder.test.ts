/** src/nft/builder.ts: canonical values (as decoding gives them) and validation with the path of the field. */
import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import { nftExpr as x } from '../../src/nft/builder.js';
import { linearize } from '../../src/nft/linearize.js';

test('builder values come out canonical (as decoding gives them)', (t) => {
  t.deepEqual(x.meta.l4proto.eq(6), { type: 'match', key: 'meta l4proto', op: 'eq', value: 'tcp' });
  t.deepEqual(x.meta.iifname.eq('wg0'), { type: 'match', key: 'iifname', op: 'eq', value: 'wg0' });
  t.deepEqual(x.ip.saddr.eq('10.0.0.7/24'), { type: 'match', key: 'ip saddr', op: 'eq', value: '10.0.0.0/24' });
  t.deepEqual(x.tcp.dport.eq('0x50'), { type: 'match', key: 'tcp dport', op: 'eq', value: 80 });
  t.deepEqual(x.ct.state.any('related', 'established'), { type: 'match', key: 'ct state', op: 'any', value: 'established,related' });
  t.deepEqual(
    x.tcp.dport.in([80]),
    { type: 'match', key: 'tcp dport', op: 'eq', value: 80 },
    'one element: a plain comparison, as nft does',
  );
  t.deepEqual(x.tcp.dport.in([443, 22]).value, { elements: [{ key: 22 }, { key: 443 }] });
  t.deepEqual(x.meta.mark.set(x.ct.mark), { type: 'set', key: 'meta mark', from: 'ct mark' });
  t.deepEqual(x.dnat({ addr: '2001:db8::1' }), { type: 'nat', kind: 'dnat', family: 'ip6', addr: '2001:db8::1' });
  t.deepEqual(x.masquerade({ flags: ['persistent', 'random'] }), { type: 'masquerade', flags: ['random', 'persistent'] });
  t.deepEqual(x.log({ level: 'warn' }), { type: 'log' }, 'warn is the default level');
  t.deepEqual(x.limit({ rate: 5, per: 'second' }), { type: 'limit', rate: 5, per: 'second', burst: 5 });
});

test('the builder and the linearizer reject bad input with the path of the field', (t) => {
  t.throws(() => x.key('ip sadr').eq('1.2.3.4'), { instanceOf: ValidationError, message: /unknown selector "ip sadr"/ });
  t.throws(() => x.ip.saddr.eq('10.0.0.256'), { instanceOf: ValidationError, message: /invalid IPv4 address/ });
  t.throws(() => x.tcp.dport.eq(70000), { instanceOf: ValidationError });
  t.throws(() => x.ip.saddr.eq('10.0.0.0/33'), { instanceOf: ValidationError, message: /prefix length/ });
  t.throws(() => x.meta.mark.range(10, 1), { instanceOf: ValidationError, message: /range start is above/ });
  const err = t.throws(
    () => linearize([x.accept(), { type: 'match', key: 'tcp dport', op: 'lt', value: { range: [1, 2] } }], { family: 'ip' }),
    {
      instanceOf: ValidationError,
    },
  );
  t.is(err!.field, 'expr[1].op');
  t.throws(() => linearize([x.dnat({ map: { key: x.tcp.dport, map: '@m' } })], { family: 'inet' }), {
    instanceOf: ValidationError,
    message: /needs a family/,
  });
  t.throws(() => linearize([x.tcp.dport.in('@nosuch')], { family: 'ip', set: () => undefined }), {
    instanceOf: ValidationError,
    message: /unknown set "nosuch"/,
  });
  t.throws(() => linearize([{ type: 'set', key: 'tcp dport', value: 1 }], { family: 'ip' }), {
    instanceOf: ValidationError,
    message: /cannot be set/,
  });
});

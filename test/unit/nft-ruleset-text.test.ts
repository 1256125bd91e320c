/** src/nft/ruleset-text.ts and element-text.ts: details of nft's text. */
import test from 'ava';
import { nftExpr as x } from '../../src/nft/builder.js';
import { durationText } from '../../src/nft/element-text.js';
import type { NftStmt } from '../../src/nft/model.js';
import { nftRuleText, ruleText } from '../../src/nft/ruleset-text.js';

test('text details', (t) => {
  t.is(durationText(3600000), '1h');
  t.is(durationText(90500), '1m30s500ms');
  t.is(ruleText([x.meta.mark.masked(0xff).eq(1)], 'ip'), 'meta mark & 0x000000ff == 0x00000001');
  t.is(ruleText([x.tcp.flags.masked('syn,rst').eq('syn')], 'ip'), 'tcp flags syn / syn,rst');
  t.is(ruleText([x.ct.status.none('dnat')], 'ip'), 'ct status ! dnat');
  t.is(ruleText([x.dnat({ addr: 'fd00::2', port: 80 })], 'ip6'), 'dnat to [fd00::2]:80');
  t.is(ruleText([x.counter('fwd-9735'), x.jump('x')], 'ip'), 'counter name "fwd-9735" jump x');
  t.is(ruleText([x.limit({ rate: 2048, per: 'minute', bytes: true })], 'ip'), 'limit rate 2 kbytes/minute');
  t.is(
    nftRuleText({
      expr: [{ type: 'raw', exprs: [{ name: 'unknown', exprName: 'numgen', data: Buffer.from('01', 'hex') }] }],
      family: 'ip',
    }),
    '[ numgen 0x01 ]',
  );
  t.is(
    ruleText([{ type: 'match', key: 'nonsense', op: 'eq', value: 1 } as NftStmt], 'ip'),
    '# match: key[0]: unknown selector "nonsense" (expected nft selector text such as "ip saddr", "tcp dport", "meta mark", "ct state", "socket cgroupv2 level 2" or "@th,16,16")',
  );
});

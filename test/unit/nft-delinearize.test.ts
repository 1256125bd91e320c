/** src/nft/delinearize.ts: protocol dependencies are dropped only when linearizing re-creates them. */
import test from 'ava';
import { nftExpr as x } from '../../src/nft/builder.js';
import { delinearize } from '../../src/nft/delinearize.js';
import { linearize } from '../../src/nft/linearize.js';
import type { NftStmt } from '../../src/nft/model.js';

test('dependencies are dropped only when linearizing re-creates them', (t) => {
  const family = 'inet';
  const round = (stmts: NftStmt[]) => delinearize(linearize(stmts, { family }), { family });
  t.deepEqual(round([x.tcp.dport.eq(22)]), [x.tcp.dport.eq(22)]);
  t.deepEqual(round([x.meta.l4proto.eq('tcp'), x.counter(), x.tcp.dport.eq(22)]), [
    x.meta.l4proto.eq('tcp'),
    x.counter(),
    x.tcp.dport.eq(22),
  ]);
  t.deepEqual(round([x.meta.l4proto.eq('udp'), x.th.dport.eq(53)]), [x.udp.dport.eq(53)], 'th after l4proto udp is udp, as nft lists it');
  t.deepEqual(round([x.ip6.saddr.eq('fd00::/64'), x.tcp.dport.eq(22)]), [x.ip6.saddr.eq('fd00::/64'), x.tcp.dport.eq(22)]);
});

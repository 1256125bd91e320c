/**
 * Rulesets netfwd did not write: a firewalld-style inet table loaded with
 * `nft -f` and rules added with iptables-nft (compat match/target
 * expressions). nft.list() reads them without failing: modeled statements
 * render as nft prints them, the rest as typed opaque values with text.
 */

import { Nft } from '../../src/nft/nft.js';
import { nftRuleText } from '../../src/nft/ruleset-text.js';
import { FOREIGN } from '../fixtures/nft-cases.js';
import { iptablesIn, nftIn } from '../fixtures/nft-oracle.js';
import { freshNetns, kernelTest } from '../helpers/kernel.js';

const test = kernelTest(['ip', 'nsenter', 'iptables-nft']);

test('a firewalld-style table and iptables-nft rules list without failing', async (t) => {
  const ns = freshNetns(t, 'nftforeign');
  const [fw, ipt] = FOREIGN;
  nftIn(ns, ['-f', '-'], fw!.nft!);
  for (const args of ipt!.iptables!) iptablesIn(ns, args);
  const nft = await Nft.open({ netns: ns });
  t.teardown(() => nft.close());

  const all = await nft.list();
  t.deepEqual(all.tables.map((x) => `${x.family} ${x.name}`).sort(), ['inet firewalld', 'ip filter', 'ip mangle', 'ip nat']);
  const listed = new Set(
    nftIn(ns, ['list', 'ruleset'])
      .split('\n')
      .map((l) => l.trim()),
  );
  const fwRules = all.rules.filter((r) => r.table === 'firewalld');
  t.is(fwRules.length, 32);
  let same = 0;
  for (const r of fwRules) {
    const text = nftRuleText(r);
    t.true(text.length > 0);
    if (listed.has(text)) same++;
  }
  t.true(same >= 25, `${same} of 32 firewalld rules print exactly as nft prints them`);
  const chain = all.chains.find((c) => c.name === 'filter_INPUT')!;
  t.like(chain, { family: 'inet', type: 'filter', hook: 'input', priority: 10, policy: 'accept' });
  t.deepEqual(all.sets.find((s) => s.name === 'allowed6')!.elements, [{ key: '2001:db8::/32' }]);

  const nat = all.rules.filter((r) => r.table === 'nat');
  t.deepEqual(nat.map(nftRuleText), [
    'meta l4proto tcp ip daddr 203.0.113.1 tcp dport 9735 counter packets 0 bytes 0 xt target DNAT',
    'ip saddr 10.0.0.0/24 ip daddr != 10.0.0.0/24 counter packets 0 bytes 0 xt target MASQUERADE',
  ]);
  const conntrack = all.rules.find((r) => r.table === 'filter' && r.expr.some((s) => s.type === 'xt' && s.name === 'conntrack'))!;
  t.like(conntrack.expr[0], { type: 'xt', kind: 'match', name: 'conntrack', rev: 3 });

  // Filters.
  const only = await nft.list({ family: 'ip', table: 'nat' });
  t.deepEqual(
    only.tables.map((x) => x.name),
    ['nat'],
  );
  t.is(only.rules.length, 2);
  t.deepEqual((await nft.list({ family: 'ip6', table: 'nat' })).tables, []);
});

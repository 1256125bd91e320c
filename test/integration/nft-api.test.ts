/**
 * The nftables API against the kernel, with nft as the oracle. For every
 * golden case (test/fixtures/nft-cases.ts: every expression the builder
 * covers, the seeds' frontend rules, the forwarding data plane):
 * - built through netfwd in one namespace and loaded with `nft -f` in
 *   another, `nft -j list ruleset` is the same in both (handles aside);
 * - the ruleset nft loaded reads back through nft.list() as the builder's
 *   statements, and renders as the lines `nft list ruleset` prints.
 */
import { statSync } from 'node:fs';
import { Nft } from '../../src/nft/nft.js';
import { nftRuleText } from '../../src/nft/ruleset-text.js';
import { CASES, type GoldenVars } from '../fixtures/nft-cases.js';
import { nftIn, nftJson } from '../fixtures/nft-oracle.js';
import { freshNetns, kernelTest } from '../helpers/kernel.js';

const test = kernelTest(['ip', 'nsenter']);

function vars(): GoldenVars | undefined {
  try {
    return { cgroupId: Number(statSync('/sys/fs/cgroup/unified', { bigint: true }).ino) };
  } catch {
    return undefined;
  }
}

for (const c of CASES) {
  test(`netfwd writes what nft -f writes, and reads nft's back: ${c.name}`, async (t) => {
    const v = vars();
    if (c.name === 'socket cgroupv2' && !v) {
      t.pass('no /sys/fs/cgroup/unified on this host');
      return;
    }
    const gv = v ?? { cgroupId: 1 };
    const mine = freshNetns(t, 'nftapi');
    const theirs = freshNetns(t, 'nftapi');
    const nft = await Nft.open({ netns: mine });
    const nftTheirs = await Nft.open({ netns: theirs });
    t.teardown(() => {
      nft.close();
      nftTheirs.close();
    });
    await nft.transaction((tx) => c.build(tx, gv));
    nftIn(theirs, ['-f', '-'], c.nft);
    t.deepEqual(nftJson(mine), nftJson(theirs), 'nft -j list ruleset');

    // nft.list() of what nft loaded: the builder's statements, nft's text.
    const list = await nftTheirs.list();
    const listed = new Set(
      nftIn(theirs, ['list', 'ruleset'])
        .split('\n')
        .map((l) => l.trim()),
    );
    const want = c.rules(gv);
    for (const chain of new Set(want.map(([ch]) => ch))) {
      const got = list.rules.filter((r) => r.chain === chain);
      const expected = want.filter(([ch]) => ch === chain).map(([, s]) => s);
      t.deepEqual(
        got.map((r) => r.expr),
        expected,
        `statements of chain ${chain}`,
      );
      for (const r of got) {
        const text = nftRuleText(r);
        if (c.name !== 'socket cgroupv2') t.true(listed.has(text), `${JSON.stringify(text)} is what nft lists`);
      }
    }
    // And netfwd's own writes read back the same way.
    const again = await nft.list();
    t.deepEqual(
      again.rules.map((r) => [r.chain, r.expr]),
      list.rules.map((r) => [r.chain, r.expr]),
    );
  });
}

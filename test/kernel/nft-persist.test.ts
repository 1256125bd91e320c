/**
 * NFT_TABLE_F_PERSIST (Linux 6.9+): a table flagged owner and persist
 * outlives the netlink socket that owns it. Where the kernel is older it
 * refuses the flag; netfwd's error then says which flag needs which kernel,
 * and the transaction leaves nothing behind. Runs on the host (6.18: the
 * flag works) and in the kernel VM lane (6.1: refused; 6.12: works).
 * Oracle: `nft -j list tables` inside the namespace.
 */
import { release } from 'node:os';
import { NetlinkError } from '../../src/errors.js';
import { Nft } from '../../src/nft/index.js';
import { freshNetns, kernelAtLeast, kernelTest, run, toolPath } from '../helpers/kernel.js';

const test = kernelTest(['ip', 'nft']);

function tables(ns: string): string[] {
  const out = JSON.parse(run('ip', ['netns', 'exec', ns, toolPath('nft'), '-j', 'list', 'tables'])) as {
    nftables: Array<{ table?: { name: string } }>;
  };
  return out.nftables.flatMap((e) => (e.table ? [e.table.name] : [])).sort();
}

if (kernelAtLeast(6, 9)) {
  test(`persist: an owned table outlives its owner's socket (Linux ${release()})`, async (t) => {
    const ns = freshNetns(t);
    const nft = await Nft.open({ netns: ns });
    await nft.transaction((tx) => {
      tx.addTable({ family: 'inet', name: 'kept', flags: ['owner', 'persist'] });
      tx.addTable({ family: 'inet', name: 'owned', flags: ['owner'] });
    });
    t.deepEqual(tables(ns), ['kept', 'owned']);
    nft.close();
    // The kernel drops the owned table when the owner's socket goes; give it a moment to run.
    for (let i = 0; i < 100 && tables(ns).includes('owned'); i++) await new Promise((r) => setTimeout(r, 20));
    t.deepEqual(tables(ns), ['kept'], 'the persist table stayed, the merely owned one went with its socket');
  });
} else {
  test(`persist: refused with a clear error before Linux 6.9, nothing left behind (Linux ${release()})`, async (t) => {
    const ns = freshNetns(t);
    const nft = await Nft.open({ netns: ns });
    t.teardown(() => nft.close());
    const err = await t.throwsAsync(
      nft.transaction((tx) => {
        tx.addTable({ family: 'inet', name: 'plain' });
        tx.addTable({ family: 'inet', name: 'kept', flags: ['owner', 'persist'] });
      }),
      { instanceOf: NetlinkError },
    );
    t.is(err!.code, 'EOPNOTSUPP');
    t.regex(err!.message, /NFT_TABLE_F_PERSIST needs Linux 6\.9 or later/);
    t.deepEqual(tables(ns), [], 'the whole transaction was refused');
    // The same table without the flag works on this kernel.
    await nft.transaction((tx) => tx.addTable({ family: 'inet', name: 'kept', flags: ['owner'] }));
    t.deepEqual(tables(ns), ['kept']);
  });
}

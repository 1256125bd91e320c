/**
 * Concurrency:
 *   - two appliers at once on one namespace. A barrier in the applier hooks
 *     makes both read the kernel before either writes, so the race is
 *     certain, not hoped for. One wins; the other fails with a ConflictError
 *     (the nftables generation it read is gone) and converges on retry.
 *   - a route monitor under a storm of route changes made by another program
 *     (`ip -batch`) with a small receive buffer: the kernel drops
 *     notifications (ENOBUFS), the monitor reports a resync, and a mirror kept
 *     from the events plus a re-read at each resync ends equal to the kernel's
 *     table. 10 000 changes in CI, 100 000 with NETFWD_LONG=1 (NETFWD_ROUTE_CHANGES=N).
 */

import { spawn } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import { ApplyError, ConflictError } from '../../src/errors.js';
import { forwardService, type ServiceForward } from '../../src/forward/index.js';
import type { FrontendSpec } from '../../src/forward/spec/spec.js';
import { netns } from '../../src/netns/index.js';
import { Route } from '../../src/route/index.js';
import { kernelTest, run, toolPath, uniqueNetnsName } from '../helpers/kernel.js';
import { count, duplicateObjects, figure, frontendSpec, keyPair, removeNetns, uniqueInterface } from './helpers.js';

const test = kernelTest(['ip', 'nft', 'wg', 'wireguard-go']);

/** Resolves once `n` callers have arrived. */
function barrier(n: number): () => Promise<void> {
  let arrived = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => (release = r));
  return () => {
    if (++arrived === n) release();
    return all;
  };
}

function fresh(t: ExecutionContext, wgNames: string[]): string {
  const ns = uniqueNetnsName('nfrk');
  netns.create(ns);
  t.teardown(() => removeNetns(ns, wgNames));
  return ns;
}

/** Runs both applies, each pausing before its first step until both have planned. Returns the outcomes. */
async function race(a: ServiceForward, b: ServiceForward): Promise<PromiseSettledResult<unknown>[]> {
  const meet = barrier(2);
  const hooks = { beforeStep: (_s: unknown, position: number) => (position === 1 ? meet() : undefined) };
  return Promise.allSettled([a.apply({ hooks }), b.apply({ hooks })]);
}

function describeOutcome(r: PromiseSettledResult<unknown>): string {
  if (r.status === 'fulfilled') return 'applied';
  const e = r.reason as Error;
  return `${e.name}${e instanceof ApplyError ? ` (cause ${(e.cause as Error)?.name}: ${(e.cause as Error)?.message})` : ''}: ${e.message}`;
}

test('two appliers change one running frontend at once: one wins, the other gets a ConflictError and converges on retry', async (t) => {
  const wg = uniqueInterface('w');
  const ns = fresh(t, [wg]);
  const keys = keyPair();
  await forwardService(frontendSpec(ns, wg, keys)).apply();
  // Two operators each add a different forward.
  const specA = frontendSpec(ns, wg, keys);
  specA.forwards.push({ protocol: 'tcp', port: 443, to: { peer: 'home' } });
  const specB: FrontendSpec = frontendSpec(ns, wg, keys);
  specB.forwards.push({ protocol: 'udp', port: 5353, to: { peer: 'office' } });
  const a = forwardService(specA);
  const b = forwardService(specB);
  const outcomes = await race(a, b);
  t.log(outcomes.map((o, i) => `applier ${i ? 'B' : 'A'}: ${describeOutcome(o)}`).join('\n'));
  const won = outcomes.filter((o) => o.status === 'fulfilled').length;
  t.is(won, 1, 'exactly one applier wins');
  const lost = outcomes.findIndex((o) => o.status === 'rejected');
  const error = (outcomes[lost] as PromiseRejectedResult).reason as Error;
  t.true(error instanceof ApplyError && error.cause instanceof ConflictError, `the loser gets a ConflictError: ${error.message}`);
  t.true((error as ApplyError).restored);
  // The loser retries and converges; then the winner's change is what it replaced.
  const loser = lost === 0 ? a : b;
  await loser.apply();
  t.true((await loser.plan()).empty, 'the retry converged');
  t.deepEqual(duplicateObjects(ns), []);
});

test('two appliers set up one frontend from nothing at once: one wins, the other fails cleanly (nothing of the winner undone) and converges on retry', async (t) => {
  const wg = uniqueInterface('v');
  const ns = fresh(t, [wg]);
  const keys = keyPair();
  const a = forwardService(frontendSpec(ns, wg, keys));
  const b = forwardService(frontendSpec(ns, wg, keys));
  const outcomes = await race(a, b);
  t.log(outcomes.map((o, i) => `applier ${i ? 'B' : 'A'}: ${describeOutcome(o)}`).join('\n'));
  t.is(outcomes.filter((o) => o.status === 'fulfilled').length, 1, 'exactly one applier wins');
  const lost = outcomes.findIndex((o) => o.status === 'rejected');
  const error = (outcomes[lost] as PromiseRejectedResult).reason as Error;
  t.true(error instanceof ApplyError, `the loser gets an ApplyError: ${error.message}`);
  t.true((error as ApplyError).restored, 'the loser undid what it had done (and nothing of the winner)');
  // The winner's setup is intact: nothing of it was removed by the loser's rollback.
  const winner = lost === 0 ? b : a;
  t.true((await winner.plan()).empty, "the winner's state is complete");
  const loser = lost === 0 ? a : b;
  await loser.apply();
  t.true((await loser.plan()).empty);
  t.deepEqual(duplicateObjects(ns), []);
});

// From nothing the race is for the WireGuard link: the loser must learn that
// retrying is the fix (ConflictError; the CLI's exit 7), not see a bare EEXIST.
test('the loser of a race from nothing gets a ConflictError', async (t) => {
  const wg = uniqueInterface('q');
  const ns = fresh(t, [wg]);
  const keys = keyPair();
  const outcomes = await race(forwardService(frontendSpec(ns, wg, keys)), forwardService(frontendSpec(ns, wg, keys)));
  const rejected = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult | undefined;
  const e = rejected?.reason as Error | undefined;
  t.true(e instanceof ApplyError && e.cause instanceof ConflictError, e?.message);
});

test('a route monitor under a storm of route changes reports the lost notifications as a resync, and a mirror re-read at each resync ends equal to the kernel', async (t) => {
  const changes = count('ROUTE_CHANGES', 10_000, 100_000);
  const ns = fresh(t, []);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  const rt = await Route.open({ netns: ns });
  t.teardown(() => rt.close());
  const TABLE = 5000;
  const monitor = rt.monitor(['route'], { receiveBufferSize: 64 * 1024 });
  const mirror = new Set<string>();
  // The kernel's IPv6 route dump is not consistent while the table changes: when the tree
  // changes between two parts of a dump it starts over and skips as many routes as it has
  // sent, which can skip routes that were there all along (and it sets no NLM_F_DUMP_INTR).
  // So a re-read is repeated until two dumps in a row agree.
  const dump = async () => {
    const out: string[] = [];
    for await (const r of rt.routes.list({ table: TABLE, family: 6 })) out.push(r.destination);
    return out.sort().join(' ');
  };
  const reread = async () => {
    let last = await dump();
    for (;;) {
      const again = await dump();
      if (again === last) break;
      last = again;
    }
    mirror.clear();
    for (const d of last ? last.split(' ') : []) mirror.add(d);
  };

  // Another program changes the table: adds 60 % of the routes, then deletes two thirds of those, then a sentinel.
  const adds = Math.round(changes * 0.6);
  const dels = changes - adds;
  const prefix = (i: number) => `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`;
  const lines: string[] = [];
  for (let i = 0; i < adds; i++) lines.push(`route add blackhole ${prefix(i)} table ${TABLE} proto 99`);
  for (let i = 0; i < dels; i++) lines.push(`route del blackhole ${prefix(i)} table ${TABLE}`);
  const SENTINEL = '2001:db8:ffff:ffff::/64';
  lines.push(`route add blackhole ${SENTINEL} table ${TABLE} proto 99`);
  const t0 = Date.now();
  const batch = spawn(toolPath('ip'), ['-6', '-n', ns, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  batch.stderr.on('data', (d) => (stderr += d));
  const batchDone = new Promise<number | null>((resolve) => batch.once('exit', (code) => resolve(code)));
  batch.stdin.on('error', () => undefined); // an early exit is reported by its status below
  batch.stdin.end(`${lines.join('\n')}\n`);

  let events = 0;
  let resyncs = 0;
  let exited = false;
  const END = '2001:db8:ffff:fffe::/64';
  let endAdded = false;
  void batchDone.then(() => (exited = true));
  // Once the end marker is in the mirror nothing changes the table any more: the monitor's last
  // resync (if notifications were lost) comes as soon as the socket has been read empty, so a
  // quiet second means every change is in. (Overruns cannot be matched one to one with resyncs:
  // two overruns read before the socket is empty give one resync.)
  // An overrun read after the last resync was taken has a resync still to come: wait for it.
  const IDLE = Symbol('idle');
  const events$ = monitor[Symbol.asyncIterator]();
  let coveredOverruns = 0;
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const quiet = new Promise<typeof IDLE>((resolve) => (timer = setTimeout(() => resolve(IDLE), 1000)));
    const settled = mirror.has(END) && monitor.connection.stats.overruns === coveredOverruns;
    const next = settled ? await Promise.race([events$.next(), quiet]) : await events$.next();
    clearTimeout(timer);
    if (next === IDLE) break;
    if (next.done) break;
    const e = next.value;
    if (e.kind === 'resync') {
      resyncs++;
      coveredOverruns = monitor.connection.stats.overruns;
      await reread();
    } else if (e.kind === 'route' && e.route.table === TABLE && e.route.family === 6) {
      events++;
      if (e.action === 'new') mirror.add(e.route.destination);
      else mirror.delete(e.route.destination);
    }
    if (mirror.has(SENTINEL) && !endAdded) {
      // The sentinel is the batch's last change. Notifications lost just before it may not
      // have been reported yet (the kernel reports the overrun at the next read), so one
      // more change is made once the batch is done: anything lost before it comes out as
      // a resync before its event.
      if (!exited) await batchDone;
      endAdded = true;
      await rt.routes.add({ destination: END, type: 'blackhole', table: TABLE, protocol: 99 });
    }
  }
  monitor.close();
  t.is(await batchDone, 0, stderr);
  const truth = new Set<string>();
  for await (const r of rt.routes.list({ table: TABLE, family: 6 })) truth.add(r.destination);
  t.is(truth.size, adds - dels + 2, 'the routes left, the sentinel and the end marker');
  t.deepEqual([...mirror].sort(), [...truth].sort(), 'the mirror equals the kernel table');
  t.true(resyncs >= 1, `the overrun was reported (${resyncs} resyncs, ${monitor.connection.stats.overruns} overruns)`);
  t.true(monitor.connection.stats.overruns >= resyncs, 'a resync for every overrun or several');
  t.true(events < changes, 'notifications were lost, which is why the resyncs were needed');
  figure(
    t,
    `monitor: ${changes} route changes by ip -batch, ${events} events read, ${resyncs} resyncs for ${monitor.connection.stats.overruns} overruns (ENOBUFS), mirror equal to the kernel's table of ${truth.size} routes, in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
});

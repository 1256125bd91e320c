// netfwd: the rules through Route.rules.addMany (pipelined bulk requests).
// Timed: Route.open to the last acknowledgement.
import { performance } from 'node:perf_hooks';
import { loadNetfwd, report, workDone } from './_load.mjs';

const { Route, netlinkTotals } = await loadNetfwd();
const [ns, countText] = process.argv.slice(2);
const count = Number(countText);
function* rules() {
  for (let i = 1; i <= count; i++) yield { priority: i, fwmark: i, table: 5000 };
}
const t0 = performance.now();
const rt = await Route.open({ netns: ns });
const result = await rt.rules.addMany(rules());
const opMs = performance.now() - t0;
workDone();
const datagrams = netlinkTotals.datagramsSent;
if (result.failed.length) {
  console.error(`${result.failed.length} failed, first: ${result.failed[0].error.message}`);
  process.exit(1);
}
// The same work again in the same process, on a warm JIT (removed first, not timed).
await rt.rules.removeMany(rules());
const t1 = performance.now();
const again = await rt.rules.addMany(rules());
const warmMs = performance.now() - t1;
rt.close();
if (again.failed.length) process.exit(1);
report({ opMs, warmMs, datagrams });

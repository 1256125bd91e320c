// netfwd: the routes through Route.routes.addMany (pipelined bulk requests).
// Timed: Route.open to the last acknowledgement; the import of the package
// is outside (the harness also reports the whole process).
import { performance } from 'node:perf_hooks';
import { loadNetfwd, report, workDone } from './_load.mjs';

const { Route, netlinkTotals } = await loadNetfwd();
const [ns, countText] = process.argv.slice(2);
const count = Number(countText);
function* routes() {
  for (let i = 0; i < count; i++) {
    yield { destination: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`, link: 'lo', table: 5000 };
  }
}
const t0 = performance.now();
const rt = await Route.open({ netns: ns });
const result = await rt.routes.addMany(routes());
const opMs = performance.now() - t0;
workDone();
const datagrams = netlinkTotals.datagramsSent;
if (result.failed.length) {
  console.error(`${result.failed.length} failed, first: ${result.failed[0].error.message}`);
  process.exit(1);
}
// The same work again in the same process, on a warm JIT (removed first, not timed).
await rt.routes.removeMany(routes());
const t1 = performance.now();
const again = await rt.routes.addMany(routes());
const warmMs = performance.now() - t1;
rt.close();
if (again.failed.length) process.exit(1);
report({ opMs, warmMs, datagrams });

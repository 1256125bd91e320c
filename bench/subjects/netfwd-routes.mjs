// netfwd: the routes through Route.routes.addMany (pipelined bulk requests).
import { performance } from 'node:perf_hooks';
import { Route, netlinkTotals } from '../../dist/index.js';

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
rt.close();
if (result.failed.length) {
  console.error(`${result.failed.length} failed, first: ${result.failed[0].error.message}`);
  process.exit(1);
}
console.log(JSON.stringify({ opMs, datagrams: netlinkTotals.datagramsSent }));

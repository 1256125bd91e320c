// netfwd: the rules through Route.rules.addMany (pipelined bulk requests).
import { performance } from 'node:perf_hooks';
import { Route } from '../../dist/index.js';

const [ns, countText] = process.argv.slice(2);
const count = Number(countText);
function* rules() {
  for (let i = 1; i <= count; i++) yield { priority: i, fwmark: i, table: 5000 };
}
const t0 = performance.now();
const rt = await Route.open({ netns: ns });
const result = await rt.rules.addMany(rules());
const opMs = performance.now() - t0;
rt.close();
if (result.failed.length) {
  console.error(`${result.failed.length} failed, first: ${result.failed[0].error.message}`);
  process.exit(1);
}
console.log(JSON.stringify({ opMs }));

// netfwd in-process: forwardService(spec).apply() for the frontend, then for
// the backend, from the JSON specs the case wrote (read before the clock
// starts). Both start wireguard-go, as the shell recipe does.
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadNetfwd, report } from './_load.mjs';

const { forwardService } = await loadNetfwd();
const specs = process.argv.slice(2).map((f) => JSON.parse(readFileSync(f, 'utf8')));
const t0 = performance.now();
let writes = 0;
for (const spec of specs) {
  const r = await forwardService(spec, { implementation: 'userspace' }).apply();
  writes += r.netlinkWrites;
}
const opMs = performance.now() - t0;
report({ opMs, writes });

// netfwd on a frontend that is already set up (bench/cases/reconcile.ts):
//   apply SPEC            reconcile with nothing to change: reads, diffs, must write nothing
//   apply-one SPEC SPEC2  SPEC2 has one forward more: apply it (timed), then SPEC again (not timed)
//   status SPEC           forwardService(spec).status()
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { loadNetfwd, report } from './_load.mjs';

const { forwardService } = await loadNetfwd();
const [mode, ...files] = process.argv.slice(2);
const [spec, spec2] = files.map((f) => JSON.parse(readFileSync(f, 'utf8')));
const options = { implementation: 'userspace' };
const t0 = performance.now();
if (mode === 'apply') {
  const r = await forwardService(spec, options).apply();
  report({ opMs: performance.now() - t0, writes: r.netlinkWrites, changes: r.plan.changes.length });
} else if (mode === 'apply-one') {
  const r = await forwardService(spec2, options).apply();
  const opMs = performance.now() - t0;
  const back = await forwardService(spec, options).apply();
  report({ opMs, writes: r.netlinkWrites, restoreWrites: back.netlinkWrites });
} else if (mode === 'status') {
  const s = await forwardService(spec, options).status();
  report({ opMs: performance.now() - t0, forwards: s.forwards.length });
} else throw new Error(`unknown mode ${mode}`);

/**
 * The long fuzzing run of issue 8: every decoder gets `--count` random and
 * mutated inputs (default 1 000 000), two targets at a time, each under a
 * watchdog that catches hangs. Unexpected exceptions and hangs are saved to
 * test/fixtures/fuzz-regressions/ (replayed by test/reliability/fuzz.test.ts)
 * and make the exit status 1. Prints the figures per decoder.
 *
 *   tsx scripts/fuzz-decoders.ts [--count N] [--seed S] [--target NAME]... [--jobs J] [--hang-ms MS]
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { type RunStats, runTarget, saveRegression } from './fuzz-engine.js';
import { TARGETS } from './fuzz-targets.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    seed: { type: 'string' },
    target: { type: 'string', multiple: true },
    jobs: { type: 'string' },
    'hang-ms': { type: 'string', default: '10000' },
  },
});

const count = Number(values.count);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 0x7fffffff);
const names = values.target?.length ? values.target : TARGETS.map((t) => t.name);
const jobs = Number(values.jobs ?? Math.max(1, Math.min(availableParallelism(), names.length)));
const hangMs = Number(values['hang-ms']);

console.log(
  `fuzzing ${names.join(', ')}: ${count} inputs each, seed ${seed} (--seed ${seed} replays), ${jobs} at a time, hang after ${hangMs} ms`,
);
const t0 = Date.now();
const queue = [...names];
const results: RunStats[] = [];
await Promise.all(
  Array.from({ length: jobs }, async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      let shown = 0;
      const stats = await runTarget(name, {
        count,
        seed,
        hangMs,
        progress: (done) => {
          if (done - shown >= count / 10) {
            shown = done;
            console.log(`  ${name}: ${done} / ${count}`);
          }
        },
      });
      results.push(stats);
      for (const f of stats.findings)
        console.log(`  ${name}: ${f.kind} at input ${f.index}, saved as ${saveRegression(f)}\n    ${f.error.split('\n')[0]}`);
      console.log(`  ${name}: done in ${(stats.ms / 1000).toFixed(1)} s`);
    }
  }),
);

console.log('\nfigures:');
for (const r of results.sort((a, b) => a.target.localeCompare(b.target))) {
  const rate = Math.round(r.inputs / (r.ms / 1000));
  console.log(
    `  ${r.target.padEnd(20)} ${String(r.inputs).padStart(8)} inputs  ${String(r.decoded).padStart(8)} decoded  ${String(r.refused).padStart(8)} typed errors  ${String(r.findings.length).padStart(3)} findings  ${(r.ms / 1000).toFixed(1).padStart(7)} s  (${rate}/s)`,
  );
}
const findings = results.reduce((n, r) => n + r.findings.length, 0);
console.log(
  `total: ${results.length} decoders, ${results.reduce((n, r) => n + r.inputs, 0)} inputs, ${findings} findings, ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);
process.exitCode = findings > 0 ? 1 : 0;

/**
 * `npm run bench`: every case side by side with the real tools, in one run,
 * printed as a table of ratios and written as JSON under bench/results/.
 *
 *   npm run bench -- [--runs 5] [--quick] [--only routes,rules]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { type BenchCase, type CaseResult, runCase } from './lib/harness.js';
import { benchDir } from './lib/peers.js';
import { allCases } from './cases/index.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

const runs = Math.max(5, Number(arg('runs') ?? 5));
const quick = process.argv.includes('--quick');
const only = arg('only')?.split(',');

if (process.getuid?.() !== 0) {
  console.error('the benchmarks need root: they create network namespaces');
  process.exit(2);
}

const fmt = (ms: number) => (Number.isFinite(ms) ? (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1)) : '–');
const fmtMb = (kb: number) => (Number.isFinite(kb) ? (kb / 1024).toFixed(0) : '–');

function table(results: CaseResult[]): string {
  const lines: string[] = [];
  for (const c of results) {
    lines.push('', `## ${c.title} (${c.id})`, '');
    lines.push('| size | contender | median ms | min–max ms | µs per ' + c.unit + ' | peak RSS MB | vs first |');
    lines.push('|---:|---|---:|---:|---:|---:|---:|');
    const sizes = [...new Set(c.results.map((r) => r.size))];
    for (const size of sizes) {
      const rows = c.results.filter((r) => r.size === size);
      const first = rows.find((r) => !r.skipped);
      for (const r of rows) {
        if (r.skipped) {
          lines.push(`| ${size} | ${r.contender} | skipped: ${r.skipped} | | | | |`);
          continue;
        }
        const ratio = first ? r.ms.median / first.ms.median : NaN;
        lines.push(
          `| ${size} | ${r.contender} | ${fmt(r.ms.median)} | ${fmt(r.ms.min)}–${fmt(r.ms.max)} | ${r.perObjectUs.toFixed(2)} | ${fmtMb(r.rssKb.median)} | ${ratio.toFixed(2)}× |`,
        );
      }
    }
    if (c.targets.length) {
      lines.push('', 'Targets:');
      for (const t of c.targets) {
        const what = t.maxRatio !== undefined ? `${t.subject} / ${t.baseline} = ${t.value.toFixed(2)} (≤ ${t.maxRatio})` : `${t.baseline} / ${t.subject} = ${t.value.toFixed(1)}× (≥ ${t.minSpeedup}×)`;
        lines.push(`- ${t.met ? 'met' : 'MISSED'}: size ${t.size}: ${what}${t.note ? ` — ${t.note}` : ''}`);
      }
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const cases = allCases(quick).filter((c: BenchCase<unknown>) => !only || only.includes(c.id));
  const results: CaseResult[] = [];
  for (const c of cases) {
    console.error(`running ${c.id} (${runs} runs per size)`);
    results.push(await runCase(c, runs, (s) => console.error(s)));
  }
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, memoryGb: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version };
  const out = table(results);
  console.log(`# netfwd benchmarks\n\n${runs} runs per size; medians; ${JSON.stringify(machine)}\n${out}`);
  mkdirSync(join(benchDir, 'results'), { recursive: true });
  const file = join(benchDir, 'results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), runs, quick, machine, results }, null, 2));
  console.error(`\nwrote ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

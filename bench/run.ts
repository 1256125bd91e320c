/**
 * `npm run bench`: every case side by side with the real tools, in one run,
 * printed as markdown tables of ratios and written as JSON under bench/results/.
 *
 *   npm run bench -- [--runs 5] [--quick | --smoke] [--only routes,rules] [--sizes 1000,10000]
 *
 * --quick: smaller sizes; --smoke: one run of the smallest sizes, to check that
 * every case works (its figures mean nothing and are not written).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { allCases, type Scale } from './cases/index.js';
import { type BenchCase, type CaseResult, runCase } from './lib/harness.js';
import { snapshotBuild } from './lib/netfwd.js';
import { benchDir } from './lib/peers.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? undefined : process.argv[i + 1];
}

const smoke = process.argv.includes('--smoke');
const scale: Scale = smoke ? 'smoke' : process.argv.includes('--quick') ? 'quick' : 'full';
// At least 3 runs (5 by default); fewer than 5 gives rough medians (the README's tables use 5 or more).
const runs = smoke ? 1 : Math.max(3, Number(arg('runs') ?? 5));
const only = arg('only')?.split(',');

// `npm run` puts node_modules/.bin first on PATH, where an npm package named
// `nft` (a file tracer) would shadow nftables: every tool, and everything
// `ip netns exec` or netfwd starts, must come from the system's directories.
process.env.PATH = (process.env.PATH ?? '')
  .split(':')
  .filter((d) => d && !d.includes('node_modules'))
  .join(':');

if (process.getuid?.() !== 0) {
  console.error('the benchmarks need root: they create network namespaces');
  process.exit(2);
}

const fmt = (ms: number) => (Number.isFinite(ms) ? (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2)) : '–');
const fmtMb = (kb: number) => (Number.isFinite(kb) ? (kb / 1024).toFixed(0) : '–');
const fmtUs = (us: number) => (Number.isFinite(us) ? (us >= 100 ? us.toFixed(0) : us.toFixed(2)) : '–');
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

function extraText(extra: Record<string, { median: number; max: number }>): string {
  return Object.entries(extra)
    .map(
      ([k, v]) =>
        `${k} ${Number.isInteger(v.median) ? v.median : v.median.toFixed(1)}${v.max !== v.median && Number.isFinite(v.max) ? ` (max ${Number.isInteger(v.max) ? v.max : v.max.toFixed(1)})` : ''}`,
    )
    .join(', ');
}

function table(results: CaseResult[]): string {
  const lines: string[] = [];
  for (const c of results) {
    lines.push('', `### ${c.title} (\`${c.id}\`)`, '');
    lines.push(`| size | contender | median ms | min–max ms | µs per ${c.unit} | whole process ms | peak RSS MB | vs first | other |`);
    lines.push('|---:|---|---:|---:|---:|---:|---:|---:|---|');
    const sizes = [...new Set(c.results.map((r) => r.size))];
    for (const size of sizes) {
      const rows = c.results.filter((r) => r.size === size);
      const first = rows.find((r) => !r.skipped && !r.error);
      for (const r of rows) {
        if (r.skipped || r.error) {
          lines.push(`| ${size} | ${r.contender} | ${r.skipped ? `skipped: ${r.skipped}` : `FAILED: ${r.error}`} | | | | | | |`);
          continue;
        }
        const ratio = first ? r.ms.median / first.ms.median : NaN;
        lines.push(
          `| ${size} | ${r.contender} | ${fmt(r.ms.median)} | ${fmt(r.ms.min)}–${fmt(r.ms.max)} | ${fmtUs(r.perObjectUs)} | ${fmt(r.processMs.median)} | ${fmtMb(r.rssKb.median)} | ${ratio.toFixed(2)}× | ${extraText(r.extra)} |`,
        );
      }
    }
    const timed = [...new Map(c.results.map((r) => [r.contender, r.timed])).entries()];
    lines.push('', 'Timed:', ...timed.map(([k, t]) => `- ${k}: ${t}`));
    if (c.targets.length) {
      lines.push('', 'Targets:');
      for (const t of c.targets) {
        const what = t.extra
          ? `${t.subject}: ${t.extra.key} = ${t.value} (≤ ${t.extra.max})`
          : t.maxRatio !== undefined
            ? `${t.subject} / ${t.baseline} = ${t.value.toFixed(2)} (≤ ${t.maxRatio})`
            : `${t.baseline} / ${t.subject} = ${t.value.toFixed(1)}× (≥ ${t.minSpeedup}×)`;
        lines.push(
          `- **${t.check ? (t.met ? 'PASS' : 'FAIL') : t.met ? 'met' : 'MISSED'}**: size ${t.size}: ${what}${t.note ? ` — ${t.note}` : ''}`,
        );
      }
    }
  }
  return lines.join('\n');
}

function tool(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .trim()
      .split('\n')[0]!;
  } catch {
    return 'missing';
  }
}

async function main(): Promise<void> {
  snapshotBuild();
  const cases = allCases(scale).filter((c: BenchCase<unknown>) => !only || only.includes(c.id));
  // --sizes 1000,10000: these sizes instead of the scale's, for every case run (e.g. one slow case in a VM).
  const sizes = arg('sizes')?.split(',').map(Number);
  if (sizes) {
    if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error('--sizes takes positive integers, e.g. --sizes 1000,10000');
    for (const c of cases) c.sizes = sizes;
  }
  const results: CaseResult[] = [];
  const loadBefore = load();
  const loads: Record<string, string> = {};
  const started = new Date();
  for (const c of cases) {
    console.error(`running ${c.id} (${runs} run${runs > 1 ? 's' : ''} per size; load average ${load()})`);
    results.push(await runCase(c, runs, (s) => console.error(s)));
    loads[c.id] = load();
  }
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    tools: {
      ip: tool('ip', ['-V']),
      nft: tool('nft', ['--version']),
      wg: tool('wg', ['--version']),
      wireguardGo: tool('dpkg-query', ['-W', '-f', '${Version}', 'wireguard-go']),
      pyroute2: tool('dpkg-query', ['-W', '-f', '${Version}', 'python3-pyroute2']),
    },
    loadAverage: { before: loadBefore, afterEachCase: loads },
  };
  const minutes = ((Date.now() - started.getTime()) / 60000).toFixed(1);
  const header =
    `# netfwd benchmarks\n\n${started.toISOString()}, ${scale} sizes, ${runs} runs per size (contenders interleaved), medians; ${minutes} min.\n` +
    `Machine: ${machine.cpus} × ${machine.cpu}, ${machine.memoryGb} GB, Linux ${machine.kernel}, node ${machine.node}; ` +
    `${machine.tools.ip}; ${machine.tools.nft}; ${machine.tools.wg}; wireguard-go ${machine.tools.wireguardGo}; pyroute2 ${machine.tools.pyroute2}.\n` +
    `Load average (1, 5, 15 min) before: ${loadBefore}; after each case: ${Object.entries(loads)
      .map(([k, v]) => `${k} ${v}`)
      .join('; ')}.`;
  console.log(`${header}\n${table(results)}`);
  if (smoke) return;
  mkdirSync(join(benchDir, 'results'), { recursive: true });
  const file = join(benchDir, 'results', `bench-${started.toISOString().replace(/[:.]/g, '-')}.json`);
  const pkg = JSON.parse(readFileSync(join(benchDir, '..', 'package.json'), 'utf8')) as { version: string };
  writeFileSync(file, JSON.stringify({ date: started.toISOString(), version: pkg.version, scale, runs, machine, results }, null, 2));
  console.error(`\nwrote ${file}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

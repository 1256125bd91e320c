/**
 * The benchmark harness: every case runs its contenders on the same work, in
 * throwaway namespaces, interleaved run by run, and compares medians.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type Summary, summarize } from './measure.js';

export interface Measurement {
  /** The time compared across contenders, milliseconds. */
  ms: number;
  /** Peak RSS of the process that did the work, kilobytes (NaN when in-process). */
  rssKb: number;
  /** Anything else worth reporting (messages sent, writes, ...). */
  extra?: Record<string, number>;
}

export interface Contender<Ctx> {
  name: string;
  run(ctx: Ctx, size: number): Promise<Measurement>;
  /** Skip this contender (with the reason) when it cannot run here. */
  unavailable?(): string | undefined;
  /** Largest size this contender is run at (slow peers). */
  maxSize?: number;
}

export interface Target {
  subject: string;
  baseline: string;
  /** subject median / baseline median must be at most this. */
  maxRatio?: number;
  /** baseline median / subject median must be at least this ("N× faster"). */
  minSpeedup?: number;
  sizes?: number[];
  note?: string;
}

export interface BenchCase<Ctx> {
  id: string;
  title: string;
  sizes: number[];
  /** What one object is, for per-object figures ("route", "peer", ...). */
  unit: string;
  /** Creates the state one run starts from (fresh namespaces, input files). */
  setup(size: number): Promise<Ctx>;
  teardown(ctx: Ctx): Promise<void>;
  contenders: Array<Contender<Ctx>>;
  targets?: Target[];
}

export interface ContenderResult {
  contender: string;
  size: number;
  ms: Summary;
  perObjectUs: number;
  rssKb: Summary;
  extra: Record<string, number>;
  skipped?: string;
}

export interface TargetResult extends Target {
  size: number;
  value: number;
  met: boolean;
}

export interface CaseResult {
  id: string;
  title: string;
  unit: string;
  results: ContenderResult[];
  targets: TargetResult[];
}

export async function runCase<Ctx>(c: BenchCase<Ctx>, runs: number, log: (s: string) => void): Promise<CaseResult> {
  const results: ContenderResult[] = [];
  for (const size of c.sizes) {
    const samples = new Map<string, Measurement[]>();
    const active = c.contenders.filter((k) => !k.unavailable?.() && (k.maxSize === undefined || size <= k.maxSize));
    for (const k of c.contenders) {
      const why = k.unavailable?.();
      if (why) results.push({ contender: k.name, size, ms: summarize([]), perObjectUs: NaN, rssKb: summarize([]), extra: {}, skipped: why });
      else if (k.maxSize !== undefined && size > k.maxSize) {
        results.push({ contender: k.name, size, ms: summarize([]), perObjectUs: NaN, rssKb: summarize([]), extra: {}, skipped: `not run above ${k.maxSize}` });
      }
    }
    for (let r = 0; r < runs; r++) {
      // Rotate the order so no contender always runs first (cache, page reuse).
      for (let i = 0; i < active.length; i++) {
        const k = active[(i + r) % active.length]!;
        const ctx = await c.setup(size);
        try {
          const m = await k.run(ctx, size);
          if (!samples.has(k.name)) samples.set(k.name, []);
          samples.get(k.name)!.push(m);
        } finally {
          await c.teardown(ctx);
        }
      }
    }
    for (const k of active) {
      const list = samples.get(k.name) ?? [];
      const ms = summarize(list.map((m) => m.ms));
      const extra: Record<string, number> = {};
      for (const m of list) for (const [key, v] of Object.entries(m.extra ?? {})) extra[key] = v;
      results.push({ contender: k.name, size, ms, perObjectUs: (ms.median * 1000) / size, rssKb: summarize(list.map((m) => m.rssKb)), extra });
      log(`  ${c.id} ${size} ${k.name}: median ${ms.median.toFixed(1)} ms (${ms.min.toFixed(1)}–${ms.max.toFixed(1)})`);
    }
  }
  const targets: TargetResult[] = [];
  for (const t of c.targets ?? []) {
    for (const size of t.sizes ?? c.sizes) {
      const s = results.find((r) => r.contender === t.subject && r.size === size && !r.skipped);
      const b = results.find((r) => r.contender === t.baseline && r.size === size && !r.skipped);
      if (!s || !b) continue;
      if (t.maxRatio !== undefined) {
        const value = s.ms.median / b.ms.median;
        targets.push({ ...t, size, value, met: value <= t.maxRatio });
      } else if (t.minSpeedup !== undefined) {
        const value = b.ms.median / s.ms.median;
        targets.push({ ...t, size, value, met: value >= t.minSpeedup });
      }
    }
  }
  return { id: c.id, title: c.title, unit: c.unit, results, targets };
}

/** A throwaway namespace with lo up, made with iproute2 (the harness may use the tools). */
export function scratchNetns(prefix = 'nfb'): string {
  const name = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export function removeNetns(name: string): void {
  try {
    execFileSync('ip', ['netns', 'del', name], { stdio: 'ignore' });
  } catch {
    /* already gone */
  }
}

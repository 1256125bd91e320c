/**
 * The benchmark harness: every case runs its contenders on the same work, in
 * throwaway namespaces, interleaved run by run (the order rotates), and
 * compares medians.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { type Summary, summarize } from './measure.js';

export interface Measurement {
  /** The time compared across contenders, milliseconds. */
  ms: number;
  /** Peak RSS of the process that did the work, kilobytes (NaN when not measured). */
  rssKb: number;
  /** Whole-process wall time when `ms` is a part of a process (netfwd's operation inside its node process). */
  processMs?: number;
  /** Anything else worth reporting (messages sent, writes, connections per second, ...). */
  extra?: Record<string, number>;
}

export interface Contender<Ctx> {
  name: string;
  /** What `ms` covers for this contender (printed under the table and in the JSON). */
  timed: string;
  run(ctx: Ctx, size: number): Promise<Measurement>;
  /** Skip this contender (with the reason) when it cannot run here. */
  unavailable?(): string | undefined;
  /** Largest size this contender is run at (slow peers). */
  maxSize?: number;
}

export interface Target {
  subject: string;
  baseline?: string;
  /** subject median / baseline median must be at most this. */
  maxRatio?: number;
  /** baseline median / subject median must be at least this ("N× faster"). */
  minSpeedup?: number;
  /** The largest value of `extra[key]` over the subject's runs must be at most `max` (e.g. zero writes). */
  extra?: { key: string; max: number };
  sizes?: number[];
  note?: string;
  /** A correctness check rather than a speed target (zero writes, one transaction): printed PASS / FAIL. */
  check?: boolean;
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
  /** Set up once per size and run every contender on it (for read-only or self-restoring runs). */
  reuseSetup?: boolean;
  contenders: Array<Contender<Ctx>>;
  targets?: Target[];
}

export interface ExtraSummary {
  median: number;
  min: number;
  max: number;
}

export interface ContenderResult {
  contender: string;
  timed: string;
  size: number;
  ms: Summary;
  perObjectUs: number;
  rssKb: Summary;
  processMs: Summary;
  extra: Record<string, ExtraSummary>;
  skipped?: string;
  error?: string;
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

function empty<Ctx>(k: Contender<Ctx>, size: number, why: { skipped?: string; error?: string }): ContenderResult {
  return {
    contender: k.name,
    timed: k.timed,
    size,
    ms: summarize([]),
    perObjectUs: NaN,
    rssKb: summarize([]),
    processMs: summarize([]),
    extra: {},
    ...why,
  };
}

export async function runCase<Ctx>(c: BenchCase<Ctx>, runs: number, log: (s: string) => void): Promise<CaseResult> {
  const results: ContenderResult[] = [];
  for (const size of c.sizes) {
    const samples = new Map<string, Measurement[]>();
    const errors = new Map<string, string>();
    const active = c.contenders.filter((k) => !k.unavailable?.() && (k.maxSize === undefined || size <= k.maxSize));
    for (const k of c.contenders) {
      const why = k.unavailable?.();
      if (why) results.push(empty(k, size, { skipped: why }));
      else if (k.maxSize !== undefined && size > k.maxSize) results.push(empty(k, size, { skipped: `not run above ${k.maxSize}` }));
    }
    let shared: Ctx | undefined;
    try {
      if (c.reuseSetup) shared = await c.setup(size);
      for (let r = 0; r < runs; r++) {
        // Rotate the order so no contender always runs first (caches, page reuse, load).
        for (let i = 0; i < active.length; i++) {
          const k = active[(i + r) % active.length]!;
          if (errors.has(k.name)) continue;
          const ctx = shared ?? (await c.setup(size));
          try {
            const m = await k.run(ctx, size);
            if (!samples.has(k.name)) samples.set(k.name, []);
            samples.get(k.name)!.push(m);
          } catch (err) {
            // One failing contender does not stop the others; the table says why.
            const text = (err as Error).message.split('\n').slice(0, 3).join(' ');
            errors.set(k.name, text);
            log(`  ${c.id} ${size} ${k.name}: FAILED ${text}`);
          } finally {
            if (!shared) await c.teardown(ctx);
          }
        }
      }
    } finally {
      if (shared) await c.teardown(shared);
    }
    for (const k of active) {
      const list = samples.get(k.name) ?? [];
      if (errors.has(k.name)) {
        results.push(empty(k, size, { error: errors.get(k.name) }));
        continue;
      }
      const ms = summarize(list.map((m) => m.ms));
      const extra: Record<string, ExtraSummary> = {};
      const keys = new Set(list.flatMap((m) => Object.keys(m.extra ?? {})));
      for (const key of keys) {
        const s = summarize(list.map((m) => m.extra?.[key] ?? NaN));
        extra[key] = { median: s.median, min: s.min, max: s.max };
      }
      results.push({
        contender: k.name,
        timed: k.timed,
        size,
        ms,
        perObjectUs: (ms.median * 1000) / size,
        rssKb: summarize(list.map((m) => m.rssKb)),
        processMs: summarize(list.map((m) => m.processMs ?? NaN)),
        extra,
      });
      log(`  ${c.id} ${size} ${k.name}: median ${ms.median.toFixed(1)} ms (${ms.min.toFixed(1)}–${ms.max.toFixed(1)})`);
    }
  }
  const targets: TargetResult[] = [];
  for (const t of c.targets ?? []) {
    for (const size of t.sizes ?? c.sizes) {
      const s = results.find((r) => r.contender === t.subject && r.size === size && !r.skipped && !r.error);
      if (!s) continue;
      if (t.extra) {
        const value = s.extra[t.extra.key]?.max ?? NaN;
        targets.push({ ...t, size, value, met: value <= t.extra.max });
        continue;
      }
      const b = results.find((r) => r.contender === t.baseline && r.size === size && !r.skipped && !r.error);
      if (!b) continue;
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

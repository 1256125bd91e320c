/**
 * The fuzzing engine: input number i of a target is a pure function of
 * (target, seed, i) — random bytes or text, or a real seed mutated — so any
 * input can be rebuilt from its number. Inputs run in a worker thread that
 * publishes the number of the input it is on in shared memory; the main
 * thread is the watchdog: an input that runs longer than `hangMs` is a hang,
 * the worker is terminated, the input saved, and the run goes on after it.
 * Unexpected exceptions are saved the same way as regression cases in
 * test/fixtures/fuzz-regressions/.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { type FuzzTarget, TARGETS } from './fuzz-targets.js';

export const REGRESSIONS_DIR = new URL('../test/fixtures/fuzz-regressions/', import.meta.url);

/** mulberry32. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);

/** Bytes that matter in netlink: lengths, types and flags near their edges. */
const INTERESTING = [0, 1, 2, 3, 4, 5, 7, 8, 0x0f, 0x10, 0x7f, 0x80, 0xfe, 0xff];

function mutateBytes(r: Rand, seeds: Buffer[], base: Buffer): Buffer {
  let out = Buffer.from(base);
  const rounds = 1 + int(r, 4);
  for (let k = 0; k < rounds; k++) {
    switch (int(r, 9)) {
      case 0: // truncate
        out = out.subarray(0, int(r, out.length + 1));
        break;
      case 1: // random bytes
        for (let i = 0, n = 1 + int(r, 4); i < n && out.length; i++) out[int(r, out.length)] = int(r, 256);
        break;
      case 2: // interesting bytes
        for (let i = 0, n = 1 + int(r, 3); i < n && out.length; i++) out[int(r, out.length)] = INTERESTING[int(r, INTERESTING.length)]!;
        break;
      case 3: // an attribute length (u16 at a 4-byte boundary) set to something odd
        if (out.length >= 4) {
          const at = 4 * int(r, out.length >> 2);
          const v = [0, 1, 3, 4, 5, 0xffff, out.length - at, out.length - at + 4, int(r, 0x10000)][int(r, 9)]!;
          out.writeUInt16LE(v & 0xffff, Math.min(at, out.length - 2));
        }
        break;
      case 4: // bit flip
        if (out.length) {
          const at = int(r, out.length);
          out[at] = out[at]! ^ (1 << int(r, 8));
        }
        break;
      case 5: // append random bytes
        out = Buffer.concat([out, Buffer.from(Array.from({ length: int(r, 24) }, () => int(r, 256)))]);
        break;
      case 6: {
        // splice in a slice of another seed
        const other = seeds[int(r, seeds.length)]!;
        const from = int(r, other.length + 1);
        const slice = other.subarray(from, from + int(r, 64));
        const at = int(r, out.length + 1);
        out = Buffer.concat([out.subarray(0, at), slice, out.subarray(at)]);
        break;
      }
      case 7: {
        // duplicate a 4-aligned region (repeated attributes)
        const at = 4 * int(r, (out.length >> 2) + 1);
        const len = 4 * (1 + int(r, 8));
        out = Buffer.concat([out.subarray(0, at + len), out.subarray(at, at + len), out.subarray(at + len)]);
        break;
      }
      default: {
        // delete a region
        const at = int(r, out.length + 1);
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1 + int(r, 16))]);
      }
    }
  }
  return out;
}

const TEXT_NOISE = [
  '',
  ' ',
  '\t',
  '\n',
  '\r\n',
  '=',
  ':',
  '- ',
  '{',
  '}',
  '[',
  ']',
  ',',
  '"',
  "'",
  '#',
  '&a ',
  '*a',
  '!!str ',
  '!!binary ',
  '|',
  '>',
  '%',
  '@',
  '`',
  '?',
  '---\n',
  '...\n',
  '\\',
  '\u0000',
  '\uFEFF',
  'é',
  '\u2028',
  '-1',
  '0',
  '1e400',
  '0x10',
  '99999999999999999999',
  'null',
  '~',
  'true',
  '<<: *a',
  'errno=',
  'public_key=',
  'allowed_ip=',
  '/',
  '::',
  '[::1]:',
];

function mutateText(r: Rand, seeds: string[], base: string): string {
  let s = base;
  const rounds = 1 + int(r, 4);
  for (let k = 0; k < rounds; k++) {
    const at = int(r, s.length + 1);
    switch (int(r, 7)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1 + int(r, 12));
        break;
      case 1:
        s = s.slice(0, at) + TEXT_NOISE[int(r, TEXT_NOISE.length)]! + s.slice(at);
        break;
      case 2: {
        const lines = s.split('\n');
        lines.splice(int(r, lines.length + 1), 0, lines[int(r, lines.length)]!);
        s = lines.join('\n');
        break;
      }
      case 3: {
        const lines = s.split('\n');
        const i = int(r, lines.length);
        lines[i] = ' '.repeat(int(r, 6)) + lines[i]!.trimStart();
        s = lines.join('\n');
        break;
      }
      case 4: {
        const other = seeds[int(r, seeds.length)]!.split('\n');
        const lines = s.split('\n');
        lines.splice(int(r, lines.length + 1), int(r, 2), other[int(r, other.length)]!);
        s = lines.join('\n');
        break;
      }
      case 5:
        s = s.slice(0, at) + String.fromCharCode(int(r, 0x80)) + s.slice(at + 1);
        break;
      default: {
        // a digit run replaced by an edge value
        s = s.replace(/\d+/, () => ['0', '-1', '65536', '4294967296', '1e3', '00', '9'.repeat(30)][int(r, 7)]!);
      }
    }
  }
  return s;
}

export interface Prepared {
  target: FuzzTarget;
  seeds: Array<Buffer | string>;
}

export function prepare(target: FuzzTarget): Prepared {
  return { target, seeds: target.seeds() };
}

/** Input number `i` of `target` for run `seed`: a quarter random, the rest mutated seeds (and each seed itself first). */
export function inputAt(p: Prepared, seed: number, i: number): Buffer | string {
  if (i < p.seeds.length) return p.seeds[i]!;
  const r = rng((seed ^ Math.imul(i, 0x9e3779b1)) >>> 0);
  r();
  if (p.target.kind === 'bytes') {
    const seeds = p.seeds as Buffer[];
    if (r() < 0.25) return Buffer.from(Array.from({ length: int(r, 160) }, () => int(r, 256)));
    return mutateBytes(r, seeds, seeds[int(r, seeds.length)]!);
  }
  const seeds = p.seeds as string[];
  if (r() < 0.1) return Array.from({ length: int(r, 200) }, () => String.fromCharCode(int(r, 0x80))).join('');
  return mutateText(r, seeds, seeds[int(r, seeds.length)]!);
}

export function targetByName(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`unknown fuzz target ${name} (${TARGETS.map((x) => x.name).join(', ')})`);
  return t;
}

export interface Finding {
  target: string;
  kind: 'exception' | 'hang';
  seed: number;
  index: number;
  error: string;
  input: Buffer | string;
}

export interface RunStats {
  target: string;
  inputs: number;
  /** Inputs that decoded to a value. */
  decoded: number;
  /** Inputs refused with the decoder's typed error. */
  refused: number;
  findings: Finding[];
  ms: number;
}

/** Saves a finding as a regression case; returns its path. Same input, same file. */
export function saveRegression(f: Finding): string {
  mkdirSync(REGRESSIONS_DIR, { recursive: true });
  const data = typeof f.input === 'string' ? { text: f.input } : { hex: f.input.toString('hex') };
  const id = createHash('sha256')
    .update(typeof f.input === 'string' ? f.input : f.input)
    .digest('hex')
    .slice(0, 12);
  const file = new URL(`${f.target}-${f.kind}-${id}.json`, REGRESSIONS_DIR);
  writeFileSync(
    file,
    `${JSON.stringify({ target: f.target, kind: f.kind, found: `seed ${f.seed} input ${f.index}`, error: f.error.split('\n').slice(0, 6).join('\n'), ...data }, null, 2)}\n`,
  );
  return file.pathname;
}

export interface RunOptions {
  count: number;
  seed: number;
  /** An input running longer than this is a hang. Default 10 s. */
  hangMs?: number;
  /** Progress callback, about once a second. */
  progress?: (done: number) => void;
}

interface WorkerReport {
  type: 'finding' | 'done';
  index?: number;
  error?: string;
  decoded?: number;
  refused?: number;
}

/**
 * Runs `count` inputs of the target in worker threads under the watchdog;
 * after a hang the worker is replaced and the run resumes after the input.
 */
/** How long a fuzz worker may take to load before the run fails (a loaded machine is slow). */
const LOAD_LIMIT_MS = 300_000;

export async function runTarget(name: string, options: RunOptions): Promise<RunStats> {
  const t0 = Date.now();
  const hangMs = options.hangMs ?? 10_000;
  const p = prepare(targetByName(name));
  const stats: RunStats = { target: name, inputs: options.count, decoded: 0, refused: 0, findings: [], ms: 0 };
  let from = 0;
  while (from < options.count) {
    const shared = new Int32Array(new SharedArrayBuffer(8));
    shared[0] = from;
    shared[1] = 0;
    // The worker is TypeScript too: it registers tsx's loader before importing it.
    const entry = new URL('./fuzz-worker.ts', import.meta.url).href;
    const worker = new Worker(`import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`, {
      eval: true,
      workerData: { name, seed: options.seed, from, to: options.count, shared },
    });
    const outcome = await new Promise<{ hangAt?: number; crashed?: string }>((resolve) => {
      let last = -1;
      let since = Date.now();
      const created = Date.now();
      const timer = setInterval(
        () => {
          // Loading the worker (tsx compiling the decoders) is not the decoder hanging: the clock
          // starts once the worker says it has loaded; a worker that never loads is an error of its own.
          if (Atomics.load(shared, 1) === 0) {
            since = Date.now();
            if (since - created > LOAD_LIMIT_MS) {
              clearInterval(timer);
              void worker.terminate();
              resolve({ crashed: `the worker did not load within ${LOAD_LIMIT_MS / 1000} s` });
            }
            return;
          }
          const now = Atomics.load(shared, 0);
          if (now !== last) {
            last = now;
            since = Date.now();
            options.progress?.(now);
          } else if (Date.now() - since > hangMs) {
            clearInterval(timer);
            void worker.terminate();
            resolve({ hangAt: now });
          }
        },
        Math.min(1000, hangMs / 4),
      );
      worker.on('message', (m: WorkerReport) => {
        if (m.type === 'finding') {
          stats.findings.push({
            target: name,
            kind: 'exception',
            seed: options.seed,
            index: m.index!,
            error: m.error!,
            input: inputAt(p, options.seed, m.index!),
          });
        } else if (m.type === 'done') {
          stats.decoded += m.decoded!;
          stats.refused += m.refused!;
        }
      });
      worker.on('error', (err) => {
        clearInterval(timer);
        resolve({ crashed: err.stack ?? String(err) });
      });
      worker.on('exit', () => {
        clearInterval(timer);
        resolve({});
      });
    });
    if (outcome.hangAt !== undefined) {
      stats.findings.push({
        target: name,
        kind: 'hang',
        seed: options.seed,
        index: outcome.hangAt,
        error: `no progress for ${hangMs} ms`,
        input: inputAt(p, options.seed, outcome.hangAt),
      });
      from = outcome.hangAt + 1;
    } else if (outcome.crashed !== undefined) {
      const at = Atomics.load(shared, 0);
      // shared[1] is set once the worker has loaded: a worker that never started is not a finding.
      if (Atomics.load(shared, 1) === 0) throw new Error(`the fuzz worker for ${name} did not start: ${outcome.crashed}`);
      stats.findings.push({
        target: name,
        kind: 'exception',
        seed: options.seed,
        index: at,
        error: `the worker died: ${outcome.crashed}`,
        input: inputAt(p, options.seed, at),
      });
      from = at + 1;
    } else from = options.count;
  }
  stats.ms = Date.now() - t0;
  return stats;
}

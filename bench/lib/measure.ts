/**
 * Measuring one run of a command: wall time from outside (spawn to exit),
 * peak RSS (GNU time's %M, kilobytes), and whatever the subject reports about
 * itself as JSON on its last stdout line.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export interface RunResult {
  /** Wall time of the whole process, milliseconds. */
  wallMs: number;
  /** Peak resident set size, kilobytes. */
  rssKb: number;
  /** Parsed JSON of the subject's last stdout line, if any. */
  report?: Record<string, number>;
  stdout: string;
  stderr: string;
}

const TIME_MARK = '__NETFWD_BENCH__';

/** Runs `cmd args` under /usr/bin/time; rejects with stderr when it fails. */
export function measureProcess(cmd: string, args: string[], options: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn('/usr/bin/time', ['-f', `${TIME_MARK} %M`, cmd, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallMs = performance.now() - started;
      const markLine = stderr.split('\n').find((l) => l.startsWith(TIME_MARK));
      const rssKb = markLine ? Number(markLine.split(' ')[1]) : NaN;
      const cleanErr = stderr
        .split('\n')
        .filter((l) => !l.startsWith(TIME_MARK))
        .join('\n');
      if (code !== 0) {
        reject(new Error(`${cmd} ${args.slice(0, 6).join(' ')} exited with ${code}: ${cleanErr.slice(0, 2000)}`));
        return;
      }
      let report: Record<string, number> | undefined;
      const last = stdout.trim().split('\n').pop();
      if (last?.startsWith('{')) {
        try {
          report = JSON.parse(last) as Record<string, number>;
        } catch {
          report = undefined;
        }
      }
      resolve({ wallMs, rssKb, report, stdout, stderr: cleanErr });
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

export interface Summary {
  median: number;
  min: number;
  max: number;
  runs: number;
}

export function summarize(values: number[]): Summary {
  const sorted = [...values].filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { median: NaN, min: NaN, max: NaN, runs: 0 };
  const median = n % 2 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
  return { median, min: sorted[0]!, max: sorted[n - 1]!, runs: n };
}

/**
 * Measuring one run of a command: wall time from just before its fork to its
 * exit and its peak RSS, both taken by bench/lib/runwait.py (wait4), plus
 * whatever the subject reports about itself as JSON on its last stdout line.
 * Tools and netfwd's own processes are measured by the same wrapper.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';

export interface RunResult {
  /** Wall time of the whole process, milliseconds. */
  wallMs: number;
  /** Peak resident set size, kilobytes. */
  rssKb: number;
  /** CPU time of the process (user + system), milliseconds. */
  cpuMs: number;
  /** Parsed JSON of the subject's last stdout line, if any. */
  report?: Record<string, number>;
  stdout: string;
  stderr: string;
}

const wrapper = join(new URL('.', import.meta.url).pathname, 'runwait.py');

/** Runs `cmd args`; rejects with its stderr when it fails. */
export function measureProcess(
  cmd: string,
  args: string[],
  options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('/usr/bin/python3', [wrapper, cmd, ...args], {
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    let stdout = '';
    let stderr = '';
    let meta = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d) => (meta += d));
    child.on('error', reject);
    child.on('close', (wrapperCode) => {
      let m: { wallMs: number; rssKb: number; code: number; userMs: number; sysMs: number };
      try {
        m = JSON.parse(meta);
      } catch {
        reject(new Error(`measuring ${cmd} failed (wrapper exit ${wrapperCode}): ${stderr.slice(0, 2000)}`));
        return;
      }
      if (m.code !== 0) {
        reject(new Error(`${cmd} ${args.slice(0, 8).join(' ')} exited with ${m.code}: ${stderr.slice(0, 2000)}${stdout.slice(-500)}`));
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
      resolve({ wallMs: m.wallMs, rssKb: m.rssKb, cpuMs: m.userMs + m.sysMs, report, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin!.end(options.input);
    else child.stdin!.end();
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

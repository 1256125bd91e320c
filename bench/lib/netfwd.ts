/**
 * Running netfwd's own subjects. At the start of a run the built package
 * (dist/ and the addon) is copied to bench/.snapshot/, and every subject and
 * `netfwd` process of the run loads that copy: a rebuild of dist/ in the work
 * tree during a long run cannot change what is measured half-way.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Measurement } from './harness.js';
import { measureProcess } from './measure.js';
import { benchDir, repoDir } from './peers.js';

let snapshot: string | undefined;

/** Copies dist/*.js and the addon; returns the snapshot's directory. */
export function snapshotBuild(): string {
  if (snapshot) return snapshot;
  const root = join(benchDir, '.snapshot');
  const dir = join(root, String(process.pid));
  // Snapshots of runs that ended go; a run still going keeps its own.
  if (existsSync(root)) {
    for (const entry of readdirSync(root)) {
      if (!/^\d+$/.test(entry) || !alive(Number(entry))) rmSync(join(root, entry), { recursive: true, force: true });
    }
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'dist'), { recursive: true });
  const dist = join(repoDir, 'dist');
  if (!existsSync(join(dist, 'index.js')) || !existsSync(join(dist, 'cli.js'))) throw new Error('dist/ is not built: run npm run build');
  for (const f of readdirSync(dist)) if (f.endsWith('.js')) copyFileSync(join(dist, f), join(dir, 'dist', f));
  const addon = [join(repoDir, 'build/Release/netfwd.node'), ...prebuilt()].find((p) => existsSync(p));
  if (!addon) throw new Error('the addon is not built: run npm run build');
  copyFileSync(addon, join(dir, 'netfwd.node'));
  snapshot = dir;
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function prebuilt(): string[] {
  const dir = join(repoDir, 'prebuilds', `linux-${process.arch}`);
  return existsSync(dir) ? readdirSync(dir).map((f) => join(dir, f)) : [];
}

/** Environment of every netfwd process: the snapshot's package and addon. */
export function netfwdEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const dir = snapshotBuild();
  return { ...process.env, NETFWD_DIST: join(dir, 'dist'), NETFWD_ADDON: join(dir, 'netfwd.node'), ...extra };
}

export const cliPath = () => join(snapshotBuild(), 'dist', 'cli.js');

/**
 * Runs bench/subjects/NAME.mjs in a fresh node process. The subject reports
 * `opMs` (its operation, timed inside the process) and anything else; the
 * whole process is timed from outside, up to the end of the timed work
 * (`tailMs`, what the subject did after it, is taken off).
 */
export async function runSubject(name: string, args: string[], extraKeys: string[] = []): Promise<Measurement> {
  const r = await measureProcess(process.execPath, [join(benchDir, 'subjects', `${name}.mjs`), ...args], { env: netfwdEnv() });
  if (!r.report || typeof r.report.opMs !== 'number')
    throw new Error(`subject ${name} reported nothing: ${r.stdout.slice(-500)} ${r.stderr.slice(-500)}`);
  const extra: Record<string, number> = {};
  for (const k of extraKeys) if (typeof r.report[k] === 'number') extra[k] = r.report[k]!;
  // The whole process up to the end of the timed work: a warm repetition after it is not counted.
  const processMs = r.wallMs - (typeof r.report.tailMs === 'number' ? r.report.tailMs : 0);
  return { ms: r.report.opMs, rssKb: r.rssKb, processMs, extra };
}

/**
 * PIDs of wireguard-go daemons serving these interface names (the names are
 * unique to one run). Only daemons this run started — directly, or through
 * netfwd or the shell recipe it ran — carry them.
 */
export function daemonPids(names: string[]): number[] {
  const want = new Set(names);
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      continue;
    }
    if (argv.length && argv[0]!.endsWith('wireguard-go') && want.has(argv[argv.length - 1]!)) pids.push(Number(entry));
  }
  return pids;
}

export function killDaemons(names: string[]): void {
  for (const pid of daemonPids(names)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  for (const n of names) rmSync(`/var/run/wireguard/${n}.sock`, { force: true });
}

/** `wg` in a namespace. */
export function wgIn(ns: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', ns, 'wg', ...args], { encoding: 'utf8' });
}

/**
 * Helpers for tests that talk to the kernel: each test gets its own network
 * namespace, removed afterwards even when the test fails. Oracles are the
 * real tools (ip, nft, wg), run as processes by the tests only.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { release } from 'node:os';
import test, { type ExecutionContext, type TestFn } from 'ava';
import { endProcessesIn } from '../../src/lab/topology.js';
import { netns } from '../../src/netns/index.js';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * The system's copy of an oracle tool. Under npm, node_modules/.bin comes first
 * on PATH and holds an unrelated `nft` (from @vercel/nft), so tools are looked
 * up in the system directories first.
 */
export function toolPath(cmd: string): string {
  if (cmd.includes('/')) return cmd;
  return SYSTEM_DIRS.map((d) => `${d}/${cmd}`).find((p) => existsSync(p)) ?? cmd;
}

function toolAvailable(cmd: string): boolean {
  return spawnSync(toolPath(cmd), ['--version'], { stdio: 'ignore' }).error === undefined;
}

/** Why kernel tests cannot run here, or undefined when they can. */
export function kernelSkipReason(tools: string[] = ['ip']): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux';
  if (!isRoot) return 'needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create network namespaces';
  for (const t of tools) if (!toolAvailable(t)) return `needs the ${t} command as a test oracle`;
  return undefined;
}

/** `test` when the kernel tests can run, otherwise `test.skip` (with the reason printed once). */
export function kernelTest(tools: string[] = ['ip']): TestFn {
  const reason = kernelSkipReason(tools);
  if (reason) {
    process.stderr.write(`skipping kernel tests in this file: ${reason}\n`);
    return test.skip as unknown as TestFn;
  }
  return test;
}

let counter = 0;
/** A namespace name unique to this process and call. */
export function uniqueNetnsName(prefix = 'nfwt'): string {
  return `${prefix}-${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`;
}

/** Creates a fresh namespace for the test and removes it at teardown, whatever happens. */
export function freshNetns(t: ExecutionContext, prefix?: string): string {
  const name = uniqueNetnsName(prefix);
  netns.create(name);
  t.teardown(async () => {
    await endProcessesIn([name]);
    if (netns.exists(name)) netns.remove(name);
  });
  return name;
}

/** Runs a command and returns stdout; throws with stderr on failure. */
export function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(toolPath(cmd), args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 256 * 1024 * 1024 });
}

/** `ip -j ... ` inside a namespace, parsed. */
export function ipJson<T = any>(ns: string, args: string[]): T {
  const out = run('ip', ['-n', ns, '-j', ...args]).trim();
  return (out ? JSON.parse(out) : []) as T;
}

/** The running kernel's version (os.release(), e.g. '6.1.0-56-amd64' → [6, 1]). */
export function kernelVersion(): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(release());
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

/** True when the running kernel is at least major.minor. */
export function kernelAtLeast(major: number, minor: number): boolean {
  const [a, b] = kernelVersion();
  return a > major || (a === major && b >= minor);
}

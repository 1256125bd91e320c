/**
 * Runs the built CLI (`node dist/cli.js`, made by `npx tsup`) as a process,
 * the way an operator or a systemd unit runs it. A missing build is an error
 * that says how to make it — never a skip.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';

export const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

/** Undefined when dist/cli.js exists, else the message to fail with. */
export function missingBuild(): string | undefined {
  return existsSync(CLI) ? undefined : `${CLI} is missing: build it with \`npx tsup\` (or npm run build:ts) before running the CLI tests`;
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  input?: string;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Run inside this network namespace (`ip netns exec`). */
  netns?: string;
  env?: Record<string, string>;
}

/** Runs `netfwd ARGS…` and collects its exit code and output. */
export function cli(args: string[], o: CliOptions = {}): Promise<CliResult> {
  const missing = missingBuild();
  if (missing) throw new Error(missing);
  const argv = o.netns ? ['/usr/sbin/ip', 'netns', 'exec', o.netns, process.execPath, CLI, ...args] : [process.execPath, CLI, ...args];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: o.cwd,
      uid: o.uid,
      gid: o.gid,
      env: { ...process.env, NETFWD_DEBUG: '', ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
    child.stdin.end(o.input ?? '');
  });
}

/** A temporary directory (mode 0700) removed at teardown. */
export function tempDir(t: ExecutionContext, prefix = 'netfwd-cli-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a file with exactly `mode` (whatever the umask). */
export function writeFile(path: string, text: string, mode: number): string {
  writeFileSync(path, text, { mode });
  // writeFileSync applies the umask (and keeps the mode of an existing file); chmod makes it exact.
  chmodSync(path, mode);
  return path;
}

/**
 * How much slower processes start and run here: under AddressSanitizer
 * (scripts/asan-check.sh preloads libasan with full malloc stacks) a node
 * process takes ~10 s just to start, so waits for a child scale with it.
 */
export const SLOWDOWN = /libasan/.test(process.env.LD_PRELOAD ?? '') ? 6 : 1;

export interface LogLine {
  ts: string;
  level: string;
  event: string;
  details: Record<string, any>;
}

/** A long-running process whose stdout lines are collected; waitFor polls them. */
export class Proc {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    });
    child.stderr!.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }
  json(): LogLine[] {
    return this.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as LogLine);
  }
  async waitFor<T>(what: string, find: () => T | undefined, ms = 20_000): Promise<T> {
    const end = Date.now() + ms * SLOWDOWN;
    for (;;) {
      const v = find();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; output:\n${this.lines.join('\n')}\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/**
 * A backend configuration file (JSON, 0600) in a new temporary directory, with
 * its private key file beside it: tunnel `ifname` in `ns`, addresses
 * 10.0.SUBNET.2/24 and fd00:0:0:SUBNET::2/64, a peer that is never there.
 */
export function backendConfigFile(
  t: ExecutionContext,
  o: {
    ns: string;
    ifname: string;
    subnet?: number;
    returnPath?: Record<string, unknown>;
    services?: Array<{ protocol: string; port: number | string }>;
  },
): { config: string; dir: string } {
  const subnet = o.subnet ?? 0;
  const dir = tempDir(t);
  writeFile(join(dir, 'backend.key'), `${generatePrivateKey().toBase64()}\n`, 0o600);
  const config = writeFile(
    join(dir, 'backend.json'),
    JSON.stringify({
      role: 'backend',
      netns: o.ns,
      tunnel: {
        interface: o.ifname,
        addresses: [`10.0.${subnet}.2/24`, subnet === 0 ? 'fd00::2/64' : `fd00:0:0:${subnet}::2/64`],
        privateKeyFile: 'backend.key',
        peer: { publicKey: publicKey(generatePrivateKey()), endpoint: `192.0.2.${1 + 10 * subnet}:51820` },
      },
      returnPath: o.returnPath ?? { mode: 'uid', uids: ['1000'] },
      services: o.services ?? [{ protocol: 'tcp', port: 9735 + subnet }],
    }),
    0o600,
  );
  return { config, dir };
}

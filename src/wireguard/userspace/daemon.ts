/**
 * The userspace daemon (wireguard-go by default): started inside the
 * namespace so its TUN link lands there, watched until its UAPI socket
 * answers, and awaited when its link is deleted.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConflictError, NetfwdError } from '../../errors.js';
import { netns } from '../../netns/index.js';
import { netnsPath } from '../../netns/path.js';
import { probeSocket, removeStaleSocket, socketPath } from './socket.js';

export const DEFAULT_LOG_DIR = '/run/netfwd/wireguard';

/** The daemon exited (or never started) before its UAPI socket appeared. */
export class WireGuardDaemonError extends NetfwdError {
  override name = 'WireGuardDaemonError';
  readonly interfaceName: string;
  readonly command: string;
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  /** What the daemon wrote (its banner left out), when it was logged. */
  readonly output: string;
  constructor(
    message: string,
    details: { interfaceName: string; command: string; exitCode?: number | null; signal?: NodeJS.Signals | null; output?: string },
  ) {
    super(message);
    this.interfaceName = details.interfaceName;
    this.command = details.command;
    this.exitCode = details.exitCode ?? null;
    this.signal = details.signal ?? null;
    this.output = details.output ?? '';
  }
}

/**
 * Whether process `pid` holds the socket listening on `path` (matched by inode
 * in the process's own /proc view); undefined when /proc cannot tell. Two
 * daemons started for one name at the same time both see one live socket:
 * only the one that owns it has created the interface.
 */
export function listensOn(pid: number, path: string): boolean | undefined {
  let table: string;
  let fds: string[];
  try {
    table = readFileSync(`/proc/${pid}/net/unix`, 'utf8');
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    // The process is gone (it does not hold the socket), or /proc is not there (cannot tell).
    return (err as NodeJS.ErrnoException).code === 'ENOENT' && statSafe('/proc/self/net/unix') ? false : undefined;
  }
  const paths = new Set([path, path.replace(/^\/var\/run\//, '/run/')]);
  const inodes = new Set<string>();
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && paths.has(f[7]!)) inodes.add(f[6]!);
  }
  if (inodes.size === 0) return false;
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && inodes.has(m[1]!)) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

function statSafe(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function readLog(path: string | null): string {
  if (!path) return '';
  try {
    return (
      readFileSync(path, 'utf8')
        .split('\n')
        // wireguard-go draws a box around its "use the kernel module" banner.
        .filter((l) => !/^[┌│└]/.test(l))
        .join('\n')
        .trim()
    );
  } catch {
    return '';
  }
}

export interface DaemonOptions {
  name: string;
  netns?: string;
  command: string;
  args: string[];
  detach: boolean;
  logFile: string | null;
  env: Record<string, string>;
  timeout: number;
}

/** nsenter of util-linux, when the system has it. */
let nsenterPath: string | null | undefined;
function nsenter(): string | null {
  if (nsenterPath === undefined) {
    nsenterPath = null;
    for (const p of ['/usr/bin/nsenter', '/bin/nsenter', '/usr/sbin/nsenter', '/sbin/nsenter']) {
      try {
        if (statSync(p).isFile()) {
          nsenterPath = p;
          break;
        }
      } catch {
        /* next */
      }
    }
  }
  return nsenterPath;
}

/**
 * Starts the daemon inside a namespace. `netns.exec` enters it through a node
 * helper process, whose start-up (150–300 ms on a small VM) was most of the
 * time of a userspace bring-up; util-linux's nsenter does the same setns and
 * exec without it, and is used when present. Either way the child is the
 * daemon itself (both exec into it), as root, in the namespace.
 */
function spawnInNetns(name: string, command: string, argv: string[], options: SpawnOptions): ChildProcess {
  const tool = nsenter();
  if (!tool) return netns.exec(name, command, argv, options);
  const path = netnsPath(name, 'name');
  let isNamespace = false;
  try {
    isNamespace = statSync(path).dev === statSync('/proc/self/ns/net').dev;
  } catch {
    isNamespace = false;
  }
  if (!isNamespace) throw new NetfwdError(`network namespace ${name} does not exist`);
  return spawn(tool, [`--net=${path}`, '--', command, ...argv], { ...options, shell: false });
}

/**
 * Starts the daemon in the namespace (without a shell) and waits until its
 * UAPI socket answers. A daemon that exits first, or does not answer in
 * time, is a WireGuardDaemonError quoting its output.
 */
export async function startDaemon(o: DaemonOptions): Promise<ChildProcess> {
  const path = socketPath(o.name);
  const argv = [...o.args, o.name];
  const commandLine = [o.command, ...argv].join(' ');
  let logFd: number | 'ignore' = 'ignore';
  if (o.logFile) {
    mkdirSync(dirname(o.logFile), { recursive: true, mode: 0o700 });
    logFd = openSync(o.logFile, 'w', 0o600);
  }
  const env = {
    ...process.env,
    // Older wireguard-go releases refuse to run on kernels with WireGuard unless told so.
    WG_I_PREFER_BUGGY_USERSPACE_TO_POLISHED_KMOD: '1',
    ...o.env,
  };
  const spawnOptions = { detached: o.detach, stdio: ['ignore', logFd, logFd] as ['ignore', number | 'ignore', number | 'ignore'], env };
  let child: ChildProcess;
  try {
    child = o.netns ? spawnInNetns(o.netns, o.command, argv, spawnOptions) : spawn(o.command, argv, { ...spawnOptions, shell: false });
  } finally {
    if (typeof logFd === 'number') closeSync(logFd);
  }
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let spawnError: Error | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
    child.once('error', (err) => {
      spawnError = err;
      exited ??= { code: null, signal: null };
      resolve();
    });
  });
  const deadline = Date.now() + o.timeout;
  // Set when the socket answered but another process holds it: a concurrent create of the same name.
  let taken = false;
  for (let delay = 5; ; delay = Math.min(delay * 2, 50)) {
    if (exited && taken) {
      throw new ConflictError(
        `create WireGuard ${o.name}: another process created it at the same time (its daemon answers on ${path}; ${o.command} ${exited.signal ? `was killed by ${exited.signal}` : `exited with status ${exited.code}`}); read the state again and retry`,
      );
    }
    if (exited) {
      const output = readLog(o.logFile);
      const how = spawnError
        ? `could not be started (${spawnError.message})`
        : exited.signal
          ? `was killed by ${exited.signal}`
          : `exited with status ${exited.code}`;
      throw new WireGuardDaemonError(
        `${commandLine} ${how} before its UAPI socket ${path} appeared${output ? `:\n${output}` : o.logFile ? ' (it wrote nothing)' : ' (its output was discarded; set daemonLog to keep it)'}`,
        { interfaceName: o.name, command: commandLine, exitCode: exited.code, signal: exited.signal, output },
      );
    }
    if ((await probeSocket(path)) === 'live') {
      if (child.pid === undefined || listensOn(child.pid, path) !== false) break;
      taken = true;
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      await Promise.race([exitPromise, sleep(1000)]);
      const output = readLog(o.logFile);
      throw new WireGuardDaemonError(
        `${commandLine} did not open its UAPI socket ${path} within ${o.timeout} ms${output ? `:\n${output}` : ''}; it was killed`,
        {
          interfaceName: o.name,
          command: commandLine,
          output,
        },
      );
    }
    await Promise.race([exitPromise, sleep(delay)]);
  }
  child.unref();
  return child;
}

/** Waits until the socket file is gone (the daemon exited); removes it when it turned stale. */
export async function waitSocketGone(path: string, timeout: number): Promise<void> {
  const deadline = Date.now() + timeout;
  for (let delay = 5; ; delay = Math.min(delay * 2, 50)) {
    try {
      statSync(path);
    } catch {
      return;
    }
    if (Date.now() > deadline) {
      if (await removeStaleSocket(path)) return;
      throw new NetfwdError(`the userspace WireGuard daemon behind ${path} did not exit within ${timeout} ms after its link was deleted`);
    }
    await sleep(delay);
  }
}

/**
 * Waits for a child to exit, at most `timeout` ms. The timer stays referenced:
 * the daemon itself is unref'd, and an await with nothing referenced would let
 * the process end in the middle of it.
 */
export function waitExit(child: ChildProcess, timeout: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeout);
    function done() {
      clearTimeout(timer);
      child.off('exit', done);
      resolve();
    }
    child.once('exit', done);
  });
}

/**
 * Docker Engine inside a lab namespace (never the root one): the real dockerd
 * (Debian's docker.io), for the demo and the tests' Docker helper.
 *
 * dockerd runs as `unshare --mount --propagation slave` inside the namespace,
 * as `ip netns exec` would start it: a mount namespace of its own, where a
 * script mounts the namespace's own /sys, the host's cgroup hierarchies
 * again (a fresh /sys hides them; dockerd refuses to start without the
 * devices cgroup), and a tmpfs on /run and /etc/docker (its key.json,
 * containerd's shim sockets and docker-proxy's state stay out of the host).
 * Everything else is in a directory of its own: --data-root, --exec-root,
 * --pidfile, -H unix://…, --config-file (an empty daemon.json, so a host's
 * /etc/docker/daemon.json is not read) and the daemon's log; --cgroup-parent
 * is removed at stop. Storage driver vfs (nothing to mount, works on any
 * filesystem); --ip6tables=false and no --ipv6: the container network is
 * IPv4, and published ports answer IPv6 through docker-proxy. dockerd starts
 * its own containerd. Images come from `docker import` of a root filesystem
 * made of this host's node binary and the libraries ldd names — no registry.
 *
 * Default networks: --bip 203.0.113.129/26 (containers from .130), pool
 * 203.0.113.192/26 in /28s — the upper half of 203.0.113.0/24, which the LAN
 * lab leaves free (LAN_LAB_ADDRESSES.docker).
 *
 * Docker programs its rules with iptables itself; netfwd only starts it.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { NetfwdError } from '../errors.js';
import { netns } from '../netns/index.js';

/** Docker Engine is not installed, or its daemon did not come up. */
export class DockerEngineError extends NetfwdError {
  override name = 'DockerEngineError';
}

export interface DockerEngineOptions {
  /** docker0's address (dockerd --bip); default '203.0.113.129/26'. */
  bip?: string;
  /** dockerd --default-address-pool; default 'base=203.0.113.192/26,size=28'. */
  addressPool?: string;
  /** Docker's userland proxy (default true, Docker's default). */
  userlandProxy?: boolean;
  /** Seconds to wait for dockerd (default 60). */
  startTimeout?: number;
}

export interface DockerEngine {
  netns: string;
  /** The engine's version (`docker version`'s server: "20.10.24+dfsg1"). */
  version: string;
  /** dockerd's process id (it runs in a mount namespace of its own). */
  pid: number;
  /** The daemon's directory (data-root, exec-root, socket, log), removed by stop(). */
  stateDir: string;
  /** The daemon's socket: `docker -H unix://<socket>`. */
  socket: string;
  /** dockerd's --cgroup-parent, removed from every hierarchy by stop(). */
  cgroupParent: string;
  /** docker0's address: the containers' gateway. */
  gateway: string;
  /** A docker CLI command against this daemon: its stdout, trimmed. */
  docker(args: readonly string[], input?: string | Buffer): string;
  /** Imports an image of this host's node binary, its libraries and `files` (path in the image → content). */
  importNodeImage(image: string, files: Record<string, string>, cmd: readonly string[]): void;
  /** The default bridge network, e.g. '203.0.113.128/26'. */
  bridgeNetwork(): string;
  /** The cgroup directories of --cgroup-parent that exist now, one per hierarchy. */
  cgroupDirs(): string[];
  /** Lets this process exit while the daemon keeps running (the demo's --keep). */
  detach(): void;
  /** Removes the containers and ends the daemon and everything it started; docker0 and Docker's chains stay, as after a daemon stop. Safe to call twice. */
  stop(): Promise<void>;
}

const SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The executable `name` in PATH (then the system directories), or undefined. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...SEARCH_PATH.split(':')].filter(Boolean);
  for (const d of dirs) {
    const p = join(d, name);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** What Docker Engine needs that is not installed here (the first missing command), or undefined. */
export function dockerEngineMissing(): string | undefined {
  for (const t of ['dockerd', 'docker', 'containerd', 'runc', 'unshare', 'mount', 'ldd', 'tar'])
    if (!findTool(t))
      return `${t} is not installed${t.startsWith('docker') || t === 'containerd' || t === 'runc' ? ' (Debian: apt-get install docker.io)' : ''}`;
  return undefined;
}

/** `dockerd --version` (e.g. "Docker version 20.10.24+dfsg1, build 5d6db84"), or undefined when not installed. */
export function dockerdVersion(): string | undefined {
  const dockerd = findTool('dockerd');
  if (!dockerd) return undefined;
  try {
    return execFileSync(dockerd, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

/** Shell lines that mount the host's cgroup hierarchies again, as /proc/self/mountinfo shows them under /sys/fs/cgroup. */
function cgroupMounts(): { script: string[]; hierarchies: string[] } {
  const script: string[] = [];
  const hierarchies: string[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [pre, post] = line.split(' - ');
    if (!pre || !post) continue;
    const mp = pre.split(' ')[4]!.replace(/\\040/g, ' ');
    if (mp !== '/sys/fs/cgroup' && !mp.startsWith('/sys/fs/cgroup/')) continue;
    const [fstype, , superOpts = ''] = post.split(' ');
    if (fstype === 'tmpfs') script.push(`mount -t tmpfs -o mode=755 cgroup_root '${mp}'`);
    else if (fstype === 'cgroup2') script.push(`mkdir -p '${mp}'`, `mount -t cgroup2 cgroup2 '${mp}'`);
    else if (fstype === 'cgroup') {
      const opts = superOpts.split(',').filter((x) => x !== 'rw' && x !== 'ro' && !x.startsWith('release_agent='));
      script.push(`mkdir -p '${mp}'`, `mount -t cgroup -o '${opts.join(',') || 'none'}' cgroup '${mp}'`);
    } else continue;
    if (fstype !== 'tmpfs') hierarchies.push(mp);
  }
  return { script, hierarchies };
}

/** Ends the processes left in a cgroup directory tree and removes it, deepest first. */
async function removeCgroupTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) await removeCgroupTree(join(dir, e.name));
  for (let i = 0; existsSync(dir); i++) {
    try {
      for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) kill(Number(pid), 'SIGKILL');
      rmdirSync(dir);
    } catch (err) {
      if (i >= 40) throw new DockerEngineError(`cannot remove the cgroup ${dir}: ${(err as Error).message}`);
      await sleep(50);
    }
  }
}

/** The processes whose mount namespace is `inode` (dockerd's: containerd, shims, docker-proxy). */
function processesInMountNs(inode: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (statSync(`/proc/${e}/ns/mnt`).ino === inode) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const running = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;
function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

/** A root filesystem tarball for `docker import`: this host's node binary, its libraries and `files`. */
function nodeRootfsTar(dir: string, files: Record<string, string>): string {
  const node = process.execPath;
  const libs = execFileSync(findTool('ldd')!, [node], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined);
  const extra = mkdtempSync(join(dir, 'rootfs-'));
  mkdirSync(join(extra, 'tmp'));
  for (const [path, content] of Object.entries(files)) {
    const to = join(extra, path.replace(/^\/+/, ''));
    mkdirSync(dirname(to), { recursive: true });
    writeFileSync(to, content);
  }
  const tar = join(extra, '..', `${randomBytes(3).toString('hex')}.tar`);
  // -h stores the files symlinks point to (the libraries are mostly symlinks, /lib is one).
  execFileSync(findTool('tar')!, [
    '-c',
    '-h',
    '-f',
    tar,
    '-C',
    '/',
    ...[node, ...libs].map((p) => p.slice(1)),
    '-C',
    extra,
    ...readdirSync(extra),
  ]);
  rmSync(extra, { recursive: true, force: true });
  return tar;
}

/**
 * Starts Docker Engine in the namespace `ns`; DockerEngineError (after
 * cleaning up) when it is not installed or its daemon does not come up.
 */
export async function startDockerEngine(ns: string, options: DockerEngineOptions = {}): Promise<DockerEngine> {
  const o = {
    bip: options.bip ?? '203.0.113.129/26',
    addressPool: options.addressPool ?? 'base=203.0.113.192/26,size=28',
    userlandProxy: options.userlandProxy ?? true,
    startTimeout: options.startTimeout ?? 60,
  };
  const missing = dockerEngineMissing();
  if (missing) throw new DockerEngineError(`Docker Engine cannot run here: ${missing}`);
  const tool = (t: string) => findTool(t)!;
  const dir = mkdtempSync(join(tmpdir(), 'nfdk-'));
  const cgroupParent = `nfdk-${randomBytes(3).toString('hex')}`;
  const socket = join(dir, 'docker.sock');
  const logFile = join(dir, 'dockerd.log');
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: SEARCH_PATH, DOCKER_HOST: `unix://${socket}` };
  delete env.NODE_OPTIONS;
  const docker = (args: readonly string[], input?: string | Buffer) =>
    execFileSync(tool('docker'), args, {
      env,
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    }).trim();
  const { script, hierarchies } = cgroupMounts();
  const enter = join(dir, 'enter.sh');
  writeFileSync(
    enter,
    [
      '#!/bin/sh',
      'set -e',
      // The namespace's own /sys, as `ip netns exec` mounts it.
      'umount -l /sys',
      'mount -t sysfs sysfs /sys',
      ...script,
      'mount -t tmpfs -o mode=755 nfdk-run /run',
      'if [ -d /etc/docker ]; then mount -t tmpfs nfdk-etc /etc/docker; fi',
      'exec "$@"',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'daemon.json'), '{}\n');
  // dockerd, without options from the environment's files.
  const dockerdArgs = [
    ...['--config-file', join(dir, 'daemon.json'), '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec')],
    ...['--pidfile', join(dir, 'docker.pid'), '-H', `unix://${socket}`, '--bip', o.bip, '--default-address-pool', o.addressPool],
    ...['--ip6tables=false', '--storage-driver', 'vfs', '--cgroup-parent', cgroupParent, `--userland-proxy=${o.userlandProxy}`],
  ];
  const log = openSync(logFile, 'a', 0o600);
  let daemon: ChildProcess;
  try {
    daemon = netns.exec(ns, tool('unshare'), ['--mount', '--propagation', 'slave', '/bin/sh', enter, tool('dockerd'), ...dockerdArgs], {
      env,
      stdio: ['ignore', log, log],
      detached: true,
    });
  } finally {
    closeSync(log);
  }
  const tail = () => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').filter(Boolean).slice(-3).join(' | ');
    } catch {
      return '';
    }
  };
  let mntInode: number | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (running(daemon)) {
      try {
        const ids = docker(['ps', '-aq']);
        if (ids) docker(['rm', '-f', ...ids.split('\n')]);
      } catch {
        // the daemon may not answer: what it started is ended below
      }
      daemon.kill('SIGTERM');
      for (let i = 0; i < 200 && running(daemon); i++) await sleep(50);
      if (running(daemon)) daemon.kill('SIGKILL');
    }
    if (mntInode !== undefined) {
      for (let i = 0; i < 40; i++) {
        const left = processesInMountNs(mntInode);
        if (left.length === 0) break;
        for (const pid of left) kill(pid, 'SIGKILL');
        await sleep(50);
      }
    }
    for (const h of hierarchies) await removeCgroupTree(join(h, cgroupParent));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + o.startTimeout * 1000;
    let version: string | undefined;
    while (!version) {
      if (!running(daemon)) throw new DockerEngineError(`dockerd exited (${daemon.exitCode ?? daemon.signalCode}): ${tail()}`);
      if (Date.now() > deadline) throw new DockerEngineError(`dockerd did not answer within ${o.startTimeout} s: ${tail()}`);
      try {
        if (existsSync(socket)) version = docker(['version', '--format', '{{.Server.Version}}']);
      } catch {
        // not yet
      }
      if (!version) await sleep(100);
    }
    mntInode = statSync(`/proc/${daemon.pid}/ns/mnt`).ino;
    return {
      netns: ns,
      version,
      pid: daemon.pid!,
      stateDir: dir,
      socket,
      cgroupParent,
      gateway: o.bip.split('/')[0]!,
      docker,
      importNodeImage: (image, files, cmd) => {
        const tar = nodeRootfsTar(dir, files);
        try {
          docker(['import', '-c', `CMD ${JSON.stringify(cmd)}`, tar, image]);
        } finally {
          rmSync(tar, { force: true });
        }
      },
      bridgeNetwork: () => docker(['network', 'inspect', 'bridge', '-f', '{{(index .IPAM.Config 0).Subnet}}']),
      cgroupDirs: () => hierarchies.map((h) => join(h, cgroupParent)).filter((d) => existsSync(d)),
      detach: () => daemon.unref(),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

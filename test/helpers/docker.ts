/**
 * Docker in a network namespace of a lab (never the root one): a service in a
 * container behind a published port, as appliances run it.
 *
 * 'docker-engine': the real dockerd (Debian's docker.io) started with
 * `ip netns exec NS`, which gives it a mount namespace of its own with the
 * namespace's /sys. There it gets the host's cgroup hierarchies mounted again
 * (ip netns exec's fresh /sys hides them; dockerd refuses to start without the
 * devices cgroup), a tmpfs on /run and /etc/docker (its key.json, containerd's
 * shim sockets and docker-proxy's state stay out of the host), and a
 * directory of its own for everything else: --data-root, --exec-root,
 * --pidfile, -H unix://…, --config-file (an empty daemon.json, so a host's
 * /etc/docker/daemon.json is not read), --cgroup-parent (removed at stop).
 * Storage driver vfs (nothing to mount, works on any filesystem);
 * --ip6tables=false and no --ipv6: the container network is IPv4, and
 * published ports answer IPv6 through docker-proxy. dockerd starts its own
 * containerd. The image is made with `docker import` from a root filesystem
 * of this host's node binary and the libraries ldd names — no registry. The
 * container runs a whoami server (TCP and UDP, like startService of e2e.ts).
 *
 * 'emulated': where the daemon does not start, the same thing without it
 * (test/helpers/docker-emulation.ts): a docker0 bridge, a namespace per
 * container, docker-proxy, and Docker 20.10's iptables rules.
 *
 * Default networks: --bip 203.0.113.129/26 (containers from .130), pool
 * 203.0.113.192/26 in /28s — the upper half of 203.0.113.0/24, which the LAN
 * lab leaves free. (In the two-machine Lab the frontend's /24 covers it; the
 * backend's namespace only sees its own docker0 route.)
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ASK_SOURCE,
  addIpv4,
  emulateContainer,
  emulateDaemon,
  networkOf,
  removeDockerNetworking,
  WHOAMI_SOURCE,
  whoamiEnv,
} from './docker-emulation.js';
import { isRoot, toolPath } from './kernel.js';

export interface DockerPort {
  protocol: 'tcp' | 'udp';
  /** The container's port. */
  port: number;
  /** The published port on the namespace's addresses (default: the same as `port`). */
  hostPort?: number;
}

export interface DockerContainer {
  name: string;
  /** The container's address on docker0. */
  address: string;
  ports: DockerPort[];
  /** The container's network namespace, when it has a name (emulated only). */
  netns?: string;
  /** "tcp CLIENT PORT" / "udp CLIENT PORT" for every connection and datagram the server received. */
  seen(): Promise<string[]>;
  /** A TCP request made from inside the container: what the peer sent, "(timeout)" or "(error CODE)". */
  ask(host: string, port: number, timeoutMs?: number): Promise<string>;
}

export interface DockerOptions {
  /** 'auto' (default): Docker Engine when its daemon starts here, the emulation otherwise; or force one. */
  kind?: 'auto' | 'docker-engine' | 'emulated';
  /** docker0's address (dockerd --bip); default '203.0.113.129/26'. */
  bip?: string;
  /** dockerd --default-address-pool; default 'base=203.0.113.192/26,size=28'. */
  addressPool?: string;
  /** The first container's published ports (default TCP 9735). */
  ports?: DockerPort[];
  /** What the first container's server calls itself in its answers (default 'container'). */
  name?: string;
  /** Docker's userland proxy (default true, Docker's default). */
  userlandProxy?: boolean;
  /** Seconds to wait for dockerd (default 60). */
  startTimeout?: number;
}

export interface DockerService {
  kind: 'docker-engine' | 'emulated';
  /** The engine's version (`docker version`'s server: "20.10.24+dfsg1"); absent when emulated. */
  version?: string;
  /** One line for the test output: which one ran, and why the engine did not. */
  describe: string;
  /** Why 'auto' fell back to the emulation. */
  fallbackReason?: string;
  /** Engine only: the daemon's directory (data-root, exec-root, socket), removed by stop(). */
  stateDir?: string;
  /** Engine only: dockerd's --cgroup-parent, removed from every hierarchy by stop(). */
  cgroupParent?: string;
  netns: string;
  bridge: 'docker0';
  /** docker0's address: the containers' gateway. */
  gateway: string;
  /** The default bridge network, e.g. '203.0.113.128/26'. */
  containerNetwork: string;
  /** The first container. */
  container: DockerContainer;
  containerAddress: string;
  /** The first container's first published port. */
  publishedPort: number;
  /** Starts one more container with the whoami server (publish none to have one outside any port rule). */
  addContainer(o: { name: string; ports: DockerPort[] }): Promise<DockerContainer>;
  /** A docker CLI command against this daemon (engine only): stdout. */
  docker(args: string[]): string;
  /** Removes the containers and ends the daemon and everything it started; docker0 and Docker's chains stay, as after a daemon stop. Safe to call twice. */
  stop(): Promise<void>;
}

/** `dockerd --version` (e.g. "Docker version 20.10.24+dfsg1, build 5d6db84"), or undefined when not installed. */
export function dockerdVersion(): string | undefined {
  const r = spawnSync(toolPath('dockerd'), ['--version'], { encoding: 'utf8' });
  return r.error || r.status !== 0 ? undefined : r.stdout.trim();
}

/** Why neither Docker Engine nor its emulation can run here, or undefined. */
export function dockerSkipReason(): string | undefined {
  if (!isRoot) return 'needs root';
  if (spawnSync(toolPath('iptables'), ['--version'], { stdio: 'ignore' }).error)
    return 'needs iptables (Docker programs it; the emulation too)';
  return undefined;
}

/** Why Docker Engine itself cannot be tried here (binaries missing), or undefined. */
export function dockerEngineSkipReason(): string | undefined {
  if (!dockerdVersion()) return 'needs dockerd (Debian: apt-get install docker.io)';
  for (const t of ['docker', 'containerd', 'runc', 'ldd', 'tar'])
    if (spawnSync(toolPath(t), ['--version'], { stdio: 'ignore' }).error) return `needs ${t} for Docker Engine`;
  return undefined;
}

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

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
      for (const pid of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone
        }
      }
      rmdirSync(dir);
    } catch (err) {
      if (i >= 40) throw new Error(`cannot remove the cgroup ${dir}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 50));
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

/** A root filesystem tarball for `docker import`: this host's node binary, its libraries and nothing else. */
function rootfsTar(dir: string): string {
  const node = process.execPath;
  const libs = execFileSync(toolPath('ldd'), [node], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /(\/\S+) \(0x/.exec(l)?.[1])
    .filter((p): p is string => p !== undefined);
  const tar = join(dir, 'rootfs.tar');
  mkdirSync(join(dir, 'rootfs-extra', 'tmp'), { recursive: true });
  writeFileSync(join(dir, 'rootfs-extra', 'whoami.js'), WHOAMI_SOURCE);
  // -h stores the files symlinks point to (the libraries are mostly symlinks, /lib is one).
  const extra = ['-C', join(dir, 'rootfs-extra'), 'tmp', 'whoami.js'];
  execFileSync(toolPath('tar'), ['-c', '-h', '-f', tar, '-C', '/', ...[node, ...libs].map((p) => p.slice(1)), ...extra]);
  return tar;
}

/** Starts Docker Engine in `ns`; throws (after cleaning up) when the daemon does not come up. */
async function startEngine(ns: string, o: Required<Omit<DockerOptions, 'kind'>>): Promise<DockerService> {
  const dir = mkdtempSync(join(tmpdir(), 'nfdk-'));
  const tag = randomBytes(3).toString('hex');
  const cgroupParent = `nfdk-${tag}`;
  const sock = join(dir, 'docker.sock');
  const env: NodeJS.ProcessEnv = { ...process.env, PATH: SYSTEM_PATH, DOCKER_HOST: `unix://${sock}` };
  delete env.NODE_OPTIONS;
  const docker = (args: string[], input?: string | Buffer) =>
    execFileSync(toolPath('docker'), args, {
      env,
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
      maxBuffer: 64 * 1024 * 1024,
    }).trim();
  const { script, hierarchies } = cgroupMounts();
  writeFileSync(
    join(dir, 'enter.sh'),
    [
      '#!/bin/sh',
      'set -e',
      ...script,
      'mount -t tmpfs -o mode=755 nfdk-run /run',
      'if [ -d /etc/docker ]; then mount -t tmpfs nfdk-etc /etc/docker; fi',
      'exec "$@"',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'daemon.json'), '{}\n');
  const args = [
    'netns',
    'exec',
    ns,
    '/bin/sh',
    join(dir, 'enter.sh'),
    toolPath('dockerd'),
    '--config-file',
    join(dir, 'daemon.json'),
    '--data-root',
    join(dir, 'data'),
    '--exec-root',
    join(dir, 'exec'),
    '--pidfile',
    join(dir, 'docker.pid'),
    '-H',
    `unix://${sock}`,
    '--bip',
    o.bip,
    '--default-address-pool',
    o.addressPool,
    '--ip6tables=false',
    '--storage-driver',
    'vfs',
    '--cgroup-parent',
    cgroupParent,
    `--userland-proxy=${o.userlandProxy}`,
  ];
  let log = '';
  const daemon: ChildProcess = spawn(toolPath('ip'), args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  daemon.stdout!.on('data', (d) => (log += d));
  daemon.stderr!.on('data', (d) => (log += d));
  let mntInode: number | undefined;
  const containers: string[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (daemon.exitCode === null && daemon.signalCode === null) {
      try {
        const ids = docker(['ps', '-aq']);
        if (ids) docker(['rm', '-f', ...ids.split('\n')]);
      } catch {
        // the daemon may not answer: what it started is ended below
      }
      daemon.kill('SIGTERM');
      for (let i = 0; i < 200 && daemon.exitCode === null && daemon.signalCode === null; i++) await new Promise((r) => setTimeout(r, 50));
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
    }
    if (mntInode !== undefined) {
      for (let i = 0; i < 40; i++) {
        const left = processesInMountNs(mntInode);
        if (left.length === 0) break;
        for (const pid of left) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    for (const h of hierarchies) await removeCgroupTree(join(h, cgroupParent));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + o.startTimeout * 1000;
    let version: string | undefined;
    while (!version) {
      if (daemon.exitCode !== null || daemon.signalCode !== null)
        throw new Error(
          `dockerd exited (${daemon.exitCode ?? daemon.signalCode}): ${log.split('\n').filter(Boolean).slice(-3).join(' | ')}`,
        );
      if (Date.now() > deadline)
        throw new Error(`dockerd did not answer within ${o.startTimeout} s: ${log.split('\n').slice(-3).join(' | ')}`);
      try {
        if (existsSync(sock)) version = docker(['version', '--format', '{{.Server.Version}}']);
      } catch {
        // not yet
      }
      if (!version) await new Promise((r) => setTimeout(r, 100));
    }
    mntInode = statSync(`/proc/${daemon.pid}/ns/mnt`).ino;
    const image = 'netfwd-whoami:test';
    docker(['import', '-c', `CMD ["${process.execPath}", "/whoami.js"]`, rootfsTar(dir), image]);
    const run = async (name: string, ports: DockerPort[]): Promise<DockerContainer> => {
      const cname = `nfwd-${tag}-${containers.length + 1}`;
      const publish = ports.flatMap((p) => ['-p', `${p.hostPort ?? p.port}:${p.port}${p.protocol === 'udp' ? '/udp' : ''}`]);
      docker(['run', '-d', '--name', cname, '-e', `WHOAMI=${whoamiEnv(name, ports)}`, ...publish, image]);
      containers.push(cname);
      const lines = () => docker(['logs', cname]).split('\n').filter(Boolean);
      for (let i = 0; !lines().includes('ready'); i++) {
        if (i > 100) throw new Error(`container ${cname}'s server did not start: ${docker(['logs', cname])}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      return {
        name,
        address: docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', cname]),
        ports,
        seen: async () => {
          await new Promise((r) => setTimeout(r, 100)); // the log may lag the answer a little
          return lines().filter((l) => l !== 'ready');
        },
        ask: async (host, port, timeoutMs = 5000) =>
          docker(['exec', cname, process.execPath, '-e', ASK_SOURCE, host, String(port), String(timeoutMs)]),
      };
    };
    const container = await run(o.name, o.ports);
    const containerNetwork = docker(['network', 'inspect', 'bridge', '-f', '{{(index .IPAM.Config 0).Subnet}}']);
    return {
      kind: 'docker-engine',
      version,
      stateDir: dir,
      cgroupParent,
      describe: `Docker Engine ${version} (dockerd in ${ns}, storage vfs, image imported from a local root filesystem)`,
      netns: ns,
      bridge: 'docker0',
      gateway: o.bip.split('/')[0]!,
      containerNetwork,
      container,
      containerAddress: container.address,
      publishedPort: o.ports[0]?.hostPort ?? o.ports[0]?.port ?? 0,
      addContainer: (c) => run(c.name, c.ports),
      docker: (a) => docker(a),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function startEmulated(ns: string, o: Required<Omit<DockerOptions, 'kind'>>, fallbackReason?: string): Promise<DockerService> {
  // A daemon that failed half-way may have left its bridge and chains.
  removeDockerNetworking(ns);
  emulateDaemon(ns, o.bip);
  const containers: Array<{ remove(): Promise<void> }> = [];
  const add = async (name: string, ports: DockerPort[]) => {
    const c = await emulateContainer(ns, { index: containers.length + 1, name, bip: o.bip, ports, userlandProxy: o.userlandProxy });
    containers.push(c);
    return c;
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const c of containers.reverse()) await c.remove();
  };
  try {
    const container = await add(o.name, o.ports);
    return {
      kind: 'emulated',
      describe: `emulated Docker (docker0, a namespace per container, Docker 20.10's iptables rules)${fallbackReason ? `: Docker Engine did not start (${fallbackReason})` : ''}`,
      fallbackReason,
      netns: ns,
      bridge: 'docker0',
      gateway: o.bip.split('/')[0]!,
      containerNetwork: networkOf(o.bip),
      container,
      containerAddress: container.address,
      publishedPort: o.ports[0]?.hostPort ?? o.ports[0]?.port ?? 0,
      addContainer: (c) => add(c.name, c.ports),
      docker: () => {
        throw new Error('the Docker emulation has no docker CLI');
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Docker in the namespace `ns` (of a Lab or LanLab host) with one container
 * whose whoami server is published; prints which kind ran. Call stop() in the
 * test's teardown, before the lab is destroyed.
 */
export async function startDocker(ns: string, options: DockerOptions = {}): Promise<DockerService> {
  const o = {
    bip: options.bip ?? '203.0.113.129/26',
    addressPool: options.addressPool ?? 'base=203.0.113.192/26,size=28',
    ports: options.ports ?? [{ protocol: 'tcp' as const, port: 9735 }],
    name: options.name ?? 'container',
    userlandProxy: options.userlandProxy ?? true,
    startTimeout: options.startTimeout ?? 60,
  };
  const kind = options.kind ?? 'auto';
  let service: DockerService;
  if (kind === 'emulated') service = await startEmulated(ns, o);
  else {
    const missing = dockerEngineSkipReason();
    if (missing && kind === 'docker-engine') throw new Error(missing);
    if (missing) service = await startEmulated(ns, o, missing);
    else {
      try {
        service = await startEngine(ns, o);
      } catch (err) {
        if (kind === 'docker-engine') throw err;
        service = await startEmulated(ns, o, (err as Error).message);
      }
    }
  }
  process.stderr.write(`docker helper: ${service.describe}\n`);
  return service;
}

export { addIpv4 };

/**
 * Docker in a network namespace of a lab (never the root one): a service in a
 * container behind a published port, as appliances run it.
 *
 * 'docker-engine': the real dockerd (Debian's docker.io), started in the
 * namespace by src/lab/docker.ts (startDockerEngine: a mount namespace of
 * its own with the namespace's /sys, the host's cgroup hierarchies, its own
 * state directory and --cgroup-parent; storage vfs; --ip6tables=false, so
 * published ports answer IPv6 through docker-proxy). The image is made with
 * `docker import` from a root filesystem of this host's node binary and the
 * libraries ldd names — no registry. The container runs a whoami server (TCP
 * and UDP, like startService of e2e.ts).
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
import { spawnSync } from 'node:child_process';
import { startDockerEngine } from '../../src/lab/docker.js';
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

/** Starts Docker Engine in `ns` (src/lab/docker.ts) with the whoami image and the first container; throws (after cleaning up) when the daemon does not come up. */
async function startEngine(ns: string, o: Required<Omit<DockerOptions, 'kind'>>): Promise<DockerService> {
  const engine = await startDockerEngine(ns, {
    bip: o.bip,
    addressPool: o.addressPool,
    userlandProxy: o.userlandProxy,
    startTimeout: o.startTimeout,
  });
  const tag = engine.cgroupParent.replace(/^nfdk-/, '');
  const docker = engine.docker;
  const containers: string[] = [];
  try {
    const image = 'netfwd-whoami:test';
    engine.importNodeImage(image, { 'whoami.js': WHOAMI_SOURCE }, [process.execPath, '/whoami.js']);
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
    return {
      kind: 'docker-engine',
      version: engine.version,
      stateDir: engine.stateDir,
      cgroupParent: engine.cgroupParent,
      describe: `Docker Engine ${engine.version} (dockerd in ${ns}, storage vfs, image imported from a local root filesystem)`,
      netns: ns,
      bridge: 'docker0',
      gateway: engine.gateway,
      containerNetwork: engine.bridgeNetwork(),
      container,
      containerAddress: container.address,
      publishedPort: o.ports[0]?.hostPort ?? o.ports[0]?.port ?? 0,
      addContainer: (c) => run(c.name, c.ports),
      docker: (a) => docker(a),
      stop: engine.stop,
    };
  } catch (err) {
    await engine.stop();
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

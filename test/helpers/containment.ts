/**
 * The adversarial end-to-end suite of issue 16 (containment), shared by
 * test/e2e/containment-{uid,mark,connmark,snat}.test.ts, and the pieces
 * test/e2e/containment-ipv4-only.test.ts uses.
 *
 * One lab per file: client, the "internet" router (which plays the upstream
 * attacker and the host on the VPS's link), the frontend (VPS), the backend
 * (home) and a second backend ("office", for backend-to-backend attempts),
 * plus a namespace "vps-private" on another network of the frontend. The
 * attackers:
 *   1. an upstream router with routes to the tunnel subnets via the VPS
 *      (and a client behind it), also spoofing the backend's tunnel address;
 *   2. root on a backend, routing whatever it likes into its tunnel;
 *   3. root on the frontend, connecting to the backend through the tunnel;
 *   4. anyone on the internet triggering kernel-made replies (ICMP errors,
 *      RSTs, SYN-ACKs of unselected listeners) through the public forwards,
 *      and a tunnel that goes down under an established connection.
 * Each filter is checked where it acts: what the frontend lets into the
 * tunnel is counted where the tunnel comes out (the backend's prerouting),
 * what it forwards elsewhere where it arrives (the router, the private host),
 * and what the backend's own filter lets through after it (its input hook).
 * The oracles are nft counters of the test's own tables (read with `nft -j`),
 * `ip -j` route lookups and rules, and what the listeners saw — never netfwd.
 *
 * Functions sent into a namespace (runInNetns / startInNetns) are evaluated
 * from their source in a worker: they may not use anything of this module's scope.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import { forwardService } from '../../src/forward/index.js';
import type { BackendSpec, ForwardSpec, FrontendSpec, ServiceSpec } from '../../src/forward/spec/spec.js';
import type { LabHostName } from '../../src/lab/index.js';
import { endProcessesIn } from '../../src/lab/topology.js';
import { netns } from '../../src/netns/index.js';
import { type NetnsTask, runInNetns, startInNetns } from '../../src/netns/run-in-netns.js';
import {
  type BackendPlan,
  type Env,
  type EnvOptions,
  e2eSuite,
  inNetns,
  LAB_ADDRESSES,
  type Mode,
  OTHER_UID,
  OUTSIDE_PORT,
  type RunningService,
  readCounters,
  SERVICE_UID,
  serve,
  startEnv,
  streamClient,
  sysctlIn,
  wgBackend,
  whoami,
} from './e2e.js';
import { toolPath } from './kernel.js';

export { LAB_ADDRESSES, OTHER_UID, OUTSIDE_PORT, SERVICE_UID, e2eSuite, serve, wgBackend, whoami };

// ------------------------------------------------------------------ probes

export interface ProbeTarget {
  proto: 'tcp' | 'udp';
  host: string;
  port: number;
  /** Source address to bind (spoofing: an address added to the attacker's own interface). */
  from?: string;
  /** Default 1200 ms: long enough for the lab, short enough for "must fail". */
  timeoutMs?: number;
}

/**
 * All probes at once (portable: runs in a worker or a `node -e` process inside
 * a namespace). Each result is what the peer sent (trimmed), "(connected)"
 * for a TCP connection that was established but sent nothing, or — a failure —
 * "(timeout)" / "(error CODE)".
 */
export async function probeAll(targets: ProbeTarget[]): Promise<string[]> {
  const net = await import('node:net');
  const dgram = await import('node:dgram');
  const tcp = (t: ProbeTarget) =>
    new Promise<string>((resolve) => {
      let data = '';
      let connected = false;
      let done = false;
      const c = net.connect({ host: t.host, port: t.port, ...(t.from ? { localAddress: t.from } : {}) });
      const finish = (failure: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        c.destroy();
        resolve(connected ? data.trim() || '(connected)' : failure);
      };
      const timer = setTimeout(() => finish('(timeout)'), t.timeoutMs ?? 1200);
      c.on('connect', () => (connected = true));
      c.on('data', (d) => (data += d));
      c.on('end', () => finish('(closed)'));
      c.on('error', (err: NodeJS.ErrnoException) => finish(`(error ${err.code})`));
    });
  const udp = (t: ProbeTarget) =>
    new Promise<string>((resolve) => {
      const s = dgram.createSocket(t.host.includes(':') ? 'udp6' : 'udp4');
      let done = false;
      const finish = (r: string) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        try {
          s.close();
        } catch {
          // already closed
        }
        resolve(r);
      };
      const timer = setTimeout(() => finish('(timeout)'), t.timeoutMs ?? 1200);
      s.on('message', (m) => finish(String(m)));
      s.on('error', (err: NodeJS.ErrnoException) => finish(`(error ${err.code})`));
      const send = () => s.send('hello', t.port, t.host, (err) => err && finish(`(error ${(err as NodeJS.ErrnoException).code})`));
      if (t.from) s.bind({ address: t.from, port: 0 }, send);
      else send();
    });
  return Promise.all(targets.map((t) => (t.proto === 'tcp' ? tcp(t) : udp(t))));
}

/** A probe result that is a failure: nothing was established, nothing answered. */
export const FAILED = /^\((timeout|error [A-Z0-9_]+)\)$/;

/** Probes from a namespace as root. */
export function probe(ns: string, targets: ProbeTarget[]): Promise<string[]> {
  return runInNetns(ns, probeAll, targets);
}

/** Probes from a namespace as `uid` (its own process, so the sockets belong to that user). */
export async function probeAs(ns: string, uid: number, targets: ProbeTarget[]): Promise<string[]> {
  const source =
    'globalThis.__name = globalThis.__name || ((f) => f);\n' +
    `(${probeAll.toString()})(${JSON.stringify(targets)}).then((r) => process.stdout.write(JSON.stringify(r) + '\\n'));`;
  const child = netns.exec(ns, process.execPath, ['-e', source], { uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  if (code !== 0) throw new Error(`probe as uid ${uid} in ${ns} failed (${code}): ${stderr.trim()}`);
  return JSON.parse(stdout) as string[];
}

/** Asserts that every probe failed; the message names the ones that did not. */
export function allFailed(t: ExecutionContext, targets: ProbeTarget[], results: string[], what: string): void {
  const got = targets.map(
    (x, i) => `${x.proto} ${x.from ? `${x.from} → ` : ''}${x.host.includes(':') ? `[${x.host}]` : x.host}:${x.port} = ${results[i]}`,
  );
  const open = got.filter((_, i) => !FAILED.test(results[i]!));
  t.deepEqual(open, [], `${what}: reachable although it must not be:\n${open.join('\n')}\n(all: ${got.join('; ')})`);
}

// ------------------------------------------------------------------ tools

/** `ip -n NS ARGS` (throws on failure). */
export function ip(ns: string, args: string[]): string {
  return execFileSync(toolPath('ip'), ['-n', ns, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `ip -n NS -j -d route get ...`: the route as JSON, or the kernel's refusal ("No route to host", …). */
export function routeGet(ns: string, args: string[]): { route?: Record<string, unknown>; error?: string } {
  const r = spawnSync(toolPath('ip'), ['-n', ns, '-j', '-d', 'route', 'get', ...args], { encoding: 'utf8' });
  if (r.status !== 0) return { error: (r.stderr || `exit ${r.status}`).trim() };
  const parsed = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
  return { route: parsed[0] ?? {} };
}

// ------------------------------------------------------------------ counters

export interface WatchCounter {
  /** The rule's comment, which names it. */
  name: string;
  /** nft rule text without the counter and comment. */
  match: string;
  /**
   * 'prerouting' (priority -300: everything that arrives), 'input-last'
   * (priority 300: what got past every filter to local delivery),
   * 'output-first' (priority -300: what local sockets and the kernel send).
   */
  hook: 'prerouting' | 'input-last' | 'output-first';
}

export interface Watch {
  ns: string;
  table: string;
  counters: WatchCounter[];
}

function watchText(w: Watch): string {
  const chain = (name: string, hook: string, priority: number, list: WatchCounter[]) =>
    `  chain ${name} {\n    type filter hook ${hook} priority ${priority}; policy accept;\n${list.map((c) => `    ${c.match} counter comment "${c.name}"\n`).join('')}  }\n`;
  return (
    `table inet ${w.table} {\n` +
    chain(
      'pre',
      'prerouting',
      -300,
      w.counters.filter((c) => c.hook === 'prerouting'),
    ) +
    chain(
      'in_last',
      'input',
      300,
      w.counters.filter((c) => c.hook === 'input-last'),
    ) +
    chain(
      'out_first',
      'output',
      -300,
      w.counters.filter((c) => c.hook === 'output-first'),
    ) +
    `}\n`
  );
}

/** The test's own nft table (made with the nft tool, not netfwd): one counter per rule. */
export function installWatch(ns: string, table: string, counters: WatchCounter[]): Watch {
  const w = { ns, table, counters };
  execFileSync(toolPath('ip'), ['netns', 'exec', ns, toolPath('nft'), '-f', '-'], { input: watchText(w), stdio: ['pipe', 'pipe', 'pipe'] });
  return w;
}

/** Zero: the table is made again (nft 1.0.6 cannot reset rule counters in place). */
export function resetWatch(w: Watch): void {
  execFileSync(toolPath('ip'), ['netns', 'exec', w.ns, toolPath('nft'), 'delete', 'table', 'inet', w.table], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  installWatch(w.ns, w.table, w.counters);
}

/** Packets per counter name, read with `nft -j`. */
export function readWatch(w: Watch): Record<string, number> {
  return readCounters(w.ns, w.table);
}

/** The counters (of those named, or all) that are not zero. */
export function nonZero(c: Record<string, number>, names?: string[]): Record<string, number> {
  return Object.fromEntries(Object.entries(c).filter(([k, v]) => v !== 0 && (!names || names.includes(k))));
}

// ---------------------------------------------------------------------- env

/** The end-to-end environment (test/helpers/e2e.ts), under the name this suite has used. */
export type ContainmentEnv = Env;

/** startEnv with the suite's own namespace prefix. */
export function startContainmentEnv(o: EnvOptions): Promise<ContainmentEnv> {
  return startEnv({ prefix: 'nfcz', ...o });
}

/** Which WireGuard ran, for t.log. */
export function wgDescription(e: ContainmentEnv): string {
  const kind =
    e.wgKind === 'tun'
      ? 'wireguard-go (userspace, links of kind tun)'
      : e.wgKind === 'wireguard'
        ? "the kernel's WireGuard (links of kind wireguard)"
        : `links of kind ${e.wgKind}`;
  return `WireGuard implementation: ${kind}; requested: ${wgBackend()}`;
}

// ------------------------------------------------------- the VPS's other network

/** A network behind a lab host: the host's side of a veth and the one host on it (which runs a whoami). */
export interface ExtraNetwork {
  /** The lab host's address on it. */
  router: { ipv4: string; ipv6: string };
  host: { ipv4: string; ipv6: string };
  cidr4: string;
  cidr6: string;
  /** The lab host's interface toward it. */
  link: string;
}

/** A host on another network of the frontend ("vps-private"). */
export const PRIVATE = {
  router: { ipv4: '198.51.100.241', ipv6: '2001:db8:5::1' },
  host: { ipv4: '198.51.100.242', ipv6: '2001:db8:5::2' },
  cidr4: '198.51.100.240/28',
  cidr6: '2001:db8:5::/64',
  link: 'to-private',
} as const satisfies ExtraNetwork;

/** A host on the home LAN behind the backend ("home-lan"): what a compromised frontend would like to reach, or a container. */
export const HOME_LAN = {
  router: { ipv4: '198.51.100.225', ipv6: '2001:db8:6::1' },
  host: { ipv4: '198.51.100.226', ipv6: '2001:db8:6::2' },
  cidr4: '198.51.100.224/28',
  cidr6: '2001:db8:6::/64',
  link: 'to-lan',
} as const satisfies ExtraNetwork;

/**
 * Builds a namespace (named after the lab and `suffix`) behind the lab host
 * `on`, joined by a veth, with a whoami on OUTSIDE_PORT; removed by close().
 */
export async function addNetwork(e: ContainmentEnv, on: LabHostName, suffix: string, n: ExtraNetwork): Promise<string> {
  const name = `${e.lab.prefix}-${suffix}`;
  const near = e.lab.host(on).netns;
  let whoamiTask: NetnsTask<number> | undefined;
  e.cleanups.push(async () => {
    await whoamiTask?.stop();
    await endProcessesIn([name]);
    if (netns.exists(name)) netns.remove(name);
  });
  netns.create(name);
  netns.sysctl(name, 'net.ipv6.conf.all.accept_dad', 0);
  netns.sysctl(name, 'net.ipv6.conf.default.accept_dad', 0);
  ip(near, ['link', 'add', n.link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name]);
  ip(near, ['addr', 'add', `${n.router.ipv4}/28`, 'dev', n.link]);
  ip(near, ['addr', 'add', `${n.router.ipv6}/64`, 'dev', n.link, 'nodad']);
  ip(near, ['link', 'set', n.link, 'up']);
  ip(name, ['link', 'set', 'lo', 'up']);
  ip(name, ['link', 'set', 'eth0', 'up']);
  ip(name, ['addr', 'add', `${n.host.ipv4}/28`, 'dev', 'eth0']);
  ip(name, ['addr', 'add', `${n.host.ipv6}/64`, 'dev', 'eth0', 'nodad']);
  ip(name, ['route', 'add', 'default', 'via', n.router.ipv4]);
  ip(name, ['-6', 'route', 'add', 'default', 'via', n.router.ipv6]);
  whoamiTask = startInNetns(name, whoami, OUTSIDE_PORT);
  await whoamiTask.result;
  return name;
}

// --------------------------------------------------- the compromised backend's detour

const DETOUR_TABLE = '7700';
const DETOUR_PRIORITY = '50';

/**
 * Root on a backend sends TCP for `targets` into its tunnel: a rule per target
 * (`to X ipproto tcp`, priority 50) to a table of the test's holding
 * `default dev TUNNEL`. Rules rather than `ip route add X dev TUNNEL` in the
 * main table because one target is the frontend's public address, the
 * tunnel's own WireGuard endpoint: a host route would send the tunnel's
 * encrypted UDP into itself. Returns the undo.
 */
export function detourIntoTunnel(ns: string, tunnel: string, targets: string[]): () => void {
  const done: string[][] = [];
  const run = (args: string[], undo: string[]) => {
    ip(ns, args);
    done.push(undo);
  };
  const undo = () => {
    for (const args of done.reverse()) spawnSync(toolPath('ip'), ['-n', ns, ...args], { stdio: 'ignore' });
    done.length = 0;
  };
  try {
    for (const f of ['-4', '-6'])
      run(
        [f, 'route', 'add', 'default', 'dev', tunnel, 'table', DETOUR_TABLE],
        [f, 'route', 'del', 'default', 'dev', tunnel, 'table', DETOUR_TABLE],
      );
    for (const x of targets) {
      const f = x.includes(':') ? '-6' : '-4';
      const rule = ['to', x, 'ipproto', 'tcp', 'priority', DETOUR_PRIORITY, 'lookup', DETOUR_TABLE];
      run([f, 'rule', 'add', ...rule], [f, 'rule', 'del', ...rule]);
    }
  } catch (err) {
    undo();
    throw err;
  }
  return undo;
}

// -------------------------------------------------------------- stream client

// =================================================================== the suite

/** Ports of the suite's spec (public → backend). */
const P = {
  /** Listed, run by uid 1000 (public 80). */
  svc: 8080,
  /** Listed, streams "tick N" (public 81). */
  stream: 8081,
  /** Listed UDP, run by uid 1000 (public 5353). */
  udp: 5353,
  /** Listed UDP, forwarded (public 5355), no service running: ICMP port unreachable. */
  udpDown: 5355,
  /** Forwarded UDP (public 5356) that the backend does not list, nothing running. */
  udpUnlisted: 5356,
  /** Listed TCP, forwarded (public 82), no listener: RST. */
  tcpNoListener: 8082,
  /** Forwarded TCP (public 84), not listed, no listener. */
  tcpNoListenerUnlisted: 8084,
  /** Listed TCP, forwarded (public 85), listener of uid 1001 (unselected). */
  otherListed: 8085,
  /** Forwarded TCP (public 83), not listed, listener of uid 1001. */
  otherUnlisted: 8083,
  /** Forwarded TCP (public 86), not listed, listener of uid 1000: the backend's tunnelPorts opens it. */
  extra: 2224,
  /** Streams "tick N" as uid 1001, not listed: forwarded (public 87) and opened by tunnelPorts only in leak test (e). */
  stream2: 2225,
  /** Listed in one test only, DNATed by the backend itself to the home LAN host (a container's published port; public 88). */
  container: 8090,
  /** Not forwarded anywhere: the attackers' target on the backend and on the frontend (uid 1001). */
  attackTcp: 2222,
  attackUdp: 2223,
} as const;

const FORWARDS: ForwardSpec[] = [
  { protocol: 'tcp', port: 80, to: { peer: 'home', port: P.svc } },
  { protocol: 'tcp', port: 81, to: { peer: 'home', port: P.stream } },
  { protocol: 'udp', port: P.udp, to: { peer: 'home' } },
  { protocol: 'udp', port: P.udpDown, to: { peer: 'home' } },
  { protocol: 'udp', port: P.udpUnlisted, to: { peer: 'home' } },
  { protocol: 'tcp', port: 82, to: { peer: 'home', port: P.tcpNoListener } },
  { protocol: 'tcp', port: 84, to: { peer: 'home', port: P.tcpNoListenerUnlisted } },
  { protocol: 'tcp', port: 85, to: { peer: 'home', port: P.otherListed } },
  { protocol: 'tcp', port: 83, to: { peer: 'home', port: P.otherUnlisted } },
  { protocol: 'tcp', port: 86, to: { peer: 'home', port: P.extra } },
];

const SERVICES: ServiceSpec[] = [
  { protocol: 'tcp', port: `${P.svc}-${P.tcpNoListener}` },
  { protocol: 'tcp', port: P.otherListed },
  { protocol: 'udp', port: P.udp },
  { protocol: 'udp', port: P.udpDown },
];

const TUN = {
  frontend: { ipv4: '10.0.0.1', ipv6: 'fd00::1' },
  home: { ipv4: '10.0.0.2', ipv6: 'fd00::2' },
  office: { ipv4: '10.0.0.3', ipv6: 'fd00::3' },
} as const;

const WATCH = 'cz_watch';
const LEAKS = 'cz_leaks';

/** The backend's counters of attack packets that came out of its tunnel. */
const ARRIVED = {
  router4: 'arrived from the tunnel: from the router (IPv4)',
  router6: 'arrived from the tunnel: from the router (IPv6)',
  office4: 'arrived from the tunnel: from the office backend (IPv4)',
  office6: 'arrived from the tunnel: from the office backend (IPv6)',
} as const;

/** The router's counters of what the frontend forwards to it (destination side of the compromised backend's attempts). */
const FROM_VPS = {
  tunnel4: 'from the VPS: to the tunnel subnet (IPv4)',
  tunnel6: 'from the VPS: to the tunnel subnet (IPv6)',
  routerLink4: "from the VPS: to the router's VPS-link address (IPv4)",
  routerLink6: "from the VPS: to the router's VPS-link address (IPv6)",
  outside4: 'from the VPS: to the outside host (IPv4)',
  outside6: 'from the VPS: to the outside host (IPv6)',
} as const;
/** The frontend's counters of packets to its tunnel addresses that came in by another interface. */
const FE_FROM_OUTSIDE = [
  'delivered to a tunnel address from another interface (IPv4)',
  'delivered to a tunnel address from another interface (IPv6)',
];
/** The frontend's counters of new connections from the tunnel delivered to one of its addresses that is not a tunnel address. */
const FE_OTHER_ADDRESS = {
  v4: "new from the tunnel, delivered to another of the frontend's addresses (IPv4)",
  v6: "new from the tunnel, delivered to another of the frontend's addresses (IPv6)",
} as const;
const PRIVATE_ARRIVED = `arrived from the frontend: tcp ${OUTSIDE_PORT}`;
const LAN_ARRIVED = `arrived from the backend: tcp ${OUTSIDE_PORT}`;

/** The router's counters on its link to the backend (the home uplink as the router sees it). */
const LEAK = {
  client4: 'home uplink: to the client (IPv4)',
  client6: 'home uplink: to the client (IPv6)',
  tunnel4: 'home uplink: from a tunnel address (IPv4)',
  tunnel6: 'home uplink: from a tunnel address (IPv6)',
  outside: `home uplink: to the outside host's port ${OUTSIDE_PORT}`,
} as const;

interface SuiteEnv extends ContainmentEnv {
  mode: Mode;
  /** uid 1000's services on the backend. */
  home: RunningService;
  /** uid 1001's listeners on the backend (2222, 2223, 8083, 8085). */
  other: RunningService;
  /** uid 1001's listeners on the frontend (2222, 2223). */
  vps: RunningService;
  router: Watch;
  backendWatch: Watch;
  frontendWatch: Watch;
  /** On the host of the frontend's other network. */
  privateWatch: Watch;
  /** On the host of the home LAN behind the backend. */
  lanWatch: Watch;
  homeTunnel: string;
  officeTunnel: string;
  frontendTunnel: string;
}

type Extra = Record<string, unknown>;

/** A variant of a spec with fields today's spec type may not have yet (egress, tunnelPorts). */
function withFrontend(spec: FrontendSpec, extra: Extra): FrontendSpec {
  return { ...spec, ...extra } as FrontendSpec;
}
function withBackend(spec: BackendSpec, extra: Extra): BackendSpec {
  return { ...spec, ...extra } as BackendSpec;
}

const tcp = (host: string, port: number, o: Partial<ProbeTarget> = {}): ProbeTarget => ({ proto: 'tcp', host, port, ...o });
const udp = (host: string, port: number, o: Partial<ProbeTarget> = {}): ProbeTarget => ({ proto: 'udp', host, port, ...o });
const both = (a: { ipv4: string; ipv6: string }) => [a.ipv4, a.ipv6];
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function defineContainmentTests(mode: Mode): void {
  const selects = mode === 'uid' || mode === 'mark';
  const c4 = mode === 'snat' ? TUN.frontend.ipv4 : LAB_ADDRESSES.client.ipv4;
  const c6 = mode === 'snat' ? TUN.frontend.ipv6 : LAB_ADDRESSES.client.ipv6;
  const F = LAB_ADDRESSES.frontend;
  const R = LAB_ADDRESSES.routerToFrontend;

  const { test, env } = e2eSuite<SuiteEnv>(async () => {
    const plans: BackendPlan[] = [
      { host: 'backend', name: 'home', mode, addresses: [`${TUN.home.ipv4}/24`, `${TUN.home.ipv6}/64`], services: SERVICES },
      { host: 'backend2', name: 'office', mode, addresses: [`${TUN.office.ipv4}/24`, `${TUN.office.ipv6}/64`], services: [] },
    ];
    const e = await startContainmentEnv({ labBackends: 2, backends: plans, forwards: FORWARDS });
    try {
      const homeTunnel = e.specs.backends[0]!.tunnel!.interface;
      const officeTunnel = e.specs.backends[1]!.tunnel!.interface;
      const frontendTunnel = e.specs.frontend.tunnel.interface;
      const privateNs = await addNetwork(e, 'frontend', 'vps-private', PRIVATE);
      const privateWatch = installWatch(privateNs, WATCH, [
        { name: PRIVATE_ARRIVED, match: `iifname "eth0" tcp dport ${OUTSIDE_PORT}`, hook: 'prerouting' },
      ]);
      const lanNs = await addNetwork(e, 'backend', 'home-lan', HOME_LAN);
      const lanWatch = installWatch(lanNs, WATCH, [
        { name: LAN_ARRIVED, match: `iifname "eth0" tcp dport ${OUTSIDE_PORT}`, hook: 'prerouting' },
      ]);
      // The upstream attacker: the router on the VPS's link routes the tunnel subnets to the VPS.
      const internet = e.lab.hosts.internet.netns;
      ip(internet, ['route', 'add', '10.0.0.0/24', 'via', F.ipv4]);
      ip(internet, ['-6', 'route', 'add', 'fd00::/64', 'via', F.ipv6]);

      const router = installWatch(internet, LEAKS, [
        { name: LEAK.client4, match: `iifname "to-backend" ip daddr ${LAB_ADDRESSES.client.ipv4}`, hook: 'prerouting' },
        { name: LEAK.client6, match: `iifname "to-backend" ip6 daddr ${LAB_ADDRESSES.client.ipv6}`, hook: 'prerouting' },
        { name: LEAK.tunnel4, match: 'iifname "to-backend" ip saddr 10.0.0.0/16', hook: 'prerouting' },
        { name: LEAK.tunnel6, match: 'iifname "to-backend" ip6 saddr fd00::/48', hook: 'prerouting' },
        { name: LEAK.outside, match: `iifname "to-backend" tcp dport ${OUTSIDE_PORT}`, hook: 'prerouting' },
        { name: FROM_VPS.tunnel4, match: `iifname "to-frontend" ip daddr 10.0.0.0/16`, hook: 'prerouting' },
        { name: FROM_VPS.tunnel6, match: `iifname "to-frontend" ip6 daddr fd00::/48`, hook: 'prerouting' },
        { name: FROM_VPS.routerLink4, match: `iifname "to-frontend" ip daddr ${R.ipv4} tcp dport ${OUTSIDE_PORT}`, hook: 'prerouting' },
        { name: FROM_VPS.routerLink6, match: `iifname "to-frontend" ip6 daddr ${R.ipv6} tcp dport ${OUTSIDE_PORT}`, hook: 'prerouting' },
        {
          name: FROM_VPS.outside4,
          match: `iifname "to-frontend" ip daddr ${LAB_ADDRESSES.outside.ipv4} tcp dport ${OUTSIDE_PORT}`,
          hook: 'prerouting',
        },
        {
          name: FROM_VPS.outside6,
          match: `iifname "to-frontend" ip6 daddr ${LAB_ADDRESSES.outside.ipv6} tcp dport ${OUTSIDE_PORT}`,
          hook: 'prerouting',
        },
      ]);
      const arrived = (proto: string, port: number): WatchCounter => ({
        name: `arrived from the tunnel: ${proto} ${port}`,
        match: `iifname "${homeTunnel}" ${proto} dport ${port}`,
        hook: 'prerouting',
      });
      const delivered = (name: string, match: string): WatchCounter => ({
        name: `delivered from the tunnel: ${name}`,
        match: `iifname "${homeTunnel}" ${match}`,
        hook: 'input-last',
      });
      const backendWatch = installWatch(e.lab.hosts.backend.netns, WATCH, [
        arrived('udp', P.udpDown),
        arrived('udp', P.udpUnlisted),
        arrived('tcp', P.tcpNoListener),
        arrived('tcp', P.tcpNoListenerUnlisted),
        arrived('tcp', P.otherListed),
        arrived('tcp', P.otherUnlisted),
        arrived('tcp', P.extra),
        arrived('tcp', P.svc),
        arrived('tcp', P.container),
        // Arrivals of the attackers' packets: the frontend's filter must keep them out of the tunnel...
        arrived('tcp', P.attackTcp),
        arrived('udp', P.attackUdp),
        { name: ARRIVED.router4, match: `iifname "${homeTunnel}" ip saddr ${R.ipv4}`, hook: 'prerouting' },
        { name: ARRIVED.router6, match: `iifname "${homeTunnel}" ip6 saddr ${R.ipv6}`, hook: 'prerouting' },
        { name: ARRIVED.office4, match: `iifname "${homeTunnel}" ip saddr ${TUN.office.ipv4}`, hook: 'prerouting' },
        { name: ARRIVED.office6, match: `iifname "${homeTunnel}" ip6 saddr ${TUN.office.ipv6}`, hook: 'prerouting' },
        // ... and what gets past the backend's own filter (its layer alone, where the frontend lets a packet through).
        delivered(`tcp ${P.attackTcp}`, `tcp dport ${P.attackTcp}`),
        delivered(`udp ${P.attackUdp}`, `udp dport ${P.attackUdp}`),
        delivered(`tcp ${P.extra}`, `tcp dport ${P.extra}`),
        { name: 'sent by the stream service', match: `tcp sport ${P.stream}`, hook: 'output-first' },
        // For the log: what the backend's kernel made in answer to the triggers (wherever it went).
        { name: 'sent: ICMP destination unreachable', match: 'icmp type destination-unreachable', hook: 'output-first' },
        { name: 'sent: ICMPv6 destination unreachable', match: 'icmpv6 type destination-unreachable', hook: 'output-first' },
        { name: 'sent: TCP RST', match: 'tcp flags & rst == rst', hook: 'output-first' },
        { name: 'sent: TCP SYN-ACK', match: 'tcp flags & (syn | ack) == syn | ack', hook: 'output-first' },
      ]);
      const frontendWatch = installWatch(e.lab.hosts.frontend.netns, WATCH, [
        { name: FE_FROM_OUTSIDE[0]!, match: `iifname != { "${frontendTunnel}", "lo" } ip daddr ${TUN.frontend.ipv4}`, hook: 'input-last' },
        { name: FE_FROM_OUTSIDE[1]!, match: `iifname != { "${frontendTunnel}", "lo" } ip6 daddr ${TUN.frontend.ipv6}`, hook: 'input-last' },
        {
          name: 'new from the tunnel, delivered to the frontend itself',
          match: `iifname "${frontendTunnel}" ct state new`,
          hook: 'input-last',
        },
        {
          name: FE_OTHER_ADDRESS.v4,
          match: `iifname "${frontendTunnel}" ct state new meta nfproto ipv4 ip daddr != ${TUN.frontend.ipv4}`,
          hook: 'input-last',
        },
        {
          name: FE_OTHER_ADDRESS.v6,
          match: `iifname "${frontendTunnel}" ct state new meta nfproto ipv6 ip6 daddr != ${TUN.frontend.ipv6}`,
          hook: 'input-last',
        },
      ]);

      // In modes mark and connmark an unconnected UDP socket must answer from the address it was reached on.
      const udpBind =
        mode === 'uid' || mode === 'snat'
          ? [{ port: P.udp, bind: '::' }]
          : [
              { port: P.udp, bind: TUN.home.ipv4 },
              { port: P.udp, bind: TUN.home.ipv6 },
            ];
      const home = await serve(e, 'backend', {
        name: 'home',
        uid: SERVICE_UID,
        tcp: [P.svc, P.extra],
        tcpStream: [P.stream],
        udp: udpBind,
      });
      const other = await serve(e, 'backend', {
        name: 'other',
        uid: OTHER_UID,
        tcp: [P.attackTcp, P.otherListed, P.otherUnlisted],
        udp: [{ port: P.attackUdp, bind: '::' }],
      });
      const vps = await serve(e, 'frontend', { name: 'vps', uid: OTHER_UID, tcp: [P.attackTcp], udp: [{ port: P.attackUdp, bind: '::' }] });
      await e.lab.start('internet', whoami, OUTSIDE_PORT).result;
      await e.handshakes();
      return {
        ...e,
        mode,
        home,
        other,
        vps,
        router,
        backendWatch,
        frontendWatch,
        privateWatch,
        lanWatch,
        homeTunnel,
        officeTunnel,
        frontendTunnel,
      };
    } catch (err) {
      await e.close().catch(() => undefined);
      throw err;
    }
  });

  const ns = (h: LabHostName) => env().lab.host(h).netns;
  const newSince = (s: RunningService, n: number) => s.seen().slice(n);

  // ------------------------------------------------------------------ sanity

  test(`${mode}: sanity — the public forwards reach the backend's service (IPv4, IPv6); the lab's WireGuard is named`, async (t) => {
    const e = env();
    t.log(wgDescription(e));
    const r = await probe(ns('client'), [tcp(F.ipv4, 80, { timeoutMs: 5000 }), tcp(F.ipv6, 80, { timeoutMs: 5000 })]);
    t.deepEqual(r, [`home ${c4} ${P.svc}`, `home ${c6} ${P.svc}`]);
  });

  // ----------------------------------------------------- 1. upstream attacker

  test(`${mode}: upstream attacker — an unlisted backend port (TCP ${P.attackTcp}, UDP ${P.attackUdp}) is unreachable through the VPS, from the router and from the client behind it (IPv4, IPv6)`, async (t) => {
    const e = env();
    // The attack is real: the router sends the tunnel subnets to the VPS (checked with ip).
    for (const dst of both(TUN.home)) {
      const r = routeGet(ns('internet'), [dst]);
      t.is(r.route?.gateway, dst.includes(':') ? F.ipv6 : F.ipv4, `router: route to ${dst}: ${JSON.stringify(r)}`);
      t.is(r.route?.dev, 'to-frontend');
    }
    resetWatch(e.backendWatch);
    const seen = e.other.seen().length;
    const targets = [
      tcp(TUN.home.ipv4, P.attackTcp),
      tcp(TUN.home.ipv6, P.attackTcp),
      udp(TUN.home.ipv4, P.attackUdp),
      udp(TUN.home.ipv6, P.attackUdp),
    ];
    const [fromRouter, fromClient] = await Promise.all([probe(ns('internet'), targets), probe(ns('client'), targets)]);
    allFailed(t, targets, fromRouter, 'from the router');
    allFailed(t, targets, fromClient, 'from the client');
    const c = readWatch(e.backendWatch);
    t.deepEqual(
      nonZero(c, [`arrived from the tunnel: tcp ${P.attackTcp}`, `arrived from the tunnel: udp ${P.attackUdp}`]),
      {},
      'the frontend let none of them into the tunnel',
    );
    t.deepEqual(
      nonZero(c, [`delivered from the tunnel: tcp ${P.attackTcp}`, `delivered from the tunnel: udp ${P.attackUdp}`]),
      {},
      'none got past the backend’s filters',
    );
    t.deepEqual(newSince(e.other, seen), [], 'the listener saw nothing');
  });

  test(`${mode}: upstream attacker — a listed service port addressed directly (${TUN.home.ipv4}:${P.svc} TCP, :${P.udp} UDP — not through the public DNAT) is unreachable (IPv4, IPv6)`, async (t) => {
    const e = env();
    resetWatch(e.backendWatch);
    const seen = e.home.seen().length;
    const targets = [tcp(TUN.home.ipv4, P.svc), tcp(TUN.home.ipv6, P.svc), udp(TUN.home.ipv4, P.udp), udp(TUN.home.ipv6, P.udp)];
    allFailed(t, targets, await probe(ns('internet'), targets), 'from the router');
    const c = readWatch(e.backendWatch);
    t.deepEqual(nonZero(c, [ARRIVED.router4, ARRIVED.router6]), {}, 'the frontend let nothing from the router into the tunnel');
    t.deepEqual(newSince(e.home, seen), [], 'the service saw nothing');
  });

  test(`${mode}: upstream attacker — the frontend's tunnel addresses (${TUN.frontend.ipv4}, ${TUN.frontend.ipv6}) are not reachable from its uplink, while its public address answers on the same port`, async (t) => {
    const e = env();
    // Control: the frontend's listener is up and the router reaches it on the public address (not netfwd's business).
    t.deepEqual(await probe(ns('internet'), [tcp(F.ipv4, P.attackTcp), tcp(F.ipv6, P.attackTcp)]), [
      `vps ${R.ipv4} ${P.attackTcp}`,
      `vps ${R.ipv6} ${P.attackTcp}`,
    ]);
    resetWatch(e.frontendWatch);
    const seen = e.vps.seen().length;
    const targets = [
      tcp(TUN.frontend.ipv4, P.attackTcp),
      tcp(TUN.frontend.ipv6, P.attackTcp),
      udp(TUN.frontend.ipv4, P.attackUdp),
      udp(TUN.frontend.ipv6, P.attackUdp),
    ];
    allFailed(t, targets, await probe(ns('internet'), targets), 'from the router');
    t.deepEqual(
      nonZero(readWatch(e.frontendWatch), FE_FROM_OUTSIDE),
      {},
      "nothing reached the frontend's tunnel addresses from its uplink",
    );
    t.deepEqual(newSince(e.vps, seen), [], 'the listener saw nothing');
  });

  test(`${mode}: spoofing — the router, posing as the backend (source ${TUN.home.ipv4} / ${TUN.home.ipv6} on its link to the VPS), reaches nothing on the frontend's tunnel addresses`, async (t) => {
    const e = env();
    const internet = ns('internet');
    ip(internet, ['addr', 'add', `${TUN.home.ipv4}/32`, 'dev', 'to-frontend']);
    ip(internet, ['addr', 'add', `${TUN.home.ipv6}/128`, 'dev', 'to-frontend', 'nodad']);
    try {
      resetWatch(e.frontendWatch);
      const seen = e.vps.seen().length;
      const targets = [
        tcp(TUN.frontend.ipv4, P.attackTcp, { from: TUN.home.ipv4 }),
        udp(TUN.frontend.ipv4, P.attackUdp, { from: TUN.home.ipv4 }),
        tcp(TUN.frontend.ipv6, P.attackTcp, { from: TUN.home.ipv6 }),
        udp(TUN.frontend.ipv6, P.attackUdp, { from: TUN.home.ipv6 }),
      ];
      allFailed(t, targets, await probe(internet, targets), 'spoofed from the router');
      t.deepEqual(nonZero(readWatch(e.frontendWatch), FE_FROM_OUTSIDE), {}, "no spoofed packet got to the frontend's tunnel addresses");
      t.deepEqual(newSince(e.vps, seen), [], 'the listener saw nothing');
    } finally {
      ip(internet, ['addr', 'del', `${TUN.home.ipv4}/32`, 'dev', 'to-frontend']);
      ip(internet, ['addr', 'del', `${TUN.home.ipv6}/128`, 'dev', 'to-frontend']);
    }
  });

  // --------------------------------------------------- 2. compromised backend

  /** Runs `fn` with root's TCP to `targets` routed into the backend's tunnel (checked with ip route get). */
  const detoured = async <T>(t: ExecutionContext, targets: string[], fn: () => Promise<T>): Promise<T> => {
    const e = env();
    const undo = detourIntoTunnel(ns('backend'), e.homeTunnel, targets);
    try {
      for (const x of targets) {
        const r = routeGet(ns('backend'), [x, 'ipproto', 'tcp']);
        t.is(r.route?.dev, e.homeTunnel, `backend: route to ${x}: ${JSON.stringify(r)}`);
      }
      return await fn();
    } finally {
      undo();
    }
  };

  test(`${mode}: compromised backend — root on the backend cannot reach the frontend itself: its listener on the tunnel addresses nor on the public address (IPv4, IPv6)`, async (t) => {
    const e = env();
    resetWatch(e.frontendWatch);
    const seen = e.vps.seen().length;
    const targets = [
      tcp(TUN.frontend.ipv4, P.attackTcp),
      tcp(TUN.frontend.ipv6, P.attackTcp),
      tcp(F.ipv4, P.attackTcp),
      tcp(F.ipv6, P.attackTcp),
      udp(TUN.frontend.ipv4, P.attackUdp),
      udp(TUN.frontend.ipv6, P.attackUdp),
    ];
    const r = await detoured(t, both(F), () => probe(ns('backend'), targets));
    allFailed(t, targets, r, 'from the backend');
    t.is(readWatch(e.frontendWatch)['new from the tunnel, delivered to the frontend itself'], 0);
    t.deepEqual(newSince(e.vps, seen), [], 'the listener saw nothing');
  });

  test(`${mode}: compromised backend — the router on the VPS's link (${R.ipv4}:${OUTSIDE_PORT}, [${R.ipv6}]:${OUTSIDE_PORT}) is unreachable through the tunnel`, async (t) => {
    // Control: the whoami listens there; the frontend itself reaches it.
    const e = env();
    t.deepEqual(await probe(ns('frontend'), [tcp(R.ipv4, OUTSIDE_PORT), tcp(R.ipv6, OUTSIDE_PORT)]), both(F));
    resetWatch(e.router);
    const targets = [tcp(R.ipv4, OUTSIDE_PORT), tcp(R.ipv6, OUTSIDE_PORT)];
    allFailed(t, targets, await detoured(t, both(R), () => probe(ns('backend'), targets)), 'from the backend');
    // Whatever the backend does with answers, the frontend must not have forwarded the attempts.
    t.deepEqual(
      nonZero(readWatch(e.router), [FROM_VPS.routerLink4, FROM_VPS.routerLink6]),
      {},
      'the frontend forwarded nothing of it to the router',
    );
  });

  test(`${mode}: compromised backend — a host on another network of the frontend (${PRIVATE.host.ipv4}, ${PRIVATE.host.ipv6}) is unreachable through the tunnel`, async (t) => {
    // Control: the host is up; the frontend itself reaches it.
    const e = env();
    t.deepEqual(
      await probe(ns('frontend'), [tcp(PRIVATE.host.ipv4, OUTSIDE_PORT), tcp(PRIVATE.host.ipv6, OUTSIDE_PORT)]),
      both(PRIVATE.router),
    );
    resetWatch(e.privateWatch);
    const targets = [tcp(PRIVATE.host.ipv4, OUTSIDE_PORT), tcp(PRIVATE.host.ipv6, OUTSIDE_PORT)];
    allFailed(t, targets, await detoured(t, both(PRIVATE.host), () => probe(ns('backend'), targets)), 'from the backend');
    t.is(readWatch(e.privateWatch)[PRIVATE_ARRIVED], 0, 'the frontend forwarded nothing of it to the private host');
  });

  test(`${mode}: compromised backend — the outside host is reachable (the frontend allows egress), masqueraded to the frontend's public address (IPv4, IPv6)`, async (t) => {
    const targets = [
      tcp(LAB_ADDRESSES.outside.ipv4, OUTSIDE_PORT, { timeoutMs: 5000 }),
      tcp(LAB_ADDRESSES.outside.ipv6, OUTSIDE_PORT, { timeoutMs: 5000 }),
    ];
    t.deepEqual(await detoured(t, both(LAB_ADDRESSES.outside), () => probe(ns('backend'), targets)), both(F));
  });

  test(`${mode}: frontend egress.allow [${PRIVATE.cidr4}, ${PRIVATE.cidr6}] — the private host becomes reachable from the backend; the router's link and the frontend itself stay closed`, async (t) => {
    const e = env();
    const variant = forwardService(withFrontend(e.specs.frontend, { egress: { allow: [PRIVATE.cidr4, PRIVATE.cidr6] } }), {
      implementation: wgBackend(),
    });
    try {
      await variant.apply();
      resetWatch(e.router);
      resetWatch(e.frontendWatch);
      const open = [tcp(PRIVATE.host.ipv4, OUTSIDE_PORT, { timeoutMs: 5000 }), tcp(PRIVATE.host.ipv6, OUTSIDE_PORT, { timeoutMs: 5000 })];
      const closed = [tcp(R.ipv4, OUTSIDE_PORT), tcp(R.ipv6, OUTSIDE_PORT), tcp(F.ipv4, P.attackTcp), tcp(TUN.frontend.ipv4, P.attackTcp)];
      const r = await detoured(t, [...both(PRIVATE.host), ...both(R), F.ipv4], () => probe(ns('backend'), [...open, ...closed]));
      const reached = r.slice(0, 2);
      t.true(
        reached.every((x) => !FAILED.test(x)),
        `the private host answers: ${reached.join(', ')}`,
      );
      allFailed(t, closed, r.slice(2), 'from the backend');
      t.deepEqual(
        nonZero(readWatch(e.router), [FROM_VPS.routerLink4, FROM_VPS.routerLink6]),
        {},
        'the frontend forwarded nothing to the router',
      );
      t.is(readWatch(e.frontendWatch)['new from the tunnel, delivered to the frontend itself'], 0);
    } finally {
      await e.frontend.apply();
    }
  });

  test(`${mode}: frontend tunnelPorts [tcp ${P.attackTcp}] — its listener on the tunnel addresses answers the backend; not the router, not on the public address, not UDP`, async (t) => {
    const e = env();
    const variant = forwardService(withFrontend(e.specs.frontend, { tunnelPorts: [{ protocol: 'tcp', port: P.attackTcp }] }), {
      implementation: wgBackend(),
    });
    try {
      await variant.apply();
      resetWatch(e.frontendWatch);
      const open = [tcp(TUN.frontend.ipv4, P.attackTcp, { timeoutMs: 5000 }), tcp(TUN.frontend.ipv6, P.attackTcp, { timeoutMs: 5000 })];
      const closed = [
        tcp(F.ipv4, P.attackTcp),
        tcp(F.ipv6, P.attackTcp),
        udp(TUN.frontend.ipv4, P.attackUdp),
        udp(TUN.frontend.ipv6, P.attackUdp),
      ];
      const r = await detoured(t, both(F), () => probe(ns('backend'), [...open, ...closed]));
      t.deepEqual(r.slice(0, 2), [`vps ${TUN.home.ipv4} ${P.attackTcp}`, `vps ${TUN.home.ipv6} ${P.attackTcp}`]);
      allFailed(t, closed, r.slice(2), 'from the backend');
      t.deepEqual(
        nonZero(readWatch(e.frontendWatch), [FE_OTHER_ADDRESS.v4, FE_OTHER_ADDRESS.v6]),
        {},
        'tunnelPorts open the tunnel addresses only: nothing new from the tunnel reached the public address',
      );
      const fromRouter = [tcp(TUN.frontend.ipv4, P.attackTcp), tcp(TUN.frontend.ipv6, P.attackTcp)];
      allFailed(t, fromRouter, await probe(ns('internet'), fromRouter), 'from the router');
    } finally {
      await e.frontend.apply();
    }
  });

  test(`${mode}: frontend egress.enabled false — the outside host is unreachable from the backend too; the forwards still work`, async (t) => {
    const e = env();
    const variant = forwardService(withFrontend(e.specs.frontend, { egress: { enabled: false } }), { implementation: wgBackend() });
    try {
      await variant.apply();
      resetWatch(e.router);
      const targets = [tcp(LAB_ADDRESSES.outside.ipv4, OUTSIDE_PORT), tcp(LAB_ADDRESSES.outside.ipv6, OUTSIDE_PORT)];
      allFailed(t, targets, await detoured(t, both(LAB_ADDRESSES.outside), () => probe(ns('backend'), targets)), 'root on the backend');
      if (selects) allFailed(t, targets, await probeAs(ns('backend'), SERVICE_UID, targets), `the selected uid ${SERVICE_UID}`);
      t.deepEqual(
        nonZero(readWatch(e.router), [FROM_VPS.outside4, FROM_VPS.outside6]),
        {},
        'the frontend forwarded nothing of it to the outside host',
      );
      t.deepEqual(await probe(ns('client'), [tcp(F.ipv4, 80, { timeoutMs: 5000 }), tcp(F.ipv6, 80, { timeoutMs: 5000 })]), [
        `home ${c4} ${P.svc}`,
        `home ${c6} ${P.svc}`,
      ]);
    } finally {
      await e.frontend.apply();
    }
  });

  test(`${mode}: backend to backend — the office backend reaches neither the home backend's unlisted ${P.attackTcp} nor its listed ${P.svc} / UDP ${P.udp} through the frontend (IPv4, IPv6)`, async (t) => {
    const e = env();
    const office = ns('backend2');
    for (const dst of both(TUN.home)) t.is(routeGet(office, [dst]).route?.dev, e.officeTunnel, `office: ${dst} is routed into its tunnel`);
    resetWatch(e.backendWatch);
    const seen = [e.home.seen().length, e.other.seen().length] as const;
    const targets = [
      tcp(TUN.home.ipv4, P.attackTcp),
      tcp(TUN.home.ipv6, P.attackTcp),
      tcp(TUN.home.ipv4, P.svc),
      tcp(TUN.home.ipv6, P.svc),
      udp(TUN.home.ipv4, P.udp),
      udp(TUN.home.ipv6, P.udp),
    ];
    allFailed(t, targets, await probe(office, targets), 'from the office backend');
    t.deepEqual(
      nonZero(readWatch(e.backendWatch), [ARRIVED.office4, ARRIVED.office6]),
      {},
      'the frontend sent nothing of it on into the home tunnel',
    );
    t.deepEqual([...newSince(e.home, seen[0]), ...newSince(e.other, seen[1])], [], 'the listeners saw nothing');
  });

  test(`${mode}: compromised frontend — root on the VPS reaches no unlisted port of the backend (TCP ${P.attackTcp}, UDP ${P.attackUdp}) through the tunnel (IPv4, IPv6)`, async (t) => {
    const e = env();
    resetWatch(e.backendWatch);
    const seen = e.other.seen().length;
    const targets = [
      tcp(TUN.home.ipv4, P.attackTcp),
      tcp(TUN.home.ipv6, P.attackTcp),
      udp(TUN.home.ipv4, P.attackUdp),
      udp(TUN.home.ipv6, P.attackUdp),
    ];
    allFailed(t, targets, await probe(ns('frontend'), targets), 'from the frontend');
    const c = readWatch(e.backendWatch);
    t.log(
      `arrived at the backend: tcp ${c[`arrived from the tunnel: tcp ${P.attackTcp}`]}, udp ${c[`arrived from the tunnel: udp ${P.attackUdp}`]}`,
    );
    t.deepEqual(
      nonZero(c, [`delivered from the tunnel: tcp ${P.attackTcp}`, `delivered from the tunnel: udp ${P.attackUdp}`]),
      {},
      'none got past the backend’s filter',
    );
    t.deepEqual(newSince(e.other, seen), [], 'the listener saw nothing');
  });

  test(`${mode}: backend — a forwarded port that is not a listed service (public 86 → ${P.extra}, uid ${SERVICE_UID} listening) is dropped where it arrives from the tunnel (IPv4, IPv6)`, async (t) => {
    const e = env();
    resetWatch(e.backendWatch);
    const seen = e.home.seen().length;
    const targets = [tcp(F.ipv4, 86), tcp(F.ipv6, 86)];
    allFailed(t, targets, await probe(ns('client'), targets), 'from the client');
    const c = readWatch(e.backendWatch);
    t.true(
      c[`arrived from the tunnel: tcp ${P.extra}`]! >= 2,
      `the frontend forwarded them (arrived: ${c[`arrived from the tunnel: tcp ${P.extra}`]})`,
    );
    t.is(c[`delivered from the tunnel: tcp ${P.extra}`], 0);
    t.deepEqual(newSince(e.home, seen), []);
  });

  test(`${mode}: backend tunnelPorts [tcp ${P.extra}] — the same forwarded port is then open (IPv4, IPv6)`, async (t) => {
    const e = env();
    const variant = forwardService(withBackend(e.specs.backends[0]!, { tunnelPorts: [{ protocol: 'tcp', port: P.extra }] }), {
      implementation: wgBackend(),
    });
    try {
      await variant.apply();
      const r = await probe(ns('client'), [tcp(F.ipv4, 86, { timeoutMs: 5000 }), tcp(F.ipv6, 86, { timeoutMs: 5000 })]);
      t.deepEqual(r, [`home ${c4} ${P.extra}`, `home ${c6} ${P.extra}`]);
    } finally {
      await e.backends[0]!.apply();
    }
  });

  test(`${mode}: compromised frontend — with the home machine forwarding (ip_forward on), root on the VPS who routes the home LAN into the tunnel (and adds it to the peer's allowed IPs) reaches no host on it (IPv4, IPv6)`, async (t) => {
    const e = env();
    const fe = ns('frontend');
    const backend = ns('backend');
    const homePublic = e.specs.frontend.tunnel.peers.find((p) => p.name === 'home')!.publicKey;
    const allowed = `${TUN.home.ipv4}/32,${TUN.home.ipv6}/128,${HOME_LAN.cidr4},${HOME_LAN.cidr6}`;
    const before = [sysctlIn(backend, 'net.ipv4.ip_forward'), sysctlIn(backend, 'net.ipv6.conf.all.forwarding')];
    try {
      sysctlIn(backend, 'net.ipv4.ip_forward', '1');
      sysctlIn(backend, 'net.ipv6.conf.all.forwarding', '1');
      inNetns(fe, 'wg', ['set', e.frontendTunnel, 'peer', homePublic!, 'allowed-ips', allowed]);
      ip(fe, ['route', 'add', HOME_LAN.cidr4, 'dev', e.frontendTunnel]);
      ip(fe, ['-6', 'route', 'add', HOME_LAN.cidr6, 'dev', e.frontendTunnel]);
      resetWatch(e.lanWatch);
      const targets = [tcp(HOME_LAN.host.ipv4, OUTSIDE_PORT), tcp(HOME_LAN.host.ipv6, OUTSIDE_PORT)];
      allFailed(t, targets, await probe(fe, targets), 'from root on the VPS');
      t.is(readWatch(e.lanWatch)[LAN_ARRIVED], 0, 'the backend forwarded nothing of it to the home LAN');
      // The control: the home LAN host answers the backend itself.
      t.deepEqual(await probe(backend, targets), both(HOME_LAN.router));
    } finally {
      ip(fe, ['route', 'del', HOME_LAN.cidr4, 'dev', e.frontendTunnel]);
      ip(fe, ['-6', 'route', 'del', HOME_LAN.cidr6, 'dev', e.frontendTunnel]);
      sysctlIn(backend, 'net.ipv4.ip_forward', before[0]!);
      sysctlIn(backend, 'net.ipv6.conf.all.forwarding', before[1]!);
      await e.frontend.apply();
    }
  });

  test(`${mode}: a listed service the backend DNATs on to a container (a published port, public 88 → ${P.container} → home LAN host :${OUTSIDE_PORT}) is forwarded and answered through the tunnel, the container seeing ${mode === 'snat' ? "the frontend's tunnel address" : "the client's real address"}; nothing of it on the home uplink (IPv4, IPv6)`, async (t) => {
    const e = env();
    const backend = ns('backend');
    const fspec = e.specs.frontend;
    const bspec = e.specs.backends[0]!;
    const frontend = forwardService(
      withFrontend(fspec, { forwards: [...fspec.forwards, { protocol: 'tcp', port: 88, to: { peer: 'home', port: P.container } }] }),
      { implementation: wgBackend() },
    );
    const backendVariant = forwardService(withBackend(bspec, { services: [...bspec.services, { protocol: 'tcp', port: P.container }] }), {
      implementation: wgBackend(),
    });
    const before = [sysctlIn(backend, 'net.ipv4.ip_forward'), sysctlIn(backend, 'net.ipv6.conf.all.forwarding')];
    // What Docker does for a published port: DNAT in prerouting, forwarding on.
    inNetns(
      backend,
      'nft',
      ['-f', '-'],
      `table inet cz_docker {\n chain pre {\n  type nat hook prerouting priority dstnat; policy accept;\n  tcp dport ${P.container} dnat ip to ${HOME_LAN.host.ipv4}:${OUTSIDE_PORT}\n  tcp dport ${P.container} dnat ip6 to [${HOME_LAN.host.ipv6}]:${OUTSIDE_PORT}\n }\n}\n`,
    );
    try {
      sysctlIn(backend, 'net.ipv4.ip_forward', '1');
      sysctlIn(backend, 'net.ipv6.conf.all.forwarding', '1');
      await frontend.apply();
      await backendVariant.apply();
      resetWatch(e.router);
      resetWatch(e.lanWatch);
      resetWatch(e.backendWatch);
      const targets = [tcp(F.ipv4, 88, { timeoutMs: 3000 }), tcp(F.ipv6, 88, { timeoutMs: 3000 })];
      const r = await probe(ns('client'), targets);
      t.true(
        readWatch(e.backendWatch)[`arrived from the tunnel: tcp ${P.container}`]! >= 2,
        'the frontend forwarded the connections to the backend',
      );
      t.true(
        readWatch(e.lanWatch)[LAN_ARRIVED]! >= 2,
        `the backend forwarded them to the container (${readWatch(e.lanWatch)[LAN_ARRIVED]})`,
      );
      if (mode === 'snat') t.deepEqual(r, both(TUN.frontend), "the container answered, and saw the frontend's tunnel address");
      // Its replies are forwarded packets: they get the connection's mark in the backend's prerouting
      // (reply direction) and go back into the tunnel.
      else t.deepEqual(r, both(LAB_ADDRESSES.client), "the container answered, and saw the client's real address");
      t.deepEqual(
        nonZero(readWatch(e.router), [LEAK.client4, LEAK.client6, LEAK.tunnel4, LEAK.tunnel6]),
        {},
        'nothing of it on the home uplink',
      );
    } finally {
      inNetns(backend, 'nft', ['delete', 'table', 'inet', 'cz_docker']);
      sysctlIn(backend, 'net.ipv4.ip_forward', before[0]!);
      sysctlIn(backend, 'net.ipv6.conf.all.forwarding', before[1]!);
      await e.frontend.apply();
      await e.backends[0]!.apply();
    }
  });

  // ---------------------------------------- 3. leaks by the home uplink (router's counters)

  const leakNames = selects ? Object.values(LEAK) : Object.values(LEAK).filter((n) => n !== LEAK.outside);

  /** Zeroes the counters, runs the trigger from the client, checks that it arrived and that nothing leaked. */
  const leakTest = (title: string, targets: ProbeTarget[], evidence: Array<{ name: string; atLeast: number }>) =>
    test(`${mode}: leak — ${title}: nothing reaches the router by the home uplink`, async (t) => {
      const e = env();
      resetWatch(e.router);
      resetWatch(e.backendWatch);
      const results = await probe(ns('client'), targets);
      t.log(`client: ${targets.map((x, i) => `${x.proto} ${x.host}:${x.port} = ${results[i]}`).join('; ')}`);
      // Whatever the backend sends back has had the probes' timeout to arrive.
      const c = readWatch(e.backendWatch);
      t.log(
        `the backend's output hook saw: ${Object.entries(c)
          .filter(([k]) => k.startsWith('sent: '))
          .map(([k, v]) => `${k.slice(6)} ${v}`)
          .join(', ')}`,
      );
      for (const ev of evidence)
        t.true(c[ev.name]! >= ev.atLeast, `the trigger happened: ${ev.name} = ${c[ev.name]} (want ≥ ${ev.atLeast})`);
      t.deepEqual(
        nonZero(readWatch(e.router), leakNames),
        {},
        'packets of connections that arrived through the tunnel, seen on the home uplink',
      );
    });

  const pub = (port: number, proto: 'tcp' | 'udp') =>
    [
      { proto, host: F.ipv4, port, timeoutMs: 1500 },
      { proto, host: F.ipv6, port, timeoutMs: 1500 },
    ] as ProbeTarget[];

  if (mode === 'snat') {
    // A backend in mode snat routes nothing by the tunnel: a connection whose source is not the
    // frontend's tunnel address would be answered by the main table. A frontend that does not SNAT
    // (misconfigured, or compromised) gets its clients' connections dropped at the backend.
    test("snat: a frontend that does not SNAT (sourceNat off) — the clients' connections are dropped at the backend, nothing is answered by the home uplink (IPv4, IPv6)", async (t) => {
      const e = env();
      const variant = forwardService(withFrontend(e.specs.frontend, { sourceNat: false }), { implementation: wgBackend() });
      try {
        await variant.apply();
        resetWatch(e.router);
        resetWatch(e.backendWatch);
        const seen = e.home.seen().length;
        const targets = pub(80, 'tcp').concat(pub(P.udp, 'udp'));
        allFailed(t, targets, await probe(ns('client'), targets), 'from the client');
        const c = readWatch(e.backendWatch);
        t.true(
          c[`arrived from the tunnel: tcp ${P.svc}`]! >= 2,
          `the frontend forwarded them with the clients' addresses (arrived: ${c[`arrived from the tunnel: tcp ${P.svc}`]})`,
        );
        t.deepEqual(e.home.seen().slice(seen), [], 'the service saw nothing');
        t.deepEqual(nonZero(readWatch(e.router), leakNames), {}, 'nothing of them on the home uplink');
      } finally {
        await e.frontend.apply();
      }
    });
  }

  leakTest(
    `(a) UDP to a forwarded, listed port whose service is not running (${P.udpDown}: ICMP port unreachable) (IPv4, IPv6)`,
    pub(P.udpDown, 'udp'),
    [{ name: `arrived from the tunnel: udp ${P.udpDown}`, atLeast: 2 }],
  );
  leakTest(
    `(a') UDP to a forwarded port the backend does not list, nothing running (${P.udpUnlisted}) (IPv4, IPv6)`,
    pub(P.udpUnlisted, 'udp'),
    [{ name: `arrived from the tunnel: udp ${P.udpUnlisted}`, atLeast: 2 }],
  );
  leakTest(`(b) TCP to a forwarded, listed port with no listener (public 82 → ${P.tcpNoListener}: RST) (IPv4, IPv6)`, pub(82, 'tcp'), [
    { name: `arrived from the tunnel: tcp ${P.tcpNoListener}`, atLeast: 2 },
  ]);
  leakTest(
    `(b') TCP to a forwarded port the backend does not list, no listener (public 84 → ${P.tcpNoListenerUnlisted}) (IPv4, IPv6)`,
    pub(84, 'tcp'),
    [{ name: `arrived from the tunnel: tcp ${P.tcpNoListenerUnlisted}`, atLeast: 2 }],
  );
  leakTest(
    `(c) TCP to a forwarded, listed port whose listener runs as the unselected uid ${OTHER_UID} (public 85 → ${P.otherListed}: SYN-ACK) (IPv4, IPv6)`,
    pub(85, 'tcp'),
    [{ name: `arrived from the tunnel: tcp ${P.otherListed}`, atLeast: 2 }],
  );
  leakTest(
    `(c') TCP to a forwarded port the backend does not list, listener of uid ${OTHER_UID} (public 83 → ${P.otherUnlisted}) (IPv4, IPv6)`,
    pub(83, 'tcp'),
    [{ name: `arrived from the tunnel: tcp ${P.otherUnlisted}`, atLeast: 2 }],
  );

  // Last: it takes the tunnel down.
  test(`${mode}: leak — (d) the backend's tunnel link goes down under established streams (IPv4, IPv6)${selects ? ` and uid ${SERVICE_UID} dials the outside host` : ''}: nothing reaches the router by the home uplink`, async (t) => {
    const e = env();
    const backend = ns('backend');
    const streams = [
      e.lab.start('client', streamClient, { host: F.ipv4, port: 81 }),
      e.lab.start('client', streamClient, { host: F.ipv6, port: 81 }),
    ];
    try {
      t.deepEqual(await Promise.all(streams.map((s) => s.result)), ['tick 1', 'tick 1'], 'both streams are established');
      resetWatch(e.router);
      resetWatch(e.backendWatch);
      ip(backend, ['link', 'set', e.homeTunnel, 'down']);
      const link = JSON.parse(ip(backend, ['-j', 'link', 'show', e.homeTunnel])) as Array<{ flags: string[] }>;
      t.false(link[0]!.flags.includes('UP'), `the tunnel link is down: ${link[0]!.flags.join(',')}`);
      if (selects) {
        const targets = [tcp(LAB_ADDRESSES.outside.ipv4, OUTSIDE_PORT), tcp(LAB_ADDRESSES.outside.ipv6, OUTSIDE_PORT)];
        allFailed(t, targets, await probeAs(backend, SERVICE_UID, targets), `uid ${SERVICE_UID} with the tunnel down`);
      }
      // The service keeps writing a tick every 100 ms (and retransmitting); give it a few.
      for (let i = 0; i < 20 && readWatch(e.backendWatch)['sent by the stream service']! < 6; i++) await delay(100);
      await delay(500);
      t.log(
        `the stream service sent ${readWatch(e.backendWatch)['sent by the stream service']} packets that reached the output hook while the link was down`,
      );
      t.deepEqual(nonZero(readWatch(e.router), leakNames), {}, 'packets of forwarded or selected connections, seen on the home uplink');
    } finally {
      await Promise.all(streams.map((s) => s.stop()));
    }
  });

  // After (d): the link comes back up. A stream to a port the backend opens with tunnelPorts — not a
  // listed service, so the service-port rule of the leak guard does not know it — run by the unselected
  // uid, and (routed modes) no unreachable route (leakGuard: false): only the postrouting guard of the
  // connections that arrived through the tunnel (their ct mark; in mode snat the tunnel subnet as
  // destination) stands between its packets and the home uplink when the link goes down.
  test(`${mode}: leak — (e) a stream to a tunnelPorts port (not a listed service) of uid ${OTHER_UID}${mode === 'snat' ? '' : ', leakGuard: false'}, the tunnel link goes down: the postrouting guard alone keeps its packets off the home uplink (IPv4, IPv6)`, async (t) => {
    const e = env();
    const backend = ns('backend');
    const port = P.stream2;
    ip(backend, ['link', 'set', e.homeTunnel, 'up']);
    const stream = await serve(e, 'backend', { name: 'extra', uid: OTHER_UID, tcp: [], tcpStream: [port], udp: [] });
    const fspec = e.specs.frontend;
    const frontend = forwardService(
      withFrontend(fspec, { forwards: [...fspec.forwards, { protocol: 'tcp', port: 87, to: { peer: 'home', port } }] }),
      { implementation: wgBackend() },
    );
    const bspec = e.specs.backends[0]!;
    const rp = mode === 'snat' ? bspec.returnPath : ({ ...bspec.returnPath, leakGuard: false } as typeof bspec.returnPath);
    const backendVariant = forwardService(withBackend(bspec, { returnPath: rp, tunnelPorts: [{ protocol: 'tcp', port }] }), {
      implementation: wgBackend(),
    });
    inNetns(
      backend,
      'nft',
      ['-f', '-'],
      `table inet cz_e {\n chain o {\n  type filter hook output priority -300; policy accept;\n  tcp sport ${port} counter\n }\n}\n`,
    );
    const sent = () =>
      (
        JSON.parse(inNetns(backend, 'nft', ['-j', 'list', 'table', 'inet', 'cz_e'])) as {
          nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }>;
        }
      ).nftables
        .find((x) => x.rule)!
        .rule!.expr.find((x) => x.counter)!.counter!.packets;
    try {
      await frontend.apply();
      await backendVariant.apply();
      if (mode !== 'snat') {
        const unreachable = (f: string) =>
          (JSON.parse(ip(backend, [f, '-j', 'route', 'show', 'table', '5000'])) as Array<{ type?: string }>).filter(
            (r) => r.type === 'unreachable',
          );
        t.deepEqual([...unreachable('-4'), ...unreachable('-6')], [], 'no leak guard route in table 5000');
      }
      await e.handshakes();
      const streams = [
        e.lab.start('client', streamClient, { host: F.ipv4, port: 87 }),
        e.lab.start('client', streamClient, { host: F.ipv6, port: 87 }),
      ];
      try {
        t.deepEqual(await Promise.all(streams.map((x) => x.result)), ['tick 1', 'tick 1'], 'both streams are established');
        resetWatch(e.router);
        const before = sent();
        ip(backend, ['link', 'set', e.homeTunnel, 'down']);
        for (let i = 0; i < 30 && sent() < before + 6; i++) await delay(100);
        await delay(500);
        t.true(sent() >= before + 4, `the stream kept sending with the link down (${sent() - before} packets reached its output hook)`);
        t.deepEqual(
          nonZero(readWatch(e.router), [LEAK.client4, LEAK.client6, LEAK.tunnel4, LEAK.tunnel6]),
          {},
          'packets of the stream, seen on the home uplink',
        );
      } finally {
        await Promise.all(streams.map((x) => x.stop()));
      }
    } finally {
      stream.stop();
      inNetns(backend, 'nft', ['delete', 'table', 'inet', 'cz_e']);
      ip(backend, ['link', 'set', e.homeTunnel, 'up']);
      await e.frontend.apply();
      await e.backends[0]!.apply();
    }
  });

  // Last of all: the frontend's tunnel link down.
  test(`${mode}: frontend — its tunnel link down, a client's connection DNATed to the backend leaves by no other interface (the VPS's default route would take it) (IPv4, IPv6)`, async (t) => {
    const e = env();
    const fe = ns('frontend');
    try {
      ip(fe, ['link', 'set', e.frontendTunnel, 'down']);
      resetWatch(e.router);
      const targets = [tcp(F.ipv4, 80, { timeoutMs: 1500 }), tcp(F.ipv6, 80, { timeoutMs: 1500 })];
      allFailed(t, targets, await probe(ns('client'), targets), 'from the client');
      const c = readWatch(e.router);
      t.is(c[FROM_VPS.tunnel4], 0, 'nothing for 10.0.0.0/16 left the VPS by its uplink');
      t.is(c[FROM_VPS.tunnel6], 0, 'nothing for fd00::/48 left the VPS by its uplink');
    } finally {
      ip(fe, ['link', 'set', e.frontendTunnel, 'up']);
      await e.frontend.apply();
    }
  });
}

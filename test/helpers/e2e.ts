/**
 * End-to-end helpers: the lab with a frontend and one or two backends set up
 * by netfwd, services run as an unprivileged user inside the backend, real
 * TCP/UDP probes from the client, and oracles nobody here wrote — nft
 * counters of the test's own table (read with `nft -j`), `ip -j` dumps.
 *
 * Functions sent into a namespace (lab.run / lab.start) are evaluated from
 * their source in a worker: they may not use anything of this module's scope.
 */

import type { ChildProcess } from 'node:child_process';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import test, { type TestFn } from 'ava';
import { forwardService, type ServiceForward } from '../../src/forward/index.js';
import type { BackendSpec, ForwardSpec, FrontendSpec, ReturnPathSpec, ServiceSpec } from '../../src/forward/spec/spec.js';
import { LAB_ADDRESSES, Lab, type LabHostName } from '../../src/lab/index.js';
import type { ExecOptions } from '../../src/netns/index.js';
import { generatePresharedKey, generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { kernelSkipReason, toolPath } from './kernel.js';

export { LAB_ADDRESSES };

export type Mode = 'uid' | 'mark' | 'connmark' | 'snat';

/** The uid the services run as (selected in modes uid and mark) and one that is never selected. */
export const SERVICE_UID = 1000;
export const OTHER_UID = 1001;
/** The outside host's whoami port (in the "internet" namespace). */
export const OUTSIDE_PORT = 7000;
/** The frontend's WireGuard port in every lab spec. */
export const FRONTEND_WG_PORT = 51820;

/**
 * nft match for the packets of a user's sockets that leave by the backend's
 * uplink — except the tunnel's own encrypted packets (UDP to the frontend's
 * WireGuard port): the kernel's WireGuard sends each with the socket of the
 * packet it carries, so they count as that user's (wireguard-go sends its own).
 */
export function uplinkOfUid(uid: number): string {
  return `oifname "eth0" meta skuid ${uid} meta l4proto . th dport != { udp . ${FRONTEND_WG_PORT} }`;
}

// ------------------------------------------------------------------ skipping

/**
 * The WireGuard implementation the end-to-end tests ask netfwd for:
 * NETFWD_WG_BACKEND=kernel or userspace forces one (the kernel VM lane sets
 * kernel), otherwise 'auto' (the kernel's where it has WireGuard).
 */
export function wgBackend(): 'auto' | 'kernel' | 'userspace' {
  const v = process.env.NETFWD_WG_BACKEND;
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'kernel' || v === 'userspace') return v;
  throw new Error(`NETFWD_WG_BACKEND=${v}: expected kernel, userspace or auto`);
}

/** Why the end-to-end tests cannot run here, or undefined. */
export function e2eSkipReason(): string | undefined {
  const reason = kernelSkipReason(['ip', 'wg', 'nft']);
  if (reason) return reason;
  // A forced backend never skips: where it is missing, the tests fail and say why.
  if (wgBackend() !== 'auto') return undefined;
  const kernelWg = existsSync('/sys/module/wireguard');
  const userspace = spawnSync('wireguard-go', ['--version'], { stdio: 'ignore' }).error === undefined;
  if (!kernelWg && !userspace) return 'needs WireGuard: the kernel module or wireguard-go';
  return undefined;
}

/**
 * A file's tests sharing one environment: `setup` runs once before them and
 * its `close()` once after (always). Returns `test.serial` (the tests run in
 * order) — or `test.skip`, with the reason printed, when they cannot run here.
 */
export function e2eSuite<T>(setup: () => Promise<T & { close(): Promise<void> }>): { test: TestFn; env: () => T } {
  const reason = e2eSkipReason();
  if (reason) {
    process.stderr.write(`skipping the end-to-end tests of this file: ${reason}\n`);
    return {
      test: test.skip as unknown as TestFn,
      env: () => {
        throw new Error(reason);
      },
    };
  }
  let value: (T & { close(): Promise<void> }) | undefined;
  test.before(async () => {
    value = await setup();
  });
  test.after.always(async () => {
    await value?.close();
  });
  return {
    test: test.serial as unknown as TestFn,
    env: () => {
      if (!value) throw new Error('the end-to-end environment was not built (see the before hook)');
      return value;
    },
  };
}

// ------------------------------------------------------------------- naming

let counter = 0;
/** A short tag unique across processes: interface names derive from it (≤ 15 bytes, the UAPI directory is global). */
export function uniqueTag(): string {
  return `${randomBytes(3).toString('hex')}${(++counter).toString(36)}`;
}

// -------------------------------------------------------------------- specs

export function returnPathOf(mode: Mode, extra: Record<string, unknown> = {}): ReturnPathSpec {
  switch (mode) {
    case 'uid':
      return { mode, uids: [String(SERVICE_UID) as `${number}`], ...extra } as ReturnPathSpec;
    case 'mark':
      return { mode, uids: [String(SERVICE_UID) as `${number}`], mark: 0x2a, ...extra } as ReturnPathSpec;
    case 'connmark':
      return { mode, mark: 0x2b, ...extra } as ReturnPathSpec;
    case 'snat':
      return { mode };
  }
}

export interface BackendPlan {
  /** The lab host the backend runs in. */
  host: Extract<LabHostName, 'backend' | 'backend2'>;
  /** The peer's name on the frontend. */
  name: string;
  mode: Mode;
  /** Tunnel addresses, e.g. ['10.0.0.2/24', 'fd00::2/64']. */
  addresses: string[];
  services: ServiceSpec[];
  returnPathExtra?: Record<string, unknown>;
  /** Dial the frontend's IPv6 address (`[2001:db8:2::2]:51820`) instead of its IPv4 one. */
  endpoint6?: boolean;
}

export interface SpecOptions {
  /** The frontend's forwards (default: TCP 80 → 8080 and UDP 5353, to the first backend). */
  forwards?: ForwardSpec[];
  /** `public` of the frontend; default: its two lab addresses. `null` leaves it out (any local address). */
  public?: FrontendSpec['public'] | null;
  backends: BackendPlan[];
}

export interface Specs {
  frontend: FrontendSpec;
  backends: BackendSpec[];
}

/** A frontend spec and one backend spec per plan, with fresh keys and interface names derived from `tag`. */
export function buildSpecs(lab: Lab, tag: string, o: SpecOptions): Specs {
  const fe = generatePrivateKey();
  const keys = o.backends.map(() => ({ key: generatePrivateKey(), psk: generatePresharedKey().toBase64() }));
  const sourceNat = o.backends.some((b) => b.mode === 'snat');
  const frontend: FrontendSpec = {
    role: 'frontend',
    netns: lab.hosts.frontend.netns,
    tunnel: {
      interface: `nf${tag}f`,
      addresses: ['10.0.0.1/24', 'fd00::1/64'],
      listenPort: FRONTEND_WG_PORT,
      privateKey: fe.toBase64(),
      peers: o.backends.map((b, i) => ({
        name: b.name,
        publicKey: publicKey(keys[i]!.key),
        presharedKey: keys[i]!.psk,
        addresses: b.addresses.map((a) => a.split('/')[0]!),
      })),
    },
    ...(o.public === null ? {} : { public: o.public ?? { addresses: [LAB_ADDRESSES.frontend.ipv4, LAB_ADDRESSES.frontend.ipv6] } }),
    forwards: o.forwards ?? [
      { protocol: 'tcp', port: 80, to: { peer: o.backends[0]!.name, port: 8080 } },
      { protocol: 'udp', port: 5353, to: { peer: o.backends[0]!.name } },
    ],
    sourceNat,
  };
  const backends = o.backends.map(
    (b, i): BackendSpec => ({
      role: 'backend',
      netns: lab.host(b.host).netns,
      tunnel: {
        interface: `nf${tag}${i === 0 ? 'b' : `b${i + 1}`}`,
        addresses: b.addresses,
        privateKey: keys[i]!.key.toBase64(),
        peer: {
          publicKey: publicKey(fe),
          presharedKey: keys[i]!.psk,
          endpoint: b.endpoint6
            ? `[${LAB_ADDRESSES.frontend.ipv6}]:${FRONTEND_WG_PORT}`
            : `${LAB_ADDRESSES.frontend.ipv4}:${FRONTEND_WG_PORT}`,
          persistentKeepalive: 25,
        },
      },
      returnPath: returnPathOf(b.mode, b.returnPathExtra),
      services: b.services,
    }),
  );
  return { frontend, backends };
}

// ---------------------------------------------------------------- processes

/** Collects a child's stdout lines; resolves `ready` at the first line equal to 'ready'. */
function lines(child: ChildProcess): { all: string[]; ready: Promise<void> } {
  const all: string[] = [];
  let buf = '';
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        all.push(line);
        if (line === 'ready') resolve();
      }
    });
    child.once('exit', (code, signal) => reject(new Error(`process exited (${code ?? signal}) before it was ready: ${stderr.trim()}`)));
  });
  ready.catch(() => undefined);
  return { all, ready };
}

export interface ServiceOptions {
  /** What the service calls itself in its answers. */
  name: string;
  uid?: number;
  tcp: number[];
  /** TCP ports that stream instead: "tick N" every 100 ms until the client closes. */
  tcpStream?: number[];
  /** UDP ports and the address each socket binds ('::' for every address). */
  udp: Array<{ port: number; bind: string }>;
}

export interface RunningService {
  /** "tcp ADDRESS LOCALPORT" / "udp ADDRESS LOCALPORT" for every connection or datagram received. */
  seen(): string[];
  stop(): void;
}

/** What startService needs of a lab: starting a process in one of its hosts (Lab and LanLab both do). */
export interface ExecLab<H extends string> {
  exec(host: H, command: string, args?: readonly string[], options?: ExecOptions): ChildProcess;
}

/**
 * A TCP and UDP service in a lab host, run as `uid` (a separate node process,
 * so the socket belongs to that user). Every answer is
 * "NAME CLIENTADDRESS LOCALPORT": who answered, whom it saw, on which port.
 */
export async function startService<H extends string = LabHostName>(lab: ExecLab<H>, host: H, o: ServiceOptions): Promise<RunningService> {
  const source = `
const net = require('node:net'), dgram = require('node:dgram');
const o = ${JSON.stringify(o)};
const strip = (a) => a.replace(/^::ffff:/, '');
let pending = o.tcp.length + o.udp.length + (o.tcpStream || []).length;
const up = () => { if (--pending === 0) process.stdout.write('ready\\n'); };
for (const port of o.tcp) {
  net.createServer((c) => {
    const who = strip(c.remoteAddress);
    process.stdout.write('tcp ' + who + ' ' + c.localPort + '\\n');
    // A client that closes at once (a health check) resets the connection: not a reason to die.
    c.on('error', () => {});
    c.end(o.name + ' ' + who + ' ' + c.localPort + '\\n');
  }).listen({ port, host: '::' }, up);
}
for (const port of o.tcpStream || []) {
  net.createServer((c) => {
    process.stdout.write('stream ' + strip(c.remoteAddress) + ' ' + c.localPort + '\\n');
    let n = 0;
    const timer = setInterval(() => c.write('tick ' + (++n) + '\\n'), 100);
    c.on('close', () => clearInterval(timer));
    c.on('error', () => clearInterval(timer));
  }).listen({ port, host: '::' }, up);
}
for (const u of o.udp) {
  const s = dgram.createSocket({ type: u.bind.includes(':') ? 'udp6' : 'udp4' });
  s.on('message', (m, r) => {
    const who = strip(r.address);
    process.stdout.write('udp ' + who + ' ' + u.port + '\\n');
    s.send(o.name + ' ' + who + ' ' + u.port, r.port, r.address);
  });
  s.bind(u.port, u.bind, up);
}
if (pending === 0) process.stdout.write('ready\\n');
`;
  const uid = o.uid ?? SERVICE_UID;
  const child = lab.exec(host, process.execPath, ['-e', source], { uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = lines(child);
  await out.ready;
  return {
    seen: () => out.all.filter((l) => l !== 'ready'),
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/**
 * TCP connections made one after the other by one process of `uid` inside a
 * lab host: resolves with what each peer sent (trimmed), "(error CODE)" or
 * "(timeout)".
 */
export async function dialAs<H extends string>(
  lab: ExecLab<H>,
  host: H,
  uid: number,
  targets: Array<{ host: string; port: number; timeoutMs?: number }>,
): Promise<string[]> {
  const source = `
const net = require('node:net');
const targets = ${JSON.stringify(targets)};
const dial = (t) => new Promise((resolve) => {
  let data = '', done = false;
  const finish = (s) => { if (!done) { done = true; clearTimeout(timer); c.destroy(); resolve(s); } };
  const c = net.connect(t.port, t.host);
  const timer = setTimeout(() => finish('(timeout)'), t.timeoutMs || 5000);
  c.on('data', (d) => (data += d));
  c.on('end', () => finish(data.trim()));
  c.on('error', (e) => finish('(error ' + e.code + ')'));
});
(async () => {
  const out = [];
  for (const t of targets) out.push(await dial(t));
  process.stdout.write(JSON.stringify(out) + '\\n');
})();
`;
  const child = lab.exec(host, process.execPath, ['-e', source], { uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  if (code !== 0) throw new Error(`dialAs(${uid}) failed (${code}): ${stderr.trim()}`);
  return JSON.parse(stdout) as string[];
}

/** Lab traffic clients and the whoami server (portable: they run in a worker inside a namespace). */
export { tcpAsk, udpAsk, whoami } from '../../src/lab/probes.js';

// ------------------------------------------------------------------ oracles

/** Runs a system tool inside a namespace (`ip netns exec`); returns stdout. */
export function inNetns(ns: string, cmd: string, args: string[], input?: string): string {
  return execFileSync(toolPath('ip'), ['netns', 'exec', ns, toolPath(cmd), ...args], {
    encoding: 'utf8',
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** A sysctl of a namespace, read from /proc/sys inside it (e.g. 'net.ipv4.ip_forward'). */
export function sysctlIn(ns: string, key: string, value?: string): string {
  const path = `/proc/sys/${key.replace(/\./g, '/')}`;
  if (value !== undefined) inNetns(ns, 'tee', [path], value);
  return inNetns(ns, 'cat', [path]).trim();
}

export interface Counter {
  /** The rule's comment, which names it. */
  name: string;
  /** nft rule text without the counter and comment. */
  match: string;
  /**
   * 'prerouting' (priority -300, first); 'output-first' (priority -300: what a
   * local socket sends, before any re-routing); 'postrouting-first' (priority
   * -300: routed to an interface, before netfwd's leak guard chain);
   * 'postrouting' (priority 300: after NAT and the leak guard — what really leaves).
   */
  hook: 'prerouting' | 'output-first' | 'postrouting' | 'postrouting-first';
}

/**
 * The test's own nft table in a namespace (made with the nft tool, not
 * netfwd): one counter per rule, read back by name.
 */
export function installCounters(ns: string, table: string, counters: Counter[]): void {
  installed.set(`${ns} ${table}`, counters);
  const chain = (name: string, hook: string, priority: number, list: Counter[]) =>
    `  chain ${name} {\n    type filter hook ${hook} priority ${priority}; policy accept;\n${list.map((c) => `    ${c.match} counter comment "${c.name}"\n`).join('')}  }\n`;
  const text =
    `table inet ${table} {\n` +
    chain(
      'pre',
      'prerouting',
      -300,
      counters.filter((c) => c.hook === 'prerouting'),
    ) +
    chain(
      'out_first',
      'output',
      -300,
      counters.filter((c) => c.hook === 'output-first'),
    ) +
    chain(
      'post_first',
      'postrouting',
      -300,
      counters.filter((c) => c.hook === 'postrouting-first'),
    ) +
    chain(
      'post',
      'postrouting',
      300,
      counters.filter((c) => c.hook === 'postrouting'),
    ) +
    `}\n`;
  inNetns(ns, 'nft', ['-f', '-'], text);
}

/** Packets counted by each named rule of the test's table. */
export function readCounters(ns: string, table: string): Record<string, number> {
  const j = JSON.parse(inNetns(ns, 'nft', ['-j', 'list', 'table', 'inet', table])) as { nftables: Array<Record<string, any>> };
  const out: Record<string, number> = {};
  for (const item of j.nftables) {
    const r = item.rule;
    if (!r?.comment) continue;
    const c = (r.expr as Array<Record<string, any>>).find((x) => x.counter)?.counter;
    out[r.comment as string] = c?.packets ?? -1;
  }
  return out;
}

const installed = new Map<string, Counter[]>();

/** Sets the table's counters to zero: makes the table again (nft 1.0.6 cannot reset rule counters in place). */
export function resetCounters(ns: string, table: string): void {
  const counters = installed.get(`${ns} ${table}`);
  if (!counters) throw new Error(`no counters installed as ${table} in ${ns}`);
  inNetns(ns, 'nft', ['delete', 'table', 'inet', table]);
  installCounters(ns, table, counters);
}

// ---------------------------------------------------------------- snapshots

/**
 * Everything of a namespace's configuration that netfwd could touch, as the
 * system tools print it: links, addresses, routes and rules of both families,
 * the whole nftables ruleset, and the forwarding/reverse-path/mark sysctls.
 * Normalised: counters of (foreign) nft rules, which traffic legitimately
 * changes, are zeroed; nothing else.
 */
export function snapshot(ns: string): Record<string, unknown> {
  const ip = (...args: string[]) => {
    const text = execFileSync(toolPath('ip'), ['-n', ns, '-j', '-d', ...args], { encoding: 'utf8' }).trim();
    return text ? JSON.parse(text) : [];
  };
  const nft = JSON.parse(inNetns(ns, 'nft', ['-j', 'list', 'ruleset'])) as unknown;
  // Read from /proc/sys inside the namespace (grep prints "path:value"; stable_secret is unreadable and skipped).
  const sysctl = spawnSync(
    toolPath('ip'),
    [
      'netns',
      'exec',
      ns,
      toolPath('grep'),
      '-rs',
      '',
      ...['ipv4/ip_forward', 'ipv4/tcp_fwmark_accept', 'ipv4/fwmark_reflect', 'ipv4/conf', 'ipv6/conf'].map((k) => `/proc/sys/net/${k}`),
    ],
    { encoding: 'utf8' },
  )
    .stdout.split('\n')
    .filter(Boolean)
    .sort();
  if (sysctl.length < 10) throw new Error(`could not read the sysctls of ${ns}`);
  return {
    link: ip('link', 'show'),
    addr: ip('addr', 'show'),
    route4: ip('-4', 'route', 'show', 'table', 'all'),
    route6: ip('-6', 'route', 'show', 'table', 'all'),
    rule4: ip('-4', 'rule', 'show'),
    rule6: ip('-6', 'rule', 'show'),
    nft: zeroCounters(nft),
    sysctl,
  };
}

function zeroCounters(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(zeroCounters);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      o[k] = k === 'counter' && x && typeof x === 'object' && 'packets' in x ? { ...(x as object), packets: 0, bytes: 0 } : zeroCounters(x);
    }
    return o;
  }
  return v;
}

// ---------------------------------------------------------------------- env

export interface Env {
  lab: Lab;
  tag: string;
  specs: Specs;
  frontend: ServiceForward;
  backends: ServiceForward[];
  services: RunningService[];
  /** Run by close() before netfwd's down and the lab's removal, last registered first (e.g. extra namespaces). */
  cleanups: Array<() => void | Promise<void>>;
  /** The kind of the tunnel links as `ip -d` reports them ('tun': wireguard-go; 'wireguard': the kernel's); empty with noApply. */
  wgKind: string;
  /** Waits until every backend has a handshake with the frontend (through status()). */
  handshakes(): Promise<void>;
  close(): Promise<void>;
}

export interface EnvOptions extends SpecOptions {
  /** Build the lab with this many backends (default: as many as `backends`). */
  labBackends?: 1 | 2;
  /** Do not apply the specs (the test applies them). */
  noApply?: boolean;
  /** Changes the specs before anything is applied (e.g. an IPv4-only frontend tunnel). */
  patch?: (s: Specs) => void;
  /** Namespace prefix of the lab (default "nfe2e"). */
  prefix?: string;
}

/** Kind of a link as `ip -d` reports it ('wireguard' for the kernel's, 'tun' for wireguard-go). */
export function linkKind(ns: string, link: string): string {
  const out = execFileSync(toolPath('ip'), ['-n', ns, '-j', '-d', 'link', 'show', link], { encoding: 'utf8' });
  return (JSON.parse(out) as Array<{ linkinfo?: { info_kind?: string } }>)[0]?.linkinfo?.info_kind ?? '(none)';
}

/** Builds a lab, applies the frontend and the backends; close() brings everything down and removes the lab. */
export async function startEnv(o: EnvOptions): Promise<Env> {
  const tag = uniqueTag();
  const lab = await Lab.create({ prefix: `${o.prefix ?? 'nfe2e'}-${tag}`, backends: o.labBackends ?? (o.backends.length as 1 | 2) });
  const services: RunningService[] = [];
  const cleanups: Array<() => void | Promise<void>> = [];
  let frontend: ServiceForward | undefined;
  const backends: ServiceForward[] = [];
  const close = async () => {
    for (const s of services) s.stop();
    const errors: unknown[] = [];
    for (const c of [...cleanups].reverse()) {
      try {
        await c();
      } catch (err) {
        errors.push(err);
      }
    }
    for (const f of [...backends, frontend]) {
      try {
        await f?.down();
      } catch (err) {
        errors.push(err);
      }
    }
    await lab.destroy();
    if (errors.length) throw errors[0];
  };
  try {
    const specs = buildSpecs(lab, tag, o);
    o.patch?.(specs);
    const implementation = wgBackend();
    frontend = forwardService(specs.frontend, { implementation });
    for (const b of specs.backends) backends.push(forwardService(b, { implementation }));
    let wgKind = '';
    if (!o.noApply) {
      await frontend.apply();
      for (const b of backends) await b.apply();
      // Checked with ip, not with netfwd: the tunnels really are of the forced kind.
      const kinds = [specs.frontend, ...specs.backends].map((spec) => linkKind(spec.netns!, spec.tunnel!.interface));
      wgKind = [...new Set(kinds)].join(', ');
      if (implementation !== 'auto') {
        const want = implementation === 'kernel' ? 'wireguard' : 'tun';
        if (kinds.some((k) => k !== want))
          throw new Error(`NETFWD_WG_BACKEND=${implementation}, but the tunnel links are of kinds ${kinds.join(', ')}`);
      }
    }
    const env: Env = {
      lab,
      tag,
      specs,
      frontend,
      backends,
      services,
      cleanups,
      wgKind,
      async handshakes() {
        for (const b of backends) {
          for (let i = 0; ; i++) {
            const s = await b.status();
            if (s.tunnel.peers[0]?.lastHandshake) break;
            if (i >= 300) throw new Error(`no WireGuard handshake on ${s.interface} after ${i} tries`);
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      },
      close,
    };
    return env;
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/** Connects and resolves at the first line received; the connection stays open until the task is stopped (portable). */
export async function streamClient(arg: { host: string; port: number }): Promise<string> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const c = net.connect(arg.port, arg.host);
    let data = '';
    c.on('data', (d) => {
      data += d;
      const i = data.indexOf('\n');
      if (i >= 0) resolve(data.slice(0, i));
    });
    c.on('error', (err: NodeJS.ErrnoException) => resolve(`(error ${err.code})`));
  });
}

/** Starts a service and registers it for close(). */
export async function serve(env: Env, host: LabHostName, o: ServiceOptions): Promise<RunningService> {
  const s = await startService(env.lab, host, o);
  env.services.push(s);
  return s;
}

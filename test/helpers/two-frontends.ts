/**
 * Two frontends, one backend (issue 19): the two-frontends lab with a
 * frontend on each VPS (forwardService, each one peer: the backend's key on
 * that tunnel) and the backend run by the supervisor of `netfwd run`, with
 * one WireGuard tunnel per VPS (A over IPv4, B over IPv6). The service runs
 * as an unprivileged user in the backend; the outside host (the internet
 * router) runs two whoami servers: one only the selected user dials, one only
 * an unselected user dials — so the home router can tell them apart.
 *
 * Oracles nobody here wrote: nft counters of the test's own tables (read with
 * `nft -j`) in the backend (which interface each reply and each egress packet
 * leaves by) and in the home router (every forwarded packet leaving by the
 * home uplink that is neither the backend's WireGuard UDP to a VPS nor the
 * unselected user's traffic: the leak oracle); `wg show`, `ip`.
 *
 * Functions sent into a namespace (lab.run / lab.start) are evaluated from
 * their source in a worker: they may not use anything of this module's scope.
 */
import { forwardService, type ServiceForward } from '../../src/forward/index.js';
import type { BackendSpec, FrontendSpec, ReturnPathSpec } from '../../src/forward/spec/spec.js';
import { validateSpec } from '../../src/forward/spec/validate/index.js';
import { Supervisor, type SupervisorEvent } from '../../src/forward/supervisor.js';
import { MULTI_FRONTEND_LAB_ADDRESSES as A, MultiFrontendLab, type VpsName, whoami } from '../../src/lab/index.js';
import { generatePresharedKey, generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import {
  dialAs,
  FRONTEND_WG_PORT,
  inNetns,
  linkKind,
  OTHER_UID,
  readCounters,
  returnPathOf,
  SERVICE_UID,
  startService,
  uniqueTag,
  wgBackend,
} from './e2e.js';

export { A as ADDR };

export type TwoMode = 'uid' | 'mark' | 'connmark';

/** Ports: the service's (request/answer, stream, UDP), the public ones on each VPS, the outside host's two whoami servers. */
export const P = {
  svc: 8080,
  stream: 8081,
  udp: 5353,
  pub: 80,
  pubStream: 81,
  /** A public TCP port forwarded to a service port nothing listens on (the backend answers with a reset). */
  pubClosed: 82,
  closed: 8082,
  /** A UDP service port nothing listens on (the backend answers with ICMP port unreachable). */
  closedUdp: 5354,
  /** The outside host's whoami that only the selected user dials. */
  selected: 7100,
  /** The outside host's whoami that only an unselected user dials (allowed out by the home uplink). */
  unselected: 7200,
} as const;

/** Each tunnel's addresses: the frontend's (first host) and the backend's. */
export const TUN = {
  a: { frontend: ['10.0.1.1/24', 'fd00:1::1/64'], backend: ['10.0.1.2/24', 'fd00:1::2/64'] },
  b: { frontend: ['10.0.2.1/24', 'fd00:2::1/64'], backend: ['10.0.2.2/24', 'fd00:2::2/64'] },
} as const;

const BACKEND_TABLE = 'tf_watch';
const HOME_TABLE = 'tf_home';

export interface TwoFrontendsEnv {
  lab: MultiFrontendLab;
  tag: string;
  mode: TwoMode;
  /** The backend's tunnel interfaces, A's first (B's absent with `tunnels: 1`). */
  ifaces: { a: string; b?: string };
  specs: { vpsa: FrontendSpec; vpsb: FrontendSpec; backend: BackendSpec };
  frontends: Record<VpsName, ServiceForward>;
  /** The backend's supervisor now (restartSupervisor() makes a new one). */
  readonly supervisor: Supervisor;
  /** Stops the supervisor (its configuration stays, as when `netfwd run` is killed), starts a new one, waits until it applied. */
  restartSupervisor(between?: () => Promise<void> | void): Promise<void>;
  /** Every event of the backend's supervisors, in order. */
  events: SupervisorEvent[];
  /** The kind of the tunnel links as `ip -d` reports them ('tun': wireguard-go; 'wireguard': the kernel's). */
  wgKind: string;
  close(): Promise<void>;
}

export interface TwoFrontendsOptions {
  mode: TwoMode;
  /** 2 (the default): `tunnels:` with one tunnel per VPS; 1: the classic `tunnel:` to VPS A only. */
  tunnels?: 1 | 2;
  /** Extra supervisor options (e.g. tunnelCheckMs). */
  supervisor?: Record<string, unknown>;
}

function frontendSpec(lab: MultiFrontendLab, vps: VpsName, iface: string, key: string, backendPub: string, psk: string): FrontendSpec {
  const t = vps === 'vpsa' ? TUN.a : TUN.b;
  return {
    role: 'frontend',
    netns: lab.hosts[vps].netns,
    tunnel: {
      interface: iface,
      addresses: [...t.frontend],
      listenPort: FRONTEND_WG_PORT,
      privateKey: key,
      peers: [{ name: 'home', publicKey: backendPub, presharedKey: psk, addresses: t.backend.map((a) => a.split('/')[0]!) }],
    },
    public: { addresses: [A[vps].ipv4, A[vps].ipv6] },
    forwards: [
      { protocol: 'tcp', port: P.pub, to: { peer: 'home', port: P.svc } },
      { protocol: 'tcp', port: P.pubStream, to: { peer: 'home', port: P.stream } },
      { protocol: 'udp', port: P.udp, to: { peer: 'home' } },
      { protocol: 'tcp', port: P.pubClosed, to: { peer: 'home', port: P.closed } },
      { protocol: 'udp', port: P.closedUdp, to: { peer: 'home' } },
    ],
  };
}

function returnPath(mode: TwoMode): ReturnPathSpec {
  return returnPathOf(mode, { table: 5000 });
}

/** The lab, both frontends applied, the backend's supervisor ready, the services, the counters; close() undoes it all. */
export async function startTwoFrontends(o: TwoFrontendsOptions): Promise<TwoFrontendsEnv> {
  const tag = uniqueTag();
  const lab = await MultiFrontendLab.create({ prefix: `nftf-${tag}` });
  const frontends: Partial<Record<VpsName, ServiceForward>> = {};
  let supervisor: Supervisor | undefined;
  const close = async () => {
    const errors: unknown[] = [];
    try {
      await supervisor?.stop({ down: true });
    } catch (err) {
      errors.push(err);
    }
    for (const f of Object.values(frontends)) {
      try {
        await f.down();
      } catch (err) {
        errors.push(err);
      }
    }
    await lab.destroy();
    if (errors.length) throw errors[0];
  };
  try {
    const implementation = wgBackend();
    const key = { vpsa: generatePrivateKey(), vpsb: generatePrivateKey() };
    // Different backend keys on the two tunnels (the spec allows the same one too).
    const home = { vpsa: generatePrivateKey(), vpsb: generatePrivateKey() };
    const psk = { vpsa: generatePresharedKey().toBase64(), vpsb: generatePresharedKey().toBase64() };
    const ifaces = { a: `wga${tag}`, b: `wgb${tag}` };
    const fe = (vps: VpsName) => frontendSpec(lab, vps, `nf${tag}f${vps.at(-1)}`, key[vps].toBase64(), publicKey(home[vps]), psk[vps]);
    const tunnelOf = (vps: VpsName) => ({
      interface: vps === 'vpsa' ? ifaces.a : ifaces.b,
      addresses: [...(vps === 'vpsa' ? TUN.a : TUN.b).backend],
      privateKey: home[vps].toBase64(),
      peer: {
        publicKey: publicKey(key[vps]),
        presharedKey: psk[vps],
        // A is dialled over IPv4, B over IPv6: both families carry a tunnel.
        endpoint: vps === 'vpsa' ? `${A.vpsa.ipv4}:${FRONTEND_WG_PORT}` : `[${A.vpsb.ipv6}]:${FRONTEND_WG_PORT}`,
        persistentKeepalive: 25,
      },
    });
    const services = [
      { protocol: 'tcp' as const, port: P.svc },
      { protocol: 'tcp' as const, port: P.stream },
      { protocol: 'udp' as const, port: P.udp },
      { protocol: 'tcp' as const, port: P.closed },
      { protocol: 'udp' as const, port: P.closedUdp },
    ];
    const two = (o.tunnels ?? 2) === 2;
    const backend = {
      role: 'backend',
      netns: lab.hosts.backend.netns,
      ...(two ? { tunnels: [tunnelOf('vpsa'), tunnelOf('vpsb')] } : { tunnel: tunnelOf('vpsa') }),
      returnPath: returnPath(o.mode),
      services,
    } as unknown as BackendSpec;
    const specs = { vpsa: fe('vpsa'), vpsb: fe('vpsb'), backend };

    for (const vps of ['vpsa', 'vpsb'] as const) {
      frontends[vps] = forwardService(specs[vps], { implementation });
      await frontends[vps]!.apply();
    }
    const events: SupervisorEvent[] = [];
    const startSupervisor = async () => {
      supervisor = new Supervisor(validateSpec(backend), {
        implementation,
        recheckMs: 0,
        log: (e) => events.push(e),
        ...(o.supervisor ?? {}),
      });
      await supervisor.start();
      await supervisor.ready;
    };
    await startSupervisor();

    const backendIfaces = two ? [ifaces.a, ifaces.b] : [ifaces.a];
    const kinds = [
      linkKind(specs.vpsa.netns!, specs.vpsa.tunnel.interface),
      linkKind(specs.vpsb.netns!, specs.vpsb.tunnel.interface),
      ...backendIfaces.map((i) => linkKind(lab.hosts.backend.netns, i)),
    ];
    installWatch(lab, tag, backendIfaces);
    // The service: one process of the selected user; UDP bound to each tunnel address (an unconnected
    // socket bound to :: would answer with whichever address its route picks, not the one asked).
    const udpBinds = (two ? [...TUN.a.backend, ...TUN.b.backend] : [...TUN.a.backend]).map((a) => ({
      port: P.udp,
      bind: a.split('/')[0]!,
    }));
    await startService(lab, 'backend', { name: 'home', uid: SERVICE_UID, tcp: [P.svc], tcpStream: [P.stream], udp: udpBinds });
    await lab.start('internet', whoami, P.selected).result;
    await lab.start('internet', whoami, P.unselected).result;
    for (const i of backendIfaces) await waitHandshake(lab.hosts.backend.netns, i);
    return {
      lab,
      tag,
      mode: o.mode,
      ifaces: two ? ifaces : { a: ifaces.a },
      specs,
      frontends: frontends as Record<VpsName, ServiceForward>,
      get supervisor() {
        return supervisor!;
      },
      async restartSupervisor(between) {
        await supervisor?.stop();
        supervisor = undefined;
        await between?.();
        await startSupervisor();
      },
      events,
      wgKind: [...new Set(kinds)].join(', '),
      close,
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

// ------------------------------------------------------------------ counters

/**
 * The test's own nft tables. In the backend (postrouting, priority 300: what
 * really leaves): the service's replies (source port svc/stream/udp) and the
 * selected egress (destination port `selected`) by interface — A's tunnel,
 * B's, anything else. In the home router (forward, priority -300, everything
 * leaving by the uplink eth0): the backend's WireGuard UDP to the VPSes and
 * the unselected user's traffic are counted apart; everything else is a leak,
 * counted by protocol.
 */
function installWatch(lab: MultiFrontendLab, tag: string, ifaces: string[]): void {
  const [a, b = `none${tag}`] = ifaces;
  const ports = `{ ${P.svc}, ${P.stream}, ${P.udp} }`;
  const byIface = (what: string, match: string) =>
    `    oifname "${a}" ${match} counter comment "${what} via A"\n` +
    `    oifname "${b}" ${match} counter comment "${what} via B"\n` +
    `    oifname != { "${a}", "${b}" } ${match} counter comment "${what} elsewhere"\n`;
  const backendText =
    `table inet ${BACKEND_TABLE} {\n  chain post {\n    type filter hook postrouting priority 300; policy accept;\n` +
    byIface('reply', `meta l4proto { tcp, udp } th sport ${ports}`) +
    byIface('egress', `tcp dport ${P.selected}`) +
    byIface('reset', `tcp sport ${P.closed} tcp flags & rst == rst`) +
    byIface('icmp4 error', 'icmp type destination-unreachable') +
    byIface('icmp6 error', 'icmpv6 type destination-unreachable') +
    `  }\n}\n`;
  inNetns(lab.hosts.backend.netns, 'nft', ['-f', '-'], backendText);
  const homeText =
    `table inet ${HOME_TABLE} {\n  chain forward {\n    type filter hook forward priority -300; policy accept;\n` +
    `    oifname != "eth0" accept\n` +
    `    ip daddr { ${A.vpsa.ipv4}, ${A.vpsb.ipv4} } udp dport ${FRONTEND_WG_PORT} counter accept comment "wireguard4"\n` +
    `    ip6 daddr { ${A.vpsa.ipv6}, ${A.vpsb.ipv6} } udp dport ${FRONTEND_WG_PORT} counter accept comment "wireguard6"\n` +
    // ICMP errors to a VPS's public address: about the tunnel's own UDP (port unreachable while a
    // tunnel's daemon is gone). No selected or forwarded connection has a VPS's public address as
    // its peer (nft 1.0.6 cannot match `ct original proto-dst` of an ICMP packet).
    `    ip daddr { ${A.vpsa.ipv4}, ${A.vpsb.ipv4} } icmp type destination-unreachable counter accept comment "wireguard icmp4"\n` +
    `    ip6 daddr { ${A.vpsa.ipv6}, ${A.vpsb.ipv6} } icmpv6 type destination-unreachable counter accept comment "wireguard icmp6"\n` +
    `    tcp dport ${P.unselected} counter accept comment "unselected"\n` +
    `    meta l4proto tcp counter comment "leak tcp"\n` +
    `    meta l4proto udp counter comment "leak udp"\n` +
    `    meta l4proto { icmp, ipv6-icmp } counter comment "leak icmp"\n` +
    `    meta l4proto != { tcp, udp, icmp, ipv6-icmp } counter comment "leak other"\n` +
    `  }\n}\n`;
  inNetns(lab.hosts.homerouter.netns, 'nft', ['-f', '-'], homeText);
}

/**
 * Counters in the backend for one client connection to the streaming port
 * (by the client's port, which neither frontend rewrites): "NAME via A",
 * "NAME via B", "NAME elsewhere".
 */
export function watchConnection(e: TwoFrontendsEnv, name: string, family: 'ipv4' | 'ipv6', clientPort: number): void {
  const match = `meta nfproto ${family} tcp sport ${P.stream} tcp dport ${clientPort}`;
  const b = e.ifaces.b ?? `none${e.tag}`;
  const add = (iface: string, what: string) => `add rule inet ${BACKEND_TABLE} post ${iface} ${match} counter comment "${name} ${what}"\n`;
  inNetns(
    e.lab.hosts.backend.netns,
    'nft',
    ['-f', '-'],
    add(`oifname "${e.ifaces.a}"`, 'via A') + add(`oifname "${b}"`, 'via B') + add(`oifname != { "${e.ifaces.a}", "${b}" }`, 'elsewhere'),
  );
}

/** Packets of the backend's counters: reply/egress via A, via B, elsewhere. */
export function backendCounters(e: TwoFrontendsEnv): Record<string, number> {
  return readCounters(e.lab.hosts.backend.netns, BACKEND_TABLE);
}

/** Packets of the home router's counters: wireguard4/6, wireguard icmp4/6, unselected, leak tcp/udp/icmp/other. */
export function homeCounters(e: TwoFrontendsEnv): Record<string, number> {
  return readCounters(e.lab.hosts.homerouter.netns, HOME_TABLE);
}

/** The sum of the home router's leak counters. */
export function leaks(c: Record<string, number>): number {
  return Object.entries(c)
    .filter(([k]) => k.startsWith('leak'))
    .reduce((s, [, n]) => s + n, 0);
}

// ------------------------------------------------------------------- traffic

/** The latest handshake of an interface's first peer (seconds since the epoch; 0: none), by `wg show dump`. */
export function lastHandshake(ns: string, iface: string): number {
  const lines = inNetns(ns, 'wg', ['show', iface, 'dump']).trim().split('\n');
  return Number(lines[1]?.split('\t')[4] ?? 0);
}

export async function waitHandshake(ns: string, iface: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (lastHandshake(ns, iface) === 0) {
    if (Date.now() > end) throw new Error(`no WireGuard handshake on ${iface} in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The selected user's egress: whom the outside host saw, over IPv4 and IPv6 (or the error). */
export async function selectedEgress(e: TwoFrontendsEnv, timeoutMs = 1500): Promise<string[]> {
  return dialAs(e.lab, 'backend', SERVICE_UID, [
    { host: A.outside.ipv4, port: P.selected, timeoutMs },
    { host: A.outside.ipv6, port: P.selected, timeoutMs },
  ]);
}

/** An unselected user's egress (the home line): whom the outside host saw. */
export async function unselectedEgress(e: TwoFrontendsEnv): Promise<string[]> {
  return dialAs(e.lab, 'backend', OTHER_UID, [
    { host: A.outside.ipv4, port: P.unselected, timeoutMs: 3000 },
    { host: A.outside.ipv6, port: P.unselected, timeoutMs: 3000 },
  ]);
}

export interface Stream {
  /** Lines received so far. */
  lines(): number;
  /** The client's local port, once connected. */
  port: Promise<number>;
  stop(): void;
}

/** A client connection to a streaming port that stays open, counting the lines it receives. */
export function openStream(e: TwoFrontendsEnv, host: string, port: number): Stream {
  const source = `
const net = require('node:net');
const c = net.connect(${port}, ${JSON.stringify(host)});
c.on('connect', () => process.stderr.write('port ' + c.localPort + '\\n'));
c.on('data', (d) => { for (const ch of String(d)) if (ch === '\\n') process.stdout.write('.'); });
c.on('error', (err) => { process.stderr.write(String(err.code)); process.exit(2); });
`;
  const child = e.lab.exec('client', process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
  let n = 0;
  child.stdout!.on('data', (d) => (n += String(d).length));
  let err = '';
  const localPort = new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      err += d;
      const m = /port (\d+)\n/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', () => reject(new Error(`the stream client to ${host}:${port} ended: ${err.trim()}`)));
  });
  localPort.catch(() => undefined);
  return {
    port: localPort,
    lines: () => n,
    stop: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** Waits until `f` returns true, checking every `everyMs`; resolves with the milliseconds it took, or throws. */
export async function within(what: string, ms: number, f: () => Promise<boolean> | boolean, everyMs = 1000): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await f()) return Date.now() - start;
    if (Date.now() - start > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** What `wireguard-go --version` and `nft --version` say (the real components). */
export function components(e: TwoFrontendsEnv): string {
  const first = (cmd: string) => {
    try {
      return inNetns(e.lab.hosts.client.netns, cmd, ['--version']).split('\n')[0]!.trim();
    } catch {
      return `${cmd}: not found`;
    }
  };
  const kind = e.wgKind === 'tun' ? 'wireguard-go (userspace, links of kind tun)' : `links of kind ${e.wgKind}`;
  return `WireGuard: ${kind}, requested ${wgBackend()}; ${first('wireguard-go')}; ${first('nft')}`;
}

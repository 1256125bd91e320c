/**
 * Helpers for the end-to-end test of issue 18's tagged-routing recipe
 * (test/e2e/recipe.test.ts) in the LAN lab (src/lab/lan-topology.ts): the
 * frontend and backend specs of the recipe (netfwd's own WireGuard tunnel or
 * an external one such as OpenVPN's), counters on every hop of the replies'
 * way (read with `nft -j`), a streaming client that timestamps what it gets,
 * and a "tag it myself" nft table for the attacker's packets.
 *
 * Functions sent into a namespace (lab.run / lab.start) are evaluated from
 * their source in a worker: they may not use anything of this module's scope.
 */
import { spawnSync } from 'node:child_process';
import { type ApplyResult, type LanRole, lanRole } from '../../src/forward/index.js';
import type { BackendSpec, FrontendSpec } from '../../src/forward/spec/spec.js';
import { LAN_LAB_ADDRESSES as A, type LanLab } from '../../src/lab/index.js';
import { generatePresharedKey, generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { inNetns, resetCounters } from './e2e.js';
import { ipJson, toolPath } from './kernel.js';
import { installWireCounters, readWireCounters, type WireCounter } from './lan.js';

/** The recipe's numbers: the tag, the connection mark and the table (all 42, as in the write-up). */
export const RECIPE = {
  dscp: 42,
  mark: 42,
  table: 42,
  /** The service on the service host, and its streaming sibling. */
  servicePort: 8080,
  streamPort: 8081,
  /** The frontend's public ports forwarded to them. */
  publicPort: 443,
  publicStreamPort: 444,
  /** The frontend's WireGuard port. */
  wgPort: 51820,
} as const;

/** The service host's two addresses, the forwards' and the services' target. */
export const SERVICE_HOST = [A.servicehost.ipv4, A.servicehost.ipv6];

export type Family = 4 | 6;
export const FAMILIES: readonly Family[] = [4, 6];
export const addr = (pair: { ipv4: string; ipv6: string }, f: Family): string => (f === 4 ? pair.ipv4 : pair.ipv6);

/** The tunnel the recipe runs over. */
export type RecipeTunnel =
  | { kind: 'wireguard' /** Interface names derive from it (unique: wireguard-go's socket directory is host-wide). */; tag: string }
  | {
      kind: 'external';
      frontend: { interface: string; addresses: string[] };
      backend: { interface: string; addresses: string[] };
    };

export interface RecipeSpecs {
  frontend: FrontendSpec;
  backend: BackendSpec;
  /** The tunnel interfaces' names. */
  frontendTunnel: string;
  backendTunnel: string;
}

/**
 * The recipe as netfwd specs: the frontend routes the home LAN into the
 * tunnel (peer routes) and DNATs public TCP 443 (444) straight to the
 * service host's port 8080 (8081) — `to.address`; the backend (the VPN
 * client) in return-path mode dscp 42 / mark 42 / table 42 with the service
 * on the service host.
 */
export function recipeSpecs(lab: LanLab, tunnel: RecipeTunnel): RecipeSpecs {
  const lan = [A.lan.ipv4, A.lan.ipv6];
  const forwards: FrontendSpec['forwards'] = [
    { protocol: 'tcp', port: RECIPE.publicPort, to: { address: SERVICE_HOST, port: RECIPE.servicePort } },
    { protocol: 'tcp', port: RECIPE.publicStreamPort, to: { address: SERVICE_HOST, port: RECIPE.streamPort } },
  ];
  const returnPath: BackendSpec['returnPath'] = { mode: 'dscp', dscp: RECIPE.dscp, mark: RECIPE.mark, table: RECIPE.table };
  const services: BackendSpec['services'] = [{ protocol: 'tcp', port: `${RECIPE.servicePort}-${RECIPE.streamPort}`, host: SERVICE_HOST }];
  const pub = { addresses: [A.frontend.ipv4, A.frontend.ipv6] };
  const frontendNs = lab.host('frontend').netns;
  const backendNs = lab.host('vpnclient').netns;
  if (tunnel.kind === 'external') {
    const peerAddresses = tunnel.backend.addresses.map((a) => a.split('/')[0]!);
    return {
      frontend: {
        role: 'frontend',
        netns: frontendNs,
        tunnel: {
          interface: tunnel.frontend.interface,
          external: true,
          addresses: tunnel.frontend.addresses,
          peers: [{ name: 'home', addresses: peerAddresses, routes: lan }],
        },
        public: pub,
        forwards,
      },
      backend: {
        role: 'backend',
        netns: backendNs,
        tunnel: { interface: tunnel.backend.interface, external: true, addresses: tunnel.backend.addresses },
        returnPath,
        services,
      },
      frontendTunnel: tunnel.frontend.interface,
      backendTunnel: tunnel.backend.interface,
    };
  }
  const fe = generatePrivateKey();
  const be = generatePrivateKey();
  const psk = generatePresharedKey().toBase64();
  const frontendTunnel = `nf${tunnel.tag}f`;
  const backendTunnel = `nf${tunnel.tag}b`;
  return {
    frontend: {
      role: 'frontend',
      netns: frontendNs,
      tunnel: {
        interface: frontendTunnel,
        addresses: ['10.0.0.1/24', 'fd00::1/64'],
        listenPort: RECIPE.wgPort,
        privateKey: fe.toBase64(),
        peers: [{ name: 'home', publicKey: publicKey(be), presharedKey: psk, addresses: ['10.0.0.2', 'fd00::2'], routes: lan }],
      },
      public: pub,
      forwards,
    },
    backend: {
      role: 'backend',
      netns: backendNs,
      tunnel: {
        interface: backendTunnel,
        addresses: ['10.0.0.2/24', 'fd00::2/64'],
        privateKey: be.toBase64(),
        peer: { publicKey: publicKey(fe), presharedKey: psk, endpoint: `${A.frontend.ipv4}:${RECIPE.wgPort}`, persistentKeepalive: 25 },
      },
      returnPath,
      services,
    },
    frontendTunnel,
    backendTunnel,
  };
}

/** "OpenVPN 2.6.14 (Debian 2.6.14-0+deb12u2)": `openvpn --version`'s version and the package that installed it, for the test output. */
export function openVpnComponent(versionLine: string): string {
  const version = /^OpenVPN (\S+)/.exec(versionLine)?.[1] ?? versionLine;
  const pkg = spawnSync(toolPath('dpkg-query'), ['-W', '-f', '${Version}', 'openvpn'], { encoding: 'utf8' });
  return pkg.status === 0 && pkg.stdout ? `OpenVPN ${version} (Debian ${pkg.stdout.trim()})` : `OpenVPN ${version}`;
}

/** "WireGuard (wireguard-go)" or "WireGuard (kernel)", from the link kind `ip -d` reports. */
export function wireGuardComponent(linkKind: string): string {
  return `WireGuard (${linkKind === 'wireguard' ? 'kernel' : linkKind === 'tun' ? 'wireguard-go' : linkKind})`;
}

// ------------------------------------------------------------------ counters

/** An interface's MAC address (`ip -j link`). */
export function macOf(ns: string, dev: string): string {
  return ipJson(ns, ['link', 'show', 'dev', dev])[0].address as string;
}

const SERVICE_PORTS = `${RECIPE.servicePort}-${RECIPE.streamPort}`;
const dscpOf = (f: Family) => (f === 4 ? 'ip dscp' : 'ip6 dscp');

/** One counter table on one interface of one host; its counters are read as `${host} ${name}`. */
interface HopTable {
  ns: string;
  table: string;
  iface: string;
  counters: WireCounter[];
}

export interface RecipeCounters {
  /** Every counter, by name. */
  read(): Record<string, number>;
  /** Back to zero (the tables are made again). */
  reset(): void;
  /** The names, grouped as installed (for the test log). */
  names: string[];
}

/**
 * Counters on every hop of the replies' way, per family (`… (IPv4)`):
 * - servicehost eth0: the requests arrive tagged, the replies leave tagged,
 *   none of them leaves untagged;
 * - homerouter lan0: tagged replies arrive from the service host and leave
 *   again by lan0 (untracked: the role's notrack);
 * - vpnclient eth0: they arrive from the home router's MAC address, never
 *   straight from the service host's; the VPN client sends none of them
 *   back out of eth0;
 * - vpnclient tunnel: they leave into the tunnel, the tag cleared;
 * - homerouter eth0 (the home's uplink): nothing to or from the client's
 *   address, nothing from the service ports, nothing with a LAN source
 *   address — before and after the router's masquerade.
 */
export function installRecipeCounters(lab: LanLab, backendTunnel: string): RecipeCounters {
  const router = lab.host('homerouter');
  const vpn = lab.host('vpnclient');
  const sh = lab.host('servicehost');
  const routerMac = macOf(router.netns, router.lan!);
  const serviceMac = macOf(sh.netns, sh.lan!);
  const tables: HopTable[] = [
    { ns: sh.netns, table: 'recipe_sh', iface: sh.lan!, counters: [] },
    { ns: router.netns, table: 'recipe_lan', iface: router.lan!, counters: [] },
    { ns: vpn.netns, table: 'recipe_vpnlan', iface: vpn.lan!, counters: [] },
    { ns: vpn.netns, table: 'recipe_tunnel', iface: backendTunnel, counters: [] },
    { ns: router.netns, table: 'recipe_uplink', iface: router.uplink!, counters: [] },
  ];
  const [shT, lanT, vpnLanT, tunT, upT] = tables as [HopTable, HopTable, HopTable, HopTable, HopTable];
  for (const f of FAMILIES) {
    const fam = f === 4 ? '(IPv4)' : '(IPv6)';
    const service = addr(A.servicehost, f);
    const client = addr(A.client, f);
    const reply = { saddr: service, protocol: 'tcp' as const, match: `tcp sport ${SERVICE_PORTS}` };
    shT.counters.push(
      {
        name: `servicehost in: tagged requests ${fam}`,
        direction: 'in',
        daddr: service,
        match: `tcp dport ${SERVICE_PORTS} ${dscpOf(f)} 42`,
      },
      { name: `servicehost out: tagged replies ${fam}`, direction: 'out', ...reply, match: `${reply.match} ${dscpOf(f)} 42` },
      {
        name: `servicehost out: untagged replies to the client ${fam}`,
        direction: 'out',
        ...reply,
        daddr: client,
        match: `${reply.match} ${dscpOf(f)} != 42`,
      },
    );
    lanT.counters.push(
      { name: `homerouter lan in: tagged replies ${fam}`, direction: 'in', ...reply, match: `${reply.match} ${dscpOf(f)} 42` },
      {
        name: `homerouter lan out: tagged replies, untracked ${fam}`,
        direction: 'out',
        ...reply,
        match: `${reply.match} ${dscpOf(f)} 42 ct state untracked`,
      },
      { name: `homerouter lan out: replies ${fam}`, direction: 'out', ...reply },
      {
        name: `homerouter lan out: requests to the service host ${fam}`,
        direction: 'out',
        daddr: service,
        protocol: 'tcp',
        match: `tcp dport ${SERVICE_PORTS}`,
      },
    );
    vpnLanT.counters.push(
      {
        name: `vpnclient lan in: tagged replies from the router's MAC ${fam}`,
        direction: 'in',
        ...reply,
        match: `${reply.match} ${dscpOf(f)} 42 ether saddr ${routerMac}`,
      },
      {
        name: `vpnclient lan in: replies from the service host's MAC ${fam}`,
        direction: 'in',
        ...reply,
        match: `${reply.match} ether saddr ${serviceMac}`,
      },
      { name: `vpnclient lan out: replies ${fam}`, direction: 'out', ...reply },
    );
    tunT.counters.push(
      { name: `vpnclient tunnel out: replies ${fam}`, direction: 'out', ...reply, daddr: client },
      { name: `vpnclient tunnel out: replies still tagged ${fam}`, direction: 'out', ...reply, match: `${reply.match} ${dscpOf(f)} 42` },
    );
    upT.counters.push(
      { name: `uplink out, before NAT: to the client ${fam}`, direction: 'out-before-nat', daddr: client },
      { name: `uplink out, after NAT: to the client ${fam}`, direction: 'out', daddr: client },
      {
        name: `uplink out, before NAT: from the service ports ${fam}`,
        direction: 'out-before-nat',
        protocol: 'tcp',
        match: `${f === 4 ? 'meta nfproto ipv4' : 'meta nfproto ipv6'} tcp sport ${SERVICE_PORTS}`,
      },
      {
        name: `uplink out, after NAT: from the service ports ${fam}`,
        direction: 'out',
        protocol: 'tcp',
        match: `${f === 4 ? 'meta nfproto ipv4' : 'meta nfproto ipv6'} tcp sport ${SERVICE_PORTS}`,
      },
      { name: `uplink out, after NAT: from a LAN address ${fam}`, direction: 'out', saddr: f === 4 ? A.lan.ipv4 : A.lan.ipv6 },
    );
  }
  for (const t of tables) installWireCounters(t.ns, t.iface, t.counters, t.table);
  return {
    read: () => Object.assign({}, ...tables.map((t) => readWireCounters(t.ns, t.table))),
    reset: () => {
      for (const t of tables) resetCounters(t.ns, t.table);
    },
    names: tables.flatMap((t) => t.counters.map((c) => c.name)),
  };
}

/** The names of the uplink's leak counters (each must stay 0). */
export function uplinkLeakCounters(c: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(c).filter(([k]) => k.startsWith('uplink out')));
}

/** Differences of two counter readings. */
export function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

// -------------------------------------------------------------- traffic tools

/**
 * Connects to a streaming service ("tick N" every 100 ms) and records each
 * line with the time it arrived, for `durationMs` (portable). The connection
 * is closed at the end; `end` says how it ended before that, if it did.
 */
export async function streamWatch(arg: { host: string; port: number; durationMs: number }): Promise<{
  lines: Array<{ at: number; line: string }>;
  end: string;
}> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const lines: Array<{ at: number; line: string }> = [];
    let end = '(open)';
    let buf = '';
    const c = net.connect(arg.port, arg.host);
    c.on('data', (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        lines.push({ at: Date.now(), line: buf.slice(0, i) });
        buf = buf.slice(i + 1);
      }
    });
    c.on('end', () => (end = '(end)'));
    c.on('error', (err: NodeJS.ErrnoException) => (end = `(error ${err.code})`));
    setTimeout(() => {
      c.destroy();
      resolve({ lines, end });
    }, arg.durationMs);
  });
}

/**
 * Sets the recipe's tag on what a host sends to `daddr` TCP `dport`, as an
 * attacker outside the home would: the test's own nft table (output hook).
 * Returns a function that removes it.
 */
export function tagOutgoing(ns: string, daddr: string, dport: number, dscp: number = RECIPE.dscp): () => void {
  const fam = daddr.includes(':') ? 'ip6' : 'ip';
  const table = `attacker_tag${fam}`;
  inNetns(
    ns,
    'nft',
    ['-f', '-'],
    `table inet ${table} {\n  chain out {\n    type filter hook output priority mangle; policy accept;\n    ${fam} daddr ${daddr} tcp dport ${dport} ${fam} dscp set ${dscp} counter\n  }\n}\n`,
  );
  return () => {
    inNetns(ns, 'nft', ['delete', 'table', 'inet', table]);
  };
}

// ------------------------------------------------------------- the LAN roles

/** The recipe's LAN side: netfwd's two LAN roles on the home router and the service host. */
export interface LanRoles {
  /** How they are configured, for the test output. */
  how: string;
  router: LanRole;
  serviceHost: LanRole;
  /** Applies both (router first). */
  apply(): Promise<ApplyResult[]>;
  /** Takes both down. */
  remove(): Promise<void>;
}

/**
 * `lan-router` on the home router — its LAN interface, `via` the VPN
 * client's two LAN addresses — and `service-host` on the service host, with
 * the recipe's numbers (DSCP 42, mark 42, table 42).
 */
export function recipeLanRoles(lab: LanLab): LanRoles {
  const r = lab.host('homerouter');
  const sh = lab.host('servicehost');
  const router = lanRole({
    role: 'lan-router',
    netns: r.netns,
    interface: r.lan!,
    via: [A.vpnclient.ipv4, A.vpnclient.ipv6],
    dscp: RECIPE.dscp,
    mark: RECIPE.mark,
    table: RECIPE.table,
  });
  const serviceHost = lanRole({ role: 'service-host', netns: sh.netns, interface: sh.lan!, dscp: RECIPE.dscp, mark: RECIPE.mark });
  return {
    how: `netfwd's LAN roles: lan-router on homerouter (${r.lan}, via ${A.vpnclient.ipv4}, ${A.vpnclient.ipv6}), service-host on servicehost (${sh.lan})`,
    router,
    serviceHost,
    apply: async () => [await router.apply(), await serviceHost.apply()],
    async remove() {
      const errors: unknown[] = [];
      for (const role of [serviceHost, router]) await role.down().catch((err: unknown) => errors.push(err));
      if (errors.length) throw errors[0];
    },
  };
}

/**
 * Status of one spec: the tunnel (handshake age, bytes, endpoint), per-forward
 * counters, which of netfwd's objects are present, drift from the spec and
 * warnings about things that would break forwarding.
 */
export type { EgressObserved, EgressRoute, ForwardProbe, ProbeOptions, ProbeReport } from './probe.js';

import { ConfigError } from '../../errors.js';
import type { NftRuleset } from '../../nft/index.js';
import type { Rule } from '../../route/index.js';
import { EgressHealth } from '../health/egress.js';
import { monitoredForwards, readTargetHealth } from '../health/targets.js';
import { otherClaims, ownedTables } from '../plan/claims.js';
import type { Kernel } from '../plan/context.js';
import { readNftables } from '../plan/nftables.js';
import { NFT_TABLE_COMMENT, nftTableName } from '../plan/ownership.js';
import { planUp } from '../plan/planner.js';
import { currentEgressTable, readAddresses, readRoutes, readRules, ruleSelector } from '../plan/routing.js';
import { readState } from '../plan/state-file.js';
import { readTunnel, TunnelAbsentError } from '../plan/tunnel.js';
import { planWarnings } from '../plan/warnings.js';
import type { IpFamily, NormalizedBackend, NormalizedConfig, TransportProtocol } from '../spec/normalized-config.js';
import { type ProbeOptions, type ProbeReport, runProbe } from './probe.js';

export interface PeerStatus {
  /** The peer's name in the spec ('frontend' on a backend); undefined for a peer the spec does not name. */
  name?: string;
  publicKey: string;
  endpoint: string | null;
  lastHandshake: Date | null;
  /** Seconds since the last handshake, or null before the first one. */
  handshakeAge: number | null;
  rxBytes: number;
  txBytes: number;
}

export interface ForwardCounter {
  /** Where it came from in the spec, e.g. 'forwards[0]'. */
  source: string;
  protocol: TransportProtocol;
  family: IpFamily;
  /** e.g. '80' or '9000-9010'. */
  publicPorts: string;
  peer: string;
  /** New connections DNATed. */
  connections: number;
  /** Packets and bytes of the forwarded connections, both directions. */
  packets: number;
  bytes: number;
}

/** One of a backend's several tunnels (ForwardStatus.tunnels). */
/** How long `status` waits for each tunnel's check (as `netfwd run`'s default). */
const TUNNEL_CHECK_TIMEOUT_MS = 2000;

export interface TunnelSummary {
  interface: string;
  present: boolean;
  up: boolean;
  /** Its routing table and connection mark (undefined in mode snat). */
  table?: number;
  mark?: number;
  /** The frontend's endpoint and the seconds since the last handshake with it (null: none yet). */
  endpoint: string | null;
  handshakeAge: number | null;
  /** The frontend address `netfwd run` checks through this tunnel. */
  checkAddress: string | null;
  /**
   * The same check as `netfwd run`'s, made now: a TCP connect to
   * checkAddress from the tunnel's own address, so through the tunnel.
   * `alive`: refused or open (the frontend answered).
   */
  check: { alive: boolean; result: string };
  /** The services' own traffic leaves by this tunnel now. */
  egress: boolean;
}

/** One target of a forward with several targets or a check (see ForwardSpec.to, balance, check). */
export interface TargetStatus {
  /** e.g. 'forwards[0]'. */
  forward: string;
  /** e.g. 'home', or 'home/198.51.100.131' for a host behind peer home. */
  target: string;
  /** The DNAT elements of the forward that send new connections to it now (failover: the chosen target has them all). */
  elements: number;
  /** As `netfwd run` measures it; null when nothing measures (netfwd run is not running). */
  health: { up: boolean; since: string; reason: string } | null;
}

export interface ForwardStatus {
  role: 'frontend' | 'backend';
  netns: string | null;
  interface: string;
  tunnel: {
    /** The interface is there (for netfwd's own tunnel: as a WireGuard device). */
    present: boolean;
    /** tunnel.external: another program owns the interface; netfwd reads only whether it is there and up. */
    external: boolean;
    implementation: 'kernel' | 'userspace' | null;
    up: boolean;
    publicKey: string | null;
    listenPort: number | null;
    /** The private key is never part of a status: it shows as "(hidden)". */
    privateKey: '(hidden)' | null;
    peers: PeerStatus[];
  };
  forwards: ForwardCounter[];
  /**
   * A backend with several tunnels: each one (the first is also `tunnel`)
   * and which carries the services' own traffic now (the egress rules'
   * table, read from the kernel).
   */
  tunnels?: TunnelSummary[];
  /** The targets of the forwards with several targets or a check, and their health. */
  targets: TargetStatus[];
  present: {
    link: boolean;
    addresses: string[];
    routes: string[];
    rules: string[];
    nftTable: string | null;
  };
  /** The changes `apply` would make; empty when the kernel matches the spec. */
  drift: string[];
  warnings: string[];
  /** The end-to-end probe, when asked for (`status({ probe: true })`, `netfwd status --probe`). */
  probe?: ProbeReport;
}

const portsText = (p: { from: number; to: number }) => (p.from === p.to ? String(p.from) : `${p.from}-${p.to}`);

function counterOf(
  ruleset: NftRuleset | null,
  table: string,
  set: string,
  match: (key: unknown, data: unknown) => boolean,
): { packets: number; bytes: number } {
  const s = ruleset?.sets.find((x) => x.table === table && x.name === set);
  let packets = 0;
  let bytes = 0;
  for (const el of s?.elements ?? []) {
    if (el.counter && match(el.key, el.data)) {
      packets += el.counter.packets;
      bytes += el.counter.bytes;
    }
  }
  return { packets, bytes };
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Sets a forward's DNAT element can be in, by family. */
const dnatSets = (f: IpFamily) => [
  `dnat${f}`,
  `dnat${f}_range`,
  `dnat${f}_any`,
  `dnat${f}_any_range`,
  `dnat${f}_hash`,
  `dnat${f}_any_hash`,
];

/** Protocol and port of a DNAT element's key (a hash map's key ends with the bucket). */
function protoPort(key: unknown, set: string): [unknown, unknown] {
  const k = key as unknown[];
  const n = set.endsWith('_hash') ? k.length - 1 : k.length;
  return [k[n - 2], k[n - 1]];
}

/** The forward's public ports (a port, or a range as the decoder gives it) in a map key. */
function portsMatch(port: unknown, fw: { publicPorts: { from: number; to: number } }): boolean {
  return typeof port === 'number'
    ? port >= fw.publicPorts.from && port <= fw.publicPorts.to
    : same(port, { range: [fw.publicPorts.from, fw.publicPorts.to] });
}

/**
 * Whether the kernel DNATs the forward `source` (family `f`): a map element
 * with its protocol and public ports that points at its backend address, and
 * the nftables table there with its chains and rules as planned.
 */
function dnatInstalled(
  ruleset: NftRuleset | null,
  table: string,
  config: NormalizedConfig,
  source: string,
  f: IpFamily,
  drift: string[],
): boolean {
  if (config.role !== 'frontend' || !ruleset) return false;
  // The table missing or not as planned (chains, rules); element drift is what the loop below looks at.
  if (drift.some((line) => line.includes(`table inet ${table}`) && !/: elements [+-]\d/.test(line))) return false;
  const fw = config.forwards.find((x) => x.source === source);
  if (!fw) return false;
  const targets = new Set(fw.targets.map((x) => x.addresses[f]));
  for (const name of dnatSets(f)) {
    const s = ruleset.sets.find((x) => x.table === table && x.name === name);
    for (const el of s?.elements ?? []) {
      const [proto, port] = protoPort(el.key, name);
      const d = Array.isArray(el.data) ? el.data[0] : el.data;
      if (Array.isArray(el.key) && proto === fw.protocol && portsMatch(port, fw) && targets.has(d as string)) return true;
    }
  }
  return false;
}

export async function readStatus(k: Kernel, config: NormalizedConfig, options: ProbeOptions = {}): Promise<ForwardStatus> {
  const name = config.tunnel.interface;
  const table = nftTableName(name);
  const tables = ownedTables(config, readState(k.netns, name).claim, otherClaims(k.netns, name));
  const tunnel = await readTunnel(k, name);
  const nft = await readNftables(k, config);
  const now = Date.now();
  const peerNames = new Map<string | undefined, string>(
    config.role === 'frontend' ? config.tunnel.peers.map((p) => [p.publicKey, p.name]) : [[config.tunnel.peer?.publicKey, 'frontend']],
  );
  const peers: PeerStatus[] = (tunnel.device?.peers ?? []).map((p) => ({
    ...(peerNames.has(p.publicKey) ? { name: peerNames.get(p.publicKey)! } : {}),
    publicKey: p.publicKey,
    endpoint: p.endpoint,
    lastHandshake: p.lastHandshake,
    handshakeAge: p.lastHandshake ? Math.max(0, Math.round((now - p.lastHandshake.getTime()) / 1000)) : null,
    rxBytes: p.rxBytes,
    txBytes: p.txBytes,
  }));

  const forwards: ForwardCounter[] = [];
  if (config.role === 'frontend') {
    for (const fw of config.forwards) {
      for (const f of fw.families) {
        const proto = fw.protocol;
        const addresses = new Set(fw.targets.map((x) => x.addresses[f]));
        let connections = 0;
        for (const set of dnatSets(f)) {
          connections += counterOf(nft.ruleset, table, set, (key, data) => {
            const [p, port] = protoPort(key, set);
            const d = Array.isArray(data) ? data[0] : data;
            return p === proto && portsMatch(port, fw) && addresses.has(d as string);
          }).packets;
        }
        // Every target's traffic (a failover moves new connections; the old ones go on to the other target).
        const traffic = { packets: 0, bytes: 0 };
        for (const x of fw.targets) {
          const target = x.ports.from === x.ports.to ? x.ports.from : { range: [x.ports.from, x.ports.to] };
          const c = counterOf(nft.ruleset, table, typeof target === 'number' ? `stats${f}` : `stats${f}_range`, (key) =>
            same(key, [x.addresses[f], proto, target]),
          );
          traffic.packets += c.packets;
          traffic.bytes += c.bytes;
        }
        forwards.push({
          source: fw.source,
          protocol: proto,
          family: f,
          publicPorts: portsText(fw.publicPorts),
          peer: fw.peer,
          connections,
          ...traffic,
        });
      }
    }
  }

  const targets: TargetStatus[] = [];
  if (config.role === 'frontend') {
    const measured = readTargetHealth(k.netns, name);
    for (const fw of monitoredForwards(config)) {
      for (const x of fw.targets) {
        const h = measured?.targets.find((m) => m.key === x.key);
        let elements = 0;
        for (const f of fw.families)
          for (const set of dnatSets(f))
            for (const el of nft.ruleset?.sets.find((y) => y.table === table && y.name === set)?.elements ?? []) {
              const [p, port] = protoPort(el.key, set);
              const d = Array.isArray(el.data) ? el.data[0] : el.data;
              if (p === fw.protocol && portsMatch(port, fw) && d === x.addresses[f]) elements++;
            }
        targets.push({
          forward: fw.source,
          target: x.name,
          elements,
          health: h ? { up: h.up, since: h.since, reason: h.reason } : null,
        });
      }
    }
  }

  const warnings: string[] = [];
  let drift: string[];
  try {
    const plan = await planUp(k, config);
    drift = plan.lines();
    warnings.push(...plan.warnings);
  } catch (err) {
    // The spec was valid when it was made: a ConfigError of the plan is about this machine — the
    // cgroup of mode mark does not exist (the service is stopped), or another configuration claims
    // the table, a priority or the mark. `up` refuses; status says so and still answers. An
    // external tunnel that is not there (yet) is the same kind of answer.
    if (err instanceof TunnelAbsentError) {
      drift = [`? (unknown: interface ${name} does not exist; tunnel.external: another program makes it)`];
      warnings.push(err.message);
    } else {
      if (!(err instanceof ConfigError)) throw err;
      drift = [
        err.field === 'returnPath.cgroup'
          ? '? (unknown: netfwd up cannot plan until the cgroup exists)'
          : `? (unknown: netfwd up refuses: ${err.field})`,
      ];
      warnings.push(...(await planWarnings(k, config)), err.message);
    }
  }
  if (config.tunnel.external && tunnel.link) {
    // netfwd does not add an external tunnel's addresses; without them its rules and routes point nowhere.
    const have = new Set((await readAddresses(k, name)).map((a) => a.address.split('/')[0]));
    for (const a of config.tunnel.addresses)
      if (!have.has(a.address))
        warnings.push(
          `interface ${name} has no address ${a.address} (tunnel.addresses): its owner (tunnel.external) has not configured it as the spec says`,
        );
  }
  if (config.role === 'backend' && !config.tunnel.external) {
    const hs = peers[0]?.handshakeAge;
    if (tunnel.device && (hs === null || hs === undefined || hs > 180)) {
      warnings.push(
        hs == null
          ? 'no handshake with the frontend yet: check its endpoint and that its UDP port is reachable'
          : `last handshake ${hs} s ago: the tunnel may be down`,
      );
    }
  }
  if (tunnel.link && !tunnel.link.up) {
    // The kernel also removed every route through it: `apply` restores both.
    warnings.push(
      `the tunnel link ${name} is down${config.role === 'backend' && config.returnPath.mode !== 'snat' ? ': the selected traffic fails (leak guard)' : ''}; \`netfwd up\` brings it up and restores the routes the kernel removed with it`,
    );
  }
  const probe =
    options.probe || options.probeEgress
      ? await runProbe(k, config, options, (source, f) => dnatInstalled(nft.ruleset, table, config, source, f, drift))
      : undefined;
  const t = nft.ruleset?.tables.find((x) => x.name === table);
  if (t && t.comment !== NFT_TABLE_COMMENT) warnings.push(`nftables table inet ${table} exists but was not made by netfwd`);

  const rules = await readRules(k, tables);
  const tunnels = config.role === 'backend' && config.tunnels.length > 1 ? await tunnelSummaries(k, config, rules) : undefined;
  return {
    role: config.role,
    netns: config.netns ?? null,
    interface: name,
    tunnel: {
      present: config.tunnel.external ? tunnel.link !== null : tunnel.device !== null,
      external: config.tunnel.external,
      implementation: tunnel.device?.implementation ?? null,
      up: tunnel.link?.up ?? false,
      publicKey: tunnel.device?.publicKey ?? null,
      listenPort: tunnel.device?.listenPort ?? null,
      privateKey: tunnel.device?.publicKey ? '(hidden)' : null,
      peers,
    },
    forwards,
    ...(tunnels ? { tunnels } : {}),
    targets,
    present: {
      link: tunnel.link !== null && (tunnels ?? []).every((x) => x.present),
      addresses: await presentAddresses(k, config),
      routes: (await readRoutes(k, tables)).map(
        (r) =>
          `${r.type !== 'unicast' ? `${r.type} ` : ''}${r.destination}${r.family === 6 ? ' (IPv6)' : ''}${r.link ? ` dev ${r.link}` : ''} table ${r.table}`,
      ),
      rules: rules.map((r) => `${r.priority}: ${ruleSelector(r)} lookup ${r.table}${r.family === 6 ? ' (IPv6)' : ''}`),
      nftTable: t ? `inet ${table}` : null,
    },
    drift,
    warnings,
    ...(probe ? { probe } : {}),
  };
}

/** Each of a backend's tunnels: link, handshake, table, a check through it now, and whether the egress rules use it. */
async function tunnelSummaries(k: Kernel, config: NormalizedBackend, rules: Rule[]): Promise<TunnelSummary[]> {
  const egress = currentEgressTable(config, rules);
  const health = new EgressHealth(config, TUNNEL_CHECK_TIMEOUT_MS);
  await health.check(k);
  const out: TunnelSummary[] = [];
  for (const t of config.tunnels) {
    const state = await readTunnel(k, t.interface);
    const peer = state.device?.peers[0];
    const h = health.tunnels.get(t.interface);
    out.push({
      interface: t.interface,
      present: t.external ? state.link !== null : state.device !== null,
      up: state.link?.up ?? false,
      ...(t.table !== undefined ? { table: t.table, mark: t.mark } : {}),
      endpoint: peer?.endpoint ?? null,
      handshakeAge: peer?.lastHandshake ? Math.max(0, Math.round((Date.now() - peer.lastHandshake.getTime()) / 1000)) : null,
      checkAddress: t.checkAddress?.address ?? null,
      check: { alive: h?.healthy ?? false, result: h?.reason ?? 'not checked' },
      egress: egress !== undefined && egress === t.table,
    });
  }
  return out;
}

/** The global addresses of every tunnel link of the configuration ("10.0.2.2/24 (wgb)" past the first). */
async function presentAddresses(k: Kernel, config: NormalizedConfig): Promise<string[]> {
  const out: string[] = [];
  const tunnels = config.role === 'backend' ? config.tunnels : [config.tunnel];
  for (const [i, t] of tunnels.entries()) {
    if (!(await k.rt.links.get(t.interface))) continue;
    for (const a of await readAddresses(k, t.interface)) out.push(i === 0 ? a.address : `${a.address} (${t.interface})`);
  }
  return out;
}

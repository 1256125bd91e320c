/**
 * The end-to-end probe of `status --probe`.
 *
 * - Frontend: a TCP connection from the frontend (its namespace) to each TCP
 *   forward's target — the backend's tunnel address and target port — through
 *   the tunnel, with a timeout: ok (and how long it took), refused, timeout or
 *   another error. UDP forwards have no handshake to observe and are listed as
 *   not probed. A local connection does not pass the prerouting DNAT (only
 *   packets arriving from outside do), so each forward also says whether the
 *   kernel holds its DNAT: the map element taking its public ports to that
 *   target, in netfwd's table with the rule as planned (`dnat`).
 * - Backend: which way the selected traffic leaves. The kernel is asked
 *   (`rt.routes.get`, as `ip route get … uid U` / `mark M` does) for the route a
 *   packet of the selected uid or mark to an Internet address takes: the
 *   interface, the source address and the table. Optionally (`egress`), a real
 *   connection is made as the selected uid to a service that answers with the
 *   address it saw (e.g. a whoami on the other side of the frontend): the
 *   address the world sees.
 */
import { spawn } from 'node:child_process';
import { isIP } from 'node:net';
import { NetlinkError } from '../../errors.js';
import { netns as netnsApi } from '../../netns/index.js';
import { runInNetns } from '../../netns/run-in-netns.js';
import type { Kernel } from '../plan/context.js';
import type { IpFamily, NormalizedConfig } from '../spec/normalized-config.js';

export interface ProbeOptions {
  /** Run the end-to-end probe (default false: it costs up to `probeTimeoutMs` per forward). */
  probe?: boolean;
  /** Timeout of each probe connection. Default 3000 ms. */
  probeTimeoutMs?: number;
  /**
   * Backend: also connect, as the selected uid, to this service, which must
   * answer with the address it saw the connection come from (first line).
   */
  probeEgress?: { host: string; port: number };
}

export interface ForwardProbe {
  /** Where it came from in the spec, e.g. 'forwards[0]'. */
  source: string;
  protocol: 'tcp' | 'udp';
  family: IpFamily;
  /** The backend's tunnel address and target port, e.g. '10.0.0.2:8080' or '[fd00::2]:8080'. */
  target: string;
  result: 'ok' | 'refused' | 'timeout' | 'error' | 'not probed';
  /**
   * Whether the kernel holds what takes the forward's public ports to this
   * target: an element of the DNAT map, and netfwd's table with its
   * prerouting rule as planned ('missing': connections from outside are not
   * forwarded, whatever the connect says).
   */
  dnat?: 'installed' | 'missing';
  /** Time to the established connection (ok), or until the failure. */
  ms?: number;
  /** The error code, or why the forward was not probed. */
  detail?: string;
}

export interface EgressRoute {
  family: IpFamily;
  /** The address the route was asked for (an Internet address; nothing is sent to it). */
  destination: string;
  /** What selects the traffic: 'uid 1000', 'mark 0x2a', or 'none' (mode snat). */
  selector: string;
  /** The route's interface, source address and table; undefined when the lookup failed. */
  interface?: string;
  source?: string;
  table?: number;
  /** The route leaves by the tunnel interface. */
  throughTunnel: boolean;
  /** Why the lookup failed, e.g. 'ENETUNREACH (unreachable: the leak guard)'. */
  error?: string;
}

export interface EgressObserved {
  /** 'HOST:PORT' of the echo service. */
  target: string;
  /** As whom the connection was made, e.g. 'uid 1000'. */
  as: string;
  /** The address the echo service saw, when it answered. */
  address?: string;
  /** ok, or the failure: refused, timeout, error, 'not probed'. */
  result: 'ok' | 'refused' | 'timeout' | 'error' | 'not probed';
  detail?: string;
}

export interface ProbeReport {
  /** Frontend: one per forward and family. */
  forwards: ForwardProbe[];
  /** Backend: the route of the selected traffic, per family. */
  egress: EgressRoute[];
  /** Backend with `probeEgress`: the address the echo service saw. */
  observed?: EgressObserved;
}

// ------------------------------------------------------------ TCP connects

interface ConnectResult {
  result: 'ok' | 'refused' | 'timeout' | 'error';
  ms: number;
  detail?: string;
}

/** Portable (runs in a worker inside a namespace): TCP connects, one after the other. */
async function connectAll(arg: { targets: Array<{ host: string; port: number }>; timeoutMs: number }): Promise<ConnectResult[]> {
  const net = await import('node:net');
  const one = (t: { host: string; port: number }) =>
    new Promise<ConnectResult>((resolve) => {
      const start = process.hrtime.bigint();
      const ms = () => Math.round(Number(process.hrtime.bigint() - start) / 1e5) / 10;
      const c = net.connect({ host: t.host, port: t.port });
      let settled = false;
      const done = (r: ConnectResult, gentle = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!gentle) {
          c.destroy();
          resolve(r);
          return;
        }
        // Close politely (FIN, reading what the service says): a reset could make a service see an error.
        const closed = setTimeout(() => c.destroy(), 1000);
        c.once('close', () => {
          clearTimeout(closed);
          resolve(r);
        });
        c.on('error', () => undefined);
        c.resume();
        c.end();
      };
      const timer = setTimeout(() => done({ result: 'timeout', ms: ms() }), arg.timeoutMs);
      c.once('connect', () => done({ result: 'ok', ms: ms() }, true));
      c.once('error', (e: NodeJS.ErrnoException) =>
        done({ result: e.code === 'ECONNREFUSED' ? 'refused' : 'error', ms: ms(), detail: e.code ?? e.message }),
      );
    });
  const out: ConnectResult[] = [];
  for (const t of arg.targets) out.push(await one(t));
  return out;
}

async function connectIn(
  netns: string | undefined,
  targets: Array<{ host: string; port: number }>,
  timeoutMs: number,
): Promise<ConnectResult[]> {
  if (targets.length === 0) return [];
  return netns === undefined ? connectAll({ targets, timeoutMs }) : runInNetns(netns, connectAll, { targets, timeoutMs });
}

const hostPort = (host: string, port: number) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** Tells whether the forward (by its spec source) and family is in the kernel's DNAT map and rule. */
export type DnatCheck = (source: string, family: IpFamily) => boolean;

async function probeForwards(config: NormalizedConfig, timeoutMs: number, dnat?: DnatCheck): Promise<ForwardProbe[]> {
  if (config.role !== 'frontend') return [];
  const probes: ForwardProbe[] = [];
  const targets: Array<{ host: string; port: number; index: number }> = [];
  for (const fw of config.forwards) {
    for (const f of fw.families) {
      const host = fw.peerAddresses[f]!;
      const port = fw.targetPorts.from;
      const p: ForwardProbe = { source: fw.source, protocol: fw.protocol, family: f, target: hostPort(host, port), result: 'not probed' };
      if (dnat) p.dnat = dnat(fw.source, f) ? 'installed' : 'missing';
      if (fw.protocol === 'udp') p.detail = 'UDP has no handshake to observe';
      else targets.push({ host, port, index: probes.length });
      probes.push(p);
    }
  }
  const results = await connectIn(config.netns, targets, timeoutMs);
  results.forEach((r, i) => {
    const p = probes[targets[i]!.index]!;
    p.result = r.result;
    p.ms = r.ms;
    if (r.detail) p.detail = r.detail;
  });
  return probes;
}

// ------------------------------------------------------------ route lookup

/** Documentation addresses standing for "the Internet": only routes are looked up, nothing is sent. */
const INTERNET: Record<IpFamily, string> = { 4: '198.51.100.254', 6: '2001:db8:ffff::1' };

function selectorOf(config: NormalizedConfig): { uid?: number; mark?: number; text: string } {
  if (config.role !== 'backend') return { text: 'none' };
  const rp = config.returnPath;
  switch (rp.mode) {
    case 'uid':
      return { uid: rp.uids[0]!.from, text: `uid ${rp.uids[0]!.from}` };
    case 'mark':
    case 'connmark':
      return { mark: rp.mark, text: `mark 0x${rp.mark.toString(16)}` };
    default:
      return { text: 'none' };
  }
}

/** The route the kernel picks for a packet to `destination` with this uid or mark (`rt.routes.get`, RTM_GETROUTE). */
export async function lookupRoute(
  k: Kernel,
  destination: string,
  selector: { uid?: number; mark?: number },
): Promise<{ interface?: string; source?: string; table?: number }> {
  const r = await k.rt.routes.get({ to: destination, uid: selector.uid, mark: selector.mark });
  const link = r.link ?? (r.linkIndex !== undefined ? `#${r.linkIndex}` : undefined);
  return {
    ...(link !== undefined ? { interface: link } : {}),
    ...(r.source !== undefined ? { source: r.source } : {}),
    table: r.table,
  };
}

async function probeEgressRoutes(k: Kernel, config: NormalizedConfig): Promise<EgressRoute[]> {
  if (config.role !== 'backend') return [];
  const sel = selectorOf(config);
  const out: EgressRoute[] = [];
  for (const family of config.families) {
    const e: EgressRoute = { family, destination: INTERNET[family], selector: sel.text, throughTunnel: false };
    try {
      const r = await lookupRoute(k, INTERNET[family], sel);
      Object.assign(e, r);
      // Several tunnels: any of them (the egress moves between them).
      e.throughTunnel = config.tunnels.some((t) => t.interface === r.interface);
    } catch (err) {
      if (!(err instanceof NetlinkError)) throw err;
      const leakGuard = config.returnPath.mode !== 'snat' && ['ENETUNREACH', 'EHOSTUNREACH'].includes(err.code);
      e.error = `${err.code}${leakGuard ? ' (unreachable: the leak guard holds the selected traffic while the tunnel route is missing)' : ''}`;
    }
    out.push(e);
  }
  return out;
}

// ------------------------------------------------------------ egress echo

const ECHO_CLIENT = `
const net = require('node:net');
const [host, port, timeoutMs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let data = '', done = false;
const finish = (o) => { if (done) return; done = true; clearTimeout(timer); c.destroy(); process.stdout.write(JSON.stringify(o) + '\\n'); };
const c = net.connect({ host, port });
const timer = setTimeout(() => finish({ result: 'timeout' }), timeoutMs);
c.on('data', (d) => { data += d; if (data.includes('\\n')) finish({ result: 'ok', address: data.split('\\n')[0].trim() }); });
c.on('end', () => finish(data.trim() ? { result: 'ok', address: data.trim() } : { result: 'error', detail: 'closed without an answer' }));
c.on('error', (e) => finish({ result: e.code === 'ECONNREFUSED' ? 'refused' : 'error', detail: e.code || e.message }));
`;

async function probeEgressEcho(
  config: NormalizedConfig,
  target: { host: string; port: number },
  timeoutMs: number,
): Promise<EgressObserved> {
  const text = hostPort(target.host, target.port);
  const rp = config.role === 'backend' ? config.returnPath : undefined;
  const uid = rp && (rp.mode === 'uid' || rp.mode === 'mark') && rp.uids.length > 0 ? rp.uids[0]!.from : undefined;
  if (uid === undefined) {
    return {
      target: text,
      as: '-',
      result: 'not probed',
      detail:
        rp?.mode === 'snat'
          ? 'mode snat selects no traffic of the backend'
          : `mode ${rp?.mode ?? 'frontend'} selects no uid to connect as (a mark set by the application cannot be set from here)`,
    };
  }
  const args = ['-e', ECHO_CLIENT, target.host, String(target.port), String(timeoutMs)];
  const child =
    config.netns === undefined
      ? spawn(process.execPath, args, { uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'] })
      : netnsApi.exec(config.netns, process.execPath, args, { uid, gid: uid, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('close', (c) => resolve(c));
  });
  try {
    const r = JSON.parse(stdout.trim().split('\n').pop() ?? '') as { result: EgressObserved['result']; address?: string; detail?: string };
    const address = r.address?.replace(/^::ffff:/, '');
    return {
      target: text,
      as: `uid ${uid}`,
      result: r.result === 'ok' && (!address || !isIP(address)) ? 'error' : r.result,
      ...(address ? { address } : {}),
      ...(r.detail ? { detail: r.detail } : {}),
    };
  } catch {
    return {
      target: text,
      as: `uid ${uid}`,
      result: 'error',
      detail: `the probe process failed (${code}): ${stderr.trim().split('\n').pop() ?? ''}`,
    };
  }
}

/** Runs the probe for one spec (see the file comment). */
export async function runProbe(k: Kernel, config: NormalizedConfig, options: ProbeOptions, dnat?: DnatCheck): Promise<ProbeReport> {
  const timeoutMs = options.probeTimeoutMs ?? 3000;
  const report: ProbeReport = {
    forwards: await probeForwards(config, timeoutMs, dnat),
    egress: await probeEgressRoutes(k, config),
  };
  if (options.probeEgress && config.role === 'backend') report.observed = await probeEgressEcho(config, options.probeEgress, timeoutMs);
  return report;
}

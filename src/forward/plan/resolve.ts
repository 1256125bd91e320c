/**
 * Endpoints given as host names: resolved when a spec is planned or applied
 * (and again by `netfwd run` when the handshake gets old), so WireGuard is
 * always given an address — the kernel and wireguard-go take no names. The
 * resolver is injectable: the default is the system's (node:dns lookup, i.e.
 * getaddrinfo with /etc/hosts and the configured DNS servers).
 */
import { lookup } from 'node:dns/promises';
import { BlockList } from 'node:net';
import { NetfwdError } from '../../errors.js';
import { parseIp } from '../../grammar/index.js';
import type { Endpoint, IpFamily, NormalizedBackend, NormalizedConfig } from '../spec/normalized-config.js';

/**
 * Addresses of `hostname`, best first. `family` 4 or 6 asks for that family
 * only; 0 for any.
 */
export type Resolver = (hostname: string, family: 0 | IpFamily) => Promise<string[]>;

/** The system's resolver: getaddrinfo through node:dns `lookup`, in the order it answers. */
export const systemResolver: Resolver = async (hostname, family) =>
  (await lookup(hostname, { all: true, family, verbatim: true })).map((a) => a.address);

export interface ResolveOptions {
  /** How host names in endpoints are resolved. Default: the system's resolver. */
  resolver?: Resolver;
}

/** A host name in an endpoint did not resolve to a usable address. Nothing was changed. */
export class ResolveError extends NetfwdError {
  override name = 'ResolveError';
  constructor(
    /** The spec field, e.g. 'tunnel.peer.endpoint'. */
    readonly field: string,
    readonly hostname: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: cannot resolve ${hostname}: ${reason}`, options);
  }
}

/** True when the spec names an endpoint by host name. */
export function hasHostnameEndpoint(config: NormalizedConfig): boolean {
  return config.role === 'backend' && config.tunnel.peer?.endpoint.hostname !== undefined;
}

/** The host name endpoint of a spec, or undefined. */
export function hostnameEndpoint(config: NormalizedConfig): Endpoint | undefined {
  return config.role === 'backend' && config.tunnel.peer?.endpoint.hostname !== undefined ? config.tunnel.peer.endpoint : undefined;
}

const withPort = (family: IpFamily, host: string, port: number) => (family === 6 ? `[${host}]:${port}` : `${host}:${port}`);

/** An endpoint with its host name resolved: `host`/`text`/`family` are the address's; `hostname` stays. */
/** Resolves `endpoint.hostname` (again, also when it was resolved before). */
export async function resolveEndpoint(
  endpoint: Endpoint,
  config: NormalizedConfig,
  options: ResolveOptions = {},
  field = 'tunnel.peer.endpoint',
): Promise<Endpoint> {
  const hostname = endpoint.hostname;
  if (hostname === undefined) return endpoint;
  const resolver = options.resolver ?? systemResolver;
  let answers: string[];
  try {
    answers = await resolver(hostname, endpoint.preferFamily ?? 0);
  } catch (err) {
    const code = (err as { code?: string }).code;
    throw new ResolveError(field, hostname, code ?? (err instanceof Error ? err.message : String(err)), { cause: err });
  }
  const usable: Array<{ address: string; family: IpFamily }> = [];
  const problems: string[] = [];
  for (const a of answers) {
    // What node:net's isIP takes (zone ids included): the resolver's answers are its texts.
    const ip = parseIp(a, { zone: 'any' });
    if (!ip.ok) {
      problems.push(`${JSON.stringify(a)} is not an IP address`);
      continue;
    }
    const family = ip.value.family;
    if (endpoint.preferFamily !== undefined && family !== endpoint.preferFamily) continue;
    const problem = addressProblem(a, family, config);
    if (problem) problems.push(problem);
    else usable.push({ address: a, family });
  }
  if (usable.length === 0) {
    const wanted = endpoint.preferFamily ? `no IPv${endpoint.preferFamily} address` : 'no address';
    throw new ResolveError(field, hostname, problems.length ? `${wanted} usable (${problems.join('; ')})` : wanted);
  }
  const { address: host, family } = usable[0]!;
  // Canonical text, as WireGuard writes endpoints back (compressed IPv6, lower case).
  const canonical = family === 6 ? new URL(`http://[${host}]/`).hostname.slice(1, -1) : host;
  return { ...endpoint, family, host: canonical, text: withPort(family, canonical, endpoint.port) };
}

function addressProblem(address: string, family: 4 | 6, config: NormalizedConfig): string | undefined {
  const special = new BlockList();
  if (family === 4) {
    special.addSubnet('0.0.0.0', 8, 'ipv4');
    special.addSubnet('127.0.0.0', 8, 'ipv4');
    special.addSubnet('224.0.0.0', 3, 'ipv4');
  } else {
    special.addAddress('::', 'ipv6');
    special.addAddress('::1', 'ipv6');
    special.addSubnet('ff00::', 8, 'ipv6');
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (special.check(address, type)) return `${address} is not a host address (unspecified, loopback or multicast)`;
  for (const a of config.tunnel.addresses) {
    if (a.family !== family) continue;
    const tunnel = new BlockList();
    tunnel.addSubnet(a.network.split('/')[0]!, a.prefixLength, type);
    if (tunnel.check(address, type)) return `${address} is inside the tunnel subnet ${a.cidr}`;
  }
  return undefined;
}

/** True when the endpoint is a host name not resolved yet (resolveEndpoints has not run on this config). */
export function isUnresolved(endpoint: Endpoint): boolean {
  return endpoint.hostname !== undefined && !parseIp(endpoint.host, { zone: 'any' }).ok;
}

/**
 * The config with every host name endpoint resolved (the same object when
 * there is none, or when it was resolved before: `netfwd run` decides itself
 * when to resolve again). Throws ResolveError — before anything touches the kernel.
 */
export async function resolveEndpoints(config: NormalizedConfig, options: ResolveOptions = {}): Promise<NormalizedConfig> {
  if (config.role === 'backend' && config.tunnels.length > 1) return resolveTunnels(config, options, false);
  const endpoint = hostnameEndpoint(config);
  if (!endpoint || config.role !== 'backend' || !config.tunnel.peer || !isUnresolved(endpoint)) return config;
  const resolved = await resolveEndpoint(endpoint, config, options);
  const tunnel = { ...config.tunnel, peer: { ...config.tunnel.peer, endpoint: resolved } };
  return { ...config, tunnel, tunnels: [tunnel] };
}

/**
 * Several tunnels: each host name endpoint resolved (`force`: again, also
 * those resolved before). The same object when there is nothing to resolve.
 */
export async function resolveTunnels(config: NormalizedBackend, options: ResolveOptions, force: boolean): Promise<NormalizedBackend> {
  let changed = false;
  const tunnels = await Promise.all(
    config.tunnels.map(async (t) => {
      const e = t.peer?.endpoint;
      if (!t.peer || !e || e.hostname === undefined || (!force && !isUnresolved(e))) return t;
      changed = true;
      const endpoint = await resolveEndpoint(e, { ...config, tunnel: t }, options, `${t.source}.peer.endpoint`);
      return { ...t, peer: { ...t.peer, endpoint } };
    }),
  );
  return changed ? { ...config, tunnel: tunnels[0]!, tunnels } : config;
}

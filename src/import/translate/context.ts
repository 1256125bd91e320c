/**
 * What the translator's parts share: the context of one translation, where a
 * fact came from, and the checks of the values the facts hold (keys,
 * addresses, endpoints, DNAT targets), each an ImportError at its line.
 */
import { type EndpointOptions, parseEndpoint, parseKey } from '../../grammar/index.js';
import { type Cidr, contains, parseCidr, readCidr, ZONE_PROBLEM } from '../cidr.js';
import type { Facts, KeyRef, TunnelFacts } from '../facts.js';
import { type IptRule, portOf } from '../iptables.js';
import { ImportError, type Origin } from '../source.js';

export type Role = 'frontend' | 'backend';

/**
 * The machines of a setup netfwd writes a configuration for: the two ends of
 * the tunnel, and the two LAN machines of the tagged-routing recipe (the home
 * router that sends tagged replies to the VPN client, the host of the service
 * that tags them).
 */
export type Machine = Role | 'lan-router' | 'service-host';
export const MACHINES: readonly Machine[] = ['frontend', 'backend', 'lan-router', 'service-host'];

/** A secret the importer writes next to the output (mode 0600) and names in the spec. */
export interface PlannedKeyFile {
  /** File name relative to the output's directory. */
  name: string;
  key: string;
}

export const RESERVED_TABLES = new Set([0, 253, 254, 255]);
export const where = (o: Origin) => (o.line > 0 ? `${o.file}:${o.line}` : o.file);

export function keyText(ref: KeyRef, what: string): string {
  if (ref.kind !== 'inline') return '';
  if (!parseKey(ref.key).ok) {
    // Never quote the value: it may be a real key with a typo.
    throw new ImportError(
      ref.origin,
      `${what} is not a WireGuard key (a placeholder such as <privatekey>, or a typo?)`,
      '32 bytes in base64, 44 characters ending in "=", as wg genkey prints',
    );
  }
  return ref.key;
}

export function cidrOf(text: string, origin: Origin, what: string): Cidr {
  const c = readCidr(text);
  if (!c.ok)
    throw new ImportError(
      origin,
      `${what} "${text.slice(0, 50)}" ${c.code === 'zone' ? c.problem : 'is not an IP address or CIDR'}`,
      'an address such as 10.0.0.1/24 or fd00::1/64',
    );
  return c.value;
}

/**
 * What the importer has always taken as an Endpoint (it only checks it: the
 * text goes into the spec as written, and netfwd's own validator has the last
 * word): any leading zeros in the port, an IP address or a host name in
 * brackets, host names with numeric labels. No zone ids: netfwd does not
 * take them.
 */
const ENDPOINT: EndpointOptions = { portDigits: Infinity, brackets: 'any', hostnames: { dotInLength: true } };

/** Checks "203.0.113.1:51820", "[2001:db8::1]:51820", "vpn.example.org:51820" (a host name is kept: netfwd resolves it when it applies the configuration). */
export function checkEndpoint(text: string, origin: Origin): void {
  const e = parseEndpoint(text, ENDPOINT);
  if (e.ok) return;
  if (e.code === 'zone')
    throw new ImportError(
      origin,
      `Endpoint "${text.slice(0, 60)}" ${ZONE_PROBLEM}`,
      "the frontend's address without a zone id, e.g. [2001:db8::1]:51820",
    );
  // Which message: the parts as the importer has always split them, the host judged before the port.
  const bracketed = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  const m = bracketed ?? /^([^:]+):(\d+)$/.exec(text);
  if (m) {
    if (!parseEndpoint(`${bracketed ? `[${m[1]}]` : m[1]}:1`, ENDPOINT).ok) {
      throw new ImportError(
        origin,
        `Endpoint host "${m[1]!.slice(0, 60)}" is neither an IP address nor a host name`,
        "the frontend's address or DNS name, e.g. 203.0.113.1:51820",
      );
    }
    throw new ImportError(origin, `Endpoint port ${m[2]} is out of range`, 'a port from 1 to 65535');
  }
  throw new ImportError(
    origin,
    `Endpoint "${text.slice(0, 60)}" is not HOST:PORT`,
    'an address and port such as 203.0.113.1:51820 or [2001:db8::1]:51820',
  );
}

/** `A`, `A:P`, `A:P-Q`, `[A]:P` of --to-destination. */
export function dnatTarget(text: string, origin: Origin): { address: Cidr; port?: string } | undefined {
  const m = /^\[([^\]]+)\](?::(.+))?$/.exec(text) ?? (parseCidr(text) ? [text, text, undefined] : /^([^:]+)(?::(.+))?$/.exec(text));
  if (!m) return undefined;
  const address = parseCidr(m[1]!);
  if (!address || address.explicit) return undefined;
  return { address, ...(m[2] !== undefined ? { port: portOf(m[2], origin) } : {}) };
}

/** What reading rules needs: the facts, the tunnel interface and its own addresses, and what has been used so far. */
export interface RuleCtx {
  facts: Facts;
  iface: string;
  own: Cidr[];
  chains: (r: IptRule) => string | undefined;
  used: Set<object>;
}

/** One translation of a WireGuard setup: RuleCtx with the tunnel's facts and the key files planned so far. */
export interface Ctx extends RuleCtx {
  tunnel: TunnelFacts;
  keyFiles: PlannedKeyFile[];
  stem: string;
}

/** A rule's built-in chain: its own, or the one that jumps to its user chain. */
export function chainResolver(rules: IptRule[]): (r: IptRule) => string | undefined {
  const BUILTIN = new Set(['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING']);
  const parents = new Map<string, Set<string>>();
  for (const r of rules) {
    if (r.target && !BUILTIN.has(r.target) && /^[A-Za-z0-9_.-]+$/.test(r.target) && r.target.toUpperCase() !== r.target.toLowerCase()) {
      const key = `${r.table}\0${r.target}`;
      const set = parents.get(key) ?? new Set<string>();
      set.add(r.chain);
      parents.set(key, set);
    }
  }
  return (r: IptRule) => {
    const seen = new Set<string>();
    let chain = r.chain;
    for (let depth = 0; depth < 32; depth++) {
      if (BUILTIN.has(chain)) return chain;
      if (seen.has(chain)) return undefined;
      seen.add(chain);
      const p = parents.get(`${r.table}\0${chain}`);
      if (!p || p.size !== 1) return undefined;
      chain = [...p][0]!;
    }
    return undefined;
  };
}

export const USER_CHAIN_TARGET = (r: IptRule, all: IptRule[]) =>
  r.target !== undefined && all.some((x) => x.table === r.table && x.chain === r.target);

export function inTunnel(ctx: RuleCtx, c: Cidr): boolean {
  return ctx.own.some((s) => contains(s, c));
}

export function pskFile(ctx: Ctx, ref: KeyRef | undefined, suffix: string): Record<string, string> {
  if (!ref) return {};
  if (ref.kind === 'file') return { presharedKeyFile: ref.path };
  const name = `${ctx.stem}${suffix}.psk`;
  ctx.keyFiles.push({ name, key: ref.key });
  return { presharedKeyFile: name };
}

/**
 * Shared by the reliability tests: specs in fresh namespaces with unique
 * WireGuard names, dumps of a namespace by the real tools (the oracles), and
 * the long-run switch.
 *
 * NETFWD_LONG=1 runs the full counts of issue 8 (100 kill -9s, 100 cycles,
 * 100 000 route changes, ...); without it each test runs a short version fit
 * for CI.
 */

import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import type { ExecutionContext } from 'ava';
import type { BackendSpec, FrontendSpec } from '../../src/forward/spec/spec.js';
import { netns } from '../../src/netns/index.js';
import { generatePresharedKey, generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { run, toolPath } from '../helpers/kernel.js';

export const LONG = process.env.NETFWD_LONG === '1' || process.env.NETFWD_LONG === 'true';

/** `short` in CI, `long` under NETFWD_LONG=1 (NETFWD_<NAME> overrides either). */
export function count(name: string, short: number, long: number): number {
  const override = Number(process.env[`NETFWD_${name}`]);
  return Number.isFinite(override) && override > 0 ? override : LONG ? long : short;
}

/** A figure for the long run's summary: printed with a fixed prefix so a script can collect them. */
export function figure(t: ExecutionContext, text: string): void {
  t.log(`figure: ${text}`);
}

/** A WireGuard interface name unique on this machine (the UAPI socket directory is global): 15 bytes at most. */
export function uniqueInterface(tag: string): string {
  const name = `nr${tag}${randomBytes(4).toString('hex')}`;
  if (Buffer.byteLength(name) > 15) throw new Error(`interface name ${name} too long`);
  return name;
}

/** Fresh keys for one frontend/backend pair. */
export function keyPair() {
  const fe = generatePrivateKey();
  const be = generatePrivateKey();
  return {
    officePublic: publicKey(generatePrivateKey()),
    frontendPrivate: fe.toBase64(),
    frontendPublic: publicKey(fe),
    backendPrivate: be.toBase64(),
    backendPublic: publicKey(be),
    psk: generatePresharedKey().toBase64(),
  };
}

export type Keys = ReturnType<typeof keyPair>;

/** A dual-stack frontend with two peers and forwards of every shape (single ports, shifted ranges, kept ranges, one address, any address). */
export function frontendSpec(ns: string, wg: string, keys: Keys = keyPair()): FrontendSpec {
  return {
    role: 'frontend',
    netns: ns,
    tunnel: {
      interface: wg,
      addresses: ['10.0.0.1/24', 'fd00::1/64'],
      listenPort: 51820,
      privateKey: keys.frontendPrivate,
      peers: [
        { name: 'home', publicKey: keys.backendPublic, presharedKey: keys.psk, addresses: ['10.0.0.2', 'fd00::2'] },
        { name: 'office', publicKey: keys.officePublic, addresses: ['10.0.0.3'] },
      ],
    },
    public: { addresses: ['203.0.113.2', '2001:db8:2::2'] },
    forwards: [
      { protocol: 'tcp', port: 9735, to: { peer: 'home' } },
      { protocol: 'tcp+udp', port: '8000-8003', to: { peer: 'home', port: '18000-18003' } },
      { protocol: 'udp', port: '60000-60010', to: { peer: 'home' } },
      { protocol: 'tcp', port: 80, address: '203.0.113.2', to: { peer: 'office', port: 8080 } },
    ],
  };
}

/** A dual-stack backend; `mode` picks the return path (uid has routes and rules; mark and connmark add nftables chains). */
export function backendSpec(
  ns: string,
  wg: string,
  keys: Keys = keyPair(),
  mode: 'uid' | 'mark' | 'connmark' | 'snat' = 'uid',
): BackendSpec {
  const returnPath: BackendSpec['returnPath'] =
    mode === 'uid'
      ? { mode, uids: ['1000-1001'], exclude: ['192.168.1.0/24'] }
      : mode === 'mark'
        ? { mode, uids: ['1000'], mark: 0x2a, exclude: ['192.168.1.0/24'] }
        : mode === 'connmark'
          ? { mode, mark: 0x2b }
          : { mode };
  return {
    role: 'backend',
    netns: ns,
    tunnel: {
      interface: wg,
      addresses: ['10.0.0.2/24', 'fd00::2/64'],
      privateKey: keys.backendPrivate,
      peer: { publicKey: keys.frontendPublic, presharedKey: keys.psk, endpoint: '203.0.113.2:51820', persistentKeepalive: 25 },
    },
    returnPath,
    services: [
      { protocol: 'tcp', port: 9735 },
      { protocol: 'tcp+udp', port: '18000-18003' },
      { protocol: 'udp', port: '60000-60010' },
    ],
  };
}

/**
 * Removes a namespace and the WireGuard interfaces netfwd made in it. A
 * userspace daemon keeps its namespace alive, so the links go first (the
 * daemon exits when its TUN link is deleted and removes its UAPI socket); a
 * daemon of one of these names that still runs after that is stopped by PID.
 */
export async function removeNetns(name: string, wgNames: readonly string[] = []): Promise<void> {
  if (!name) return;
  if (netns.exists(name)) {
    for (const wg of wgNames) spawnSync(toolPath('ip'), ['-n', name, 'link', 'del', wg], { stdio: 'ignore' });
  }
  for (const wg of wgNames) await stopDaemon(wg);
  if (netns.exists(name)) netns.remove(name);
}

/** PIDs of `wireguard-go` processes serving interface `name` (names are unique to these tests). */
export function daemonPids(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (/wireguard-go$/.test(argv[0] ?? '') && argv.includes(name)) pids.push(Number(entry));
  }
  return pids;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Waits for the daemon of `name` to exit after its link went; stops it by PID if it does not. */
export async function stopDaemon(name: string): Promise<void> {
  for (let i = 0; i < 50 && daemonPids(name).length > 0; i++) await sleep(100);
  for (const pid of daemonPids(name)) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* gone */
    }
  }
  for (let i = 0; i < 50 && daemonPids(name).length > 0; i++) await sleep(100);
  rmSync(`/var/run/wireguard/${name}.sock`, { force: true });
}

/** `tool args...` inside the namespace; stdout, or '' with `allowFail` when it fails. */
export function inNetns(ns: string, cmd: string, args: string[], options: { allowFail?: boolean; input?: string } = {}): string {
  const r = spawnSync(toolPath('ip'), ['netns', 'exec', ns, toolPath(cmd), ...args], {
    encoding: 'utf8',
    input: options.input,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) {
    if (options.allowFail) return '';
    throw new Error(`${cmd} ${args.join(' ')} in ${ns} failed (${r.status}): ${r.stderr}`);
  }
  return r.stdout;
}

/**
 * The ruleset with set elements in canonical order (a set is unordered; a hash
 * set lists re-added elements in another order) and without handles: handles
 * name objects, the kernel hands out new ones when an undo creates an object
 * again, and they are not part of what the ruleset does.
 */
function canonicalNft(text: string): string {
  const parsed = JSON.parse(text) as { nftables: Array<Record<string, { elem?: unknown[]; handle?: number }>> };
  for (const item of parsed.nftables) {
    for (const v of Object.values(item)) {
      if (!v || typeof v !== 'object') continue;
      delete v.handle;
      if (Array.isArray(v.elem))
        v.elem = v.elem
          .map((e) => JSON.stringify(e))
          .sort()
          .map((e) => JSON.parse(e) as unknown);
    }
  }
  return JSON.stringify(parsed, null, 1);
}

/**
 * `wg show NAME dump` with the peers in canonical order and the counters that
 * move by themselves (handshake time, bytes) left out: wireguard-go lists
 * peers in map order.
 */
function canonicalWg(text: string): string {
  const lines = text.trim().split('\n');
  if (lines.length === 0 || lines[0] === '') return '';
  const [iface, ...peers] = lines;
  const stable = peers.map((l) => {
    const f = l.split('\t');
    // public-key preshared-key endpoint allowed-ips latest-handshake rx tx keepalive
    return [f[0], f[1], f[2], (f[3] ?? '').split(',').sort().join(','), f[7]].join('\t');
  });
  return [iface, ...stable.sort()].join('\n');
}

/**
 * IPv6 routes without the kernel's subnet-router anycast routes (table local,
 * protocol kernel): the kernel adds one when an address of the link becomes
 * usable and removes it when the link goes down, but the two race when a link
 * goes up and down again at once (keep_addr_on_down), so whether one is left
 * says nothing about netfwd. The addresses themselves are compared in `addr`.
 */
function withoutKernelAnycast(json: string): string {
  const routes = JSON.parse(json) as Array<{ type?: string; table?: string; protocol?: string }>;
  return JSON.stringify(routes.filter((r) => !(r.type === 'anycast' && r.table === 'local' && r.protocol === 'kernel')));
}

export interface Snapshot {
  [what: string]: string;
}

/**
 * Everything an apply can change in a namespace, as the real tools print it:
 * links, addresses, routes of every table, rules (both families), the whole
 * nftables ruleset, the sysctls netfwd writes, the WireGuard devices' dumps
 * and whether their UAPI sockets exist.
 */
export function snapshot(ns: string, wgNames: readonly string[] = []): Snapshot {
  const ip = (...args: string[]) => run('ip', ['-n', ns, '-j', '-d', ...args]);
  const out: Snapshot = {
    link: ip('link', 'show'),
    addr: ip('addr', 'show'),
    route4: ip('-4', 'route', 'show', 'table', 'all'),
    route6: withoutKernelAnycast(ip('-6', 'route', 'show', 'table', 'all')),
    rule4: ip('-4', 'rule', 'show'),
    rule6: ip('-6', 'rule', 'show'),
    nft: canonicalNft(inNetns(ns, 'nft', ['-j', 'list', 'ruleset'])),
  };
  const sysctls = ['net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding'];
  for (const name of wgNames)
    sysctls.push(`net/ipv4/conf/${name}/rp_filter`, `net/ipv4/conf/${name}/promote_secondaries`, `net/ipv6/conf/${name}/keep_addr_on_down`);
  for (const key of sysctls) {
    let value: string;
    try {
      value = netns.sysctl(ns, key);
    } catch {
      value = '(absent)';
    }
    out[`sysctl ${key}`] = value;
  }
  for (const name of wgNames) {
    const state = `${process.env.NETFWD_STATE_DIR ?? '/run/netfwd/state'}/${ns}/${name}.json`;
    out[`state file ${name}`] = existsSync(state) ? readFileSync(state, 'utf8') : '(none)';
    out[`wg ${name}`] = canonicalWg(inNetns(ns, 'wg', ['show', name, 'dump'], { allowFail: true }));
    out[`uapi ${name}`] = existsSync(`/var/run/wireguard/${name}.sock`) ? 'socket' : 'none';
  }
  return out;
}

/** The parts of two snapshots that differ (for JSON lists: the items only one side has), for a readable failure. */
export function snapshotDiff(a: Snapshot, b: Snapshot): string {
  const lines: string[] = [];
  const items = (text: string | undefined): string[] | undefined => {
    try {
      const v = JSON.parse(text ?? '') as unknown;
      if (Array.isArray(v)) return v.map((x) => JSON.stringify(x));
      const list = (v as { nftables?: unknown[] }).nftables;
      return Array.isArray(list) ? list.map((x) => JSON.stringify(x)) : undefined;
    } catch {
      return undefined;
    }
  };
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (a[k] === b[k]) continue;
    const x = items(a[k]);
    const y = items(b[k]);
    if (x && y) {
      const gone = x.filter((i) => !y.includes(i));
      const added = y.filter((i) => !x.includes(i));
      lines.push(
        `${k}:${gone.map((i) => `\n  - ${i}`).join('')}${added.map((i) => `\n  + ${i}`).join('')}${gone.length + added.length === 0 ? ' (same items, other order)' : ''}`,
      );
    } else lines.push(`${k}:\n  - ${a[k]}\n  + ${b[k]}`);
  }
  return lines.join('\n');
}

/** Sorted duplicates in a list of strings. */
export function duplicates(items: readonly string[]): string[] {
  const seen = new Set<string>();
  const dup = new Set<string>();
  for (const i of items) (seen.has(i) ? dup : seen).add(i);
  return [...dup].sort();
}

interface NftJson {
  nftables: Array<{
    rule?: { family: string; table: string; chain: string; expr: unknown[] };
    set?: { family: string; table: string; name: string; elem?: unknown[] };
    map?: { family: string; table: string; name: string; elem?: unknown[] };
    table?: { family: string; name: string };
    chain?: { family: string; table: string; name: string };
  }>;
}

/**
 * Objects that appear twice in a namespace: nftables tables, chains, rules of
 * one chain, set and map elements; routes of all tables; rules.
 */
export function duplicateObjects(ns: string): string[] {
  const nft = JSON.parse(inNetns(ns, 'nft', ['-j', 'list', 'ruleset'])) as NftJson;
  const found: string[] = [];
  const tables: string[] = [];
  const chains: string[] = [];
  const rules: string[] = [];
  for (const o of nft.nftables) {
    if (o.table) tables.push(`${o.table.family} ${o.table.name}`);
    if (o.chain) chains.push(`${o.chain.family} ${o.chain.table} ${o.chain.name}`);
    if (o.rule) rules.push(`${o.rule.family} ${o.rule.table} ${o.rule.chain} ${JSON.stringify(o.rule.expr)}`);
    const s = o.set ?? o.map;
    if (s?.elem) found.push(...duplicates(s.elem.map((e) => JSON.stringify(e))).map((e) => `element ${e} of ${s.table} ${s.name}`));
  }
  found.push(
    ...duplicates(tables).map((x) => `nft table ${x}`),
    ...duplicates(chains).map((x) => `nft chain ${x}`),
    ...duplicates(rules).map((x) => `nft rule ${x}`),
  );
  for (const fam of ['-4', '-6']) {
    const routes = JSON.parse(run('ip', ['-n', ns, '-j', fam, 'route', 'show', 'table', 'all'])) as Record<string, unknown>[];
    found.push(...duplicates(routes.map((r) => JSON.stringify(r))).map((r) => `route ${r}`));
    const ipRules = JSON.parse(run('ip', ['-n', ns, '-j', fam, 'rule', 'show'])) as Record<string, unknown>[];
    // The same selector twice (priorities included): the kernel allows it, netfwd must not do it.
    found.push(...duplicates(ipRules.map((r) => JSON.stringify(r))).map((r) => `rule ${r}`));
  }
  return found;
}

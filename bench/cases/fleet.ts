/**
 * Plans at fleet scale (issue 19 part 3): a frontend serving N backends (peers)
 * with 10 forwards each, on wireguard-go. First apply (in-process and `netfwd
 * up`), reconcile with nothing to change (zero writes), and the failover of one
 * backend's 10 forwards to another backend (one nftables transaction touching
 * only those elements). For scale, the tools loading what netfwd installed:
 * `nft -f` of its table as `nft list table` prints it, `wg setconf` of its
 * peers as `wg showconf` prints them, and the three steps a script would run.
 *
 * The frontend is applied once per size (untimed, in the harness); the
 * first-apply contenders each get a fresh namespace of their own, reconcile
 * leaves the state as found, and failover is undone after each run (untimed,
 * checked).
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forwardService } from '../../src/forward/index.js';
import type { FrontendSpec } from '../../src/forward/spec/spec.js';
import type { BenchCase, Measurement } from '../lib/harness.js';
import { removeNetns, scratchNetns } from '../lib/harness.js';
import { measureProcess } from '../lib/measure.js';
import { cliPath, killDaemons, netfwdEnv, runSubject } from '../lib/netfwd.js';
import { keyPair, wgMissing } from './wireguard.js';

/** Forwards per backend. */
export const FORWARDS_PER_PEER = 10;
const PUBLIC_ADDRESS = '203.0.113.2';

interface Ctx {
  ns: string;
  dir: string;
  name: string;
  table: string;
  spec: FrontendSpec;
  /** The failover: peer names and addresses, and the victim's forwards as `"proto",port]` key tails. */
  victim: { name: string; address: string };
  next: { name: string; address: string };
  victimKeys: string[];
  /** Tool inputs dumped from netfwd's state: `nft list table`, `wg showconf`. */
  nftFile: string;
  wgFile: string;
}

const peerName = (i: number) => `b${i}`;
/** Backend i's tunnel addresses: 10.0.(1+i/250).(1+i%250) and fd00::(1+i/250):(1+i%250), in 10.0.0.0/16 and fd00::/64. */
const peerV4 = (i: number) => `10.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`;
const peerV6 = (i: number) => `fd00::${(1 + Math.floor(i / 250)).toString(16)}:${(1 + (i % 250)).toString(16)}`;
/** Forward k (peer k/10): tcp for even k, udp for odd; public ports 10000… (each number once per protocol). */
const fwProtocol = (k: number) => (k % 2 ? 'udp' : 'tcp');
const fwPort = (k: number) => 10000 + Math.floor(k / 2);

const keyCache = new Map<number, { own: { privateKey: string; publicKey: string }; peers: string[] }>();

function keysFor(peers: number) {
  let got = keyCache.get(peers);
  if (!got) {
    got = { own: keyPair(), peers: Array.from({ length: peers }, () => keyPair().publicKey) };
    keyCache.set(peers, got);
  }
  return got;
}

/** The fleet frontend: N peers, 10 forwards each (N × 10 forwards), one public IPv4 address. */
export function fleetSpec(ns: string, name: string, peers: number): FrontendSpec {
  const keys = keysFor(peers);
  return {
    role: 'frontend',
    netns: ns,
    tunnel: {
      interface: name,
      addresses: ['10.0.0.1/16', 'fd00::1/64'],
      listenPort: 51820,
      privateKey: keys.own.privateKey,
      peers: Array.from({ length: peers }, (_, i) => ({
        name: peerName(i),
        publicKey: keys.peers[i]!,
        addresses: [peerV4(i), peerV6(i)],
      })),
    },
    public: { addresses: [PUBLIC_ADDRESS] },
    forwards: Array.from({ length: peers * FORWARDS_PER_PEER }, (_, k) => ({
      protocol: fwProtocol(k),
      port: fwPort(k),
      // Two targets each: the forward's own backend, then the next one (balance failover, the default).
      to: [
        { peer: peerName(Math.floor(k / FORWARDS_PER_PEER)), port: 8000 + (k % FORWARDS_PER_PEER) },
        { peer: peerName((Math.floor(k / FORWARDS_PER_PEER) + 1) % peers), port: 8000 + (k % FORWARDS_PER_PEER) },
      ],
    })),
  };
}

const ifName = () => `nfbf${randomBytes(4).toString('hex')}`;
const inNs = (ns: string, cmd: string[]) =>
  execFileSync('nsenter', [`--net=/run/netns/${ns}`, ...cmd], { encoding: 'utf8', maxBuffer: 1 << 30 });

function netfwdTable(ns: string): string {
  const tables = inNs(ns, ['nft', 'list', 'tables']).trim().split('\n');
  const mine = tables.find((t) => t.startsWith('table inet netfwd'));
  if (!mine) throw new Error(`no netfwd table in ${ns}: ${tables.join('; ')}`);
  return mine.split(' ').pop()!;
}

/** Every element of netfwd's table, as `set<TAB>element` JSON without counters. */
function elementSet(ns: string, table: string): Set<string> {
  const out = new Set<string>();
  const listed = JSON.parse(inNs(ns, ['nft', '-j', 'list', 'table', 'inet', table])) as {
    nftables: Array<{ set?: { name: string; elem?: unknown[] }; map?: { name: string; elem?: unknown[] } }>;
  };
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ('elem' in o && o.elem && typeof o.elem === 'object' && 'val' in (o.elem as object))
        return strip((o.elem as { val: unknown }).val);
      return Object.fromEntries(
        Object.entries(o)
          .filter(([k]) => k !== 'counter')
          .map(([k, x]) => [k, strip(x)]),
      );
    }
    return v;
  };
  for (const item of listed.nftables) {
    const s = item.set ?? item.map;
    if (!s) continue;
    for (const el of s.elem ?? []) out.add(`${s.name}\t${JSON.stringify(strip(el))}`);
  }
  return out;
}

/** A fresh namespace for a first apply; its daemon and namespace go after the run. */
async function withFreshFrontend<T>(ctx: Ctx, size: number, fn: (specFile: string, ns: string, name: string) => Promise<T>): Promise<T> {
  const ns = scratchNetns();
  const name = ifName();
  const specFile = join(ctx.dir, `first-${name}.json`);
  try {
    writeFileSync(specFile, JSON.stringify(fleetSpec(ns, name, size)), { mode: 0o600 });
    return await fn(specFile, ns, name);
  } finally {
    killDaemons([name]);
    removeNetns(ns);
    rmSync(specFile, { force: true });
  }
}

async function startDaemon(ns: string, name: string): Promise<void> {
  execFileSync('nsenter', [`--net=/run/netns/${ns}`, 'wireguard-go', name], { stdio: 'ignore' });
}

function cliJson(stdout: string): { netlinkWrites: number } {
  return JSON.parse(stdout.slice(stdout.indexOf('{')));
}

export function fleetCase(sizes: number[]): BenchCase<Ctx> {
  return {
    id: 'fleet',
    title: `ServiceForward frontend serving N backends with ${FORWARDS_PER_PEER} forwards each (wireguard-go): apply, reconcile, failover`,
    unit: 'peer',
    sizes,
    reuseSetup: true,
    async setup(size) {
      const ns = scratchNetns();
      const dir = mkdtempSync(join(tmpdir(), 'nfb-'));
      chmodSync(dir, 0o700);
      const name = ifName();
      const spec = fleetSpec(ns, name, size);
      writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec), { mode: 0o600 });
      try {
        const r = await forwardService(spec, { implementation: 'userspace' }).apply();
        if (r.plan.empty) throw new Error('the first apply of the fleet changed nothing');
        const table = netfwdTable(ns);
        const nftFile = join(dir, 'ruleset.nft');
        writeFileSync(nftFile, inNs(ns, ['nft', 'list', 'table', 'inet', table]));
        const wgFile = join(dir, 'wg.conf');
        writeFileSync(wgFile, inNs(ns, ['wg', 'showconf', name]), { mode: 0o600 });
        const v = Math.floor(size / 2);
        const n = (v + 1) % size;
        const victimKeys: string[] = [];
        for (let k = v * FORWARDS_PER_PEER; k < (v + 1) * FORWARDS_PER_PEER; k++) victimKeys.push(`"${fwProtocol(k)}",${fwPort(k)}]`);
        return {
          ns,
          dir,
          name,
          table,
          spec,
          victim: { name: peerName(v), address: peerV4(v) },
          next: { name: peerName(n), address: peerV4(n) },
          victimKeys,
          nftFile,
          wgFile,
        };
      } catch (err) {
        killDaemons([name]);
        removeNetns(ns);
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    },
    async teardown(ctx) {
      killDaemons([ctx.name]);
      removeNetns(ctx.ns);
      rmSync(ctx.dir, { recursive: true, force: true });
    },
    contenders: [
      {
        name: 'netfwd apply, first',
        timed:
          'in its node process: forwardService(spec).apply() into a fresh namespace: wireguard-go started, N peers, addresses, the nftables table with N × 10 forwards, sysctls (import and start-up excluded)',
        unavailable: wgMissing,
        run: (ctx, size) =>
          withFreshFrontend(ctx, size, (file) => runSubject('netfwd-fleet', ['apply', file], ['validateMs', 'writes', 'changes'])),
      },
      {
        name: 'netfwd up, first (process)',
        timed: 'the whole `netfwd up -c FILE --json` process into a fresh namespace',
        unavailable: wgMissing,
        run: (ctx, size) =>
          withFreshFrontend(ctx, size, async (file): Promise<Measurement> => {
            const r = await measureProcess(process.execPath, [cliPath(), 'up', '-c', file, '--implementation', 'userspace', '--json'], {
              env: netfwdEnv(),
            });
            return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs, extra: { writes: cliJson(r.stdout).netlinkWrites } };
          }),
      },
      {
        name: 'tools: wireguard-go + wg setconf + nft -f',
        timed:
          "one bash script in a fresh namespace: `wireguard-go NAME`, `wg setconf` of netfwd's peers (`wg showconf`), `nft -f` of netfwd's table (`nft list table`); no addresses or sysctls",
        unavailable: wgMissing,
        async run(ctx) {
          const ns = scratchNetns();
          const name = ifName();
          try {
            const script = `set -e\nwireguard-go ${name}\nwg setconf ${name} ${ctx.wgFile}\nnft -f ${ctx.nftFile}\n`;
            const r = await measureProcess('nsenter', [`--net=/run/netns/${ns}`, '/bin/bash', '-c', script]);
            return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs };
          } finally {
            killDaemons([name]);
            removeNetns(ns);
          }
        },
      },
      {
        name: "nft -f (netfwd's table)",
        timed: "the whole `nsenter --net=NS nft -f FILE` process loading `nft list table` of netfwd's table into a fresh namespace",
        unavailable: wgMissing,
        async run(ctx) {
          const ns = scratchNetns();
          try {
            const r = await measureProcess('nsenter', [`--net=/run/netns/${ns}`, 'nft', '-f', ctx.nftFile]);
            return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs };
          } finally {
            removeNetns(ns);
          }
        },
      },
      {
        name: "wg setconf (netfwd's peers)",
        timed:
          "the whole `wg setconf NAME FILE` process (`wg showconf` of netfwd's interface) onto a fresh wireguard-go (started before, untimed)",
        unavailable: wgMissing,
        async run(ctx) {
          const ns = scratchNetns();
          const name = ifName();
          try {
            await startDaemon(ns, name);
            const r = await measureProcess('nsenter', [`--net=/run/netns/${ns}`, 'wg', 'setconf', name, ctx.wgFile]);
            return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs };
          } finally {
            killDaemons([name]);
            removeNetns(ns);
          }
        },
      },
      {
        name: 'netfwd apply, no change',
        timed:
          "in its node process: forwardService(spec).apply() on the applied frontend — dump links, addresses, routes, the nft table with its elements, the daemon's peers; diff; no writes",
        unavailable: wgMissing,
        run: (ctx) =>
          runSubject('netfwd-fleet', ['reconcile', join(ctx.dir, 'spec.json')], ['validateMs', 'writes', 'changes', 'nftTransactions']),
      },
      {
        name: 'netfwd up, no change (process)',
        timed: 'the whole `netfwd up -c FILE --json` process on the applied frontend',
        unavailable: wgMissing,
        async run(ctx) {
          const r = await measureProcess(
            process.execPath,
            [cliPath(), 'up', '-c', join(ctx.dir, 'spec.json'), '--implementation', 'userspace', '--json'],
            { env: netfwdEnv() },
          );
          return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs, extra: { writes: cliJson(r.stdout).netlinkWrites } };
        },
      },
      {
        name: 'netfwd failover, one backend (10 forwards)',
        timed:
          'in its node process: from "the target is found down" (the call) to "the map updated" (apply() resolved): validate, read the state, diff, one transaction (see bench/subjects/netfwd-fleet.mjs failover())',
        unavailable: wgMissing,
        async run(ctx) {
          const before = elementSet(ctx.ns, ctx.table);
          const m = await runSubject(
            'netfwd-fleet',
            ['failover', join(ctx.dir, 'spec.json'), ctx.victim.name, ctx.next.name],
            ['validateMs', 'writes', 'changes', 'nftSteps', 'nftTransactions'],
          );
          const after = elementSet(ctx.ns, ctx.table);
          // What the failover touched: elements gone and elements new. Each must name the victim
          // (its old elements) or the new target with one of the victim's public ports.
          const touched = [...before].filter((e) => !after.has(e)).concat([...after].filter((e) => !before.has(e)));
          const ours = (e: string) =>
            e.includes(`"${ctx.victim.address}"`) || (e.includes(`"${ctx.next.address}"`) && ctx.victimKeys.some((k) => e.includes(k)));
          const foreign = touched.filter((e) => !ours(e)).length;
          const moved = [...after].filter((e) => e.includes(`"${ctx.next.address}"`) && ctx.victimKeys.some((k) => e.includes(k))).length;
          // Back to the spec (untimed), and checked: the next run starts from the same state.
          // (Without measurements a plan keeps what the maps point at: the victim is said to be healthy again.)
          const back = await forwardService(ctx.spec, { implementation: 'userspace' }).apply({ health: { downTargets: new Set() } });
          const restored = elementSet(ctx.ns, ctx.table);
          const same = restored.size === before.size && [...before].every((e) => restored.has(e));
          if (!same) throw new Error(`restoring the spec after the failover left ${ctx.table} different (${back.netlinkWrites} writes)`);
          const tx = m.extra?.nftTransactions ?? NaN;
          // 0 when the failover was one transaction, moved all 10 forwards and touched nothing else.
          const faults = (tx === 1 ? 0 : 1) + foreign + Math.abs(FORWARDS_PER_PEER - moved);
          return { ...m, extra: { ...m.extra, elementsTouched: touched.length, foreign, moved, faults } };
        },
      },
    ],
    targets: [
      { subject: 'netfwd apply, no change', extra: { key: 'writes', max: 0 }, check: true, note: 'reconcile: zero writes' },
      {
        subject: 'netfwd up, no change (process)',
        extra: { key: 'writes', max: 0 },
        check: true,
        note: 'reconcile through the CLI: zero writes',
      },
      {
        subject: 'netfwd failover, one backend (10 forwards)',
        extra: { key: 'faults', max: 0 },
        check: true,
        note: 'failover: one nftables transaction, the 10 forwards moved, no other element touched',
      },
    ],
  };
}

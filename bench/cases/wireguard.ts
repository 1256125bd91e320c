/**
 * WireGuard peers: N peers onto a wireguard-go interface (the kernel here has
 * no WireGuard), netfwd's WireGuard.configure vs `wg setconf` of the same
 * configuration. Every run starts from a fresh daemon with no peers.
 *
 * `wireguard-kernel`: the same onto a kernel WireGuard link (netfwd over
 * generic netlink, wg setconf over generic netlink), where the kernel has
 * WireGuard: in the kernel lane's guests (`npm run test:kernel -- --kernel
 * 6.12 --bench 'wireguard-kernel --runs 5'`).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generatePrivateKey } from '../../src/wireguard/curve25519.js';
import type { BenchCase } from '../lib/harness.js';
import { removeNetns, scratchNetns } from '../lib/harness.js';
import { measureProcess } from '../lib/measure.js';
import { killDaemons, runSubject } from '../lib/netfwd.js';

interface Ctx {
  ns: string;
  dir: string;
  name: string;
  daemon: ChildProcess;
}

export function wgMissing(): string | undefined {
  for (const tool of ['wireguard-go', 'wg']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `${tool} is not installed (apt-get install wireguard-go wireguard-tools)`;
    }
  }
  return undefined;
}

/**
 * A real X25519 key pair, base64 as wg prints it. Not generateKeyPairSync +
 * a JWK export: on Node 20.20 that deadlocks once a garbage collection during
 * the export frees the key's generation job (seen at ~10 000 keys).
 */
export function keyPair(): { privateKey: string; publicKey: string } {
  const priv = generatePrivateKey();
  return { privateKey: priv.toBase64(), publicKey: priv.publicKey() };
}

const inputs = new Map<number, { json: string; conf: string }>();

function inputFor(n: number): { json: string; conf: string } {
  let got = inputs.get(n);
  if (got) return got;
  const own = keyPair();
  const peers = Array.from({ length: n }, (_, i) => ({
    publicKey: keyPair().publicKey,
    endpoint: `198.51.100.${(i % 250) + 1}:${10000 + (i % 50000)}`,
    persistentKeepalive: 25,
    allowedIps: [`10.${(i >> 8) & 255}.${i & 255}.0/30`],
  }));
  let conf = `[Interface]\nPrivateKey = ${own.privateKey}\nListenPort = 51820\n`;
  for (const p of peers)
    conf += `\n[Peer]\nPublicKey = ${p.publicKey}\nEndpoint = ${p.endpoint}\nPersistentKeepalive = 25\nAllowedIPs = ${p.allowedIps.join(', ')}\n`;
  got = { json: JSON.stringify({ privateKey: own.privateKey, listenPort: 51820, peers }), conf };
  inputs.set(n, got);
  return got;
}

async function waitFor(path: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A scratch directory with the peers of size N as netfwd's JSON and as wg's configuration file. */
function inputFiles(size: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'nfb-'));
  const input = inputFor(size);
  writeFileSync(join(dir, 'peers.json'), input.json, { mode: 0o600 });
  writeFileSync(join(dir, 'wg.conf'), input.conf, { mode: 0o600 });
  return dir;
}

/** The `wg setconf` contender, whole process, for either kind of interface. */
function wgSetconf(unavailable: () => string | undefined): BenchCase<{ ns: string; dir: string; name: string }>['contenders'][number] {
  return {
    name: 'wg setconf',
    timed: 'the whole `nsenter --net=NS wg setconf NAME FILE` process',
    unavailable,
    async run(ctx) {
      const r = await measureProcess('nsenter', [`--net=/run/netns/${ctx.ns}`, 'wg', 'setconf', ctx.name, join(ctx.dir, 'wg.conf')]);
      return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs };
    },
  };
}

let kernelProbe: string | undefined | null = null;

/** Why kernel WireGuard links cannot be made here, or undefined when they can (tried once, in a scratch namespace). */
export function kernelWgMissing(): string | undefined {
  if (kernelProbe !== null) return kernelProbe;
  const missing = wgMissing();
  if (missing) return (kernelProbe = missing);
  const ns = scratchNetns();
  try {
    execFileSync('ip', ['-n', ns, 'link', 'add', 'nfbprobe', 'type', 'wireguard'], { stdio: 'pipe' });
    kernelProbe = undefined;
  } catch {
    kernelProbe =
      "this kernel has no WireGuard (run it in the kernel lane: npm run test:kernel -- --kernel 6.12 --bench 'wireguard-kernel')";
  } finally {
    removeNetns(ns);
  }
  return kernelProbe;
}

interface KernelCtx {
  ns: string;
  dir: string;
  name: string;
}

export function wireguardKernelCase(sizes: number[]): BenchCase<KernelCtx> {
  return {
    id: 'wireguard-kernel',
    title: 'WireGuard: N peers onto a kernel WireGuard link (generic netlink; replacing all, as wg setconf)',
    unit: 'peer',
    sizes,
    async setup(size) {
      const dir = inputFiles(size);
      const ns = scratchNetns();
      const name = `nfbk${randomBytes(4).toString('hex')}`;
      execFileSync('ip', ['-n', ns, 'link', 'add', name, 'type', 'wireguard']);
      return { ns, dir, name };
    },
    async teardown(ctx) {
      removeNetns(ctx.ns);
      rmSync(ctx.dir, { recursive: true, force: true });
    },
    contenders: [
      {
        name: 'netfwd configure',
        timed:
          'in its node process: WireGuard.open + configure over generic netlink (the JSON input is read before; import and start-up excluded; no warm repetition: the kernel removes peers one RCU grace period each)',
        run: (ctx) => runSubject('netfwd-wg', [ctx.ns, ctx.name, join(ctx.dir, 'peers.json'), 'kernel']),
        unavailable: kernelWgMissing,
      },
      wgSetconf(kernelWgMissing),
    ],
    targets: [
      {
        subject: 'netfwd configure',
        baseline: 'wg setconf',
        maxRatio: 1.0,
        sizes: sizes.filter((s) => s >= 10000),
        note: '10 000 peers ≤ 1.0× wg setconf',
      },
    ],
  };
}

export function wireguardCase(sizes: number[]): BenchCase<Ctx> {
  return {
    id: 'wireguard',
    title: 'WireGuard: N peers onto a wireguard-go interface (replacing all, as wg setconf)',
    unit: 'peer',
    sizes,
    async setup(size) {
      const dir = inputFiles(size);
      const ns = scratchNetns();
      const name = `nfbw${randomBytes(4).toString('hex')}`;
      const daemon = spawn('ip', ['netns', 'exec', ns, 'wireguard-go', '-f', name], { stdio: 'ignore' });
      await waitFor(`/var/run/wireguard/${name}.sock`, 10000);
      return { ns, dir, name, daemon };
    },
    async teardown(ctx) {
      ctx.daemon.kill('SIGTERM');
      killDaemons([ctx.name]);
      removeNetns(ctx.ns);
      rmSync(ctx.dir, { recursive: true, force: true });
    },
    contenders: [
      {
        name: 'netfwd configure',
        timed:
          'in its node process: WireGuard.open + configure over the UAPI socket (the JSON input is read before; import and start-up excluded); warmMs: the same configuration repeated in that process',
        run: (ctx) => runSubject('netfwd-wg', [ctx.ns, ctx.name, join(ctx.dir, 'peers.json')], ['warmMs']),
        unavailable: wgMissing,
      },
      wgSetconf(wgMissing),
    ],
    targets: [
      {
        subject: 'netfwd configure',
        baseline: 'wg setconf',
        maxRatio: 1.0,
        sizes: sizes.filter((s) => s >= 10000),
        note: '10 000 peers ≤ 1.0× wg setconf',
      },
    ],
  };
}

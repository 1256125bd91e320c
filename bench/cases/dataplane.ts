/**
 * Data plane: client → frontend → server namespaces joined by veth (no
 * tunnel), the frontend holding netfwd's frontend ruleset with 1 or N
 * forwards (its DNAT map, its per-forward stats set in the forward hook, MSS
 * clamping, masquerade). The forwards' backend address is the server's
 * (a documentation address) instead of a tunnel address, so only the NAT and
 * lookup cost is measured. New connections per second (many short TCP
 * connections) and throughput (one long TCP transfer), each as the time of a
 * fixed amount of traffic.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { desiredNftables } from '../../src/forward/plan/nftables-desired.js';
import { LINK_LOCAL } from '../../src/forward/plan/uplink.js';
import { validateSpec } from '../../src/forward/spec/validate/index.js';
import { Nft, type NftElement } from '../../src/nft/index.js';
import type { BenchCase, Contender, Measurement } from '../lib/harness.js';
import { measureProcess } from '../lib/measure.js';
import { benchDir } from '../lib/peers.js';
import { frontendSpec } from './reconcile.js';
import { keyPair } from './wireguard.js';

interface Ctx {
  client: string;
  frontend: string;
  server: string;
  serverProcess?: ChildProcess;
}

const PUBLIC = '203.0.113.2';
const SERVER = '192.0.2.2';
/** The largest ruleset: 10 000 forwards. */
const MANY = 10000;
/** The forward the traffic uses: in the middle of the large map, the only one of the small. */
const PORT = 1024 + MANY / 2;

function ipIn(ns: string, args: string[]): void {
  execFileSync('ip', ['-n', ns, ...args]);
}

function topology(): Ctx {
  const tag = `${process.pid.toString(36)}${randomBytes(2).toString('hex')}`;
  const ctx = { client: `nfbdc-${tag}`, frontend: `nfbdf-${tag}`, server: `nfbds-${tag}` };
  for (const ns of Object.values(ctx)) {
    execFileSync('ip', ['netns', 'add', ns]);
    ipIn(ns, ['link', 'set', 'lo', 'up']);
  }
  // client eth0 198.51.100.2 — 198.51.100.1 frontend eth0 (public 203.0.113.2) | frontend eth1 192.0.2.1 — 192.0.2.2 server eth0
  ipIn(ctx.frontend, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ctx.client]);
  ipIn(ctx.frontend, ['link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ctx.server]);
  ipIn(ctx.frontend, ['address', 'add', '198.51.100.1/24', 'dev', 'eth0']);
  ipIn(ctx.frontend, ['address', 'add', `${PUBLIC}/32`, 'dev', 'lo']);
  ipIn(ctx.frontend, ['address', 'add', '192.0.2.1/24', 'dev', 'eth1']);
  ipIn(ctx.client, ['address', 'add', '198.51.100.2/24', 'dev', 'eth0']);
  ipIn(ctx.server, ['address', 'add', `${SERVER}/24`, 'dev', 'eth0']);
  for (const [ns, dev] of [
    [ctx.frontend, 'eth0'],
    [ctx.frontend, 'eth1'],
    [ctx.client, 'eth0'],
    [ctx.server, 'eth0'],
  ] as const)
    ipIn(ns, ['link', 'set', dev, 'up']);
  ipIn(ctx.client, ['route', 'add', 'default', 'via', '198.51.100.1']);
  ipIn(ctx.server, ['route', 'add', 'default', 'via', '192.0.2.1']);
  execFileSync('ip', ['netns', 'exec', ctx.frontend, 'sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
  return ctx;
}

/** netfwd's frontend ruleset for `n` forwards (ports around PORT), its backend address swapped for the server's. */
/**
 * Variants for diagnosis: 'netfwd' is the ruleset as netfwd makes it; 'no-stats'
 * drops the two forward-hook rules that look up the per-forward stats set on
 * every packet; 'hash-stats' keeps them with the stats set as a hash set
 * (no interval flag: possible when no forward has a port range).
 */
type Variant = 'netfwd' | 'no-stats' | 'hash-stats';

async function installRuleset(ns: string, n: number, variant: Variant): Promise<void> {
  const keys = keyPair();
  const spec = frontendSpec(ns, 'wg0', n, keys.privateKey, keyPair().publicKey);
  spec.forwards = n === 1 ? [{ protocol: 'tcp', port: PORT, to: { peer: 'home' } }] : spec.forwards;
  // No uplink and only the link-local ranges refused: the bench's traffic never touches the tunnel.
  const d = desiredNftables(validateSpec(spec), { uplinks: [], refused: { 4: [LINK_LOCAL[4]], 6: [LINK_LOCAL[6]] } });
  const swap = (v: unknown): unknown => (v === '10.0.0.2' ? SERVER : Array.isArray(v) ? v.map(swap) : v);
  const nft = await Nft.open({ netns: ns });
  try {
    await nft.transaction((tx) => {
      tx.addTable({ family: 'inet', name: d.table });
      for (const s of d.sets) {
        const elements = (d.elements.get(s.name) ?? []).map((el) => ({
          key: swap(el.key),
          ...(el.data !== undefined ? { data: swap(el.data) } : {}),
        }));
        const flags = variant === 'hash-stats' && s.name.startsWith('stats') ? (s.flags ?? []).filter((f) => f !== 'interval') : s.flags;
        tx.addSet({ ...s, flags, ...(elements.length ? { elements: elements as NftElement[] } : {}) });
      }
      for (const c of d.chains) {
        tx.addChain(c.spec);
        for (const expr of c.rules) {
          if (variant === 'no-stats' && JSON.stringify(expr).includes('stats')) continue;
          tx.addRule({ family: 'inet', table: d.table, chain: c.spec.name, expr });
        }
      }
    });
  } finally {
    nft.close();
  }
}

async function startServer(ctx: Ctx, mode: 'conn' | 'sink'): Promise<void> {
  const child = spawn(
    'ip',
    ['netns', 'exec', ctx.server, process.execPath, join(benchDir, 'subjects/traffic-server.mjs'), mode, String(PORT)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  ctx.serverProcess = child;
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`the traffic server exited (${code})`)));
  });
}

function dataplaneCase(kind: 'conn' | 'tput', amount: number): BenchCase<Ctx> {
  const contender = (forwards: number, variant: Variant = 'netfwd'): Contender<Ctx> => ({
    name: `${forwards === 1 ? '1 forward' : `${forwards.toLocaleString('en')} forwards`}${variant === 'no-stats' ? ', no stats rules' : variant === 'hash-stats' ? ', stats as hash set' : ''}`,
    timed:
      kind === 'conn'
        ? `the client's ${amount} connections, 32 at a time (node client start-up excluded)`
        : `one connection sending ${amount} MiB until the server's answer (node client start-up excluded)`,
    async run(ctx): Promise<Measurement> {
      await installRuleset(ctx.frontend, forwards, variant);
      const args = kind === 'conn' ? ['conn', PUBLIC, String(PORT), String(amount), '32'] : ['tput', PUBLIC, String(PORT), String(amount)];
      const r = await measureProcess('ip', [
        'netns',
        'exec',
        ctx.client,
        process.execPath,
        join(benchDir, 'subjects/traffic-client.mjs'),
        ...args,
      ]);
      const rep = r.report!;
      const extra: Record<string, number> =
        kind === 'conn' ? { connectionsPerSecond: rep.perSecond! } : { megabytesPerSecond: rep.megabytesPerSecond! };
      return { ms: rep.opMs!, rssKb: r.rssKb, processMs: r.wallMs, extra };
    },
  });
  return {
    id: kind === 'conn' ? 'dataplane-connections' : 'dataplane-throughput',
    title:
      kind === 'conn'
        ? `data plane: ${amount} new TCP connections through the frontend's DNAT (veth, no tunnel)`
        : `data plane: one TCP transfer of ${amount} MiB through the frontend's DNAT (veth, no tunnel)`,
    unit: kind === 'conn' ? 'connection' : 'MiB',
    sizes: [amount],
    async setup() {
      const ctx = topology();
      try {
        await startServer(ctx, kind === 'conn' ? 'conn' : 'sink');
      } catch (err) {
        await this.teardown(ctx);
        throw err;
      }
      return ctx;
    },
    async teardown(ctx) {
      ctx.serverProcess?.kill('SIGKILL');
      for (const ns of [ctx.client, ctx.frontend, ctx.server]) {
        try {
          execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
        } catch {
          /* gone */
        }
      }
    },
    // The last two are diagnostics (not netfwd's ruleset): where the per-packet cost goes.
    contenders: [contender(1), contender(MANY), contender(MANY, 'no-stats'), contender(MANY, 'hash-stats')],
    targets: [{ subject: contender(MANY).name, baseline: '1 forward', maxRatio: 1.05, note: '10 000 forwards within 5% of 1 forward' }],
  };
}

export const dataplaneConnectionsCase = (connections: number) => dataplaneCase('conn', connections);
export const dataplaneThroughputCase = (mebibytes: number) => dataplaneCase('tput', mebibytes);

/**
 * A frontend holding N forwards, already applied: reconcile with nothing to
 * change (zero writes), one forward more (O(1) writes), and status. The tools'
 * way of reading the same state (`nft -j list table` + `wg show dump`) is
 * shown for scale; nothing does what reconcile does in one step.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forwardService } from '../../src/forward/index.js';
import type { FrontendSpec } from '../../src/forward/spec/spec.js';
import type { BenchCase } from '../lib/harness.js';
import { removeNetns, scratchNetns } from '../lib/harness.js';
import { measureProcess } from '../lib/measure.js';
import { cliPath, killDaemons, netfwdEnv, runSubject } from '../lib/netfwd.js';
import { keyPair, wgMissing } from './wireguard.js';

interface Ctx {
  ns: string;
  dir: string;
  name: string;
  table: string;
}

export function frontendSpec(ns: string, name: string, n: number, privateKey: string, peerKey: string): FrontendSpec {
  return {
    role: 'frontend',
    netns: ns,
    tunnel: {
      interface: name,
      addresses: ['10.0.0.1/24'],
      listenPort: 51820,
      privateKey,
      peers: [{ name: 'home', publicKey: peerKey, addresses: ['10.0.0.2'] }],
    },
    public: { addresses: ['203.0.113.2'] },
    forwards: Array.from({ length: n }, (_, i) => ({ protocol: 'tcp' as const, port: 1024 + i, to: { peer: 'home' } })),
  };
}

function parseCliJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.slice(stdout.indexOf('{')));
}

export function reconcileCase(sizes: number[]): BenchCase<Ctx> {
  return {
    id: 'reconcile',
    title: 'ServiceForward frontend with N forwards already applied: reconcile and status',
    unit: 'forward',
    sizes,
    reuseSetup: true,
    async setup(size) {
      const ns = scratchNetns();
      const dir = mkdtempSync(join(tmpdir(), 'nfb-'));
      chmodSync(dir, 0o700);
      const name = `nfbr${randomBytes(4).toString('hex')}`;
      const own = keyPair();
      const spec = frontendSpec(ns, name, size, own.privateKey, keyPair().publicKey);
      const plusOne = { ...spec, forwards: [...spec.forwards, { protocol: 'udp' as const, port: 53, to: { peer: 'home' } }] };
      writeFileSync(join(dir, 'spec.json'), JSON.stringify(spec), { mode: 0o600 });
      writeFileSync(join(dir, 'plus-one.json'), JSON.stringify(plusOne), { mode: 0o600 });
      await forwardService(spec, { implementation: 'userspace' }).apply();
      const table = execFileSync('nsenter', [`--net=/run/netns/${ns}`, 'nft', 'list', 'tables'], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .pop()!
        .split(' ')
        .pop()!;
      return { ns, dir, name, table };
    },
    async teardown(ctx) {
      killDaemons([ctx.name]);
      removeNetns(ctx.ns);
      rmSync(ctx.dir, { recursive: true, force: true });
    },
    contenders: [
      {
        name: 'netfwd apply, no change',
        timed:
          'in its node process: forwardService(spec).apply() — dump links, addresses, nft table with its elements, wg peers; diff; no writes',
        unavailable: wgMissing,
        run: (ctx) => runSubject('netfwd-reconcile', ['apply', join(ctx.dir, 'spec.json')], ['writes', 'changes']),
      },
      {
        name: 'netfwd up, no change (process)',
        timed: 'the whole `netfwd up -c FILE --json` process',
        unavailable: wgMissing,
        async run(ctx) {
          const r = await measureProcess(
            process.execPath,
            [cliPath(), 'up', '-c', join(ctx.dir, 'spec.json'), '--implementation', 'userspace', '--json'],
            { env: netfwdEnv() },
          );
          const out = parseCliJson(r.stdout) as { netlinkWrites: number };
          return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs, extra: { writes: out.netlinkWrites } };
        },
      },
      {
        name: 'netfwd apply, +1 forward',
        timed: 'in its node process: apply() of the spec with one forward more (restored afterwards, not timed)',
        unavailable: wgMissing,
        run: (ctx) =>
          runSubject(
            'netfwd-reconcile',
            ['apply-one', join(ctx.dir, 'spec.json'), join(ctx.dir, 'plus-one.json')],
            ['writes', 'restoreWrites'],
          ),
      },
      {
        name: 'netfwd status',
        timed: 'in its node process: forwardService(spec).status()',
        unavailable: wgMissing,
        run: (ctx) => runSubject('netfwd-reconcile', ['status', join(ctx.dir, 'spec.json')], ['forwards']),
      },
      {
        name: 'netfwd status (process)',
        timed: 'the whole `netfwd status -c FILE --json` process',
        unavailable: wgMissing,
        async run(ctx) {
          const r = await measureProcess(
            process.execPath,
            [cliPath(), 'status', '-c', join(ctx.dir, 'spec.json'), '--implementation', 'userspace', '--json'],
            { env: netfwdEnv() },
          );
          return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs };
        },
      },
      {
        name: 'nft -j list table + wg show dump',
        timed: 'two whole processes reading the same state with the tools (for scale; they do not diff anything)',
        unavailable: wgMissing,
        async run(ctx) {
          const a = await measureProcess('nsenter', [`--net=/run/netns/${ctx.ns}`, 'nft', '-j', 'list', 'table', 'inet', ctx.table]);
          const b = await measureProcess('nsenter', [`--net=/run/netns/${ctx.ns}`, 'wg', 'show', ctx.name, 'dump']);
          return { ms: a.wallMs + b.wallMs, rssKb: Math.max(a.rssKb, b.rssKb), processMs: a.wallMs + b.wallMs };
        },
      },
    ],
    targets: [
      { subject: 'netfwd apply, no change', extra: { key: 'writes', max: 0 }, note: 'reconcile with nothing to change sends zero writes' },
      { subject: 'netfwd up, no change (process)', extra: { key: 'writes', max: 0 }, note: 'the CLI too' },
      {
        subject: 'netfwd apply, +1 forward',
        extra: { key: 'writes', max: 2 },
        note: 'one forward more: O(1) writes (its DNAT element and its stats element)',
      },
    ],
  };
}

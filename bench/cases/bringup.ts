/**
 * ServiceForward bring-up: a frontend and a backend in lab namespaces, from
 * nothing to configured (wireguard-go tunnel included): netfwd in-process,
 * `netfwd up` as processes, and the seeds' shell recipe of one process per step.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '../../src/lab/index.js';
import type { BenchCase } from '../lib/harness.js';
import { measureProcess } from '../lib/measure.js';
import { cliPath, killDaemons, netfwdEnv, runSubject } from '../lib/netfwd.js';
import { recipeScript, recipeSteps } from '../lib/recipe.js';
import { keyPair, wgMissing } from './wireguard.js';

interface Ctx {
  lab: Lab;
  dir: string;
  names: string[];
  recipe: string;
  steps: number;
}

const PUBLIC_TCP = 80;
const SERVICE_TCP = 8080;
const UDP_PORT = 5353;

export function bringupCase(): BenchCase<Ctx> {
  return {
    id: 'bringup',
    title: 'ServiceForward bring-up: frontend + backend from nothing (tunnel by wireguard-go)',
    unit: 'bring-up',
    sizes: [1],
    async setup() {
      const tag = randomBytes(3).toString('hex');
      const lab = await Lab.create({ prefix: `nfbu-${tag}` });
      const dir = mkdtempSync(join(tmpdir(), 'nfb-'));
      chmodSync(dir, 0o700);
      const fe = keyPair();
      const be = keyPair();
      const psk = randomBytes(32).toString('base64');
      const names = [`nfbf${tag}`, `nfbb${tag}`];
      const frontend = {
        role: 'frontend',
        netns: lab.hosts.frontend.netns,
        tunnel: {
          interface: names[0],
          addresses: ['10.0.0.1/24'],
          listenPort: 51820,
          privateKey: fe.privateKey,
          peers: [{ name: 'home', publicKey: be.publicKey, presharedKey: psk, addresses: ['10.0.0.2'] }],
        },
        public: { addresses: [lab.hosts.frontend.ipv4] },
        forwards: [
          { protocol: 'tcp', port: PUBLIC_TCP, to: { peer: 'home', port: SERVICE_TCP } },
          { protocol: 'udp', port: UDP_PORT, to: { peer: 'home' } },
        ],
      };
      const backend = {
        role: 'backend',
        netns: lab.hosts.backend.netns,
        tunnel: {
          interface: names[1],
          addresses: ['10.0.0.2/24'],
          privateKey: be.privateKey,
          peer: { publicKey: fe.publicKey, presharedKey: psk, endpoint: `${lab.hosts.frontend.ipv4}:51820`, persistentKeepalive: 25 },
        },
        returnPath: { mode: 'uid', uids: ['1000'] },
        services: [
          { protocol: 'tcp', port: SERVICE_TCP },
          { protocol: 'udp', port: UDP_PORT },
        ],
      };
      const write = (f: string, s: string) => writeFileSync(join(dir, f), s, { mode: 0o600 });
      write('frontend.json', JSON.stringify(frontend, null, 2));
      write('backend.json', JSON.stringify(backend, null, 2));
      write('fe.key', `${fe.privateKey}\n`);
      write('be.key', `${be.privateKey}\n`);
      write('psk', `${psk}\n`);
      const recipe = recipeScript({
        frontendNs: lab.hosts.frontend.netns,
        backendNs: lab.hosts.backend.netns,
        frontendIf: names[0]!,
        backendIf: names[1]!,
        frontendKeyFile: join(dir, 'fe.key'),
        backendKeyFile: join(dir, 'be.key'),
        pskFile: join(dir, 'psk'),
        frontendPublicKey: fe.publicKey,
        backendPublicKey: be.publicKey,
        publicAddress: lab.hosts.frontend.ipv4,
        publicTcp: PUBLIC_TCP,
        serviceTcp: SERVICE_TCP,
        udpPort: UDP_PORT,
      });
      write('recipe.sh', recipe);
      // The part both contenders share: starting the two wireguard-go daemons.
      write(
        'daemons.sh',
        recipe
          .split('\n')
          .filter((l) => l.startsWith('#!') || l.startsWith('set ') || l.startsWith('export ') || / wireguard-go /.test(l))
          .join('\n') + '\n',
      );
      return { lab, dir, names, recipe, steps: recipeSteps(recipe) };
    },
    async teardown(ctx) {
      killDaemons(ctx.names);
      await ctx.lab.destroy();
      rmSync(ctx.dir, { recursive: true, force: true });
    },
    contenders: [
      {
        name: 'netfwd in-process',
        timed:
          'in one node process: forwardService(frontend).apply() then forwardService(backend).apply() (import and start-up excluded; see whole-process column)',
        unavailable: wgMissing,
        run: (ctx) => runSubject('netfwd-up', [join(ctx.dir, 'frontend.json'), join(ctx.dir, 'backend.json')], ['writes']),
      },
      {
        name: 'netfwd up (2 processes)',
        timed: 'two whole `netfwd up -c FILE` processes, frontend then backend (node start-up and config loading included)',
        unavailable: wgMissing,
        async run(ctx) {
          let ms = 0;
          let rss = 0;
          for (const f of ['frontend.json', 'backend.json']) {
            const r = await measureProcess(process.execPath, [cliPath(), 'up', '-c', join(ctx.dir, f), '--implementation', 'userspace'], {
              env: netfwdEnv(),
            });
            ms += r.wallMs;
            rss = Math.max(rss, r.rssKb);
          }
          return { ms, rssKb: rss, processMs: ms };
        },
      },
      {
        name: 'shell recipe',
        timed: 'the whole bash script: one ip / wg / nft / sysctl / wireguard-go process per step',
        unavailable: wgMissing,
        async run(ctx) {
          const r = await measureProcess('/bin/bash', [join(ctx.dir, 'recipe.sh')]);
          return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs, extra: { processes: ctx.steps } };
        },
      },
      {
        name: 'floor: 2 × wireguard-go start',
        timed: "a bash script running only the recipe's two `wireguard-go NAME` lines: what every contender spends on the daemons",
        unavailable: wgMissing,
        async run(ctx) {
          const r = await measureProcess('/bin/bash', [join(ctx.dir, 'daemons.sh')]);
          return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs };
        },
      },
    ],
    targets: [
      { subject: 'netfwd in-process', baseline: 'shell recipe', minSpeedup: 20, note: 'bring-up ≥ 20× faster than the shell recipe' },
    ],
  };
}

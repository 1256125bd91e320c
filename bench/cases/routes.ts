/** Routes into table 5000: netfwd's bulk path vs `ip -batch`, pyroute2 and the npm netlink package. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchCase } from '../lib/harness.js';
import { removeNetns, scratchNetns } from '../lib/harness.js';
import { measureProcess } from '../lib/measure.js';
import { runSubject } from '../lib/netfwd.js';
import { benchDir, npmNetlinkPath, npmNetlinkProblem, pyroute2Problem } from '../lib/peers.js';

interface Ctx {
  ns: string;
  dir: string;
}

export const routeDestination = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`;

export function routesCase(sizes: number[]): BenchCase<Ctx> {
  return {
    id: 'routes',
    title: 'routes into table 5000 (N × `10.x.y.z/32 dev lo`)',
    unit: 'route',
    sizes,
    async setup(size) {
      const dir = mkdtempSync(join(tmpdir(), 'nfb-'));
      let batch = '';
      for (let i = 0; i < size; i++) batch += `route add ${routeDestination(i)} dev lo table 5000\n`;
      writeFileSync(join(dir, 'batch'), batch);
      return { ns: scratchNetns(), dir };
    },
    async teardown(ctx) {
      removeNetns(ctx.ns);
      rmSync(ctx.dir, { recursive: true, force: true });
    },
    contenders: [
      {
        name: 'netfwd addMany',
        timed:
          'in its node process: Route.open + routes.addMany (package import and node start-up excluded; see whole-process column); warmMs: the same work repeated in that process',
        run: (ctx, size) => runSubject('netfwd-routes', [ctx.ns, String(size)], ['warmMs', 'datagrams']),
      },
      {
        name: 'ip -batch',
        timed: 'the whole `ip -n NS -batch FILE` process (start-up and parsing included)',
        async run(ctx) {
          const r = await measureProcess('ip', ['-n', ctx.ns, '-batch', join(ctx.dir, 'batch')]);
          return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs };
        },
      },
      {
        name: 'pyroute2',
        timed: 'in its python process: NetNS() + one route() call per route (import excluded)',
        unavailable: pyroute2Problem,
        maxSize: 10000,
        async run(ctx, size) {
          const r = await measureProcess('/usr/bin/python3', [join(benchDir, 'subjects/pyroute2-routes.py'), ctx.ns, String(size)]);
          return { ms: r.report!.opMs!, rssKb: r.rssKb, processMs: r.wallMs };
        },
      },
      {
        name: 'npm netlink',
        timed: 'in its node process: createRtNetlink() + newRoute() 64 in flight (require excluded)',
        unavailable: npmNetlinkProblem,
        async run(ctx, size) {
          const r = await measureProcess(
            'ip',
            ['netns', 'exec', ctx.ns, process.execPath, join(benchDir, 'subjects/npm-netlink-routes.cjs'), String(size)],
            {
              env: { ...process.env, NETLINK_PEER: npmNetlinkPath()! },
            },
          );
          return { ms: r.report!.opMs!, rssKb: r.rssKb, processMs: r.wallMs };
        },
      },
    ],
    targets: [{ subject: 'netfwd addMany', baseline: 'ip -batch', maxRatio: 1.1, note: '≤ 1.1× ip -batch' }],
  };
}

/** Policy routing rules: netfwd's bulk path vs `ip -batch`. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchCase } from '../lib/harness.js';
import { removeNetns, scratchNetns } from '../lib/harness.js';
import { measureProcess } from '../lib/measure.js';
import { runSubject } from '../lib/netfwd.js';

interface Ctx {
  ns: string;
  dir: string;
}

export function rulesCase(sizes: number[]): BenchCase<Ctx> {
  return {
    id: 'rules',
    title: 'policy rules (`priority N fwmark N lookup 5000`)',
    unit: 'rule',
    sizes,
    async setup(size) {
      const dir = mkdtempSync(join(tmpdir(), 'nfb-'));
      let batch = '';
      for (let i = 1; i <= size; i++) batch += `rule add priority ${i} fwmark ${i} table 5000\n`;
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
          'in its node process: Route.open + rules.addMany (import and start-up excluded; see whole-process column); warmMs: the same work repeated in that process',
        run: (ctx, size) => runSubject('netfwd-rules', [ctx.ns, String(size)], ['warmMs', 'datagrams']),
      },
      {
        name: 'ip -batch',
        timed: 'the whole `ip -n NS -batch FILE` process',
        async run(ctx) {
          const r = await measureProcess('ip', ['-n', ctx.ns, '-batch', join(ctx.dir, 'batch')]);
          return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs };
        },
      },
    ],
    targets: [{ subject: 'netfwd addMany', baseline: 'ip -batch', maxRatio: 1.1, note: '≤ 1.1× ip -batch' }],
  };
}

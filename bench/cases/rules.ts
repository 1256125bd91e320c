/** Policy routing rules: netfwd's bulk path vs `ip -batch`. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchCase } from '../lib/harness.js';
import { removeNetns, scratchNetns } from '../lib/harness.js';
import { measureProcess } from '../lib/measure.js';
import { benchDir } from '../lib/peers.js';

interface Ctx {
  ns: string;
  dir: string;
}

export function rulesCase(sizes: number[]): BenchCase<Ctx> {
  return {
    id: 'rules',
    title: 'policy rules (fwmark N lookup 5000, priorities 1..N)',
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
        async run(ctx, size) {
          const r = await measureProcess(process.execPath, [join(benchDir, 'subjects/netfwd-rules.mjs'), ctx.ns, String(size)]);
          return { ms: r.report!.opMs!, rssKb: r.rssKb, extra: { processMs: r.wallMs } };
        },
      },
      {
        name: 'ip -batch',
        async run(ctx) {
          const r = await measureProcess('ip', ['-n', ctx.ns, '-batch', join(ctx.dir, 'batch')]);
          return { ms: r.wallMs, rssKb: r.rssKb };
        },
      },
    ],
    targets: [{ subject: 'netfwd addMany', baseline: 'ip -batch', maxRatio: 1.1, note: 'issue 3: ≤ 1.1× ip -batch' }],
  };
}

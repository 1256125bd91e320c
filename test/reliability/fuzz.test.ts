/**
 * Fuzzing, the CI version: every decoder (netlink framing and attributes,
 * rtnetlink, nftables, WireGuard generic netlink, the UAPI text, the
 * configuration parser) gets random and mutated real inputs in a worker
 * thread under a watchdog, and every saved crasher in
 * test/fixtures/fuzz-regressions/ is replayed. A decoder must return a value
 * or throw its typed error: never another exception, never a hang.
 *
 * 2 000 inputs per decoder here (NETFWD_FUZZ_INPUTS=N to change); the long
 * run is `tsx scripts/fuzz-decoders.ts` with 1 000 000 each.
 */

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import test from 'ava';
import { REGRESSIONS_DIR, runTarget, targetByName } from '../../scripts/fuzz-engine.js';
import { TARGETS } from '../../scripts/fuzz-targets.js';
import { count, figure } from './helpers.js';

const INPUTS = count('FUZZ_INPUTS', 2000, 20_000);
const SEED = Number(process.env.NETFWD_SEED ?? 0x5eed);

for (const target of TARGETS) {
  test(`fuzz ${target.name}: ${INPUTS} random and mutated inputs give a value or a typed error, no hang`, async (t) => {
    const stats = await runTarget(target.name, { count: INPUTS, seed: SEED, hangMs: 20_000 });
    for (const f of stats.findings)
      t.fail(
        `${f.kind} at input ${f.index} (seed ${SEED}): ${f.error}\ninput: ${typeof f.input === 'string' ? JSON.stringify(f.input) : f.input.toString('hex')}`,
      );
    t.true(stats.decoded > 0, 'some inputs decode');
    t.true(stats.refused > 0, 'some inputs are refused');
    figure(
      t,
      `fuzz ${target.name}: ${stats.inputs} inputs, ${stats.decoded} decoded, ${stats.refused} typed errors, ${stats.findings.length} findings, ${stats.ms} ms`,
    );
  });
}

const regressionFiles = existsSync(REGRESSIONS_DIR) ? readdirSync(REGRESSIONS_DIR).filter((f) => f.endsWith('.json')) : [];

test('every saved fuzz regression gives a value or a typed error', (t) => {
  for (const file of regressionFiles) {
    const r = JSON.parse(readFileSync(new URL(file, REGRESSIONS_DIR), 'utf8')) as { target: string; hex?: string; text?: string };
    const target = targetByName(r.target);
    const input = r.text ?? Buffer.from(r.hex ?? '', 'hex');
    try {
      target.run(input);
    } catch (err) {
      if (!target.allowed(err)) t.fail(`${file}: ${err instanceof Error ? err.stack : String(err)}`);
    }
  }
  t.log(`${regressionFiles.length} regression cases`);
  t.pass();
});

/**
 * Bad input against a live namespace: every case of the invalid-spec corpus
 * (test/fixtures/invalid-specs), pointed at a real namespace, is refused with
 * a ConfigError naming the field and the fix while netfwd sends no netlink
 * message at all (counted over every connection of the process) and the
 * namespace stays byte-identical. The corpus is checked to cover each kind of
 * bad input issue 8 lists; a really unreadable key file (EIO from the
 * kernel) is added. The CLI refuses the invalid files with exit 3 and
 * changes nothing.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ConfigError } from '../../src/errors.js';
import { forwardService } from '../../src/forward/index.js';
import { loadConfigFile } from '../../src/forward/spec/config-file.js';
import { splitFieldPath } from '../../src/forward/spec/field.js';
import type { ServiceForwardSpec } from '../../src/forward/spec/spec.js';
import { netlinkTotals } from '../../src/netlink/exchange.js';
import { netns } from '../../src/netns/index.js';
import { backendSpec as corpusBackend, frontendSpec as corpusFrontend } from '../fixtures/invalid-specs/base.js';
import { DELETE, SPEC_CASES, type SpecCase } from '../fixtures/invalid-specs/cases.js';
import { kernelTest, uniqueNetnsName } from '../helpers/kernel.js';
import { removeNetns, snapshot, snapshotDiff } from './helpers.js';

const test_ = kernelTest(['ip', 'nft']);
const FILES = join(import.meta.dirname, '../fixtures/invalid-specs/files');
const CLI = join(import.meta.dirname, '../../dist/cli.js');

/** The corpus case as a spec, aimed at namespace `ns` (unless the case is about the namespace or not a mapping). */
function specOf(c: SpecCase, ns: string): unknown {
  if (c.base === 'none') return c.spec;
  const out = structuredClone(c.base === 'frontend' ? corpusFrontend() : corpusBackend()) as unknown as Record<string, unknown>;
  out.netns = ns;
  for (const [path, value] of c.edits ?? []) {
    const segs = splitFieldPath(path);
    let node = out as Record<string | number, unknown>;
    for (const seg of segs.slice(0, -1)) node = node[seg] as Record<string | number, unknown>;
    const last = segs[segs.length - 1]!;
    if (value === DELETE) {
      if (Array.isArray(node) && typeof last === 'number') node.splice(last, 1);
      else delete node[last];
    } else Object.defineProperty(node, last, { value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** Each kind of bad input the issue names, and how to recognise its cases in the corpus. */
const KINDS: Array<[string, RegExp]> = [
  ['wrong key lengths', /key of \d+ characters/],
  ['bad CIDRs', /address \/33|address \/129|exclusion not a CIDR|address without prefix/],
  ['port 0', /port 0/],
  ['port 65536', /port 65536/],
  ['overlapping forwards', /two forwards on the same port|inside another range/],
  ['duplicate peers', /duplicate peer/],
  ['unknown fields', /unknown .*field/],
  ['reversed uid ranges', /uid range reversed/],
  ['reserved tables', /table 25[2-5]/],
  ['names over 15 bytes', /16 bytes/],
  ['options that contradict the mode', /in mode (snat|uid|connmark)/],
];

test('the corpus covers every kind of bad input of issue 8', (t) => {
  for (const [kind, pattern] of KINDS) {
    const cases = SPEC_CASES.filter((c) => pattern.test(c.name));
    t.true(cases.length > 0, `no case for ${kind}`);
    t.log(`${kind}: ${cases.map((c) => c.name).join('; ')}`);
  }
  const yaml = readdirSync(FILES).filter((f) => /\.ya?ml$/.test(f));
  t.true(yaml.length >= 10, 'YAML syntax errors');
  t.true(SPEC_CASES.length + readdirSync(FILES).filter((f) => !f.endsWith('.expect')).length >= 100);
});

test_('every invalid spec aimed at a live namespace is a ConfigError, sends no netlink message and changes nothing', async (t) => {
  const ns = uniqueNetnsName('nfrb');
  netns.create(ns);
  t.teardown(() => removeNetns(ns));
  const before = snapshot(ns);
  const totals = { ...netlinkTotals };
  let refused = 0;
  for (const c of SPEC_CASES) {
    try {
      const fwd = forwardService(specOf(c, ns) as ServiceForwardSpec);
      // Validation let it through: make sure that is a mistake of the test, not of netfwd.
      t.fail(`${c.name}: accepted (${fwd.config.role})`);
      await fwd.plan();
    } catch (e) {
      if (!(e instanceof ConfigError)) {
        t.fail(`${c.name}: ${String(e)}`);
        continue;
      }
      t.is(e.field, c.field, `${c.name}: ${e.message}`);
      t.true((e.expected ?? '').length > 0, `${c.name}: no fix in ${e.message}`);
      refused++;
    }
  }
  // A key file the kernel refuses to read (EIO), not just a permission problem root would bypass.
  const unreadable = corpusFrontend() as unknown as { netns: string; tunnel: Record<string, unknown> };
  unreadable.netns = ns;
  delete unreadable.tunnel.privateKey;
  unreadable.tunnel.privateKeyFile = '/proc/self/mem';
  const error = t.throws(() => forwardService(unreadable as unknown as ServiceForwardSpec), { instanceOf: ConfigError });
  t.is(error?.field, 'tunnel.privateKeyFile');
  t.log(`unreadable key file: ${error?.message}`);

  t.is(netlinkTotals.messages - totals.messages, 0, 'no netlink message at all');
  t.is(netlinkTotals.writes - totals.writes, 0, 'no netlink write');
  t.is(snapshotDiff(before, snapshot(ns)), '');
  t.log(`${refused} corpus cases refused with zero netlink messages`);
});

test_('netfwd up refuses every invalid configuration file with exit 3 and changes nothing', (t) => {
  if (!existsSync(CLI)) {
    t.fail('dist/cli.js missing (npm run build)');
    return;
  }
  const ns = uniqueNetnsName('nfrb');
  netns.create(ns);
  const dir = mkdtempSync(join(tmpdir(), 'netfwd-bad-'));
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    return removeNetns(ns);
  });
  const before = snapshot(ns);
  const files = readdirSync(FILES).filter((f) => !f.endsWith('.expect'));
  for (const f of files) {
    const path = join(dir, f);
    writeFileSync(path, readFileSync(join(FILES, f)), { mode: 0o600 });
    // The library refuses it too; were it valid, the CLI must not run (the file names no namespace).
    if (!t.throws(() => loadConfigFile(path, { enforcePermissions: true }), { instanceOf: ConfigError })) continue;
    const r = spawnSync(process.execPath, [CLI, 'up', '-c', path, '--json'], { encoding: 'utf8' });
    t.is(r.status, 3, `${f}: ${r.stderr}`);
    t.regex(r.stderr, /^netfwd: /, f);
    t.is(r.stdout, '', `${f}: nothing on stdout`);
  }
  t.is(snapshotDiff(before, snapshot(ns)), '');
  t.log(`${files.length} files refused by netfwd up`);
});

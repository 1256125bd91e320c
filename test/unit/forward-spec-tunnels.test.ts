/**
 * A backend's `tunnels` (several frontends) and the keys they hold: a key in
 * any tunnel never shows in an error, and a configuration file with a key
 * inline in any tunnel is held to the rules of a file with a key.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { stringify as toYaml } from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { loadConfigFile } from '../../src/forward/spec/config-file.js';
import type { BackendSpec } from '../../src/forward/spec/spec.js';
import { validateSpec } from '../../src/forward/spec/validate/index.js';
import { backendSpec, KEYS } from '../fixtures/invalid-specs/base.js';

/** The fixture's backend with a second tunnel whose private key is inline; the first takes its key from a file. */
function twoTunnels(): BackendSpec {
  const one = backendSpec();
  return {
    ...one,
    tunnel: undefined,
    tunnels: [
      { ...one.tunnel!, privateKey: undefined, privateKeyFile: 'wg0.key', peer: { ...one.tunnel!.peer!, presharedKey: undefined } },
      {
        ...one.tunnel!,
        interface: 'wg1',
        addresses: ['10.0.9.2/24'],
        privateKey: KEYS.office,
        peer: { ...one.tunnel!.peer!, presharedKey: undefined },
      },
    ],
  } as BackendSpec;
}

const secretOf = (s: BackendSpec) => s.tunnels![1]!.privateKey as string;

test('part of a key of a later tunnel, pasted into another field, never shows in the error', (t) => {
  const s = twoTunnels();
  // Part of it: a whole key is hidden as "a value that looks like key material" anyway.
  s.tunnels![1]!.checkAddress = secretOf(s).slice(0, 24);
  const e = t.throws(() => validateSpec(s, { readFile: () => ({ data: `${KEYS.backendPrivate}\n`, mode: 0o100600 }) }), {
    instanceOf: ConfigError,
  });
  t.is(e.field, 'tunnels[1].checkAddress');
  t.false(e.message.includes(secretOf(s).slice(0, 16)), e.message);
  t.regex(e.message, /\(hidden\)/);
});

test('a configuration file with a key inline in a later tunnel: 0644 refused when enforcing, naming that field', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nft-tunnels-'));
  try {
    writeFileSync(join(dir, 'wg0.key'), `${KEYS.backendPrivate}\n`, { mode: 0o600 });
    const file = join(dir, 'backend.yaml');
    writeFileSync(file, toYaml(twoTunnels()));
    chmodSync(file, 0o600);
    const ok = loadConfigFile(file, { enforcePermissions: true });
    t.is(ok.role === 'backend' && ok.tunnels.length, 2);
    chmodSync(file, 0o644);
    const e = t.throws(() => loadConfigFile(file, { enforcePermissions: true }), { instanceOf: ConfigError });
    t.is(e.field, 'tunnels[1].privateKey');
    t.true(e.expected!.includes(`chmod 600 ${file}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

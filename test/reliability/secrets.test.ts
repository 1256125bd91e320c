/**
 * Secrets: a known private key and preshared key go through every CLI
 * command (with key files, and inline in a 0600 configuration file; plain and
 * --json; successes, refusals and failures with NETFWD_DEBUG stacks), and
 * through the library's plan, status, errors, JSON and util.inspect. Neither
 * key may appear anywhere — as base64, any 16-character slice of it, hex or
 * base64url — in stdout, stderr, JSON, messages, stacks, the daemon's log or
 * netfwd's state file. Key files netfwd writes are 0600; the CLI refuses key
 * files and key-bearing configuration files that group or others can read.
 */
import type { ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { forwardService } from '../../src/forward/index.js';
import type { ServiceForwardSpec } from '../../src/forward/spec.js';
import { netns } from '../../src/netns/index.js';
import { kernelTest, uniqueNetnsName } from '../helpers/kernel.js';
import { backendSpec, frontendSpec, keyPair, removeNetns, uniqueInterface } from './helpers.js';

const CLI = join(import.meta.dirname, '../../dist/cli.js');
const test = existsSync(CLI) ? kernelTest(['ip', 'nft', 'wg', 'wireguard-go']) : kernelTest(['dist/cli.js (npm run build)']);

/** Every spelling of a key that would give it away. */
function forms(base64: string): string[] {
  const bytes = Buffer.from(base64, 'base64');
  const out = [base64, bytes.toString('hex'), bytes.toString('base64url'), bytes.toString('hex').toUpperCase()];
  for (let i = 0; i + 16 <= base64.length; i++) out.push(base64.slice(i, i + 16));
  return out;
}

class Leaks {
  readonly needles: string[];
  checked = 0;
  constructor(secrets: string[]) {
    this.needles = secrets.flatMap(forms);
  }
  check(t: ExecutionContext, where: string, text: string): void {
    this.checked++;
    const hit = this.needles.find((n) => text.includes(n));
    if (hit) t.fail(`${where} shows key material (${hit}):\n${text}`);
  }
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], options: { input?: string; debug?: boolean } = {}): Run {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    input: options.input,
    timeout: 60_000,
    env: { ...process.env, ...(options.debug ? { NETFWD_DEBUG: '1' } : {}) },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function mode(path: string): string {
  return (statSync(path).mode & 0o777).toString(8).padStart(4, '0');
}

test('no command of the CLI shows a private or preshared key, in any output, success or failure', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netfwd-secrets-'));
  const ns = uniqueNetnsName('nfrs');
  netns.create(ns);
  const keys = keyPair();
  const fwg = uniqueInterface('s');
  const bwg = uniqueInterface('s');
  t.teardown(async () => {
    await removeNetns(ns, [fwg, bwg]);
    rmSync(dir, { recursive: true, force: true });
  });
  const leaks = new Leaks([keys.frontendPrivate, keys.backendPrivate, keys.psk]);

  // The frontend with key files, the backend with its keys inline (a 0600 file).
  writeFileSync(join(dir, 'frontend.key'), `${keys.frontendPrivate}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'home.psk'), `${keys.psk}\n`, { mode: 0o600 });
  const fe = frontendSpec(ns, fwg, keys) as ServiceForwardSpec & { tunnel: Record<string, unknown> };
  delete fe.tunnel.privateKey;
  fe.tunnel.privateKeyFile = 'frontend.key';
  const peers = fe.tunnel.peers as Array<Record<string, unknown>>;
  delete peers[0]!.presharedKey;
  peers[0]!.presharedKeyFile = 'home.psk';
  const feFile = join(dir, 'frontend.yaml');
  writeFileSync(feFile, JSON.stringify(fe, null, 2), { mode: 0o600 });
  const beFile = join(dir, 'backend.json');
  writeFileSync(beFile, JSON.stringify(backendSpec(ns, bwg, keys), null, 2), { mode: 0o600 });

  const runs: Array<[string, Run, number | null]> = [];
  const call = (label: string, args: string[], expect: number | null, options?: { input?: string; debug?: boolean }) => {
    const r = cli(args, options);
    runs.push([label, r, expect]);
    return r;
  };
  call('help', ['help'], 0);
  call('--version', ['--version'], 0);
  for (const file of [feFile, beFile]) {
    for (const json of [[], ['--json']]) {
      call(`plan ${file} ${json}`, ['plan', '-c', file, ...json], 0);
      call(`up ${file} ${json}`, ['up', '-c', file, ...json], 0, { debug: true });
      call(`status ${file} ${json}`, ['status', '-c', file, ...json], 0);
      call(`doctor ${file} ${json}`, ['doctor', '-c', file, ...json], null);
    }
  }
  call('status of the namespace', ['status', '--netns', ns], 0);
  call('status of the namespace --json', ['status', '--netns', ns, '--json'], 0);
  call('pubkey', ['pubkey'], 0, { input: `${keys.frontendPrivate}\n` });
  call('pubkey of a non-key', ['pubkey'], 3, { input: `${keys.psk.slice(0, 40)}\n`, debug: true });
  call('keygen --out', ['keygen', '--out', join(dir, 'new.key')], 0);
  call('genpsk --out', ['genpsk', '--out', join(dir, 'new.psk')], 0);
  call('keygen --out an existing file', ['keygen', '--out', join(dir, 'frontend.key')], 2, { debug: true });

  // Refusals and failures, with stacks (NETFWD_DEBUG=1).
  const broken = JSON.parse(readFileSync(beFile, 'utf8')) as { tunnel: { privateKey: string; listenPort?: number } };
  broken.tunnel.listenPort = 70000;
  writeFileSync(join(dir, 'invalid.json'), JSON.stringify(broken), { mode: 0o600 });
  call('up, an invalid config holding the key inline', ['up', '-c', join(dir, 'invalid.json')], 3, { debug: true });
  const nearKey = JSON.parse(readFileSync(beFile, 'utf8')) as { tunnel: { privateKey: string } };
  nearKey.tunnel.privateKey = `${keys.backendPrivate.slice(0, 42)}p=`; // one character off: not canonical
  writeFileSync(join(dir, 'near.json'), JSON.stringify(nearKey), { mode: 0o600 });
  call('up, a key one character off', ['up', '-c', join(dir, 'near.json')], 3, { debug: true });
  writeFileSync(join(dir, 'open.json'), readFileSync(beFile));
  chmodSync(join(dir, 'open.json'), 0o644);
  const openConfig = call('up, inline keys in a 0644 file', ['up', '-c', join(dir, 'open.json')], 4, { debug: true });
  writeFileSync(join(dir, 'open.key'), `${keys.frontendPrivate}\n`);
  chmodSync(join(dir, 'open.key'), 0o644);
  const openKeySpec = { ...fe, tunnel: { ...fe.tunnel, privateKeyFile: 'open.key' } };
  writeFileSync(join(dir, 'open-key.yaml'), JSON.stringify(openKeySpec), { mode: 0o600 });
  const openKey = call('up, a 0644 key file', ['up', '-c', join(dir, 'open-key.yaml')], 4, { debug: true });
  chmodSync(join(dir, 'open.key'), 0o640);
  call('plan, a 0640 key file', ['plan', '-c', join(dir, 'open-key.yaml')], 4, { debug: true });
  // A kernel failure in the middle of an up: the name is taken by a link netfwd does not own.
  const taken = { ...fe, tunnel: { ...fe.tunnel, interface: 'lo' } };
  writeFileSync(join(dir, 'taken.yaml'), JSON.stringify(taken), { mode: 0o600 });
  call('up, interface name taken', ['up', '-c', join(dir, 'taken.yaml')], 8, { debug: true });

  for (const file of [beFile, feFile]) {
    for (const json of [[], ['--json']]) call(`down ${file} ${json}`, ['down', '-c', file, ...json], 0, { debug: true });
  }

  for (const [label, r, expect] of runs) {
    if (expect !== null) t.is(r.code, expect, `${label}: exit ${r.code}\n${r.stderr}`);
    leaks.check(t, `${label}: stdout`, r.stdout);
    leaks.check(t, `${label}: stderr`, r.stderr);
  }
  t.regex(openConfig.stderr, /chmod 600/);
  t.regex(openKey.stderr, /chmod 600/);

  // Key files netfwd writes are 0600 and hold what they should.
  t.is(mode(join(dir, 'new.key')), '0600');
  t.is(mode(join(dir, 'new.psk')), '0600');
  t.regex(readFileSync(join(dir, 'new.key'), 'utf8'), /^[A-Za-z0-9+/]{43}=\n$/);
  const pub = runs.find(([l]) => l === 'pubkey')![1].stdout.trim();
  t.is(pub, keys.frontendPublic, 'pubkey prints the public key');

  // What netfwd leaves on disk: the daemons' logs and the state files.
  for (const f of [`/run/netfwd/wireguard/${fwg}.log`, `/run/netfwd/wireguard/${bwg}.log`, `/run/netfwd/state/${ns}/${fwg}.json`]) {
    if (existsSync(f)) leaks.check(t, f, readFileSync(f, 'utf8'));
  }
  t.log(`${runs.length} CLI runs, ${leaks.checked} outputs searched for ${leaks.needles.length} spellings of 3 keys`);
});

test('plan, status, results, errors, JSON and util.inspect of the library show no key', async (t) => {
  const ns = uniqueNetnsName('nfrs');
  netns.create(ns);
  const keys = keyPair();
  const fwg = uniqueInterface('i');
  const bwg = uniqueInterface('i');
  t.teardown(() => removeNetns(ns, [fwg, bwg]));
  const leaks = new Leaks([keys.frontendPrivate, keys.backendPrivate, keys.psk]);
  const show = (label: string, v: unknown) => {
    leaks.check(t, `${label} (util.inspect)`, inspect(v, { depth: Infinity, showHidden: true, getters: true }));
    leaks.check(t, `${label} (JSON)`, JSON.stringify(v) ?? '');
    leaks.check(t, `${label} (String)`, String(v));
  };
  for (const spec of [frontendSpec(ns, fwg, keys), backendSpec(ns, bwg, keys)]) {
    const fwd = forwardService(spec);
    show('ServiceForward', fwd);
    show('config', fwd.config);
    const plan = await fwd.plan();
    show('plan', plan);
    leaks.check(t, 'plan lines', plan.lines().join('\n'));
    // A failing apply: the error and its cause chain.
    const error = await fwd.apply({ hooks: { beforeStep: (_s, p) => (p === 3 ? Promise.reject(new Error('injected')) : undefined) } }).catch((e: unknown) => e);
    show('ApplyError', error);
    leaks.check(t, 'ApplyError stack', (error as Error).stack ?? '');
    const result = await fwd.apply();
    show('apply result', result);
    const status = await fwd.status();
    show('status', status);
    t.is(status.tunnel.privateKey, '(hidden)');
    show('down result', await fwd.down());
  }
  t.log(`${leaks.checked} renderings searched`);
});

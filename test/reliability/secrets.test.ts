/**
 * Secrets: a known private key and preshared key go through every CLI
 * command (with key files, and inline in a 0600 configuration file; plain and
 * --json; successes, refusals and failures with NETFWD_DEBUG stacks), and
 * through the library's plan, status, errors, JSON and util.inspect; also
 * `status --probe` (text, JSON, --probe-egress), the `run` supervisor (text
 * and JSON, through reloads of valid and invalid files) and `demo --keep`
 * (whose own keys are read back from its tunnels with `wg show`). Neither
 * key may appear anywhere — as base64, any 16-character slice of it, hex or
 * base64url — in stdout, stderr, JSON, messages, stacks, the daemon's log or
 * netfwd's state file. Key files netfwd writes are 0600; the CLI refuses key
 * files and key-bearing configuration files that group or others can read.
 */

import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import type { ExecutionContext } from 'ava';
import type { DemoReport } from '../../src/demo/run-demo.js';
import { forwardService } from '../../src/forward/index.js';
import type { ServiceForwardSpec } from '../../src/forward/spec/spec.js';
import { endProcessesIn } from '../../src/lab/topology.js';
import { netns } from '../../src/netns/index.js';
import { cli as cliAsync } from '../helpers/cli.js';
import { kernelTest, toolPath, uniqueNetnsName } from '../helpers/kernel.js';
import { backendSpec, frontendSpec, type Keys, keyPair, removeNetns, uniqueInterface } from './helpers.js';

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

type LooseSpec = ServiceForwardSpec & { tunnel: Record<string, unknown> };

/**
 * The frontend with key files (frontend.key, home.psk; `frontend.yaml`, JSON
 * text read by the YAML parser), the backend with its keys inline
 * (`backend.json`): all 0600.
 */
function writeConfigs(dir: string, ns: string, fwg: string, bwg: string, keys: Keys) {
  writeFileSync(join(dir, 'frontend.key'), `${keys.frontendPrivate}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'home.psk'), `${keys.psk}\n`, { mode: 0o600 });
  const fe = frontendSpec(ns, fwg, keys) as LooseSpec;
  delete fe.tunnel.privateKey;
  fe.tunnel.privateKeyFile = 'frontend.key';
  const peers = fe.tunnel.peers as Array<Record<string, unknown>>;
  delete peers[0]!.presharedKey;
  peers[0]!.presharedKeyFile = 'home.psk';
  const feFile = join(dir, 'frontend.yaml');
  writeFileSync(feFile, JSON.stringify(fe, null, 2), { mode: 0o600 });
  const be = backendSpec(ns, bwg, keys) as LooseSpec;
  const beFile = join(dir, 'backend.json');
  writeFileSync(beFile, JSON.stringify(be, null, 2), { mode: 0o600 });
  return { fe, feFile, be, beFile };
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

  const { fe, feFile, beFile } = writeConfigs(dir, ns, fwg, bwg, keys);

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
    const error = await fwd
      .apply({ hooks: { beforeStep: (_s, p) => (p === 3 ? Promise.reject(new Error('injected')) : undefined) } })
      .catch((e: unknown) => e);
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

test('status --probe (text, JSON, --probe-egress) shows no key and reports the probe', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netfwd-secrets-'));
  const ns = uniqueNetnsName('nfrs');
  netns.create(ns);
  const keys = keyPair();
  const fwg = uniqueInterface('p');
  const bwg = uniqueInterface('p');
  t.teardown(async () => {
    await removeNetns(ns, [fwg, bwg]);
    rmSync(dir, { recursive: true, force: true });
  });
  const leaks = new Leaks([keys.frontendPrivate, keys.backendPrivate, keys.psk]);
  const { fe, feFile, beFile } = writeConfigs(dir, ns, fwg, bwg, keys);
  // Two TCP targets (IPv4, IPv6) and a UDP forward: nothing answers a probe here, and each
  // TCP probe waits for its 3 s timeout.
  const trimmed = fe as LooseSpec & { forwards: unknown[] };
  trimmed.forwards = [trimmed.forwards[0], trimmed.forwards[2]];
  writeFileSync(feFile, JSON.stringify(trimmed, null, 2), { mode: 0o600 });
  for (const file of [feFile, beFile]) t.is(cli(['up', '-c', file]).code, 0, `up ${file}`);

  // Only this test's namespace: the frontend's probes connect to the backend's tunnel
  // addresses (local here), the egress echo goes to a documentation address with no way out.
  const egress = '192.0.2.1:7';
  const runs: Array<[string, Run]> = [];
  const call = async (label: string, args: string[], debug = false) => {
    const r = await cliAsync(args, { env: { NETFWD_DEBUG: debug ? '1' : '' } });
    runs.push([label, r]);
    t.is(r.code, 0, `${label}: exit ${r.code}\n${r.stderr}`);
    return r;
  };
  const [feText, feJson, beText, beJson] = await Promise.all([
    call('frontend --probe', ['status', '-c', feFile, '--probe']),
    call('frontend --probe --json', ['status', '-c', feFile, '--probe', '--json'], true),
    call('backend --probe --probe-egress', ['status', '-c', beFile, '--probe', '--probe-egress', egress], true),
    call('backend --probe --probe-egress --json', ['status', '-c', beFile, '--probe', '--probe-egress', egress, '--json']),
    call('backend --probe --json', ['status', '-c', beFile, '--probe', '--json']),
  ]);
  for (const [label, r] of runs) {
    leaks.check(t, `${label}: stdout`, r.stdout);
    leaks.check(t, `${label}: stderr`, r.stderr);
  }

  // The probes ran: every TCP forward of the frontend, both families of the backend's egress, the echo.
  t.regex(feText.stdout, /^ {2}probe:$/m);
  t.regex(feText.stdout, /^ {4}forwards\[0\] tcp IPv4 → 10\.0\.0\.2:9735: /m);
  t.regex(feText.stdout, /^ {4}forwards\[1\] udp IPv4 → 10\.0\.0\.2:60000: not probed/m);
  const fp = (JSON.parse(feJson.stdout) as { probe: { forwards: Array<{ target: string; result: string }> } }).probe;
  t.true(
    fp.forwards.some((f) => f.target === '10.0.0.2:9735' && f.result !== 'not probed'),
    JSON.stringify(fp),
  );
  t.true(
    fp.forwards.some((f) => f.target === '[fd00::2]:9735' && f.result !== 'not probed'),
    JSON.stringify(fp),
  );
  t.regex(beText.stdout, /^ {4}egress IPv4 of uid 1000: /m);
  t.regex(beText.stdout, /^ {4}egress IPv6 of uid 1000: /m);
  t.regex(beText.stdout, /^ {4}egress seen by 192\.0\.2\.1:7 \(as uid 1000\): /m);
  const bp = (JSON.parse(beJson.stdout) as { probe: { egress: Array<{ family: number }>; observed?: { target: string; as: string } } })
    .probe;
  t.deepEqual(bp.egress.map((e) => e.family).sort(), [4, 6]);
  t.like(bp.observed, { target: egress, as: 'uid 1000' });
  t.log(
    `${runs.length} probes, ${leaks.checked} outputs searched; frontend probe: ${fp.forwards.map((f) => `${f.target} ${f.result}`).join(', ')}`,
  );
});

/** A long-running `netfwd run`: its whole output, and its events (JSON lines, or `TIME LEVEL EVENT …`). */
class Supervised {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  constructor(
    readonly child: ChildProcess,
    readonly json: boolean,
  ) {
    child.stdout!.on('data', (d) => (this.stdout += d));
    child.stderr!.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((r) => child.once('exit', (code) => r(code)));
  }
  events(): string[] {
    return this.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        if (!this.json) return l.split(/\s+/)[2] ?? '';
        try {
          return (JSON.parse(l) as { event: string }).event;
        } catch {
          return `(not JSON: ${l})`;
        }
      });
  }
  count(event: string): number {
    return this.events().filter((e) => e === event).length;
  }
  async waitFor(event: string, n = 1, ms = 30_000): Promise<void> {
    const end = Date.now() + ms;
    while (this.count(event) < n) {
      if (Date.now() > end || this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `no ${n}× ${event} from netfwd run (exit ${this.child.exitCode ?? this.child.signalCode}); output:\n${this.stdout}\n${this.stderr}`,
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

test('netfwd run (text and JSON) logs no key: start, ready, reloads of valid and invalid files holding the key inline, stop', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netfwd-secrets-'));
  const ns = uniqueNetnsName('nfrs');
  netns.create(ns);
  const fwg = uniqueInterface('r');
  const bwg = uniqueInterface('r');
  // The frontend's private key with a '/' inside (a key pasted as a file name is then a path of
  // several parts), the backend's without one: both are tried as a key file name below.
  let keys = keyPair();
  while (!/^.+\/.+$/.test(keys.frontendPrivate.slice(0, 43)) || keys.backendPrivate.includes('/')) keys = keyPair();
  const procs: Supervised[] = [];
  t.teardown(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => p.exited));
    await removeNetns(ns, [fwg, bwg]);
    rmSync(dir, { recursive: true, force: true });
  });
  const leaks = new Leaks([keys.frontendPrivate, keys.backendPrivate, keys.psk]);
  const { fe, feFile, be, beFile } = writeConfigs(dir, ns, fwg, bwg, keys);

  const start = (file: string, json: boolean) => {
    const p = new Supervised(
      spawn(process.execPath, [CLI, 'run', '-c', file, '--verbose', '--recheck', '1', ...(json ? ['--json'] : [])], {
        env: { ...process.env, NETFWD_DEBUG: '1', NOTIFY_SOCKET: '', WATCHDOG_USEC: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
      json,
    );
    procs.push(p);
    return p;
  };

  /**
   * Files that must be refused on SIGHUP, each holding the keys inline (the
   * frontend's too, whose good file names key files), some of them next to or
   * inside what the parser or the validator complains about.
   */
  const inline = (spec: LooseSpec, privateKey: string): LooseSpec => {
    const s = JSON.parse(JSON.stringify(spec)) as LooseSpec;
    delete s.tunnel.privateKeyFile;
    s.tunnel.privateKey = privateKey;
    const peer = (s.role === 'frontend' ? (s.tunnel.peers as Array<Record<string, unknown>>)[0] : s.tunnel.peer) as Record<string, unknown>;
    delete peer.presharedKeyFile;
    peer.presharedKey = keys.psk;
    return s;
  };
  const invalid = (spec: LooseSpec, key: string): Array<[string, string]> => {
    const good = JSON.stringify(inline(spec, key), null, 2);
    const at = good.indexOf(key) + key.length;
    const variant = (change: (s: LooseSpec) => void) => {
      const s = inline(spec, key);
      change(s);
      return JSON.stringify(s, null, 2);
    };
    return [
      ['listen port out of range', variant((s) => (s.tunnel.listenPort = 70000))],
      // 'p' leaves bits set past the 32nd byte: not a canonical key.
      ['private key one character off', variant((s) => (s.tunnel.privateKey = `${key.slice(0, 42)}p=`))],
      ['private key one character short', variant((s) => (s.tunnel.privateKey = key.slice(0, 43)))],
      [
        'the private key pasted as the key file',
        variant((s) => {
          delete s.tunnel.privateKey;
          s.tunnel.privateKeyFile = key;
        }),
      ],
      [
        'preshared key one character off',
        variant((s) => {
          const peer = (s.role === 'frontend' ? (s.tunnel.peers as Array<Record<string, unknown>>)[0] : s.tunnel.peer) as Record<
            string,
            unknown
          >;
          peer.presharedKey = `${keys.psk.slice(0, 42)}p=`;
        }),
      ],
      ['the private key as the interface name', variant((s) => (s.tunnel.interface = key))],
      ['an unknown field holding the key', variant((s) => (s.tunnel.privatekey = key))],
      ['a syntax error right after the key', `${good.slice(0, at + 1)} x ${good.slice(at + 1)}`],
      ['the file cut after the key', good.slice(0, at + 1)],
    ];
  };

  const exercise = async (p: Supervised, file: string, spec: LooseSpec, key: string) => {
    await p.waitFor('ready');
    t.is(p.count('applied'), 1, p.stdout);
    // A valid reload: one more forwarded port (frontend) or service (backend).
    const next = JSON.parse(JSON.stringify(spec)) as LooseSpec & { forwards?: unknown[]; services?: unknown[] };
    if (next.role === 'frontend') next.forwards!.push({ protocol: 'tcp', port: 9736, to: { peer: 'home' } });
    else next.services!.push({ protocol: 'tcp', port: 9736 });
    writeFileSync(file, JSON.stringify(next, null, 2), { mode: 0o600 });
    p.kill('SIGHUP');
    await p.waitFor('reloaded');
    await p.waitFor('repaired');
    const bad = invalid(spec, key);
    for (const [i, [, text]] of bad.entries()) {
      writeFileSync(file, text, { mode: 0o600 });
      p.kill('SIGHUP');
      await p.waitFor('reload-failed', i + 1);
    }
    t.is(p.count('reload-failed'), bad.length);
    t.is(p.count('reloaded'), 1, 'no invalid file was taken');
    t.is(p.child.exitCode, null, 'still running with the previous configuration');
    p.kill('SIGTERM');
    t.is(await p.exited, 0, `${file}: ${p.stderr}`);
    t.is(p.events().at(-1), 'stopped', p.stdout);
  };

  const text = start(feFile, false);
  const json = start(beFile, true);
  const searched = () => {
    for (const [label, p] of [
      ['run (text, key files)', text],
      ['run --json (keys inline)', json],
    ] as const) {
      leaks.check(t, `${label}: stdout`, p.stdout);
      leaks.check(t, `${label}: stderr`, p.stderr);
    }
    for (const f of [
      `/run/netfwd/wireguard/${fwg}.log`,
      `/run/netfwd/wireguard/${bwg}.log`,
      `/run/netfwd/state/${ns}/${fwg}.json`,
      `/run/netfwd/state/${ns}/${bwg}.json`,
    ]) {
      if (existsSync(f)) leaks.check(t, f, readFileSync(f, 'utf8'));
    }
  };
  try {
    await Promise.all([exercise(text, feFile, fe, keys.frontendPrivate), exercise(json, beFile, be, keys.backendPrivate)]);
  } finally {
    // Whatever went wrong above, what the supervisors printed is searched.
    searched();
  }

  // The reload failures said why, in fixed words (at least the file and line).
  t.regex(text.stdout, /error reload-failed .*frontend\.yaml/);
  const failures = json.stdout
    .split('\n')
    .filter((l) => l.includes('"reload-failed"'))
    .map((l) => JSON.parse(l) as { level: string; details: { error: string } });
  t.true(
    failures.every((f) => f.level === 'error' && /backend\.json/.test(f.details.error)),
    JSON.stringify(failures),
  );
  t.log(`reload failures of backend.json:\n${failures.map((f) => `  ${f.details.error}`).join('\n')}`);
  t.log(`events: text ${text.events().length}, JSON ${json.events().length}; ${leaks.checked} outputs searched`);
});

/** The keys of the WireGuard interfaces that are links of namespace `ns` (`wg show all dump` lists every UAPI socket of the machine). */
function tunnelKeys(ns: string): { interfaces: string[]; privateKeys: string[]; presharedKeys: string[] } {
  const links = (
    JSON.parse(execFileSync(toolPath('ip'), ['-n', ns, '-j', 'link', 'show'], { encoding: 'utf8' })) as Array<{ ifname: string }>
  ).map((l) => l.ifname);
  const dump = execFileSync(toolPath('ip'), ['netns', 'exec', ns, toolPath('wg'), 'show', 'all', 'dump'], { encoding: 'utf8' });
  const out = { interfaces: [] as string[], privateKeys: [] as string[], presharedKeys: [] as string[] };
  for (const line of dump.split('\n')) {
    const f = line.split('\t');
    if (!links.includes(f[0]!)) continue;
    // interface: name private-key public-key listen-port fwmark; peer: name public-key preshared-key endpoint …
    if (f.length === 5) {
      out.interfaces.push(f[0]!);
      out.privateKeys.push(f[1]!);
    } else if (f.length === 9 && f[2] !== '(none)') out.presharedKeys.push(f[2]!);
  }
  return out;
}

test('netfwd demo --keep (text and JSON) shows none of the keys it made', async (t) => {
  const kept: Array<{ namespaces: string[]; cleanup: string[] }> = [];
  t.teardown(async () => {
    for (const k of kept) {
      // The demo's own cleanup commands (its report lists them), then whatever is left of its namespaces.
      for (const cmd of k.cleanup) {
        try {
          runCleanup(cmd);
        } catch {
          /* already gone */
        }
      }
      for (const ns of k.namespaces) {
        if (!netns.exists(ns)) continue;
        // Its processes (the service, wireguard-go) by PID first: removing a namespace does not end them.
        const wgs = tunnelKeys(ns).interfaces;
        await endProcessesIn([ns]);
        await removeNetns(ns, wgs);
      }
    }
  });

  const text = await cliAsync(['demo', '--keep'], { env: { NETFWD_DEBUG: '1' } });
  const lab = /^ {2}the lab is still up: namespaces (.+)$/m.exec(text.stdout)?.[1]?.split(' ') ?? [];
  const cleanup =
    /^ {2}remove it with.*\n((?: {4}.+\n?)+)/m
      .exec(text.stdout)?.[1]
      ?.split('\n')
      .map((l) => l.trim())
      .filter(Boolean) ?? [];
  kept.push({ namespaces: lab, cleanup });
  const json = await cliAsync(['demo', '--keep', '--json', '--mode', 'connmark'], { env: { NETFWD_DEBUG: '1' } });
  let report: DemoReport | undefined;
  try {
    report = JSON.parse(json.stdout) as DemoReport;
    kept.push({ namespaces: Object.values(report.namespaces ?? {}), cleanup: report.kept?.cleanup ?? [] });
  } catch {
    /* asserted below */
  }

  // Both demos ran, every check held, and their labs are still up.
  t.is(text.code, 0, text.stdout + text.stderr);
  t.regex(text.stdout, /every check holds/);
  t.is(lab.length, 4, text.stdout);
  t.true(
    cleanup.some((c) => c.startsWith('netfwd down -c ')),
    text.stdout,
  );
  t.is(json.code, 0, json.stdout + json.stderr);
  t.true(report?.ok, json.stdout);
  t.is(Object.keys(report?.namespaces ?? {}).length, 4);

  for (const [label, r, namespaces, config] of [
    ['demo --keep', text, lab, /inspect it with: netfwd status -c (\S+)/.exec(text.stdout)?.[1]],
    ['demo --keep --json', json, Object.values(report?.namespaces ?? {}), report?.kept?.configs.frontend],
  ] as const) {
    const found = namespaces.filter((ns) => netns.exists(ns)).map(tunnelKeys);
    const interfaces = found.flatMap((k) => k.interfaces);
    const privateKeys = [...new Set(found.flatMap((k) => k.privateKeys))];
    const presharedKeys = [...new Set(found.flatMap((k) => k.presharedKeys))];
    // Not vacuous: both tunnels' private keys and their preshared key were read back.
    t.true(privateKeys.length >= 2, `${label}: private keys of ${interfaces.join(', ')}`);
    t.is(presharedKeys.length, 1, `${label}: preshared keys`);
    for (const k of [...privateKeys, ...presharedKeys]) t.regex(k, /^[A-Za-z0-9+/]{43}=$/);
    // The keys read back are the ones of the demo's configuration (kept, 0600).
    t.truthy(config, label);
    const spec = JSON.parse(readFileSync(config!, 'utf8')) as { tunnel: { privateKey: string; peers: Array<{ presharedKey: string }> } };
    t.true(privateKeys.includes(spec.tunnel.privateKey), `${label}: the frontend's key is among those read back`);
    t.is(presharedKeys[0], spec.tunnel.peers[0]!.presharedKey);

    const leaks = new Leaks([...privateKeys, ...presharedKeys]);
    leaks.check(t, `${label}: stdout`, r.stdout);
    leaks.check(t, `${label}: stderr`, r.stderr);
    for (const i of interfaces) {
      const log = `/run/netfwd/wireguard/${i}.log`;
      if (existsSync(log)) leaks.check(t, log, readFileSync(log, 'utf8'));
    }
    t.log(
      `${label}: ${privateKeys.length} private keys and ${presharedKeys.length} preshared key of ${interfaces.join(', ')}; ${leaks.checked} outputs searched`,
    );
  }
});

/** Runs one of the demo's cleanup commands: `netfwd …` through the built CLI, `kill PID` by its PID, the rest with the system's tool. */
function runCleanup(cmd: string): void {
  const [head, ...args] = cmd.split(' ');
  if (head === 'netfwd') execFileSync(process.execPath, [CLI, ...args], { stdio: 'pipe' });
  else if (head === 'kill') process.kill(Number(args[0]), 'SIGTERM');
  else execFileSync(toolPath(head!), args, { stdio: 'pipe' });
}

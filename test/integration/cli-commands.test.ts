/**
 * The built CLI (dist/cli.js) on its own: help and version, usage errors
 * (exit 2), invalid configurations (3), files holding secrets that others may
 * read (4, with the chmod 600 fix), keygen/genpsk/pubkey against `wg pubkey`,
 * keygen --out (mode 0600, never overwrites), and the root check (4). None of
 * this changes any network namespace.
 */

import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import test from 'ava';
import { EXIT, EXIT_TEXT } from '../../src/cli/exit-codes.js';
import { CLI, cli, missingBuild, tempDir, writeFile } from '../helpers/cli.js';
import { isRoot, toolPath } from '../helpers/kernel.js';

const hasWg = spawnSync(toolPath('wg'), ['--version'], { stdio: 'ignore' }).error === undefined;
const wgPubkey = (key: string) => execFileSync(toolPath('wg'), ['pubkey'], { input: `${key}\n`, encoding: 'utf8' }).trim();

test.before('the CLI is built', (t) => {
  const missing = missingBuild();
  if (missing) t.fail(missing);
  else t.pass(CLI);
});

/** A frontend configuration; `key` inline or as a file name. */
function frontendYaml(o: { key?: string; keyFile?: string; pskFile?: string; peer?: string }): string {
  const peerKey = 'K312MC01sAOgEwEJRYeidvC3WbKQyfJ73Q9lVC5/jXA=';
  return [
    'role: frontend',
    'netns: netfwd-cli-test-never-created',
    'tunnel:',
    '  interface: wgclitest',
    '  addresses: [10.0.0.1/24]',
    '  listenPort: 51820',
    o.key ? `  privateKey: ${o.key}` : `  privateKeyFile: ${o.keyFile}`,
    '  peers:',
    `    - { name: home, publicKey: ${peerKey}, addresses: [10.0.0.2]${o.pskFile ? `, presharedKeyFile: ${o.pskFile}` : ''} }`,
    'forwards:',
    `  - { protocol: tcp, port: 80, to: { peer: ${o.peer ?? 'home'}, port: 8080 } }`,
    '',
  ].join('\n');
}

test('help (and no command at all) prints every command and the exit codes', async (t) => {
  for (const args of [['help'], [], ['--help']]) {
    const r = await cli(args);
    t.is(r.code, EXIT.OK, args.join(' '));
    t.is(r.stderr, '');
    for (const c of [
      'up -c FILE',
      'down -c FILE',
      'plan -c FILE',
      'status -c FILE',
      'status [--netns NAME]',
      'doctor -c FILE',
      'keygen',
      'pubkey',
      'genpsk',
      'demo [--topology two-machine|lan|docker|recipe] [--mode uid|mark|connmark|snat]',
    ]) {
      t.true(r.stdout.includes(`netfwd ${c}`), `help names "${c}"`);
    }
    for (const [code, text] of Object.entries(EXIT_TEXT)) t.true(r.stdout.includes(`  ${code}  ${text}`), `exit code ${code}`);
  }
});

test('--version prints the package version', async (t) => {
  const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };
  const r = await cli(['--version']);
  t.is(r.code, EXIT.OK);
  t.is(r.stdout, `${pkg.version}\n`);
});

test('usage errors exit 2 with a message on stderr and nothing on stdout', async (t) => {
  const dir = tempDir(t);
  const cfg = writeFile(join(dir, 'fe.yaml'), frontendYaml({ keyFile: writeFile(join(dir, 'k'), `${'a'.repeat(43)}=\n`, 0o600) }), 0o644);
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /^netfwd: unknown command "frobnicate" \(see netfwd help\)\n$/],
    [['up', '--bogus'], /^netfwd: Unknown option '--bogus'/],
    [['up'], /^netfwd: this command needs -c FILE \(the configuration\)\n$/],
    [['down'], /needs -c FILE/],
    [['plan'], /needs -c FILE/],
    [['doctor'], /needs -c FILE/],
    [['plan', '-c'], /^netfwd: Option '-c, --config <value>' argument missing/],
    [['up', 'extra', '-c', cfg], /^netfwd: unexpected argument "extra"\n$/],
    [['status', '-c', cfg, '--netns', 'x'], /^netfwd: --netns is for status without -c/],
    [['keygen', '--json=3'], /^netfwd: Option '--json' does not take an argument/],
  ];
  for (const [args, stderr] of cases) {
    const r = await cli(args);
    t.is(r.code, EXIT.USAGE, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, stderr, args.join(' '));
    t.is(r.stdout, '', args.join(' '));
  }
});

test('invalid configurations exit 3 and name the file, line, column and field — without quoting keys', async (t) => {
  const dir = tempDir(t);
  const key = execFileSync(process.execPath, [CLI, 'keygen'], { encoding: 'utf8' }).trim();
  const keyFile = writeFile(join(dir, 'wg.key'), `${key}\n`, 0o600);
  const typo = writeFile(join(dir, 'typo.yaml'), frontendYaml({ keyFile, peer: 'hom' }), 0o644);
  const syntax = writeFile(join(dir, 'syntax.yaml'), `role: frontend\ntunnel: [\n  privateKey: ${key}\n`, 0o600);
  const cases: Array<[string, RegExp]> = [
    [typo, new RegExp(`^netfwd: ${typo}:11:\\d+: forwards\\[0\\]\\.to\\.peer: no peer is named "hom"; did you mean "home"\\?`)],
    [syntax, new RegExp(`^netfwd: ${syntax}:\\d+:\\d+: `)],
    [join(dir, 'missing.yaml'), /No such file or directory \(ENOENT\)/],
  ];
  for (const [i, [file, stderr]] of cases.entries()) {
    for (const command of i === 0 ? ['plan', 'up', 'down', 'status', 'doctor'] : ['up']) {
      const r = await cli([command, '-c', file]);
      t.is(r.code, EXIT.CONFIG, `${command} ${file}: ${r.stderr}`);
      t.regex(r.stderr, stderr);
      t.false(r.stderr.includes(key), 'the key is never printed');
      t.is(r.stdout, '');
    }
  }
});

test('a configuration or key file that others may read is refused with exit 4 and the chmod 600 fix; doctor reports it as a failed check (exit 5)', async (t) => {
  const dir = tempDir(t);
  const key = (await cli(['keygen'])).stdout.trim();
  const psk = (await cli(['genpsk'])).stdout.trim();
  const goodKey = writeFile(join(dir, 'good.key'), `${key}\n`, 0o600);
  const cases: Array<{ name: string; file: string; fix: string }> = [];
  const inline = writeFile(join(dir, 'inline.yaml'), frontendYaml({ key }), 0o644);
  cases.push({ name: 'inline key in a 0644 configuration', file: inline, fix: `run chmod 600 ${inline}, or move the key into a key file` });
  const openKey = writeFile(join(dir, 'open.key'), `${key}\n`, 0o640);
  cases.push({
    name: '0640 private key file',
    file: writeFile(join(dir, 'keyfile.yaml'), frontendYaml({ keyFile: openKey }), 0o644),
    fix: `run chmod 600 ${openKey})`,
  });
  const openPsk = writeFile(join(dir, 'open.psk'), `${psk}\n`, 0o604);
  cases.push({
    name: '0604 preshared key file',
    file: writeFile(join(dir, 'psk.yaml'), frontendYaml({ keyFile: goodKey, pskFile: openPsk }), 0o644),
    fix: `run chmod 600 ${openPsk})`,
  });
  for (const [i, c] of cases.entries()) {
    for (const command of i === 0 ? ['plan', 'up', 'down', 'status'] : ['up']) {
      const r = await cli([command, '-c', c.file]);
      t.is(r.code, EXIT.REFUSED, `${c.name}, ${command}: ${r.stderr}`);
      t.true(r.stderr.includes(c.fix), `${c.name}: ${r.stderr}`);
      t.regex(r.stderr, /group or others may access it \(mode 06[04][04]\)/);
      t.false(r.stderr.includes(key) || r.stderr.includes(psk), 'no key in the message');
    }
    // doctor is where one looks for such problems: it loads the file anyway and reports them, with the other checks.
    const unsafe = c.fix.replace(/^run chmod 600 /, '').replace(/(, or move the key into a key file|\))$/, '');
    const d = await cli(['doctor', '-c', c.file]);
    t.is(d.code, EXIT.CHECKS, `${c.name}, doctor: ${d.stderr}${d.stdout}`);
    t.regex(
      d.stdout,
      new RegExp(`^FAIL permissions of ${unsafe.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: mode 06[04][04]: chmod 600 `, 'm'),
      c.name,
    );
    t.regex(d.stdout, /^ok +nftables: /m, 'the other checks ran');
    t.false(d.stdout.includes(key) || d.stdout.includes(psk) || d.stderr.includes(key), 'no key in the output');
  }
  // The fix works: after chmod 600 the files pass the check (the namespace then does not exist, which is another error).
  for (const f of [inline, openKey, openPsk]) execFileSync('chmod', ['600', f]);
  for (const c of cases) {
    const r = await cli(['plan', '-c', c.file]);
    t.not(r.code, EXIT.REFUSED, `${c.name} after chmod 600: ${r.stderr}`);
    t.notRegex(r.stderr, /may access it/);
  }
});

(hasWg ? test : test.skip)('keygen and genpsk print fresh keys; pubkey agrees with wg pubkey', async (t) => {
  const a = await cli(['keygen']);
  const b = await cli(['keygen']);
  t.is(a.code, EXIT.OK);
  t.regex(a.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
  t.not(a.stdout, b.stdout);
  for (const key of [a.stdout.trim(), b.stdout.trim(), 'mH7ne9DOC4jCESHYjzsc91qDSVXhOLY3oPiADurPMHc=']) {
    const p = await cli(['pubkey'], { input: `${key}\n` });
    t.is(p.code, EXIT.OK);
    t.is(p.stdout.trim(), wgPubkey(key));
  }
  // The seed's example key pair.
  t.is(
    (await cli(['pubkey'], { input: 'mH7ne9DOC4jCESHYjzsc91qDSVXhOLY3oPiADurPMHc=' })).stdout,
    'tDbXnzbg81/H9HY1a7AhO+G7FsDkOuzbXJA6k8mGbiM=\n',
  );
  const psk = await cli(['genpsk']);
  t.is(psk.code, EXIT.OK);
  t.regex(psk.stdout, /^[A-Za-z0-9+/]{43}=\n$/);
});

test('pubkey refuses what is not a private key (exit 3) without echoing it', async (t) => {
  for (const input of ['', 'not a key', `${'A'.repeat(43)}`, 'deadbeef'.repeat(8)]) {
    const r = await cli(['pubkey'], { input });
    t.is(r.code, EXIT.CONFIG, JSON.stringify(input));
    t.is(r.stdout, '');
    t.regex(r.stderr, /^netfwd: stdin: not a WireGuard private key/);
    if (input) t.false(r.stderr.includes(input));
  }
});

(hasWg ? test : test.skip)('keygen --out writes the key with mode 0600, prints the public key and never overwrites', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'wg0.key');
  const r = await cli(['keygen', '--out', path]);
  t.is(r.code, EXIT.OK, r.stderr);
  t.is(statSync(path).mode & 0o777, 0o600);
  const key = readFileSync(path, 'utf8');
  t.regex(key, /^[A-Za-z0-9+/]{43}=\n$/);
  t.is(r.stdout.trim(), wgPubkey(key.trim()));
  t.false(r.stdout.includes(key.trim()), 'the private key is not printed');

  const again = await cli(['keygen', '--out', path]);
  t.is(again.code, EXIT.USAGE);
  t.regex(again.stderr, /exists: netfwd does not overwrite key files/);
  t.is(readFileSync(path, 'utf8'), key, 'unchanged');

  const psk = join(dir, 'home.psk');
  const g = await cli(['genpsk', '-o', psk]);
  t.is(g.code, EXIT.OK);
  t.is(statSync(psk).mode & 0o777, 0o600);
  t.is(g.stdout, '', 'a preshared key has no public half to print');
  t.is((await cli(['genpsk', '-o', psk])).code, EXIT.USAGE);
});

(isRoot ? test : test.skip)('commands that change or read the network refuse to run without root (exit 4)', async (t) => {
  const dir = tempDir(t);
  execFileSync('chmod', ['755', dir]);
  const key = (await cli(['keygen'])).stdout.trim();
  const keyFile = writeFile(join(dir, 'k.key'), `${key}\n`, 0o644);
  execFileSync('chown', ['1000:1000', keyFile]);
  execFileSync('chmod', ['600', keyFile]);
  const cfg = writeFile(join(dir, 'fe.yaml'), frontendYaml({ keyFile }), 0o644);
  for (const args of [['status'], ['status', '--netns', 'x'], ['demo'], ['plan', '-c', cfg], ['up', '-c', cfg]]) {
    const r = await cli(args, { uid: 1000, gid: 1000, cwd: dir });
    t.is(r.code, EXIT.REFUSED, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /needs root \(CAP_NET_ADMIN\): run it with sudo/);
  }
});

test('a reader that closes the pipe early (`netfwd help | head -0`) ends the command quietly, with its own exit code', async (t) => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [CLI, 'help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  // The read end closes before the CLI (still starting) writes a byte: its write fails with EPIPE.
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((done) => child.on('close', done));
  t.is(stderr, '', 'no EPIPE stack trace on stderr');
  t.is(code, EXIT.OK);
});

/**
 * Who may configure root (issue 16, item 5): the CLI refuses a configuration
 * file or key file that someone other than root (or the user running netfwd)
 * could change — writable by group or others, owned by another user, or in a
 * directory another user could replace it in — with exit 4, the path and the
 * fix, before it touches the kernel; `doctor` reports the same as a failed
 * check. A 0600 root-owned file, also directly in /tmp (sticky), is accepted.
 *
 * Each configuration names a namespace made for the test, which is compared
 * before and after every refused command.
 */
import { chmodSync, chownSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { EXIT } from '../../src/cli/exit-codes.js';
import { generatePrivateKey } from '../../src/wireguard/index.js';
import { cli, missingBuild, tempDir, writeFile } from '../helpers/cli.js';
import { freshNetns, kernelTest, run } from '../helpers/kernel.js';

const test = kernelTest(['ip', 'nft']);

/** The user who owns the "other user's" files (nobody). */
const OTHER_UID = 65534;

test.before('the CLI is built', (t) => {
  const missing = missingBuild();
  if (missing) t.fail(missing);
  else t.pass();
});

const PEER_KEY = 'K312MC01sAOgEwEJRYeidvC3WbKQyfJ73Q9lVC5/jXA=';

/**
 * A tunnel name of its own for each configuration: were a refusal to regress, up would create the
 * interface, and a userspace daemon's socket directory is shared by all namespaces.
 */
const ifnameFor = (ns: string) => `wgt${ns.slice(-6)}`;

function frontendYaml(ns: string, keyFile: string): string {
  return [
    'role: frontend',
    `netns: ${ns}`,
    'tunnel:',
    `  interface: ${ifnameFor(ns)}`,
    '  addresses: [10.0.0.1/24]',
    '  listenPort: 51820',
    `  privateKeyFile: ${keyFile}`,
    '  peers:',
    `    - { name: home, publicKey: ${PEER_KEY}, addresses: [10.0.0.2] }`,
    'forwards:',
    '  - { protocol: tcp, port: 80, to: { peer: home, port: 8080 } }',
    '',
  ].join('\n');
}

/** A 0600 key file and a 0600 configuration naming it, both root's, in `dir`. */
function writeSetup(dir: string, ns: string): { config: string; key: string } {
  const key = writeFile(join(dir, 'wg.key'), `${generatePrivateKey().toBase64()}\n`, 0o600);
  const config = writeFile(join(dir, 'frontend.yaml'), frontendYaml(ns, 'wg.key'), 0o600);
  return { config, key };
}

/** What netfwd could have changed in the namespace (and the root namespace's links, which a bad config could also name). */
function snapshot(ns: string): string {
  return [
    run('ip', ['-n', ns, '-d', 'link', 'show']),
    run('ip', ['-n', ns, 'addr', 'show']),
    run('ip', ['-n', ns, 'rule', 'show']),
    run('ip', ['-n', ns, '-6', 'rule', 'show']),
    run('ip', ['-n', ns, 'route', 'show', 'table', 'all']),
    run('ip', ['-n', ns, '-6', 'route', 'show', 'table', 'all']),
    run('ip', ['netns', 'exec', ns, 'nft', 'list', 'ruleset']),
    run('ip', ['netns', 'exec', ns, 'sysctl', '-n', 'net.ipv4.ip_forward', 'net.ipv6.conf.all.forwarding']),
  ].join('\n--\n');
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Runs `commands` on the configuration and expects each refused with exit 4, `path` and `fix` in
 * the message, and the namespace unchanged; then doctor reports it (exit 5, a FAIL line with the fix).
 */
async function expectRefused(
  t: ExecutionContext,
  ns: string,
  config: string,
  path: string,
  fix: string,
  problem: RegExp,
  commands = ['up', 'plan'],
): Promise<void> {
  const before = snapshot(ns);
  for (const command of commands) {
    const r = await cli([command, '-c', config]);
    t.is(r.code, EXIT.REFUSED, `${command}: ${r.stderr}`);
    t.true(r.stderr.includes(path), `${command}: the message names ${path}: ${r.stderr}`);
    t.true(r.stderr.includes(fix), `${command}: the message gives the fix "${fix}": ${r.stderr}`);
    t.regex(r.stderr, problem, command);
    t.is(r.stdout, '', `${command}: nothing on stdout`);
    t.is(snapshot(ns), before, `${command}: the namespace is unchanged`);
  }
  const d = await cli(['doctor', '-c', config]);
  t.is(d.code, EXIT.CHECKS, `doctor: ${d.stdout}${d.stderr}`);
  t.regex(d.stdout, new RegExp(`^FAIL permissions of ${escape(path)}: .*${escape(fix)}`, 'm'), d.stdout);
  t.notRegex(d.stdout, new RegExp(`^ok +permissions of ${escape(path)}:`, 'm'));
  t.is(snapshot(ns), before, 'doctor: the namespace is unchanged');
}

test('a configuration file others may write to (0666, 0620) is refused by every command that loads it, with chmod go-w', async (t) => {
  const ns = freshNetns(t, 'nftrust');
  const dir = tempDir(t);
  const { config } = writeSetup(dir, ns);
  chmodSync(config, 0o666);
  await expectRefused(t, ns, config, config, `chmod go-w ${config}`, /may be changed by group or others \(mode 0666\)/, [
    'up',
    'plan',
    'down',
    'status',
    'run',
  ]);
  chmodSync(config, 0o620);
  await expectRefused(t, ns, config, config, `chmod go-w ${config}`, /may be changed by group or others \(mode 0620\)/);
});

test('a configuration file owned by another user is refused, with chown root', async (t) => {
  const ns = freshNetns(t, 'nftrust');
  const dir = tempDir(t);
  const { config } = writeSetup(dir, ns);
  chownSync(config, OTHER_UID, OTHER_UID);
  await expectRefused(t, ns, config, config, `chown root ${config}`, new RegExp(`belongs to uid ${OTHER_UID}, not to root`));
});

test('a key file owned by another user is refused (even 0600), with chown root; a readable one still with chmod 600', async (t) => {
  const ns = freshNetns(t, 'nftrust');
  const dir = tempDir(t);
  const { config, key } = writeSetup(dir, ns);
  chownSync(key, OTHER_UID, OTHER_UID);
  await expectRefused(
    t,
    ns,
    config,
    key,
    `chown root ${key}`,
    new RegExp(`tunnel\\.privateKeyFile: "${escape(key)}" belongs to uid ${OTHER_UID}, not to root`),
  );
  chownSync(key, 0, 0);
  chmodSync(key, 0o620);
  await expectRefused(t, ns, config, key, `chmod 600 ${key}`, /holds a secret key but group or others may access it \(mode 0620\)/);
});

test('a directory group or others may write to without the sticky bit is refused, with chmod go-w on it', async (t) => {
  const ns = freshNetns(t, 'nftrust');
  const dir = tempDir(t);
  const sub = join(dir, 'etc');
  mkdirSync(sub);
  const { config } = writeSetup(sub, ns);
  chmodSync(sub, 0o770);
  await expectRefused(
    t,
    ns,
    config,
    config,
    `chmod go-w ${sub}`,
    new RegExp(
      `is in the directory "${escape(sub)}", which group or others may write to and which has no sticky bit \\(mode 0770\\), so they could replace it`,
    ),
  );
  // A directory further up counts too.
  chmodSync(sub, 0o700);
  chmodSync(dir, 0o777);
  await expectRefused(t, ns, config, config, `chmod go-w ${dir}`, new RegExp(`is under the directory "${escape(dir)}"`));
  // With the sticky bit nobody else can replace another user's file there: accepted.
  chmodSync(dir, 0o1777);
  const r = await cli(['plan', '-c', config]);
  t.is(r.code, EXIT.OK, r.stderr);
});

test('a key file in a directory another user owns is refused, with chown root on the directory', async (t) => {
  const ns = freshNetns(t, 'nftrust');
  const dir = tempDir(t);
  const keys = join(dir, 'keys');
  mkdirSync(keys, { mode: 0o700 });
  const key = writeFile(join(keys, 'wg.key'), `${generatePrivateKey().toBase64()}\n`, 0o600);
  const config = writeFile(join(dir, 'frontend.yaml'), frontendYaml(ns, key), 0o600);
  chownSync(keys, OTHER_UID, OTHER_UID);
  await expectRefused(
    t,
    ns,
    config,
    key,
    `chown root ${keys}`,
    new RegExp(`is in the directory "${escape(keys)}", which belongs to uid ${OTHER_UID}`),
  );
});

test('root-owned 0600 files are accepted, in a 0700 directory and directly in /tmp (sticky); doctor says ok', async (t) => {
  const ns = freshNetns(t, 'nftrust');
  const dir = tempDir(t);
  const { config, key } = writeSetup(dir, ns);
  const r = await cli(['plan', '-c', config]);
  t.is(r.code, EXIT.OK, r.stderr);
  t.true(r.stdout.includes(`+ link ${ifnameFor(ns)}: wireguard, up`), r.stdout);
  const d = await cli(['doctor', '-c', config, '--json']);
  const checks = (JSON.parse(d.stdout) as { checks: Array<{ name: string; ok: boolean; detail: string }> }).checks;
  for (const f of [config, key])
    t.like(
      checks.find((c) => c.name === `permissions of ${f}`),
      { ok: true, detail: 'mode 0600, owned by root' + (f === config ? ' (it names key files and holds no key itself)' : '') },
    );

  // A 0644 configuration that only names key files is fine too: others may read it, not change it.
  chmodSync(config, 0o644);
  t.is((await cli(['plan', '-c', config])).code, EXIT.OK);

  const inTmp = join(tmpdir(), `netfwd-trust-${process.pid}-${Date.now()}.yaml`);
  t.teardown(() => rmSync(inTmp, { force: true }));
  writeFile(inTmp, frontendYaml(ns, key), 0o600);
  t.not(statSync(tmpdir()).mode & 0o1002, 0o0002, `${tmpdir()} is writable by others only with the sticky bit`);
  const p = await cli(['plan', '-c', inTmp]);
  t.is(p.code, EXIT.OK, p.stderr);
});

test('import says when netfwd will refuse what it wrote (a directory others may write to), with the fix', async (t) => {
  const seed = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/import/seed-000-networkmanager-iptables');
  const dir = tempDir(t);
  chmodSync(dir, 0o777);
  const out = join(dir, 'frontend.yaml');
  const r = await cli(['import', join(seed, 'frontend/wg0.nmconnection'), join(seed, 'frontend/iptables'), '-o', out]);
  t.is(r.code, EXIT.OK, r.stderr);
  for (const f of [out, join(dir, 'frontend.key')]) {
    t.true(
      r.stderr.includes(`note: netfwd (as root) will refuse ${f}: it is in the directory "${dir}", which group or others may write to`),
      r.stderr,
    );
  }
  t.regex(r.stderr, new RegExp(`run chmod go-w ${escape(dir)}\\n`));
  // In a directory only root can change, nothing to say.
  chmodSync(dir, 0o700);
  const sub = join(dir, 'again');
  mkdirSync(sub, { mode: 0o700 });
  const again = await cli([
    'import',
    join(seed, 'frontend/wg0.nmconnection'),
    join(seed, 'frontend/iptables'),
    '-o',
    join(sub, 'frontend.yaml'),
  ]);
  t.is(again.code, EXIT.OK, again.stderr);
  t.notRegex(again.stderr, /note: netfwd \(as root\) will refuse/);
});

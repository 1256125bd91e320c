/**
 * netns.exec's user and group, writes of sysctls, and the addon when it cannot
 * start a thread — each in its own namespace. Oracles: /proc/self/status and
 * `id` of the started process, the sysctl read back, the error's code.
 */

import type { ChildProcess } from 'node:child_process';
import { spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NetfwdError, NetlinkError, ValidationError } from '../../src/errors.js';
import { addonPath } from '../../src/native.js';
import { NETNS_RUN_DIR, netns } from '../../src/netns/index.js';
import { freshNetns, kernelTest, run, toolPath, uniqueNetnsName } from '../helpers/kernel.js';

const test = kernelTest(['ip', 'prlimit']);

/**
 * The environment of a node child: this process's (in an asan-check run, the
 * sanitizer runtime the instrumented addon needs), without the leak check at
 * exit, which needs a thread (and writes a log) the limited child may not get.
 */
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (env.ASAN_OPTIONS !== undefined) env.ASAN_OPTIONS += ':detect_leaks=0';
  return env;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

function collect(child: ChildProcess): Promise<Ran> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d) => (stdout += d));
  child.stderr?.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The Uid, Gid and Groups lines of /proc/self/status of a process started by netns.exec. */
async function credentialsOf(
  ns: string,
  options: { uid?: number; gid?: number },
): Promise<{ uid: string[]; gid: string[]; groups: string[]; id: string[] }> {
  const r = await collect(
    netns.exec(ns, toolPath('sh'), ['-c', 'cat /proc/self/status; echo "id: $(id -u) $(id -g) $(id -G)"'], { ...options, cwd: '/' }),
  );
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  const field = (name: string) => (new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(r.stdout)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
  return { uid: field('Uid'), gid: field('Gid'), groups: field('Groups'), id: field('id') };
}

/** A user from the passwd database whose primary group differs from its uid (so a mix-up shows). */
function userWithOtherGroup(): { uid: number; gid: number } | undefined {
  const out = spawnSync(toolPath('getent'), ['passwd'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of out.split('\n')) {
    const [, , uid, gid] = line.split(':');
    if (uid === undefined || gid === undefined) continue;
    if (Number(uid) !== 0 && Number(gid) !== 0 && uid !== gid) return { uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

test('a uid of 2^31 and above runs as that uid, with exactly the given group', async (t) => {
  const ns = freshNetns(t);
  // Read as signed 32-bit these were negative, "not given": the command ran as root.
  for (const [uid, gid] of [
    [2 ** 31, 2 ** 31 + 1],
    [3_000_000_000, 3_000_000_001],
    [4_294_967_294, 4_294_967_293],
  ] as const) {
    const c = await credentialsOf(ns, { uid, gid });
    t.deepEqual(c.uid, [String(uid), String(uid), String(uid), String(uid)], `real, effective, saved, fs uid for ${uid}`);
    t.deepEqual(c.gid, [String(gid), String(gid), String(gid), String(gid)], `gids for ${uid}`);
    t.deepEqual(c.groups, [String(gid)], `the supplementary groups are exactly ${gid}`);
    t.deepEqual(c.id, [String(uid), String(gid), String(gid)], 'id -u, id -g, id -G');
  }
});

test('a uid without a gid runs with the primary group of its passwd entry, and only that group', async (t) => {
  const user = userWithOtherGroup();
  if (!user) {
    t.pass('no passwd entry whose primary group differs from its uid here');
    return;
  }
  const ns = freshNetns(t);
  const c = await credentialsOf(ns, { uid: user.uid });
  t.deepEqual(c.uid, Array(4).fill(String(user.uid)));
  t.deepEqual(c.gid, Array(4).fill(String(user.gid)), 'the primary group, not root’s group 0');
  t.deepEqual(c.groups, [String(user.gid)]);
});

test('a gid alone replaces root’s groups; without uid and gid the command stays root', async (t) => {
  const ns = freshNetns(t);
  const c = await credentialsOf(ns, { gid: 3_000_000_005 });
  t.deepEqual(c.uid, ['0', '0', '0', '0']);
  t.deepEqual(c.gid, Array(4).fill('3000000005'));
  t.deepEqual(c.groups, ['3000000005'], 'the supplementary groups are exactly the gid');
  const root = await credentialsOf(ns, {});
  t.deepEqual(root.uid, ['0', '0', '0', '0']);
  t.deepEqual(root.gid, ['0', '0', '0', '0']);
});

test('bad uids and gids, and a uid without passwd entry or gid, are refused before anything starts', async (t) => {
  const ns = freshNetns(t);
  const dir = mkdtempSync(join(tmpdir(), 'netfwd-exec-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const marker = join(dir, 'ran');
  const bad: Array<[string, Record<string, unknown>]> = [
    ['uid', { uid: -1, gid: 0 }],
    ['uid', { uid: 4_294_967_295, gid: 0 }],
    ['uid', { uid: 2 ** 32, gid: 0 }],
    ['uid', { uid: 1.5, gid: 0 }],
    ['uid', { uid: Number.NaN, gid: 0 }],
    ['uid', { uid: '1000', gid: 1000 }],
    ['gid', { uid: 1000, gid: -1 }],
    ['gid', { gid: 4_294_967_295 }],
    ['gid', { gid: Number.POSITIVE_INFINITY }],
    ['gid', { uid: 3_999_999_999 }],
  ];
  for (const [field, options] of bad) {
    const error = t.throws(
      () => netns.exec(ns, toolPath('touch'), [marker], options as { uid?: number; gid?: number }),
      { instanceOf: ValidationError },
      JSON.stringify(options),
    );
    t.is(error?.field, field, JSON.stringify(options));
  }
  t.regex(t.throws(() => netns.exec(ns, 'true', [], { uid: 3_999_999_999 }))!.message, /no passwd entry.*pass options\.gid/);
  // Nothing ran: the command would have created the marker.
  await new Promise((r) => setTimeout(r, 300));
  t.false(existsSync(marker));
  // The same values are refused even before the namespace is looked at.
  t.throws(() => netns.exec(uniqueNetnsName('missing'), 'true', [], { uid: -5 }), { instanceOf: ValidationError });
  t.throws(() => netns.exec(uniqueNetnsName('missing'), 'true', [], { uid: 0 }), { instanceOf: NetfwdError, message: /does not exist/ });
});

test('sysctl writes reach the namespace, and a refused write is a NetlinkError with its errno', (t) => {
  const ns = freshNetns(t);
  const host = run('cat', ['/proc/sys/net/ipv4/ip_default_ttl']).trim();
  t.is(netns.sysctl(ns, 'net.ipv4.ip_default_ttl', 33), '33');
  t.is(run('ip', ['netns', 'exec', ns, 'cat', '/proc/sys/net/ipv4/ip_default_ttl']).trim(), '33');
  // The kernel takes 1..255.
  const error = t.throws(() => netns.sysctl(ns, 'net.ipv4.ip_default_ttl', 256), { instanceOf: NetlinkError });
  t.is(error?.code, 'EINVAL');
  t.is(error?.errno, 22);
  t.regex(error!.message, /write \/proc\/sys\/net\/ipv4\/ip_default_ttl/);
  t.is(netns.sysctl(ns, 'net.ipv4.ip_default_ttl'), '33', 'unchanged by the refused write');
  t.is(run('cat', ['/proc/sys/net/ipv4/ip_default_ttl']).trim(), host, 'the host value is untouched');
});

// The child process for the thread-limit tests: plain CommonJS, so that it
// needs no loader; it loads the addon directly and prints what each call did.
const THREAD_LIMIT_CHILD = `
const addon = require(process.argv[1]);
const { execFileSync } = require('node:child_process');
const [, , prlimit, ns] = process.argv;
// The limit is set only now: node itself needs its threads to start.
execFileSync(prlimit, ['--pid', String(process.pid), '--nproc=1:1']);
const out = {};
const attempt = (name, fn) => {
  try { fn(); out[name] = 'ok'; } catch (e) { out[name] = { code: e.code, errno: e.errno, syscall: e.syscall, message: e.message }; }
};
attempt('read', () => addon.readFileInNetns(ns, '/proc/sys/net/ipv4/ip_forward'));
attempt('write', () => addon.writeFileInNetns(ns, '/proc/sys/net/ipv4/ip_forward', '0'));
attempt('socket', () => new addon.NetlinkSocket(0, ns || undefined).close());
process.stdout.write(JSON.stringify(out));
`;

test('a thread the addon cannot start (RLIMIT_NPROC) is an EAGAIN error, not an abort', (t) => {
  // RLIMIT_NPROC binds only processes without CAP_SYS_RESOURCE and CAP_SYS_ADMIN,
  // so the child runs as an otherwise unused uid (node's spawn takes int32 uids);
  // without a namespace path the calls need no privileges.
  const uid = randomInt(2_000_000_000, 2_100_000_000);
  // A copy of the addon that uid can read (asan-check builds it in a private directory).
  const dir = mkdtempSync(join(tmpdir(), 'netfwd-nproc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const addonCopy = join(dir, 'netfwd.node');
  copyFileSync(addonPath(), addonCopy);
  chmodSync(addonCopy, 0o755);
  const r = spawnSync(process.execPath, ['-e', THREAD_LIMIT_CHILD, addonCopy, toolPath('prlimit'), ''], {
    uid,
    gid: uid,
    cwd: '/',
    encoding: 'utf8',
    env: childEnv(),
    // Under asan-check a node child needs seconds to start (slow unwinding on every malloc).
    timeout: 240_000,
  });
  t.is(r.signal, null, `the child was not killed (${r.signal}): ${r.stderr}`);
  t.is(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as Record<string, { code: string; errno: number; syscall: string; message: string } | 'ok'>;
  for (const name of ['read', 'write', 'socket']) {
    const e = out[name];
    t.not(e, 'ok', `${name} could start its thread: the limit did not bind`);
    if (e === 'ok' || e === undefined) continue;
    t.is(e.code, 'EAGAIN', name);
    t.is(e.errno, 11, name);
    t.is(e.syscall, 'pthread_create', name);
    t.regex(e.message, /cannot start a thread/, name);
  }
});

/** A pids cgroup directory new children can be made in (v1 hierarchy, or the v2 root with pids enabled). */
function pidsCgroupParent(): string | undefined {
  if (existsSync('/sys/fs/cgroup/pids/cgroup.procs')) return '/sys/fs/cgroup/pids';
  try {
    if (readFileSync('/sys/fs/cgroup/cgroup.subtree_control', 'utf8').split(/\s+/).includes('pids')) return '/sys/fs/cgroup';
  } catch {
    // no cgroup v2 root here
  }
  return undefined;
}

const CGROUP_CHILD = `
const { readFileSync, writeFileSync, existsSync } = require('node:fs');
const addon = require(process.argv[1]);
const [, , cgroup, dir, name] = process.argv;
writeFileSync(cgroup + '/cgroup.procs', String(process.pid));
writeFileSync(cgroup + '/pids.max', readFileSync(cgroup + '/pids.current', 'utf8').trim());
const out = {};
try { addon.createNetns(dir, name); out.created = true; } catch (e) { out.code = e.code; out.syscall = e.syscall; }
out.left = existsSync(dir + '/' + name);
process.stdout.write(JSON.stringify(out));
`;

test('netns.create that cannot start its thread (pids cgroup) fails with EAGAIN and leaves no file behind', (t) => {
  const parent = pidsCgroupParent();
  if (!parent) {
    t.pass('no pids cgroup to limit a process with here');
    return;
  }
  // Root ignores RLIMIT_NPROC, but not a pids cgroup: the child (root, as
  // creating a namespace needs) moves itself into one that is full.
  const cgroup = join(parent, `netfwd-test-${process.pid}-${randomInt(1e9)}`);
  mkdirSync(cgroup);
  const name = uniqueNetnsName('nfwt-pids');
  t.teardown(() => {
    if (existsSync(`${NETNS_RUN_DIR}/${name}`)) netns.remove(name);
    rmdirSync(cgroup);
  });
  const r = spawnSync(process.execPath, ['-e', CGROUP_CHILD, addonPath(), cgroup, NETNS_RUN_DIR, name], {
    encoding: 'utf8',
    env: childEnv(),
    // Under asan-check a node child needs seconds to start (slow unwinding on every malloc).
    timeout: 240_000,
  });
  t.is(r.signal, null, `the child was not killed (${r.signal}): ${r.stderr}`);
  t.is(r.status, 0, r.stderr);
  t.deepEqual(JSON.parse(r.stdout), { code: 'EAGAIN', syscall: 'pthread_create', left: false });
  t.false(existsSync(`${NETNS_RUN_DIR}/${name}`));
});

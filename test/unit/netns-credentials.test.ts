/**
 * No privileges: the uid and gid checks of netns.exec (made before any process
 * or namespace is touched), the passwd lookup behind a uid given alone, and
 * the addon's file write going on after a short write.
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { ValidationError } from '../../src/errors.js';
import { addonPath } from '../../src/native.js';
import { MAX_ID, primaryGroupOf, resolveCredentials, validateId } from '../../src/netns/credentials.js';
import { netns } from '../../src/netns/index.js';

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

test('ids are integers from 0 to 4294967294; undefined and null are "not given"', (t) => {
  t.is(validateId(undefined, 'uid'), undefined);
  t.is(validateId(null, 'uid'), undefined);
  for (const ok of [0, 1, 1000, 2 ** 31 - 1, 2 ** 31, 3_000_000_000, MAX_ID]) t.is(validateId(ok, 'uid'), ok);
  t.is(MAX_ID, 4_294_967_294);
  for (const bad of [-1, -(2 ** 31), MAX_ID + 1, 2 ** 32, 2 ** 53, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1000', true, {}, 10n]) {
    const error = t.throws(() => validateId(bad, 'gid'), { instanceOf: ValidationError }, String(bad));
    t.is(error?.field, 'gid');
    t.regex(error!.message, /0 to 4294967294/);
  }
});

test('a uid alone gets its primary group from the passwd database; without an entry a gid is required', (t) => {
  t.is(primaryGroupOf(0), 0, 'root');
  t.deepEqual(resolveCredentials({ uid: 0 }), { uid: 0, gid: 0 });
  t.deepEqual(resolveCredentials({}), { uid: undefined, gid: undefined });
  t.deepEqual(resolveCredentials({ gid: 5 }), { uid: undefined, gid: 5 });
  t.deepEqual(resolveCredentials({ uid: 3_999_999_999, gid: 7 }), { uid: 3_999_999_999, gid: 7 });
  // Every uid of /etc/passwd (a subset of what NSS sees) resolves to the group
  // of its first entry, as getpwuid_r finds it.
  const seen = new Set<string>();
  for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
    const [, , uid, gid] = line.split(':');
    if (uid === undefined || gid === undefined || !/^\d+$/.test(uid) || seen.has(uid)) continue;
    seen.add(uid);
    t.deepEqual(resolveCredentials({ uid: Number(uid) }), { uid: Number(uid), gid: Number(gid) }, line);
  }
  t.is(primaryGroupOf(3_999_999_999), undefined);
  const error = t.throws(() => resolveCredentials({ uid: 3_999_999_999 }), { instanceOf: ValidationError });
  t.is(error?.field, 'gid');
  t.regex(error!.message, /uid 3999999999 has no passwd entry.*pass options\.gid/);
});

test('netns.exec refuses bad ids before it looks at the namespace or starts anything', (t) => {
  const missing = `nfwt-missing-${process.pid}`;
  t.throws(() => netns.exec(missing, 'true', [], { uid: 2 ** 32 }), { instanceOf: ValidationError, message: /^uid: / });
  t.throws(() => netns.exec(missing, 'true', [], { uid: -1 }), { instanceOf: ValidationError, message: /^uid: / });
  t.throws(() => netns.exec(missing, 'true', [], { gid: 0.5 }), { instanceOf: ValidationError, message: /^gid: / });
  t.throws(() => netns.exec(missing, 'true', [], { uid: 3_999_999_999 }), { instanceOf: ValidationError, message: /^gid: / });
});

const prlimit = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p));

// RLIMIT_FSIZE makes write() short: it writes up to the limit and returns that
// count; the next write fails with EFBIG (node ignores SIGXFSZ). The addon
// must go on after the short write and report the failure, not return as if
// everything had been written.
const WRITE_CHILD = `
const addon = require(process.argv[1]);
const [, , file, size] = process.argv;
try { addon.writeFileInNetns('', file, 'x'.repeat(Number(size))); process.stdout.write(JSON.stringify({ ok: true })); }
catch (e) { process.stdout.write(JSON.stringify({ code: e.code, errno: e.errno, syscall: e.syscall, message: e.message })); }
`;

(prlimit ? test : test.skip)('writeFileInNetns goes on after a short write and reports the error that stops it', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netfwd-write-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'target');
  const write = (limit: number, size: number) => {
    writeFileSync(file, '');
    const r = spawnSync(prlimit!, [`--fsize=${limit}`, process.execPath, '-e', WRITE_CHILD, addonPath(), file, String(size)], {
      encoding: 'utf8',
      env: childEnv(),
    });
    t.is(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { ok?: true; code?: string; errno?: number; syscall?: string; message?: string };
  };
  // Within the limit: everything is written.
  t.deepEqual(write(1000, 100), { ok: true });
  t.is(readFileSync(file, 'utf8'), 'x'.repeat(100));
  // Beyond it: the first write stops at 10 bytes, the second fails.
  const failed = write(10, 100);
  t.is(failed.code, 'EFBIG');
  t.is(failed.errno, 27);
  t.is(failed.syscall, `write ${file}`);
  t.regex(failed.message ?? '', /10 of 100 bytes written/);
  t.is(readFileSync(file, 'utf8').length, 10);
});

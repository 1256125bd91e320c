/**
 * The lane's cpio writer, read back by GNU cpio (an oracle nobody here
 * wrote): names, types, modes, symlink targets, device numbers and contents.
 */

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { cpioArchive } from './cpio.js';

const hasCpio = spawnSync('cpio', ['--version'], { stdio: 'ignore' }).error === undefined;
const cpioTest = hasCpio ? test : test.skip;
if (!hasCpio) process.stderr.write('skipping the cpio tests: GNU cpio is not installed\n');

const archive = () =>
  cpioArchive([
    { type: 'dir', path: '/bin' },
    { type: 'file', path: '/bin/hello', data: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
    { type: 'symlink', path: '/bin/sh', target: 'busybox' },
    { type: 'dir', path: '/dev' },
    { type: 'char', path: '/dev/console', major: 5, minor: 1 },
    // Odd lengths exercise the 4-byte padding of names and data.
    { type: 'file', path: '/abc', data: Buffer.from('x') },
    { type: 'file', path: '/empty', data: Buffer.alloc(0) },
  ]);

cpioTest('GNU cpio lists what was written', (t) => {
  const r = spawnSync('cpio', ['-itv', '--quiet'], { input: archive(), encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(lines.length, 7);
  t.regex(lines[0]!, /^drwxr-xr-x .* bin$/);
  t.regex(lines[1]!, /^-rwxr-xr-x .* 18 .* bin\/hello$/);
  t.regex(lines[2]!, /^lrwxrwxrwx .* bin\/sh -> busybox$/);
  t.regex(lines[4]!, /^crw------- .* 5,\s+1 .* dev\/console$/);
  t.regex(lines[5]!, /^-rw-r--r-- .* 1 .* abc$/);
});

cpioTest('GNU cpio extracts the same contents', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nfw-cpio-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // No device nodes: creating them is not the point here.
  const r = spawnSync('cpio', ['-id', '--quiet', '--no-absolute-filenames', '-D', dir, 'bin/*', 'abc', 'empty'], {
    input: archive(),
    encoding: 'utf8',
  });
  t.is(r.status, 0, r.stderr);
  t.is(readFileSync(join(dir, 'bin/hello'), 'utf8'), '#!/bin/sh\necho hi\n');
  t.is(statSync(join(dir, 'bin/hello')).mode & 0o777, 0o755);
  t.is(readlinkSync(join(dir, 'bin/sh')), 'busybox');
  t.is(readFileSync(join(dir, 'abc'), 'utf8'), 'x');
  t.is(statSync(join(dir, 'empty')).size, 0);
});

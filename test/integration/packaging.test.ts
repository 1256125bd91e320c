/**
 * The npm package as a user gets it: `npm pack`, then install the tarball into
 * an empty project whose PATH has no compiler (only node, npm, sh, python3), from
 * npm's cache with no network, and use it: the addon that gets loaded must be
 * the shipped prebuild (checked in /proc/self/maps) and it must really speak
 * netlink (a veth pair created in a fresh namespace, checked with `ip -j -d`).
 * The arm64 prebuild must be an aarch64 ELF; where qemu-user is installed,
 * Debian's arm64 Node.js runs the same check through it.
 *
 * The consumer project has a lockfile and installs with `npm ci --offline`:
 * the cache of a fresh `npm ci` (CI's) holds abbreviated registry metadata,
 * which is what `npm ci` needs; a lockfile-less `npm install --offline` wants
 * the full metadata and fails with ENOTCACHED there.
 */

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { freshNetns, ipJson, kernelSkipReason, kernelTest } from '../helpers/kernel.js';

const ktest = kernelTest(['ip']);
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const PREBUILD = 'netfwd.glibc.node';
const EM_X86_64 = 62;
const EM_AARCH64 = 183;

function which(cmd: string, path = process.env.PATH ?? ''): string | undefined {
  const r = spawnSync('/bin/sh', ['-c', `command -v ${cmd}`], { env: { PATH: path }, encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

const crossCompiler = which('aarch64-linux-gnu-g++');
const qemu = which('qemu-aarch64');
const arm64Reason = crossCompiler ? undefined : 'needs aarch64-linux-gnu-g++ (Debian: g++-aarch64-linux-gnu) to build the arm64 prebuild';
const qemuReason =
  arm64Reason ?? kernelSkipReason(['ip']) ?? (qemu ? undefined : 'needs qemu-aarch64 (Debian: qemu-user) to run an arm64 Node.js');
if (arm64Reason) process.stderr.write(`packaging: skipping the arm64 checks: ${arm64Reason}\n`);
else if (qemuReason) process.stderr.write(`packaging: skipping the arm64 run: ${qemuReason}\n`);

const scratch = mkdtempSync(join(tmpdir(), 'netfwd-pkg-'));
test.after.always(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs a command; returns status, stdout, and both streams together. */
function sh(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): { status: number; stdout: string; out: string } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? root, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
}

/** stdout of a command that must succeed. */
function must(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = sh(cmd, args, opts);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}:\n${r.out}`);
  return r.stdout;
}

/**
 * A bin directory with node, npm, sh and python3 only: no cc, gcc, g++, c++ or
 * make. python3 is there so that a build attempt gets as far as the compiler
 * (node-gyp looks for Python first) and fails for want of one.
 */
function hiddenBin(): string {
  const bin = join(scratch, 'bin');
  mkdirSync(bin);
  const npm = which('npm');
  if (!npm) throw new Error('npm is not on PATH');
  const npmCli = realpathSync(npm);
  symlinkSync(process.execPath, join(bin, 'node'));
  symlinkSync(npmCli, join(bin, 'npm'));
  symlinkSync('/bin/sh', join(bin, 'sh'));
  // The system's Python (a pyenv shim on PATH would need bash and its own PATH).
  const python = ['/usr/bin/python3', '/bin/python3'].find((p) => existsSync(p)) ?? which('python3');
  if (python) symlinkSync(realpathSync(python), join(bin, 'python3'));
  return bin;
}

/** The environment of the consumer: nothing inherited but HOME, so no npm_config_* of this run leaks in. */
function consumerEnv(bin: string): NodeJS.ProcessEnv {
  return { HOME: process.env.HOME ?? '/root', PATH: bin };
}

function sri(file: string): string {
  return `sha512-${createHash('sha512').update(readFileSync(file)).digest('base64')}`;
}

/**
 * An empty project that depends on the tarball, with a lockfile whose registry
 * entries (version and integrity) come from this repository's package-lock.json.
 */
function consumerProject(name: string, tarball: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir);
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
  const repoLock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dependencies?: Record<string, string> }>;
  };
  const spec = `file:${tarball}`;
  const packages: Record<string, unknown> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { netfwd: spec } },
    'node_modules/netfwd': {
      version: pkg.version,
      resolved: spec,
      integrity: sri(tarball),
      hasInstallScript: true,
      license: 'MIT',
      dependencies: pkg.dependencies,
    },
  };
  const todo = Object.keys(pkg.dependencies);
  while (todo.length) {
    const dep = todo.pop()!;
    const key = `node_modules/${dep}`;
    if (packages[key]) continue;
    const entry = repoLock.packages[key];
    if (!entry) throw new Error(`package-lock.json has no ${key}`);
    packages[key] = entry;
    todo.push(...Object.keys(entry.dependencies ?? {}));
  }
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, dependencies: { netfwd: spec } }, null, 2),
  );
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2),
  );
  // Imports the package by name, makes a veth pair in the namespace given, and
  // reports the links and every .node file mapped into this process.
  writeFileSync(
    join(dir, 'probe.mjs'),
    `import { Route } from 'netfwd';
import { readFileSync } from 'node:fs';
const route = await Route.open({ netns: process.argv[2] });
try {
  await route.links.add({ name: 'nfpkg0', kind: 'veth', mtu: 1400, peer: { name: 'nfpkg1' } });
  const links = (await route.links.list()).map((l) => ({ name: l.name, kind: l.kind ?? null, mtu: l.mtu }));
  const mapped = [...new Set(readFileSync('/proc/self/maps', 'utf8').split('\\n').map((l) => l.trim().split(/\\s+/)[5]).filter((p) => p && p.endsWith('.node')))];
  console.log(JSON.stringify({ arch: process.arch, node: process.version, links, mapped }));
} finally {
  route.close();
}
`,
  );
  return dir;
}

interface Installed {
  bin: string;
  tarball: string;
  files: string[];
  app: string;
  installOutput: string;
}

let installed: Promise<Installed> | undefined;

/** Once per file: prebuilds up to date, `npm pack`, install into a compiler-less project. */
function install(): Promise<Installed> {
  installed ??= (async () => {
    // Builds in a scratch copy; a no-op when the prebuilds are newer than native/.
    must('bash', [join(root, 'scripts/prebuild.sh'), 'x64', ...(crossCompiler ? ['arm64'] : [])]);
    if (!existsSync(join(root, 'dist/index.js'))) throw new Error('dist/ is missing: run `npx tsup` (npm test does) first');
    const packDir = join(scratch, 'pack');
    mkdirSync(packDir);
    // --ignore-scripts: prepare (tsup) and prepack (the prebuilds) already ran;
    // rebuilding dist/ here would race other test files that use it.
    const packed = JSON.parse(
      must('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', packDir]).replace(/^[^[]*/s, ''),
    ) as Array<{ filename: string; files: Array<{ path: string }> }>;
    const tarball = join(packDir, packed[0]!.filename);
    const bin = hiddenBin();
    const app = consumerProject('app', tarball);
    const cache = must('npm', ['config', 'get', 'cache']).trim();
    const r = sh('npm', ['ci', '--offline', '--cache', cache, '--foreground-scripts', '--no-audit', '--no-fund'], {
      cwd: app,
      env: consumerEnv(bin),
    });
    if (r.status !== 0) throw new Error(`npm ci of the tarball failed (${r.status}):\n${r.out}`);
    return { bin, tarball, files: packed[0]!.files.map((f) => f.path), app, installOutput: r.out };
  })();
  return installed;
}

/** ELF header fields of a file: class, byte order, type, machine. */
function elf(file: string): { magic: boolean; class64: boolean; little: boolean; type: number; machine: number } {
  const b = readFileSync(file);
  return {
    magic: b.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])),
    class64: b[4] === 2,
    little: b[5] === 1,
    type: b.readUInt16LE(16),
    machine: b.readUInt16LE(18),
  };
}

interface Probe {
  arch: string;
  node: string;
  links: Array<{ name: string; kind: string | null; mtu: number }>;
  mapped: string[];
}

function checkProbe(t: import('ava').ExecutionContext, probe: Probe, ns: string, expectedAddon: string): void {
  t.deepEqual(probe.mapped, [expectedAddon], 'the only addon mapped is the prebuild');
  const veth = probe.links.find((l) => l.name === 'nfpkg0');
  t.deepEqual(veth, { name: 'nfpkg0', kind: 'veth', mtu: 1400 });
  // The kernel's view, through iproute2.
  const [link] = ipJson(ns, ['-d', 'link', 'show', 'nfpkg0']);
  t.is(link.linkinfo.info_kind, 'veth');
  t.is(link.mtu, 1400);
  t.is(link.link, 'nfpkg1');
}

test('the tarball ships both prebuilds, the sources to rebuild, and no build directory', async (t) => {
  const { files, app } = await install();
  t.true(files.includes(`prebuilds/linux-x64/${PREBUILD}`), files.join(' '));
  if (!arm64Reason) t.true(files.includes(`prebuilds/linux-arm64/${PREBUILD}`), files.join(' '));
  for (const f of ['binding.gyp', 'native/addon.cc', 'dist/index.js', 'dist/cli.js', 'systemd/netfwd@.service'])
    t.true(files.includes(f), f);
  t.false(
    files.some((f) => f.startsWith('build/')),
    'build/ is not packed',
  );
  const x64 = elf(join(app, 'node_modules/netfwd/prebuilds/linux-x64', PREBUILD));
  t.deepEqual(x64, { magic: true, class64: true, little: true, type: 3, machine: EM_X86_64 });
});

(arm64Reason ? test.skip : test)('the arm64 prebuild is a 64-bit little-endian aarch64 shared object', async (t) => {
  const { app } = await install();
  const arm = elf(join(app, 'node_modules/netfwd/prebuilds/linux-arm64', PREBUILD));
  t.deepEqual(arm, { magic: true, class64: true, little: true, type: 3, machine: EM_AARCH64 });
  // And file(1), which nobody here wrote, agrees.
  const file = which('file');
  if (file)
    t.regex(
      must(file, ['-b', join(app, 'node_modules/netfwd/prebuilds/linux-arm64', PREBUILD)]),
      /ELF 64-bit LSB shared object, ARM aarch64/,
    );
});

ktest('npm ci of the tarball with no compiler uses the prebuild, and it speaks netlink', async (t) => {
  const { app, bin, installOutput } = await install();
  for (const tool of ['cc', 'gcc', 'g++', 'c++', 'make']) t.is(which(tool, bin), undefined, `${tool} is hidden`);
  // The package's install script ran (node-gyp-build), found the prebuild loadable, and built nothing.
  t.regex(installOutput, /> netfwd@[^ ]+ install\n> node-gyp-build/);
  t.false(existsSync(join(app, 'node_modules/netfwd/build')), 'nothing was compiled');

  const ns = freshNetns(t, 'nfpkg');
  const out = must(join(bin, 'node'), ['probe.mjs', ns], { cwd: app, env: consumerEnv(bin) });
  const probe = JSON.parse(out) as Probe;
  t.is(probe.arch, 'x64');
  checkProbe(t, probe, ns, join(realpathSync(app), 'node_modules/netfwd/prebuilds/linux-x64', PREBUILD));
});

ktest('with install scripts off (--ignore-scripts, or not approved), the prebuild is found at run time', async (t) => {
  const { tarball, bin } = await install();
  const app = consumerProject('app-noscripts', tarball);
  const cache = must('npm', ['config', 'get', 'cache']).trim();
  const r = sh('npm', ['ci', '--offline', '--ignore-scripts', '--cache', cache, '--foreground-scripts', '--no-audit', '--no-fund'], {
    cwd: app,
    env: consumerEnv(bin),
  });
  t.is(r.status, 0, r.out);
  t.notRegex(r.out, /> node-gyp-build/, 'the install script did not run');
  const ns = freshNetns(t, 'nfpkg');
  const probe = JSON.parse(must(join(bin, 'node'), ['probe.mjs', ns], { cwd: app, env: consumerEnv(bin) })) as Probe;
  checkProbe(t, probe, ns, join(realpathSync(app), 'node_modules/netfwd/prebuilds/linux-x64', PREBUILD));
});

ktest('without the prebuilds the same offline install fails: nothing can be compiled there', async (t) => {
  const { tarball, bin } = await install();
  // The same tarball less prebuilds/.
  const unpack = join(scratch, 'noprebuilds');
  mkdirSync(unpack);
  must('tar', ['-xzf', tarball, '-C', unpack]);
  rmSync(join(unpack, 'package/prebuilds'), { recursive: true });
  const stripped = join(scratch, 'netfwd-noprebuilds.tgz');
  must('tar', ['-czf', stripped, '-C', unpack, 'package']);
  const app = consumerProject('app-noprebuilds', stripped);
  const cache = must('npm', ['config', 'get', 'cache']).trim();
  const r = sh('npm', ['ci', '--offline', '--cache', cache, '--foreground-scripts', '--no-audit', '--no-fund'], {
    cwd: app,
    env: consumerEnv(bin),
  });
  t.not(r.status, 0, r.out);
  // node-gyp got past Python and configure, and found no make to build with.
  t.regex(r.out, /gyp ERR! .*not found: make/, r.out);
  const built = existsSync(join(app, 'node_modules/netfwd/build/Release'))
    ? readdirSync(join(app, 'node_modules/netfwd/build/Release'))
    : [];
  t.false(built.some((f) => f.endsWith('.node')));
});

(qemuReason ? test.skip : test)(
  "Debian's arm64 Node.js under qemu-user loads the arm64 prebuild from the package and speaks netlink",
  async (t) => {
    const { app } = await install();
    const sysroot = process.env.NETFWD_ARM64_SYSROOT ?? '/tmp/netfwd-arm64-sysroot';
    // Downloads nodejs:arm64 and its libraries once (kept for later runs); apt's state on the host is untouched.
    must('bash', [join(root, 'scripts/prebuild-arm64-sysroot.sh'), sysroot]);
    const ns = freshNetns(t, 'nfpkg');
    const out = must(qemu!, ['-L', sysroot, join(sysroot, 'usr/bin/node'), 'probe.mjs', ns], { cwd: app, env: { PATH: '/nonexistent' } });
    const probe = JSON.parse(out) as Probe;
    t.is(probe.arch, 'arm64');
    checkProbe(t, probe, ns, join(realpathSync(app), 'node_modules/netfwd/prebuilds/linux-arm64', PREBUILD));
  },
);

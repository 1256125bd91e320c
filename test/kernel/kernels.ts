/**
 * Kernels for the VM lane: Debian kernel packages fetched with apt-get
 * download and unpacked with dpkg-deb -x into a cache directory outside the
 * repository (nothing is installed on the host), made ready to boot: modules
 * indexed with depmod, the uncompressed vmlinux taken out of the bzImage (qemu
 * boots it through its PVH entry, skipping decompression), and a tiny
 * initramfs that mounts the host's root over virtio-9p.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { buildInitramfs } from './initramfs.js';

export interface KernelSpec {
  /** Short name used on the command line and in the output: '6.1', '6.12'. */
  id: string;
  /** The metapackage that names the current image package of this series. */
  meta: string;
  what: string;
  /**
   * apt sources for a suite the host does not list: apt-get runs with a
   * private source list, package lists and cache under the cache directory
   * (the host's apt configuration and state stay untouched).
   */
  sources?: string[];
}

/**
 * Debian 12's kernels: 6.1 (bookworm) and 6.12 (bookworm-security, the
 * series Debian 12 moved to). The generic amd64 flavour, not cloud-amd64: the
 * cloud kernels have no 9p.
 */
export const KERNELS: readonly KernelSpec[] = [
  { id: '6.1', meta: 'linux-image-amd64', what: "Debian 12's 6.1" },
  { id: '6.12', meta: 'linux-image-6.12-amd64', what: "Debian 12's 6.12" },
  // The newest Debian kernel (7.x in 2026): the side of features that need 6.16 and later.
  {
    id: 'latest',
    meta: 'linux-image-amd64',
    what: "Debian 13 backports' newest",
    sources: ['deb http://deb.debian.org/debian trixie-backports main'],
  },
];

export interface PreparedKernel {
  id: string;
  package: string;
  version: string;
  /** uname -r of the guest. */
  release: string;
  /** The unpacked package. */
  root: string;
  /** /lib/modules/RELEASE of the unpacked package (bind-mounted over the guest's /lib/modules/RELEASE). */
  modules: string;
  /** What qemu boots: the ELF vmlinux when it could be extracted, else the bzImage. */
  image: string;
  initramfs: string;
}

export function cacheDir(): string {
  return process.env.NETFWD_KERNEL_CACHE || '/var/cache/netfwd-kernel-lane';
}

function sh(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** apt options of a kernel with its own sources, after refreshing their lists (at most twice a day). */
function aptOptions(spec: KernelSpec): string[] {
  if (!spec.sources) return [];
  const dir = join(cacheDir(), 'apt', spec.id);
  mkdirSync(join(dir, 'lists/partial'), { recursive: true });
  mkdirSync(join(dir, 'cache/archives/partial'), { recursive: true });
  writeFileSync(join(dir, 'sources.list'), `${spec.sources.join('\n')}\n`);
  const opts = [
    '-o',
    `Dir::Etc::SourceList=${join(dir, 'sources.list')}`,
    '-o',
    'Dir::Etc::SourceParts=/nonexistent',
    '-o',
    `Dir::State::Lists=${join(dir, 'lists')}`,
    '-o',
    `Dir::Cache=${join(dir, 'cache')}`,
    '-o',
    'Dir::State::status=/dev/null',
  ];
  const stamp = join(dir, 'updated');
  if (!existsSync(stamp) || Date.now() - statSync(stamp).mtimeMs > 12 * 3600_000) {
    sh('apt-get', [...opts, '-q', 'update']);
    writeFileSync(stamp, new Date().toISOString());
  }
  return opts;
}

/**
 * The image package the metapackage depends on, its candidate version, and
 * the packages it is split into since Debian's 6.19 (linux-binary-*,
 * linux-modules-*, linux-base-*: kernel, modules and their indexes are
 * there, the image package is empty).
 */
function resolvePackage(spec: KernelSpec, apt: string[]): { package: string; version: string; parts: string[] } {
  const deps = sh('apt-cache', [
    ...apt,
    'depends',
    '--no-recommends',
    '--no-suggests',
    '--no-conflicts',
    '--no-breaks',
    '--no-replaces',
    '--no-enhances',
    spec.meta,
  ]);
  const pkg = /Depends:\s*(linux-image-\S+)/.exec(deps)?.[1];
  if (!pkg) throw new Error(`${spec.meta} depends on no linux-image package (apt-cache depends said: ${deps.trim()})`);
  const show = sh('apt-cache', [...apt, 'show', '--no-all-versions', pkg]);
  const version = /^Version:\s*(\S+)/m.exec(show)?.[1];
  if (!version) throw new Error(`apt-cache show ${pkg} gave no version`);
  const depends = /^Depends:(.*)$/m.exec(show)?.[1] ?? '';
  const parts = [...depends.matchAll(/(linux-(?:binary|modules|base)-\S+) \(= ([^)]+)\)/g)]
    .filter((m) => m[2] === version)
    .map((m) => m[1]!);
  return { package: pkg, version, parts };
}

/** A kernel prepared earlier for this id (used when apt cannot resolve, e.g. offline). */
function cachedFor(id: string): PreparedKernel | undefined {
  const dir = join(cacheDir(), 'kernels');
  if (!existsSync(dir)) return undefined;
  const found = readdirSync(dir)
    .map((d) => join(dir, d, 'kernel.json'))
    .filter((f) => existsSync(f))
    .map((f) => JSON.parse(readFileSync(f, 'utf8')) as PreparedKernel)
    .filter((k) => k.id === id)
    .sort((a, b) => statSync(b.image).mtimeMs - statSync(a.image).mtimeMs);
  return found[0];
}

/** Whether a process of this PID runs (EPERM: it does, as another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Downloads, unpacks and readies one kernel; reuses the cache when it is there. */
export function prepareKernel(spec: KernelSpec, log: (line: string) => void = () => undefined): PreparedKernel {
  let resolved: { package: string; version: string; parts: string[] };
  let apt: string[];
  try {
    apt = aptOptions(spec);
    resolved = resolvePackage(spec, apt);
  } catch (err) {
    const cached = cachedFor(spec.id);
    if (cached) {
      log(`apt could not resolve ${spec.meta} (${(err as Error).message}); using the cached ${cached.package} ${cached.version}`);
      return cached;
    }
    throw err;
  }
  const dir = join(cacheDir(), 'kernels', `${resolved.package}_${resolved.version}`.replace(/[^A-Za-z0-9._+~-]/g, '_'));
  const marker = join(dir, 'kernel.json');
  if (existsSync(marker)) return JSON.parse(readFileSync(marker, 'utf8')) as PreparedKernel;

  const debs = join(cacheDir(), 'debs');
  mkdirSync(debs, { recursive: true });
  mkdirSync(join(cacheDir(), 'kernels'), { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  // Left over by an interrupted run: its pid is in the name, and it no longer runs.
  for (const f of readdirSync(join(cacheDir(), 'kernels'))) {
    const path = join(cacheDir(), 'kernels', f);
    if (path.startsWith(`${dir}.tmp-`) && !alive(Number(path.slice(`${dir}.tmp-`.length)))) rmSync(path, { recursive: true, force: true });
  }
  const root = join(tmp, 'root');
  mkdirSync(root, { recursive: true });
  const escaped = resolved.version.replace(/:/g, '%3a');
  for (const pkg of [resolved.package, ...resolved.parts]) {
    const debName = (f: string) => f.startsWith(`${pkg}_${escaped}_`) && f.endsWith('.deb');
    let deb = readdirSync(debs).find(debName);
    if (!deb) {
      log(`apt-get download ${pkg}=${resolved.version} into ${debs}`);
      // Not installed: apt-get download only fetches the .deb into the current directory.
      sh('apt-get', [...apt, 'download', '-q', `${pkg}=${resolved.version}`], debs);
      deb = readdirSync(debs).find(debName);
      if (!deb) throw new Error(`apt-get download left no ${pkg} .deb in ${debs}`);
    }
    log(`dpkg-deb -x ${deb}`);
    sh('dpkg-deb', ['-x', join(debs, deb), root]);
  }
  // Debian 12 ships /lib/modules, Debian 13 /usr/lib/modules.
  const modulesBase = existsSync(join(root, 'lib/modules')) ? 'lib/modules' : 'usr/lib/modules';
  const releases = readdirSync(join(root, modulesBase));
  if (releases.length !== 1) throw new Error(`${resolved.package} holds ${releases.length} module trees`);
  const release = releases[0]!;
  // depmod -b looks under lib/modules: give a merged-/usr tree the link a merged-/usr system has.
  if (modulesBase === 'usr/lib/modules' && !existsSync(join(root, 'lib'))) symlinkSync('usr/lib', join(root, 'lib'));
  // Debian's postinst runs depmod on install; the unpacked tree needs it for modprobe in the guest.
  sh('depmod', ['-b', root, release]);
  // /boot/vmlinuz-RELEASE, or beside the modules in the split packages.
  const vmlinuz = [join(root, 'boot', `vmlinuz-${release}`), join(root, modulesBase, release, 'vmlinuz')].find((f) => existsSync(f));
  if (!vmlinuz) throw new Error(`${resolved.package} holds no vmlinuz for ${release}`);
  let image = vmlinuz;
  try {
    const elf = extractVmlinux(readFileSync(vmlinuz));
    writeFileSync(join(tmp, 'vmlinux'), elf);
    image = join(dir, 'vmlinux');
  } catch (err) {
    log(`booting the bzImage: no vmlinux could be extracted (${(err as Error).message})`);
    image = join(dir, vmlinuz.slice(tmp.length + 1));
  }
  const modules = join(root, modulesBase, release);
  writeFileSync(join(tmp, 'initramfs.cpio'), buildInitramfs(modules));
  const kernel: PreparedKernel = {
    id: spec.id,
    package: resolved.package,
    version: resolved.version,
    release,
    root: join(dir, 'root'),
    modules: join(dir, 'root', modulesBase, release),
    image,
    initramfs: join(dir, 'initramfs.cpio'),
  };
  writeFileSync(join(tmp, 'kernel.json'), JSON.stringify(kernel, null, 2));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return kernel;
}

/**
 * The ELF vmlinux inside a bzImage: the payload the boot protocol header
 * points at (setup_sects at 0x1f1, payload_offset/length at 0x248/0x24c,
 * relative to the protected-mode code after the setup sectors), decompressed
 * according to its magic.
 */
export function extractVmlinux(bz: Buffer): Buffer {
  if (bz.readUInt32LE(0x202) !== 0x53726448) throw new Error('no "HdrS" boot header');
  const setupSects = bz[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + bz.readUInt32LE(0x248);
  const payload = bz.subarray(start, start + bz.readUInt32LE(0x24c));
  let out: Buffer;
  if (payload[0] === 0x1f && payload[1] === 0x8b) out = gunzipSync(payload);
  else if (payload.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) {
    out = execFileSync('xz', ['-dc', '--single-stream'], { input: payload, maxBuffer: 1 << 30 });
  } else if (payload.readUInt32LE(0) === 0xfd2fb528) {
    // The kernel appends the uncompressed size (4 bytes) after the zstd frame.
    out = execFileSync('zstd', ['-dcq'], { input: payload.subarray(0, payload.length - 4), maxBuffer: 1 << 30 });
  } else throw new Error(`payload compressed with an unknown method (magic ${payload.subarray(0, 4).toString('hex')})`);
  if (out.readUInt32BE(0) !== 0x7f454c46) throw new Error('the payload is no ELF file');
  return out;
}

/** Which kernels to use: ids given, or all. */
export function selectKernels(ids: readonly string[]): KernelSpec[] {
  if (ids.length === 0) return [...KERNELS];
  return ids.map((id) => {
    const spec = KERNELS.find((k) => k.id === id);
    if (!spec) throw new Error(`unknown kernel ${JSON.stringify(id)}: one of ${KERNELS.map((k) => k.id).join(', ')}`);
    return spec;
  });
}

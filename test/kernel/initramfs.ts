/**
 * The lane's initramfs: the host's dynamic busybox and its libraries, the
 * modules needed to reach the host's root (virtio transport and console,
 * 9p, overlay — modules in Debian's kernels, decompressed here because
 * busybox insmod takes plain .ko files), and /init, which mounts the host's
 * root read-only over virtio-9p under a tmpfs overlay and switch_roots into
 * it. The job script named on the kernel command line (netfwd.job=PATH, a
 * file in the host's cache directory, so visible through 9p) then runs as
 * PID 1 of the real root.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { type CpioEntry, cpioArchive } from './cpio.js';

/** What /init loads, with everything they depend on (modules.dep); built-in ones are skipped. */
const NEEDED = ['virtio_pci', 'virtio_console', '9pnet_virtio', '9p', 'overlay'];

const modName = (path: string) =>
  basename(path)
    .replace(/\.ko(\.xz|\.zst|\.gz)?$/, '')
    .replace(/-/g, '_');

/** Module files (paths relative to the module tree) in load order: dependencies first. */
export function moduleLoadOrder(modulesDir: string, needed: readonly string[] = NEEDED): string[] {
  const deps = new Map<string, { path: string; deps: string[] }>();
  for (const line of readFileSync(join(modulesDir, 'modules.dep'), 'utf8').split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon);
    deps.set(modName(path), {
      path,
      deps: line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean)
        .map(modName),
    });
  }
  const builtin = new Set(readFileSync(join(modulesDir, 'modules.builtin'), 'utf8').split('\n').filter(Boolean).map(modName));
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string, from: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    const m = deps.get(name);
    if (!m) {
      if (builtin.has(name)) return;
      throw new Error(`module ${name} (needed by ${from}) is neither in modules.dep nor built in`);
    }
    for (const d of m.deps) visit(d, name);
    order.push(m.path);
  };
  for (const n of needed) visit(n, '/init');
  return order;
}

function decompressed(file: string): Buffer {
  if (file.endsWith('.xz')) return execFileSync('xz', ['-dc', file], { maxBuffer: 1 << 28 });
  if (file.endsWith('.zst')) return execFileSync('zstd', ['-dcq', file], { maxBuffer: 1 << 28 });
  if (file.endsWith('.gz')) return execFileSync('gzip', ['-dc', file], { maxBuffer: 1 << 28 });
  return readFileSync(file);
}

/** The shared libraries a dynamic program loads (ldd), as absolute paths. */
function libraries(program: string): string[] {
  const out = execFileSync('ldd', [program], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push(m[1]!);
  }
  return libs;
}

const INIT = `#!/bin/sh
# netfwd kernel lane, stage 1 (initramfs): reach the host's root, switch to it.
PATH=/bin
fail() { echo "netfwd-lane init: $*"; busybox poweroff -f; }
busybox mount -t proc proc /proc
busybox mount -t sysfs sysfs /sys
busybox mount -t devtmpfs devtmpfs /dev
for m in $(busybox cat /modules/order); do busybox insmod "/modules/$m" || fail "insmod $m"; done
busybox mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /host || fail "mount the host root over 9p"
busybox mount -t tmpfs -o mode=0755 tmpfs /rw
busybox mkdir -p /rw/upper /rw/work
busybox mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work overlay /newroot || fail "mount the overlay"
job=
for w in $(busybox cat /proc/cmdline); do case "$w" in netfwd.job=*) job="\${w#netfwd.job=}";; esac; done
[ -n "$job" ] || fail "no netfwd.job= on the kernel command line"
for d in proc sys dev; do busybox mount --move "/$d" "/newroot/$d" || fail "move /$d"; done
exec busybox switch_root /newroot /bin/sh "$job"
`;

/** The initramfs (newc cpio, uncompressed) for the kernel whose module tree is `modulesDir`. */
export function buildInitramfs(modulesDir: string): Buffer {
  const busybox = '/bin/busybox';
  if (!existsSync(busybox)) throw new Error('the kernel lane needs busybox on the host (/bin/busybox)');
  const entries: CpioEntry[] = [];
  const dirs = new Set<string>();
  const dir = (p: string) => {
    const parts = p.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const d = `/${parts.slice(0, i).join('/')}`;
      if (!dirs.has(d)) {
        dirs.add(d);
        entries.push({ type: 'dir', path: d });
      }
    }
  };
  for (const d of ['/bin', '/dev', '/proc', '/sys', '/host', '/rw', '/newroot', '/modules']) dir(d);
  entries.push({ type: 'char', path: '/dev/console', major: 5, minor: 1 });
  entries.push({ type: 'file', path: '/bin/busybox', data: readFileSync(busybox), mode: 0o755 });
  entries.push({ type: 'symlink', path: '/bin/sh', target: 'busybox' });
  for (const lib of libraries(busybox)) {
    // Under the same absolute path the program asks for (/lib64/ld-linux-x86-64.so.2, …), as a plain directory.
    dir(lib.slice(0, lib.lastIndexOf('/')));
    entries.push({ type: 'file', path: lib, data: readFileSync(lib), mode: 0o755 });
  }
  const order: string[] = [];
  for (const rel of moduleLoadOrder(modulesDir)) {
    const name = `${String(order.length).padStart(2, '0')}-${modName(rel)}.ko`;
    entries.push({ type: 'file', path: `/modules/${name}`, data: decompressed(join(modulesDir, rel)) });
    order.push(name);
  }
  entries.push({ type: 'file', path: '/modules/order', data: Buffer.from(`${order.join('\n')}\n`) });
  entries.push({ type: 'file', path: '/init', data: Buffer.from(INIT), mode: 0o755 });
  return cpioArchive(entries);
}

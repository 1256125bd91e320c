/**
 * Boots a prepared kernel in qemu and runs one command inside it: the
 * guest's root is the host's own root (read-only over virtio-9p, a tmpfs
 * overlay on top), so it runs the host's node, this checkout and Debian's
 * tools unchanged. The command's stdout, stderr and exit status come back
 * over three virtio-serial ports; the guest powers off when done. qemu gets a
 * hard timeout after which its PID is killed: a guest that hangs (or a qemu
 * that pauses after a KVM internal error) never blocks the lane.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { alive, cacheDir, type PreparedKernel } from './kernels.js';

export type Accel = 'kvm' | 'tcg';

export interface RunOptions {
  kernel: PreparedKernel;
  /** argv of the command, run with /bin/sh -c semantics avoided: each word is quoted. */
  command: string[];
  cwd: string;
  env?: Record<string, string>;
  accel: Accel;
  memoryMiB?: number;
  /** Hard limit for the whole VM run (boot included), in ms. */
  timeoutMs: number;
  /** Called with the command's stdout as it arrives. */
  onStdout?: (chunk: string) => void;
}

export interface RunResult {
  /** Exit status of the command, or null when the guest never reported one. */
  status: number | null;
  stdout: string;
  stderr: string;
  /** The guest's serial console (kernel messages and the initramfs' own output). */
  console: string;
  seconds: number;
  timedOut: boolean;
}

const QEMU = 'qemu-system-x86_64';
const running = new Set<ChildProcess>();

/** Kills the qemu processes this module started (by PID), e.g. on Ctrl-C. */
export function killAll(): void {
  for (const child of running) if (child.pid) process.kill(child.pid, 'SIGKILL');
}

export function qemuAvailable(): string | undefined {
  const r = spawnSync(QEMU, ['--version'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `${QEMU} is not installed (apt-get install --no-install-recommends qemu-system-x86)`;
  return undefined;
}

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Stage 2, run by the host's /bin/sh as PID 1 of the guest after switch_root. */
function jobScript(o: RunOptions): string {
  const env = Object.entries({ ...o.env })
    .map(([k, v]) => `export ${k}=${quote(v)}`)
    .join('\n');
  return `#!/bin/sh
# netfwd kernel lane, stage 2: PID 1 of the guest, on the host's root under a tmpfs overlay.
port() { for p in /sys/class/virtio-ports/*; do [ "$(cat "$p/name")" = "$1" ] && echo "/dev/\${p##*/}" && return; done; echo /dev/null; }
OUT=$(port netfwd.out); ERR=$(port netfwd.err); STATUS=$(port netfwd.status)
finish() { echo "$1" > "$STATUS"; busybox poweroff -f; }
# A working directory under /tmp or /run (a CI checkout may be) survives the fresh tmpfs mounted there.
CWD=${quote(o.cwd)}
case "$CWD" in /tmp/*|/run/*) mkdir -p /.netfwd-cwd && mount --bind "$CWD" /.netfwd-cwd || finish 125 ;; esac
mount -t tmpfs -o mode=0755 tmpfs /run || finish 125
mount -t tmpfs -o mode=1777 tmpfs /tmp || finish 125
case "$CWD" in /tmp/*|/run/*) mkdir -p "$CWD" && mount --bind /.netfwd-cwd "$CWD" || finish 125 ;; esac
mkdir -p /dev/pts /dev/shm /run/lock
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
# devtmpfs has none of these links; bash process substitution and some tools need them.
ln -sf /proc/self/fd /dev/fd; ln -sf /proc/self/fd/0 /dev/stdin; ln -sf /proc/self/fd/1 /dev/stdout; ln -sf /proc/self/fd/2 /dev/stderr
# The guest kernel's modules, for modprobe and automatic loading (ip link add … type wireguard).
mkdir -p /lib/modules/${o.kernel.release} && mount --bind ${quote(o.kernel.modules)} /lib/modules/${o.kernel.release} || finish 125
hostname netfwd-${o.kernel.id.replace(/[^a-z0-9]/gi, '-')}
ip link set lo up
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb LANG=C.UTF-8
${env}
cd ${quote(o.cwd)} || finish 125
${o.command.map(quote).join(' ')} > "$OUT" 2> "$ERR" < /dev/null
finish $?
`;
}

/** Boots the kernel, runs the command, powers off; never waits longer than timeoutMs. */
export async function runInVm(o: RunOptions): Promise<RunResult> {
  const jobs = join(cacheDir(), 'jobs');
  const dir = join(jobs, `${o.kernel.id}-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  // Job directories of runs that were killed (ID-PID-RANDOM, the PID no longer running).
  if (!process.env.NETFWD_KERNEL_KEEP_JOBS) {
    for (const f of readdirSync(jobs)) {
      const pid = Number(/-(\d+)-[0-9a-f]{8}$/.exec(f)?.[1]);
      if (pid && pid !== process.pid && !alive(pid)) rmSync(join(jobs, f), { recursive: true, force: true });
    }
  }
  const file = (n: string) => join(dir, n);
  writeFileSync(file('job.sh'), jobScript(o), { mode: 0o755 });
  for (const n of ['out', 'err', 'status', 'console']) writeFileSync(file(n), '');
  const append = [
    'console=ttyS0',
    'quiet',
    'panic=-1',
    // Clearing pages with rep stosb is very slow under TCG.
    'init_on_alloc=0',
    `netfwd.job=${file('job.sh')}`,
  ].join(' ');
  const args = [
    '-M',
    'pc',
    ...(o.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg,tb-size=64', '-cpu', 'max,-erms,-fsrm']),
    '-smp',
    '1',
    '-m',
    String(o.memoryMiB ?? 1024),
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-nic',
    'none',
    '-kernel',
    o.kernel.image,
    '-initrd',
    o.kernel.initramfs,
    '-append',
    append,
    '-serial',
    `file:${file('console')}`,
    '-virtfs',
    'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-device',
    'virtio-serial-pci',
    ...['out', 'err', 'status'].flatMap((n) => [
      '-chardev',
      `file,id=${n},path=${file(n)}`,
      '-device',
      `virtserialport,chardev=${n},name=netfwd.${n}`,
    ]),
  ];
  const started = Date.now();
  const child = spawn(QEMU, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let qemuOutput = '';
  child.stdout!.on('data', (d) => (qemuOutput += d));
  child.stderr!.on('data', (d) => (qemuOutput += d));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    if (child.pid) process.kill(child.pid, 'SIGKILL');
  }, o.timeoutMs);
  // Stream the command's stdout while it runs.
  let streamed = 0;
  const pump = () => {
    if (!o.onStdout) return;
    const size = statSync(file('out')).size;
    if (size <= streamed) return;
    const fd = openSync(file('out'), 'r');
    const buf = Buffer.alloc(size - streamed);
    readSync(fd, buf, 0, buf.length, streamed);
    closeSync(fd);
    streamed = size;
    o.onStdout(buf.toString('utf8'));
  };
  const poll = setInterval(pump, 1000);
  const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('error', (err) => {
      qemuOutput += `\n${err.message}`;
      resolve({ code: null, signal: null });
    });
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  clearTimeout(timer);
  clearInterval(poll);
  pump();
  running.delete(child);
  const read = (n: string) => (existsSync(file(n)) ? readFileSync(file(n), 'utf8') : '');
  const statusText = read('status').trim();
  const result: RunResult = {
    status: /^\d+$/.test(statusText) ? Number(statusText) : null,
    stdout: read('out'),
    stderr: read('err'),
    console: read('console') + (qemuOutput ? `\n[qemu ${exit.code ?? exit.signal}] ${qemuOutput}` : ''),
    seconds: (Date.now() - started) / 1000,
    timedOut,
  };
  if (!process.env.NETFWD_KERNEL_KEEP_JOBS) rmSync(dir, { recursive: true, force: true });
  return result;
}

/**
 * KVM or TCG. /dev/kvm must be usable, and not PVM (kvm_pvm runs only guest
 * kernels built for it: Debian's die with an emulation failure and qemu then
 * pauses instead of exiting). Where it looks like real KVM, a probe boot with
 * a short timeout confirms it.
 */
export async function chooseAccel(
  kernel: PreparedKernel,
  requested: 'auto' | Accel,
  log: (line: string) => void,
): Promise<{ accel: Accel; why: string }> {
  if (requested !== 'auto') return { accel: requested, why: 'requested' };
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
  } catch {
    return { accel: 'tcg', why: '/dev/kvm is missing or not accessible' };
  }
  if (existsSync('/sys/module/kvm_pvm')) return { accel: 'tcg', why: '/dev/kvm is PVM (kvm_pvm), which cannot run Debian kernels' };
  log('probing KVM with a short boot');
  const probe = await runInVm({ kernel, command: ['true'], cwd: '/', accel: 'kvm', memoryMiB: 256, timeoutMs: 60_000 });
  if (probe.status === 0) return { accel: 'kvm', why: `a probe boot under KVM took ${probe.seconds.toFixed(1)} s` };
  return { accel: 'tcg', why: `a probe boot under KVM failed (${probe.timedOut ? 'timed out' : `status ${probe.status}`})` };
}

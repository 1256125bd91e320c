/**
 * The kernel VM lane (`npm run test:kernel`): boots Debian kernels that have
 * WireGuard in qemu and runs test files inside them with the kernel
 * WireGuard backend forced (NETFWD_WG_BACKEND=kernel), so the genetlink
 * path is tested on real kernels; this machine's own kernel stays the
 * userspace (wireguard-go) lane.
 *
 *   npm run test:kernel                                   every kernel, every suite
 *   npm run test:kernel -- --kernel 6.1 test/integration/wireguard-kernel.test.ts
 *   npm run test:kernel -- --suite wireguard --match '*1 000 peers*'
 *
 * Options: --kernel ID (repeatable; default all), --suite wireguard|e2e|all
 * (default all; ignored when files are given), --match PATTERN (ava's),
 * --accel auto|kvm|tcg, --memory MiB, --parallel N, --timeout MINUTES (per VM),
 * --prepare (fetch and build only), --list, --bench 'ARGS' (instead of tests,
 * `bench/run.ts ARGS` in each guest, e.g. --bench 'wireguard-kernel': the
 * kernel WireGuard benchmark; its tables are printed, its JSON lands in
 * bench/results/). Environment: NETFWD_KERNEL_CACHE
 * (default /var/cache/netfwd-kernel-lane), NETFWD_KERNEL_KEEP_JOBS=1.
 *
 * Ends with "kernel lane: N passed, N failed, N skipped"; exits 1 when
 * anything failed, a guest did not report, or nothing passed, and 2 when the
 * lane cannot start here (no qemu, kernel packages not to be had).
 */

import { readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheDir, KERNELS, type KernelSpec, type PreparedKernel, prepareKernel, selectKernels } from './kernels.js';
import { type Accel, chooseAccel, killAll, qemuAvailable, runInVm } from './vm.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '../..');

export const SUITES: Record<string, () => string[]> = {
  wireguard: () => ['test/integration/wireguard-kernel.test.ts', 'test/kernel/nft-persist.test.ts'],
  e2e: () =>
    readdirSync(join(repo, 'test/e2e'))
      .filter((f) => f.endsWith('.test.ts'))
      .sort()
      .map((f) => `test/e2e/${f}`),
};

/**
 * What CI runs on each kernel (`--ci`): suite names or test files, chosen to
 * keep the whole CI within 20 minutes (the three guests side by side on two
 * cores took 10 to 14 minutes). The whole end-to-end suite takes far longer
 * under TCG; one file of it per kernel runs with kernel WireGuard, a
 * different return-path mode on each (run the others by hand:
 * `npm run test:kernel -- --kernel 6.1 --suite e2e`).
 */
export const CI_PLAN: Record<string, string[]> = {
  '6.1': ['wireguard', 'test/e2e/mode-connmark.test.ts'],
  '6.12': ['wireguard', 'test/e2e/mode-snat.test.ts', 'test/integration/route-links.test.ts'],
  latest: ['wireguard', 'test/e2e/mode-mark.test.ts'],
};

interface Args {
  kernels: string[];
  suite: string;
  files: string[];
  match: string[];
  accel: 'auto' | Accel;
  memory: number;
  parallel: number;
  timeoutMin: number;
  prepareOnly: boolean;
  list: boolean;
  ci: boolean;
  /** Arguments of `npm run bench` to run in each guest instead of tests. */
  bench?: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = {
    kernels: [],
    suite: 'all',
    files: [],
    match: [],
    accel: 'auto',
    memory: 1024,
    parallel: 0,
    timeoutMin: 40,
    prepareOnly: false,
    list: false,
    ci: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const v = () => inline ?? value();
    switch (flag) {
      case '--kernel':
        a.kernels.push(...v().split(','));
        break;
      case '--suite':
        a.suite = v();
        if (a.suite !== 'all' && !SUITES[a.suite]) throw new Error(`unknown suite ${a.suite}: all, ${Object.keys(SUITES).join(', ')}`);
        break;
      case '--match':
        a.match.push(v());
        break;
      case '--accel': {
        const x = v();
        if (x !== 'auto' && x !== 'kvm' && x !== 'tcg') throw new Error('--accel is auto, kvm or tcg');
        a.accel = x;
        break;
      }
      case '--memory':
        a.memory = Number(v());
        break;
      case '--parallel':
        a.parallel = Number(v());
        break;
      case '--timeout':
        a.timeoutMin = Number(v());
        break;
      case '--prepare':
        a.prepareOnly = true;
        break;
      case '--list':
        a.list = true;
        break;
      case '--ci':
        a.ci = true;
        break;
      case '--bench':
        a.bench = v();
        break;
      default:
        if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
        a.files.push(relative(repo, join(process.cwd(), arg)));
    }
  }
  return a;
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/** Counts TAP results as .ci/run does ("ok N", "not ok N", "# SKIP"). */
export function countTap(tap: string): Counts {
  const lines = tap.split('\n');
  const ok = lines.filter((l) => /^ok \d+ /.test(l));
  const skipped = ok.filter((l) => /# SKIP/.test(l)).length;
  return { passed: ok.length - skipped, failed: lines.filter((l) => /^not ok \d+ /.test(l)).length, skipped };
}

const tail = (s: string, n: number) => s.trimEnd().split('\n').slice(-n).join('\n');

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (args.list) {
    for (const k of KERNELS) console.log(`${k.id}\t${k.what} (apt: ${k.meta})`);
    for (const [name, files] of Object.entries(SUITES)) console.log(`suite ${name}: ${files().join(' ')}`);
    for (const [id, suites] of Object.entries(CI_PLAN)) console.log(`ci ${id}: ${suites.join(' ')}`);
    return 0;
  }
  const missing = qemuAvailable();
  if (missing) {
    console.error(`kernel lane: ${missing}`);
    return 2;
  }
  const specs: KernelSpec[] = selectKernels(args.kernels.length === 0 && args.ci ? Object.keys(CI_PLAN) : args.kernels);
  const filesFor = (id: string): string[] => {
    if (args.files.length > 0) return args.files;
    const suites = args.ci ? (CI_PLAN[id] ?? []) : args.suite === 'all' ? Object.keys(SUITES) : [args.suite];
    return suites.flatMap((s) => (s.endsWith('.ts') ? [s] : SUITES[s]!()));
  };
  const t0 = Date.now();
  console.log(`kernel lane: cache ${cacheDir()}`);
  const kernels: PreparedKernel[] = [];
  for (const spec of specs) {
    try {
      const k = prepareKernel(spec, (l) => console.log(`[${spec.id}] ${l}`));
      console.log(`[${spec.id}] ${spec.what}: ${k.package} ${k.version} (uname -r ${k.release})`);
      kernels.push(k);
    } catch (err) {
      // Exit 2: the lane could not start (CI then notes it instead of failing).
      console.error(`kernel lane: cannot prepare kernel ${spec.id}: ${(err as Error).message}`);
      return 2;
    }
  }
  if (args.prepareOnly) return 0;
  const { accel, why } = await chooseAccel(kernels[0]!, args.accel, (l) => console.log(`kernel lane: ${l}`));
  console.log(`kernel lane: accelerator ${accel.toUpperCase()} (${why})`);
  const guestCommand = (files: string[]) => {
    const ava = [
      'node_modules/.bin/ava',
      '--tap',
      '--concurrency=1',
      // TCG runs code 12–20 times slower than the host: ava's own timeout is for idle tests, not slow ones.
      '--timeout=20m',
      ...args.match.flatMap((m) => ['--match', m]),
      ...files,
    ];
    return [
      'sh',
      '-c',
      // tun too: the tests that force wireguard-go (userspace) need /dev/net/tun in the guest.
      'if modprobe wireguard; then echo "# netfwd-lane: modprobe wireguard ok ($(uname -r))"; else echo "# netfwd-lane: modprobe wireguard FAILED"; exit 90; fi; modprobe tun 2>/dev/null; exec "$@"',
      'lane',
      ...ava,
    ];
  };
  if (args.bench !== undefined) return runBench(kernels, accel, args);
  const results: Array<{ kernel: PreparedKernel; counts: Counts; ok: boolean; seconds: number }> = [];
  const queue = [...kernels];
  const parallel = args.parallel > 0 ? args.parallel : Math.max(1, Math.min(kernels.length, cpus().length));
  const worker = async () => {
    for (let k = queue.shift(); k; k = queue.shift()) {
      const kernel = k;
      const tag = `[${kernel.id}]`;
      const files = filesFor(kernel.id);
      console.log(`${tag} booting ${kernel.release} under ${accel.toUpperCase()} for ${files.join(' ')}`);
      const r = await runInVm({
        kernel,
        command: guestCommand(files),
        cwd: repo,
        env: { NETFWD_WG_BACKEND: 'kernel', CI: process.env.CI ?? '' },
        accel,
        memoryMiB: args.memory,
        timeoutMs: args.timeoutMin * 60_000,
        onStdout: echoLines(tag, (l) => /^(not )?ok \d+ |^# netfwd-lane/.test(l)).onStdout,
      });
      const counts = countTap(r.stdout);
      const modprobe = /# netfwd-lane: modprobe wireguard ok/.test(r.stdout);
      if (modprobe) counts.passed++;
      else counts.failed++;
      const ok = r.status === 0 && counts.failed === 0 && counts.passed > 1;
      const how = r.timedOut
        ? `killed after the ${args.timeoutMin}-minute timeout`
        : r.status === null
          ? 'the guest reported no exit status'
          : `exit ${r.status}`;
      console.log(
        `${tag} ${kernel.package} ${kernel.version}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped; ${how}; ${r.seconds.toFixed(0)} s`,
      );
      if (!ok) {
        const failures = r.stdout.split('\n').filter((l) => /^not ok |^\s+(---|message|at:|\.\.\.)/.test(l));
        if (failures.length) console.log(`${tag} failures:\n${failures.slice(0, 200).join('\n')}`);
        if (r.stderr.trim()) console.log(`${tag} stderr (last lines):\n${tail(r.stderr, 60)}`);
        console.log(`${tag} console (last lines):\n${tail(r.console, 40)}`);
      }
      results.push({ kernel, counts, ok, seconds: r.seconds });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const total = results.reduce(
    (s, r) => ({ passed: s.passed + r.counts.passed, failed: s.failed + r.counts.failed, skipped: s.skipped + r.counts.skipped }),
    { passed: 0, failed: 0, skipped: 0 },
  );
  console.log(
    `kernel lane: ${((Date.now() - t0) / 1000).toFixed(0)} s in all (${accel.toUpperCase()}, ${parallel} VM${parallel > 1 ? 's' : ''} at a time)`,
  );
  console.log(`kernel lane: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
  return results.every((r) => r.ok) ? 0 : 1;
}

/** A guest's stdout printed line by line (the lines `keep` selects), each with the kernel's tag. */
function echoLines(tag: string, keep: (line: string) => boolean = () => true): { onStdout: (chunk: string) => void; flush: () => void } {
  let partial = '';
  return {
    onStdout: (chunk) => {
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const l of lines) if (keep(l)) console.log(`${tag} ${l}`);
    },
    flush: () => {
      if (partial && keep(partial)) console.log(`${tag} ${partial}`);
      partial = '';
    },
  };
}

/**
 * The benchmark suite in each guest, one after the other (timings of guests
 * side by side would disturb each other). Under TCG the guest's code runs
 * many times slower than the host's: compare ratios within a guest, never its
 * milliseconds with the host's.
 */
async function runBench(kernels: PreparedKernel[], accel: Accel, args: Args): Promise<number> {
  const benchArgs = args.bench!.split(/\s+/).filter(Boolean);
  if (benchArgs.length && !benchArgs[0]!.startsWith('-')) benchArgs.unshift('--only');
  let ok = true;
  for (const kernel of kernels) {
    const tag = `[${kernel.id}]`;
    console.log(`${tag} booting ${kernel.release} under ${accel.toUpperCase()} for bench/run.ts ${benchArgs.join(' ')}`);
    const echo = echoLines(tag);
    const r = await runInVm({
      kernel,
      command: ['sh', '-c', 'modprobe wireguard && exec "$@"', 'lane', 'node_modules/.bin/tsx', 'bench/run.ts', ...benchArgs],
      cwd: repo,
      env: { NETFWD_WG_BACKEND: 'kernel' },
      accel,
      memoryMiB: args.memory,
      timeoutMs: args.timeoutMin * 60_000,
      onStdout: echo.onStdout,
    });
    echo.flush();
    const how = r.timedOut ? `killed after the ${args.timeoutMin}-minute timeout` : `exit ${r.status}`;
    console.log(`${tag} bench: ${how}; ${r.seconds.toFixed(0)} s`);
    if (r.status !== 0) {
      ok = false;
      if (r.stderr.trim()) console.log(`${tag} stderr (last lines):\n${tail(r.stderr, 60)}`);
      console.log(`${tag} console (last lines):\n${tail(r.console, 40)}`);
    }
  }
  return ok ? 0 : 1;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });
}

main().then(
  (code) => process.exit(code),
  (err) => {
    killAll();
    console.error(`kernel lane: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);

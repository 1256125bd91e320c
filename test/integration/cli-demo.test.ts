/**
 * `netfwd demo` through the built CLI: a text run (snat mode) that ends with
 * every check holding, and a `--keep --json` run (connmark mode) whose lab
 * stays up, is inspected with `netfwd status -c` on the configurations the
 * demo left, and is removed with exactly the cleanup commands the report
 * gives — after which no namespace, daemon, socket or file of it is left.
 *
 * The other topologies (`--topology lan|recipe|docker`): lan as text, recipe
 * and docker with `--keep --json` (inspected with `netfwd status -c`, down to
 * the LAN roles' counters, and removed with the report's cleanup commands,
 * Docker Engine's daemon, cgroups and state included); a Docker daemon that
 * does not start ends the demo with a clear message and no lab left; and
 * `--topology` / `--mode` usage errors.
 */

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import ava from 'ava';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { DemoReport } from '../../src/demo/run-demo.js';
import { dockerEngineMissing } from '../../src/lab/docker.js';
import { netns } from '../../src/netns/index.js';
import { socketPath } from '../../src/wireguard/userspace/socket.js';
import { cli, missingBuild, tempDir, writeFile } from '../helpers/cli.js';
import { e2eSkipReason } from '../helpers/e2e.js';
import { kernelTest, toolPath } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const hasWireguardGo = existsSync(toolPath('wireguard-go'));
const skip = e2eSkipReason();
const test = skip ? base.skip : base;
const dockerMissing = dockerEngineMissing();
if (!skip && dockerMissing) process.stderr.write(`cli-demo: the docker topology's own run is skipped (${dockerMissing})\n`);
const dockerTest = skip || dockerMissing ? base.skip : base;

if (!skip) {
  ava.before('the CLI is built', (t) => {
    const missing = missingBuild();
    if (missing) t.fail(missing);
    else t.pass();
  });
}

test('demo --mode snat --userspace-command: every check holds, reported as text, the daemon is the one given, and the lab is gone afterwards', async (t) => {
  // A wrapper around wireguard-go that notes each start: the demo must run the command it was given.
  const dir = tempDir(t, 'netfwd-demo-');
  const log = join(dir, 'starts.log');
  const wrapper = writeFile(join(dir, 'wg-wrapper'), `#!/bin/sh\necho "$@" >> ${log}\nexec ${toolPath('wireguard-go')} "$@"\n`, 0o755);
  chmodSync(dir, 0o755);
  const r = await cli([
    'demo',
    '--mode',
    'snat',
    ...(hasWireguardGo ? ['--implementation', 'userspace', '--userspace-command', wrapper] : []),
  ]);
  t.is(r.code, EXIT.OK, r.stdout + r.stderr);
  if (hasWireguardGo) {
    t.regex(r.stdout, /WireGuard userspace: every check holds/);
    t.is(readFileSync(log, 'utf8').trim().split('\n').length, 2, 'both tunnels were started through the wrapper');
  } else t.log('wireguard-go is not installed: --userspace-command not tried');
  t.regex(r.stdout, /\nnetfwd demo, snat mode, WireGuard (userspace|kernel): every check holds\n/);
  t.notRegex(r.stdout, /^FAIL/m);
  t.regex(r.stdout, /^ok {3}TCP over IPv4: address the service saw: 10\.0\.0\.1$/m, 'snat: the service sees the frontend');
  t.regex(r.stdout, /tear down \(netfwd down on both, remove the lab\)/);
  t.notRegex(r.stdout, /still up/);
});

test('demo --mode connmark --keep --json: the lab stays, status -c works on the configurations it wrote, and its cleanup commands remove everything', async (t) => {
  const r = await cli(['demo', '--mode', 'connmark', '--keep', '--json']);
  const report = JSON.parse(r.stdout) as DemoReport;
  const kept = report.kept!;
  const namespaces = Object.values(report.namespaces ?? {});
  // Whatever happens below, the lab goes.
  t.teardown(async () => {
    for (const cmd of kept?.cleanup ?? []) {
      try {
        runCleanup(cmd);
      } catch {
        /* already gone */
      }
    }
  });
  t.is(r.code, EXIT.OK, r.stderr);
  t.true(report.ok);
  t.is(report.mode, 'connmark');
  t.true(report.checks.every((c) => c.ok));
  t.is(namespaces.length, 4);
  for (const ns of namespaces) t.true(netns.exists(ns), ns);

  for (const file of [kept.configs.frontend, kept.configs.backend]) {
    t.is(statSync(file).mode & 0o777, 0o600, `${file} holds keys`);
  }
  const fst = JSON.parse((await cli(['status', '-c', kept.configs.frontend, '--json'])).stdout);
  t.deepEqual(fst.drift, []);
  t.is(fst.tunnel.peers[0].name, 'home');
  t.true(fst.forwards.some((f: { connections: number }) => f.connections >= 1));
  const bst = JSON.parse((await cli(['status', '-c', kept.configs.backend, '--json'])).stdout);
  t.deepEqual(bst.drift, []);
  const interfaces = [fst.interface as string, bst.interface as string];
  // wireguard-go answers on its UAPI socket; a kernel tunnel is a link of kind wireguard.
  const userspace = report.implementation === 'userspace';
  const kernelTunnel = (ns: string, i: string) => {
    try {
      return (
        (
          JSON.parse(
            execFileSync(toolPath('ip'), ['-n', ns, '-d', '-j', 'link', 'show', i], { encoding: 'utf8', stdio: 'pipe' }),
          ) as Array<{ linkinfo?: { info_kind?: string } }>
        )[0]?.linkinfo?.info_kind === 'wireguard'
      );
    } catch {
      return false;
    }
  };
  const where = [report.namespaces!.frontend!, report.namespaces!.backend!];
  interfaces.forEach((i, k) =>
    t.true(userspace ? existsSync(socketPath(i)) : kernelTunnel(where[k]!, i), `${i} is running (${report.implementation})`),
  );

  // The daemons go with `netfwd down`, before the namespaces (deleting a namespace does not stop them).
  const downs = kept.cleanup.filter((c) => c.startsWith('netfwd down -c ')).map((c) => kept.cleanup.indexOf(c));
  const dels = namespaces.map((ns) => kept.cleanup.indexOf(`ip netns del ${ns}`));
  t.is(downs.length, 2);
  t.true(
    dels.every((i) => i > Math.max(...downs)),
    kept.cleanup.join('\n'),
  );
  for (const cmd of kept.cleanup) t.notThrows(() => runCleanup(cmd), cmd);
  for (const ns of namespaces) t.false(netns.exists(ns), ns);
  for (const i of interfaces) t.false(existsSync(socketPath(i)), `the daemon of ${i} is gone`);
  t.false(existsSync(kept.configs.frontend));
  if (kept.servicePid !== null) {
    for (let i = 0; i < 100 && alive(kept.servicePid); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    t.false(alive(kept.servicePid), 'the demo service was stopped');
  }
});

test('demo --topology lan: a service on a LAN host behind the backend sees the client (IPv4, IPv6), only its port passes the tunnel, nothing on the home uplink', async (t) => {
  const r = await cli(['demo', '--topology', 'lan']);
  t.is(r.code, EXIT.OK, r.stdout + r.stderr);
  t.regex(r.stdout, /\nnetfwd demo, lan topology \(connmark mode\), WireGuard (userspace|kernel): every check holds\n/);
  t.notRegex(r.stdout, /^FAIL/m);
  t.regex(r.stdout, /^ok {3}TCP over IPv4: address the service on the LAN host saw: 198\.51\.100\.2$/m);
  t.regex(r.stdout, /^ok {3}TCP over IPv6: address the service on the LAN host saw: 2001:db8:1::2$/m);
  t.regex(r.stdout, /^ok {3}IPv4: port 8081 of the service host through the tunnel: \(/m);
  t.regex(r.stdout, /^ok {3}packets from the LAN to the client leaving vpnclient eth0 \(before NAT\): 0$/m);
  t.regex(r.stdout, /tear down \(netfwd down everywhere, remove the lab\)/);
});

test('demo --topology recipe --keep --json: the replies go service host → router → VPN client → tunnel; the LAN roles are inspectable with status -c; the cleanup commands remove everything', async (t) => {
  const r = await cli(['demo', '--topology', 'recipe', '--keep', '--json']);
  const report = JSON.parse(r.stdout) as DemoReport;
  const kept = report.kept!;
  t.teardown(() => cleanupQuietly(kept));
  t.is(r.code, EXIT.OK, r.stderr);
  t.true(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
  t.is(report.topology, 'recipe');
  t.is(report.mode, 'dscp');
  const check = (name: RegExp) => report.checks.find((c) => name.test(c.name));
  t.is(check(/^TCP over IPv4: address the service/)?.actual, '198.51.100.2');
  t.is(check(/^TCP over IPv6: address the service/)?.actual, '2001:db8:1::2');
  t.regex(check(/^VPN client: the replies out into the tunnel/)?.actual ?? '', /^IPv4 [1-9]\d*, IPv6 [1-9]\d*$/);
  t.is(check(/^packets to the client leaving homerouter eth0/)?.actual, '0');
  const namespaces = Object.values(report.namespaces ?? {});
  t.is(namespaces.length, 7);
  for (const ns of namespaces) t.true(netns.exists(ns), ns);
  t.deepEqual(Object.keys(kept.configs).sort(), ['backend', 'frontend', 'lan-router', 'service-host']);
  for (const file of Object.values(kept.configs)) t.is(statSync(file).mode & 0o777, 0o600, file);

  const router = JSON.parse((await cli(['status', '-c', kept.configs['lan-router']!, '--json'])).stdout);
  t.deepEqual(router.drift, []);
  t.true(router.counters.tagged.ipv4.packets >= 1 && router.counters.tagged.ipv6.packets >= 1);
  const host = JSON.parse((await cli(['status', '-c', kept.configs['service-host']!, '--json'])).stdout);
  t.deepEqual(host.drift, []);
  t.true(host.counters.replies.ipv4.packets >= 1);
  t.deepEqual(JSON.parse((await cli(['status', '-c', kept.configs.backend, '--json'])).stdout).drift, []);

  // The LAN roles go down before the tunnel roles, every daemon before the namespaces.
  const downs = kept.cleanup.filter((c) => c.startsWith('netfwd down -c ')).map((c) => kept.cleanup.indexOf(c));
  t.is(downs.length, 4);
  t.true(namespaces.every((ns) => kept.cleanup.indexOf(`ip netns del ${ns}`) > Math.max(...downs)));
  for (const cmd of kept.cleanup) t.notThrows(() => runCleanup(cmd), cmd);
  for (const ns of namespaces) t.false(netns.exists(ns), ns);
  t.false(existsSync(kept.configs.frontend));
  t.false(alive(kept.servicePid!), 'the demo service was stopped');
});

dockerTest(
  'demo --topology docker --keep --json: a real Docker Engine in the backend; the container sees the client and its own connection leaves from the frontend; the cleanup commands end the daemon and remove its cgroups and state',
  async (t) => {
    const r = await cli(['demo', '--topology', 'docker', '--keep', '--json']);
    const report = JSON.parse(r.stdout) as DemoReport;
    const kept = report.kept!;
    t.teardown(() => cleanupQuietly(kept));
    t.is(r.code, EXIT.OK, r.stderr);
    t.true(report.ok, JSON.stringify(report.checks.filter((c) => !c.ok)));
    t.is(report.topology, 'docker');
    t.is(report.mode, 'connmark');
    t.regex(report.docker ?? '', /^\d+\.\d+/);
    const check = (name: RegExp) => report.checks.find((c) => name.test(c.name));
    t.is(check(/^TCP over IPv4: address the container saw/)?.actual, '198.51.100.2');
    t.is(check(/^outgoing connection of the container/)?.actual, '203.0.113.2');
    t.is(check(/^packets of the Docker network leaving eth0/)?.actual, '0');
    t.regex(check(/^the published port on the home's public address/)?.actual ?? '', /^\(/);
    const namespaces = Object.values(report.namespaces ?? {});
    t.is(namespaces.length, 5);
    const bst = JSON.parse((await cli(['status', '-c', kept.configs.backend, '--json'])).stdout);
    t.deepEqual(bst.drift, []);

    const pid = Number(kept.cleanup.find((c) => c.startsWith('kill '))!.split(' ')[1]);
    t.true(alive(pid), 'dockerd is still running');
    const stateDir = kept.cleanup.find((c) => c.startsWith('rm -r /') && !c.includes('netfwd/demo'))!.slice('rm -r '.length);
    const cgroups =
      kept.cleanup
        .find((c) => c.startsWith('rmdir '))
        ?.split(' ')
        .slice(1) ?? [];
    t.true(existsSync(join(stateDir, 'docker.sock')));
    t.true(cgroups.length > 0 && cgroups.every((d) => existsSync(d)));
    t.true(kept.cleanup.indexOf(`kill ${pid}`) < kept.cleanup.indexOf(`ip netns del ${report.namespaces!.vpnclient}`));
    for (const cmd of kept.cleanup) t.notThrows(() => runCleanup(cmd), cmd);
    t.false(alive(pid), 'dockerd ended');
    for (const ns of namespaces) t.false(netns.exists(ns), ns);
    t.false(existsSync(stateDir));
    for (const d of cgroups) t.false(existsSync(d), d);
  },
);

test('demo --topology docker where the daemon does not start: a clear message, a failure exit status, and no lab left', async (t) => {
  // A dockerd that fails the way a daemon without its kernel features does; everything else is the real thing.
  const dir = tempDir(t, 'netfwd-demo-docker-');
  chmodSync(dir, 0o755);
  writeFile(join(dir, 'dockerd'), '#!/bin/sh\necho "failed to start daemon: the demo test\'s dockerd never starts" >&2\nexit 1\n', 0o755);
  for (const tool of ['docker', 'containerd', 'runc']) {
    const real = ['/usr/local/bin', '/usr/bin', '/usr/sbin', '/bin', '/sbin'].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (real) symlinkSync(real, join(dir, tool));
  }
  const r = await cli(['demo', '--topology', 'docker'], { env: { PATH: `${dir}:${process.env.PATH}` } });
  t.is(r.code, EXIT.FAILED, r.stdout + r.stderr);
  t.regex(r.stderr, /needs Docker Engine/);
  t.regex(r.stderr, /the demo test's dockerd never starts/);
  t.regex(r.stdout, /tear down/);
  t.notRegex(r.stdout, /every check holds/);
  // Other tests' demos may be running now: only this run's lab counts.
  const prefix = /start Docker Engine inside the backend's namespace \((nfdemo-[0-9a-f]+)-vpnclient\)/.exec(r.stdout)?.[1];
  t.truthy(prefix);
  t.deepEqual(
    readdirSync('/run/netns').filter((n) => n.startsWith(`${prefix}-`)),
    [],
  );
});

test('demo: --topology and --mode usage errors', async (t) => {
  const bad = await cli(['demo', '--topology', 'mesh']);
  t.is(bad.code, EXIT.USAGE);
  t.regex(bad.stderr, /--topology is one of two-machine, lan, docker, recipe/);
  const mode = await cli(['demo', '--topology', 'lan', '--mode', 'uid']);
  t.is(mode.code, EXIT.USAGE);
  t.regex(mode.stderr, /--topology lan runs mode connmark/);
});

/** Runs every cleanup command of a kept lab, whatever fails (a test's teardown). */
function cleanupQuietly(kept: DemoReport['kept'] | undefined): void {
  for (const cmd of kept?.cleanup ?? []) {
    try {
      runCleanup(cmd);
    } catch {
      /* already gone */
    }
  }
}

/** Runs one of the report's cleanup commands: `netfwd …` through the built CLI, the rest as they are. */
function runCleanup(cmd: string): void {
  const [head, ...args] = cmd.split(' ');
  if (head === 'netfwd') {
    const out = execFileSync(process.execPath, [new URL('../../dist/cli.js', import.meta.url).pathname, ...args], {
      encoding: 'utf8',
      stdio: 'pipe',
    });
    if (!/applied|nothing to change/.test(out)) throw new Error(out);
  } else if (head === 'kill') {
    process.kill(Number(args[0]), 'SIGTERM');
    // As a person typing the commands would, let the process finish before the next one (dockerd takes a moment).
    for (let i = 0; i < 400 && alive(Number(args[0])); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
  } else {
    execFileSync(toolPath(head!), args, { stdio: 'pipe' });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

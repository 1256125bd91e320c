/**
 * `netfwd demo` through the built CLI: a text run (snat mode) that ends with
 * every check holding, and a `--keep --json` run (connmark mode) whose lab
 * stays up, is inspected with `netfwd status -c` on the configurations the
 * demo left, and is removed with exactly the cleanup commands the report
 * gives — after which no namespace, daemon, socket or file of it is left.
 */

import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import ava from 'ava';
import { EXIT } from '../../src/cli/exit-codes.js';
import type { DemoReport } from '../../src/demo/run-demo.js';
import { netns } from '../../src/netns/index.js';
import { socketPath } from '../../src/wireguard/userspace/socket.js';
import { cli, missingBuild, tempDir, writeFile } from '../helpers/cli.js';
import { e2eSkipReason } from '../helpers/e2e.js';
import { kernelTest, toolPath } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const hasWireguardGo = existsSync(toolPath('wireguard-go'));
const skip = e2eSkipReason();
const test = skip ? base.skip : base;

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

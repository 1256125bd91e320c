/**
 * `netfwd run` (the built CLI) on a tunnel it does not own (tunnel.external):
 * started before the interface exists it waits (a warning, no error exit,
 * nothing applied), applies when another program makes the interface (a
 * persistent TUN device here, as OpenVPN makes tun0), and when the interface
 * goes and comes back — an OpenVPN restart — applies again: the table's
 * routes, which the kernel removed with the link, are back. It never creates,
 * configures or deletes the interface itself, nor touches its addresses.
 * Read back with ip -j and nft -j.
 */

import { spawn } from 'node:child_process';
import { join } from 'node:path';
import ava, { type ExecutionContext } from 'ava';
import { CLI, missingBuild, Proc, SLOWDOWN, tempDir, writeFile } from '../helpers/cli.js';
import { e2eSkipReason, uniqueTag } from '../helpers/e2e.js';
import { freshNetns, ipJson, kernelTest, run } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'nft']);
const skip = e2eSkipReason();
const test = skip ? base.skip : base;

if (!skip) {
  ava.before('the CLI is built', (t) => {
    const missing = missingBuild();
    if (missing) t.fail(missing);
    else t.pass();
  });
}

const ip = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args]);
const table42 = (ns: string) => ipJson<Array<Record<string, any>>>(ns, ['-4', 'route', 'show', 'table', '42']);
const hasTunnelDefault = (ns: string, dev: string) => table42(ns).some((r) => r.dst === 'default' && r.dev === dev && r.protocol === '233');
const hasNftTable = (ns: string, name: string) =>
  run('ip', ['netns', 'exec', ns, '/usr/sbin/nft', 'list', 'tables']).includes(`inet ${name}`);

function makeTun(ns: string, dev: string): void {
  ip(ns, 'tuntap', 'add', 'dev', dev, 'mode', 'tun');
  ip(ns, 'addr', 'add', '10.0.0.2/24', 'dev', dev);
  ip(ns, 'link', 'set', dev, 'up');
}

async function until(t: ExecutionContext, what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms * SLOWDOWN;
  while (Date.now() < end && !check()) await new Promise((r) => setTimeout(r, 100));
  t.true(check(), what);
}

test('run waits for an external tunnel, applies when it appears, and applies again when it comes back; the interface stays the other program’s', async (t) => {
  const ns = freshNetns(t, 'nfrx');
  const dev = `tun${uniqueTag()}`.slice(0, 15);
  const dir = tempDir(t);
  const config = writeFile(
    join(dir, 'backend.json'),
    JSON.stringify({
      role: 'backend',
      netns: ns,
      tunnel: { interface: dev, external: true, addresses: ['10.0.0.2/24'] },
      returnPath: { mode: 'connmark', mark: 42, table: 42 },
      services: [{ protocol: 'tcp', port: 9735 }],
    }),
    0o600,
  );
  const p = new Proc(
    spawn(process.execPath, [CLI, 'run', '-c', config, '--json', '--recheck', '0'], {
      env: { ...process.env, NETFWD_DEBUG: '1', NOTIFY_SOCKET: '', WATCHDOG_USEC: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  t.teardown(async () => {
    p.kill('SIGKILL');
    await p.exited;
  });

  // No interface: a warning that it waits; nothing applied, no link made, the process keeps running.
  await p.waitFor('tunnel-absent', () => p.json().find((l) => l.event === 'tunnel-absent'));
  t.false(
    p.json().some((l) => l.event === 'applied' || l.event === 'ready'),
    p.lines.join('\n'),
  );
  t.deepEqual(
    ipJson<Array<{ ifname: string }>>(ns, ['link', 'show']).map((l) => l.ifname),
    ['lo'],
  );
  t.is(p.child.exitCode, null);

  // Another program makes it: run applies without being told.
  makeTun(ns, dev);
  await p.waitFor('ready', () => p.json().find((l) => l.event === 'ready'));
  await until(t, 'the table routes through the external tunnel', () => hasTunnelDefault(ns, dev));
  t.true(hasNftTable(ns, `netfwd-${dev}`));
  const linkNow = ipJson<Array<Record<string, unknown>>>(ns, ['-d', 'link', 'show', 'dev', dev])[0]!;
  t.is(linkNow.ifalias, undefined, 'netfwd does not tag a link it does not own');

  // The program restarts: the interface goes (and with it the route), then comes back.
  ip(ns, 'link', 'del', dev);
  await until(t, 'the route went with the link', () => !hasTunnelDefault(ns, dev));
  makeTun(ns, dev);
  await until(t, 'run applied again: the route is back', () => hasTunnelDefault(ns, dev));
  const addresses = ipJson<Array<{ addr_info: Array<{ local: string }> }>>(ns, ['addr', 'show', 'dev', dev])[0]!.addr_info.map(
    (a) => a.local,
  );
  t.deepEqual(addresses, ['10.0.0.2'], "the interface's addresses are its owner's: netfwd added none");

  p.kill('SIGTERM');
  t.is(await p.exited, 0);
  t.true(
    ipJson<Array<{ ifname: string }>>(ns, ['link', 'show']).some((l) => l.ifname === dev),
    'the interface is still there after run ends',
  );
});

/**
 * The userspace backend's life cycle with wireguard-go, each test in its own
 * namespace(s): the daemon is started inside the namespace without a shell,
 * its death is reported, stale sockets are cleaned up, the global socket
 * directory does not leak interfaces into other namespaces, and a detached
 * daemon outlives the process that started it. Oracles: ip -j, wg.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { NetlinkError, ValidationError } from '../../src/errors.js';
import { WireGuard, WireGuardDaemonError, type WireGuardDaemonExit } from '../../src/wireguard/index.js';
import { probeSocket, socketPath } from '../../src/wireguard/userspace/socket.js';
import { ipLinkNames, notFoundScenario, openWg, uniqueIfname, wgDump } from '../fixtures/wireguard-scenarios.js';
import { freshNetns, ipJson, kernelSkipReason, kernelTest, run } from '../helpers/kernel.js';

const hasDaemon = spawnSync('wireguard-go', ['--version'], { stdio: 'ignore' }).error === undefined;
const test = kernelTest(['ip', 'wg']);
const daemonTest = hasDaemon ? test : test.skip;
if (!hasDaemon && !kernelSkipReason(['ip', 'wg'])) process.stderr.write('skipping the wireguard-go tests: wireguard-go is not installed\n');

/** Rejects after `ms` (with a referenced timer, so the wait itself keeps the process alive). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

const gone = async (name: string) => {
  for (let i = 0; i < 200 && existsSync(socketPath(name)); i++) await new Promise((r) => setTimeout(r, 25));
  return !existsSync(socketPath(name));
};

daemonTest('create, list, get, up, remove', async (t) => {
  const ns = freshNetns(t);
  const wg = await openWg(t, { netns: ns, implementation: 'userspace' });
  const name = uniqueIfname();
  const created = await wg.create(name, { up: true });
  t.is(created.name, name);
  t.is(created.implementation, 'userspace');
  const [link] = ipJson(ns, ['-d', 'link', 'show', name]);
  t.is(link.ifindex, created.ifindex);
  t.is(link.linkinfo.info_kind, 'tun', 'the TUN link of wireguard-go is in the namespace');
  t.true(link.flags.includes('UP'));
  t.false(ipLinkNames(ns).length > 2, 'only lo and the interface');
  t.is(await probeSocket(socketPath(name)), 'live');
  t.deepEqual(await wg.list(), [name]);
  t.deepEqual(await wg.devices(), [{ name, ifindex: created.ifindex, implementation: 'userspace' }]);
  t.is(await wg.implementationOf(name), 'userspace');
  const d = await wg.get(name);
  t.deepEqual({ ...d, listenPort: 0 }, { name, implementation: 'userspace', publicKey: null, listenPort: 0, fwmark: 0, peers: [] });
  t.is(wgDump(ns, name).listenPort, d.listenPort, 'wg sees the same random port');
  await t.throwsAsync(wg.create(name), { instanceOf: NetlinkError, code: 'EEXIST' });
  await wg.remove(name);
  t.false(ipLinkNames(ns).includes(name));
  t.false(existsSync(socketPath(name)), 'remove waited for the daemon to go');
  t.deepEqual(await wg.list(), []);
  await notFoundScenario(t, wg);
});

daemonTest('a TUN link without a daemon is no WireGuard interface: configure and get are ENODEV, the link is left alone', async (t) => {
  const ns = freshNetns(t);
  const wg = await openWg(t, { netns: ns, implementation: 'userspace' });
  const name = uniqueIfname();
  run('ip', ['-n', ns, 'tuntap', 'add', 'mode', 'tun', 'name', name]);
  t.false(existsSync(socketPath(name)));
  // configure does not ask the daemon first: its UAPI exchange finds none.
  const err = await t.throwsAsync(wg.configure(name, { listenPort: 51820, peers: [] }), { instanceOf: NetlinkError, code: 'ENODEV' });
  t.regex(err!.message, /no userspace WireGuard daemon answers/);
  await t.throwsAsync(wg.get(name), { instanceOf: NetlinkError, code: 'ENODEV' });
  t.is(await wg.implementationOf(name), undefined);
  // A bad configuration is still refused as such first.
  await t.throwsAsync(wg.configure(name, { peers: [{ publicKey: 'nope', allowedIps: [] }] }), { instanceOf: ValidationError });
  const [link] = ipJson(ns, ['-d', 'link', 'show', name]);
  t.is(link.linkinfo.info_kind, 'tun', 'the TUN link is still there');
});

daemonTest('a name is global: the same name in another namespace is refused, and not listed there', async (t) => {
  const ns1 = freshNetns(t);
  const ns2 = freshNetns(t);
  const wg1 = await openWg(t, { netns: ns1, implementation: 'userspace' });
  const wg2 = await openWg(t, { netns: ns2, implementation: 'userspace' });
  const name = uniqueIfname();
  await wg1.create(name);
  const err = await t.throwsAsync(wg2.create(name), { instanceOf: NetlinkError, code: 'EEXIST' });
  t.regex(err!.message, /global/);
  t.deepEqual(await wg2.list(), [], 'the socket exists, but the link is not in ns2');
  t.is(await wg2.implementationOf(name), undefined);
  await t.throwsAsync(wg2.get(name), { instanceOf: NetlinkError, code: 'ENODEV' });
  await t.throwsAsync(wg2.remove(name), { instanceOf: NetlinkError, code: 'ENODEV' });
  t.deepEqual(await wg1.list(), [name], 'still there in ns1');
  // A link of that name in ns2 that is no TUN device is not taken for the daemon's.
  run('ip', ['-n', ns2, 'link', 'add', name, 'type', 'veth', 'peer', 'name', 'vpeer0']);
  t.is(await wg2.implementationOf(name), undefined);
  t.deepEqual(await wg2.list(), []);
  await t.throwsAsync(wg2.remove(name), { instanceOf: NetlinkError, code: 'ENODEV' });
  t.true(ipLinkNames(ns2).includes(name), 'the veth was not touched');
  await wg1.remove(name);
});

daemonTest('a stale socket of a killed daemon is detected and create() works again', async (t) => {
  const ns = freshNetns(t);
  const wg = await openWg(t, { netns: ns, implementation: 'userspace' });
  const name = uniqueIfname();
  await wg.create(name);
  const pid = wg.daemonPid(name)!;
  const exited = new Promise<WireGuardDaemonExit>((r) => wg.once('daemonExit', r));
  process.kill(pid, 'SIGKILL');
  // The daemon is unref'd (it must not keep a CLI alive): hold the event loop open while waiting for its exit.
  const exit = await within(exited, 15000, 'the daemonExit event');
  t.is(exit.signal, 'SIGKILL');
  t.is(exit.name, name);
  t.true(existsSync(socketPath(name)), 'SIGKILL leaves the socket file behind');
  t.is(await probeSocket(socketPath(name)), 'stale');
  t.deepEqual(await wg.list(), []);
  const again = await wg.create(name);
  t.is(again.implementation, 'userspace');
  t.is(await probeSocket(socketPath(name)), 'live');
  t.not(wg.daemonPid(name), pid);
  await wg.remove(name);
});

daemonTest('a daemon that dies before its socket appears is a typed error with its output', async (t) => {
  const ns = freshNetns(t);
  const name = uniqueIfname();
  const dying = await openWg(t, {
    netns: ns,
    implementation: 'userspace',
    userspaceCommand: process.execPath,
    userspaceArgs: ['-e', 'console.error("boom: cannot open the TUN device"); process.exit(3)', '--'],
  });
  const err = await t.throwsAsync(dying.create(name), { instanceOf: WireGuardDaemonError });
  t.is(err!.exitCode, 3);
  t.regex(err!.output, /boom: cannot open the TUN device/);
  t.regex(err!.message, /boom/);
  t.is(err!.interfaceName, name);

  const missing = await openWg(t, { netns: ns, implementation: 'userspace', userspaceCommand: '/nonexistent/wireguard-go' });
  const err2 = await t.throwsAsync(missing.create(name), { instanceOf: WireGuardDaemonError });
  t.regex(err2!.output, /nonexistent/);

  // wireguard-go refuses a name it cannot create (too long for the kernel is caught earlier by us).
  await t.throwsAsync(missing.create('x'.repeat(16)), { instanceOf: ValidationError });

  const silent = await openWg(t, {
    netns: ns,
    implementation: 'userspace',
    userspaceCommand: process.execPath,
    userspaceArgs: ['-e', 'setTimeout(() => {}, 60000)', '--'],
    startTimeout: 300,
  });
  const err3 = await t.throwsAsync(silent.create(name), { instanceOf: WireGuardDaemonError });
  t.regex(err3!.message, /did not open its UAPI socket/);
  t.deepEqual(ipLinkNames(ns), ['lo']);
});

daemonTest('a detached daemon outlives the process that created it; close() stops attached ones', async (t) => {
  const ns = freshNetns(t);
  const name = uniqueIfname();
  const child = fileURLToPath(new URL('../fixtures/wireguard-detach-child.ts', import.meta.url));
  const out = execFileSync(process.execPath, ['--import', 'tsx', child, ns, name], { encoding: 'utf8' });
  const pid = Number(out.trim());
  t.true(pid > 0);
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* removed by the test */
    }
  });
  t.notThrows(() => process.kill(pid, 0), 'the daemon still runs after its parent exited');
  const wg = await openWg(t, { netns: ns });
  t.is(await wg.implementationOf(name), 'userspace');
  t.is((await wg.get(name)).listenPort, 51830);
  t.is(wgDump(ns, name).listenPort, 51830);
  await wg.remove(name);
  t.false(ipLinkNames(ns).includes(name));

  // Attached: close() stops the daemon (and its socket goes away).
  const attached = await WireGuard.open({ netns: ns, implementation: 'userspace', detach: false, daemonLog: null });
  const name2 = uniqueIfname();
  t.teardown(() => {
    const p = attached.daemonPid(name2);
    if (p) process.kill(p, 'SIGKILL');
  });
  await attached.create(name2);
  t.is(await probeSocket(socketPath(name2)), 'live');
  attached.close();
  t.true(await gone(name2), 'the socket went away with the daemon');
  await t.throwsAsync(attached.list(), { message: /closed/ });
});

daemonTest("'auto' picks the kernel when it has the wireguard kind, else userspace", async (t) => {
  const ns = freshNetns(t);
  const wg = await openWg(t, { netns: ns });
  const name = uniqueIfname();
  const created = await wg.create(name);
  const kind = ipJson(ns, ['-d', 'link', 'show', name])[0].linkinfo?.info_kind;
  t.is(created.implementation, kind === 'wireguard' ? 'kernel' : 'userspace');
  t.is(await wg.implementationOf(name), created.implementation);
  await wg.remove(name);
});

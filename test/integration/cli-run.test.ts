/**
 * `netfwd run` (the built CLI) supervising a backend in its own namespace:
 * it applies, tells systemd it is ready (a real AF_UNIX datagram socket,
 * received by a small python3 receiver — not by netfwd's code), repairs drift
 * of its own objects made by the system tools (a deleted route, a deleted
 * nft table, the link set down, a deleted policy rule, a deleted tunnel
 * address), leaves foreign routes, tables, rules and addresses alone, logs
 * each repair as a JSON line, pings the watchdog, and on SIGTERM leaves the
 * configuration (the leak guard) in place — or removes it with --down-on-exit.
 * Every state is read back with ip -j, nft -j and wg show.
 */

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import ava, { type ExecutionContext } from 'ava';
import { EXIT } from '../../src/cli/exit-codes.js';
import { backendConfigFile, CLI, cli, missingBuild, Proc, SLOWDOWN, writeFile } from '../helpers/cli.js';
import { e2eSkipReason, uniqueTag } from '../helpers/e2e.js';
import { freshNetns, ipJson, kernelTest, run } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const skip = e2eSkipReason() ?? (spawnable('/usr/bin/python3') ? undefined : 'needs /usr/bin/python3 for the notification receiver');
const test = skip ? base.skip : base;
if (skip) process.stderr.write(`skipping: ${skip}\n`);

function spawnable(path: string): boolean {
  try {
    run(path, ['-c', 'pass']);
    return true;
  } catch {
    return false;
  }
}

if (!skip) {
  ava.before('the CLI is built', (t) => {
    const missing = missingBuild();
    if (missing) t.fail(missing);
    else t.pass();
  });
}

/** A notification socket bound by python3 (not netfwd): prints each datagram as a JSON string line. */
const RECEIVER = `
import socket, sys, json, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = sys.argv[1]
s.bind(('\\0' + addr[1:]) if addr.startswith('@') else addr)
print(json.dumps('listening'), flush=True)
while True:
    data = s.recv(65536).decode()
    # When it arrived, by the receiver's clock (stderr, one line each): the test process may read late.
    print('%.3f' % (time.monotonic() * 1000), file=sys.stderr, flush=True)
    print(json.dumps(data), flush=True)
`;

async function receiver(t: ExecutionContext, address: string): Promise<Proc> {
  const p = new Proc(spawn('/usr/bin/python3', ['-c', RECEIVER, address], { stdio: ['ignore', 'pipe', 'pipe'] }));
  t.teardown(() => p.kill('SIGKILL'));
  await p.waitFor('the receiver', () => p.lines.length > 0, 10_000);
  return p;
}
const datagrams = (r: Proc) => r.lines.slice(1).map((l) => JSON.parse(l) as string);

interface Setup {
  ns: string;
  ifname: string;
  table: string;
  config: string;
  dir: string;
}

function backendConfig(t: ExecutionContext): Setup {
  const ns = freshNetns(t, 'nfrun');
  const ifname = `nfr${uniqueTag()}`;
  const { config, dir } = backendConfigFile(t, { ns, ifname });
  // The link is removed with the namespace; a userspace daemon is ended by freshNetns' teardown.
  return { ns, ifname, table: `netfwd-${ifname}`, config, dir };
}

function startRun(t: ExecutionContext, s: Setup, args: string[] = [], env: Record<string, string> = {}): Proc {
  const p = new Proc(
    spawn(process.execPath, [CLI, 'run', '-c', s.config, '--json', '--recheck', '0', ...args], {
      env: { ...process.env, NETFWD_DEBUG: '1', NOTIFY_SOCKET: '', WATCHDOG_USEC: '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  t.teardown(async () => {
    p.kill('SIGKILL');
    await p.exited;
  });
  return p;
}

const routes5000 = (ns: string, family: 4 | 6 = 4) =>
  ipJson<Array<Record<string, any>>>(ns, [`-${family}`, 'route', 'show', 'table', '5000']);
const hasTunnelDefault = (s: Setup) => routes5000(s.ns).some((r) => r.dst === 'default' && r.dev === s.ifname && r.protocol === '233');
const hasLeakGuard = (s: Setup) => routes5000(s.ns).some((r) => r.dst === 'default' && r.type === 'unreachable' && r.protocol === '233');
const nftTables = (ns: string) =>
  (
    JSON.parse(run('ip', ['netns', 'exec', ns, '/usr/sbin/nft', '-j', 'list', 'tables'])) as {
      nftables: Array<{ table?: { family: string; name: string } }>;
    }
  ).nftables
    .filter((x) => x.table)
    .map((x) => `${x.table!.family} ${x.table!.name}`);
const nftRules = (ns: string, table: string) =>
  (
    JSON.parse(run('ip', ['netns', 'exec', ns, '/usr/sbin/nft', '-j', 'list', 'table', 'inet', table])) as {
      nftables: Array<{ rule?: unknown }>;
    }
  ).nftables.filter((x) => x.rule).length;
const link = (s: Setup) => ipJson<Array<Record<string, any>>>(s.ns, ['-d', 'link', 'show', 'dev', s.ifname])[0]!;
const repairs = (p: Proc) => p.json().filter((l) => l.event === 'repaired');
type Rules = Array<Record<string, any>>;
const rules = (ns: string, family: 4 | 6 = 4) => ipJson<Rules>(ns, [`-${family}`, 'rule', 'show']);
/** The addresses of a link as `ip -j` prints them, one JSON text each, sorted (IPv6 lists a re-added address in another place). */
const addrs = (ns: string, dev: string) =>
  ipJson<Array<{ addr_info: unknown[] }>>(ns, ['addr', 'show', 'dev', dev])[0]!
    .addr_info.map((a) => JSON.stringify(a))
    .sort();
/** Polls `read` until it deep-equals `want` (bounded); then asserts it, so a timeout shows the difference. */
async function settlesTo<T>(t: ExecutionContext, what: string, read: () => T, want: T, ms = 20_000): Promise<void> {
  const end = Date.now() + ms * SLOWDOWN;
  while (Date.now() < end && JSON.stringify(read()) !== JSON.stringify(want)) await new Promise((r) => setTimeout(r, 100));
  t.deepEqual(read(), want, what);
}
/** Lets the check that follows a repair (its own notifications: an empty plan) pass before the next drift. */
const quiet = () => new Promise((r) => setTimeout(r, 1500 * SLOWDOWN));

test('run applies, notifies READY, repairs drift of its own objects only, logs each repair, and leaves the configuration on SIGTERM', async (t) => {
  const s = backendConfig(t);
  const sock = join(s.dir, 'notify.sock');
  const rx = await receiver(t, sock);
  const p = startRun(t, s, [], { NOTIFY_SOCKET: sock });

  // Applied and ready: the objects are there as the system tools see them.
  await p.waitFor('ready', () => p.json().find((l) => l.event === 'ready'));
  const applied = p.json().find((l) => l.event === 'applied')!;
  t.true(applied.details.changes.length > 5, JSON.stringify(applied));
  t.truthy(Date.parse(applied.ts));
  t.true(hasTunnelDefault(s) && hasLeakGuard(s));
  t.true(nftTables(s.ns).includes(`inet ${s.table}`));
  t.true(link(s).flags.includes('UP'));
  await rx.waitFor('READY=1', () => datagrams(rx).find((d) => d.split('\n').includes('READY=1')));
  const ready = datagrams(rx).find((d) => d.split('\n').includes('READY=1'))!;
  t.true(ready.split('\n').includes('STATUS=converged'), ready);
  t.true(ready.split('\n').includes(`MAINPID=${p.child.pid}`), ready);

  // Foreign objects next to netfwd's: a route in table 5000 (protocol static), a table of someone else,
  // policy rules of other priorities (one even pointing at table 5000) and addresses on another link.
  run('ip', ['-n', s.ns, '-4', 'rule', 'add', 'priority', '150', 'from', '203.0.113.0/24', 'lookup', '5000', 'proto', 'static']);
  run('ip', ['-n', s.ns, '-6', 'rule', 'add', 'priority', '151', 'from', '2001:db8:9::/48', 'lookup', '6000']);
  run('ip', ['-n', s.ns, 'addr', 'add', '198.51.100.7/32', 'dev', 'lo']);
  run('ip', ['-n', s.ns, 'addr', 'add', '2001:db8:7::7/128', 'dev', 'lo']);
  const foreignRule4 = rules(s.ns, 4).find((r) => r.priority === 150);
  const foreignRule6 = rules(s.ns, 6).find((r) => r.priority === 151);
  t.like(foreignRule4, { src: '203.0.113.0', srclen: 24, table: '5000', protocol: 'static' });
  t.like(foreignRule6, { src: '2001:db8:9::', srclen: 48, table: '6000' });
  const foreignAddrs = addrs(s.ns, 'lo');
  t.is(foreignAddrs.filter((a) => a.includes('"198.51.100.7"') || a.includes('"2001:db8:7::7"')).length, 2, foreignAddrs.join('\n'));
  run('ip', ['-n', s.ns, 'route', 'add', '203.0.113.0/24', 'dev', s.ifname, 'table', '5000', 'proto', 'static']);
  run(
    'ip',
    ['netns', 'exec', s.ns, '/usr/sbin/nft', '-f', '-'],
    'table inet foreign {\n chain c { type filter hook input priority 0; policy accept; counter; }\n}\n',
  );
  run('ip', ['netns', 'exec', s.ns, '/usr/sbin/nft', 'flush', 'chain', 'inet', 'foreign', 'c']);
  run('ip', ['-n', s.ns, 'route', 'del', '203.0.113.0/24', 'table', '5000']);
  await new Promise((r) => setTimeout(r, 1500));
  t.is(repairs(p).length, 0, 'changes of foreign objects are not repairs');
  t.false(
    routes5000(s.ns).some((r) => r.dst === '203.0.113.0/24'),
    'the foreign route stays deleted',
  );
  t.is(nftRules(s.ns, 'foreign'), 0, 'the foreign chain stays flushed');

  // 1. netfwd's route deleted → put back, and logged with what triggered it.
  run('ip', ['-n', s.ns, 'route', 'del', 'default', 'dev', s.ifname, 'table', '5000']);
  const r1 = await p.waitFor('route repair', () => repairs(p)[0]);
  t.true(
    r1.details.changes.some((c: string) => c.startsWith('+ route default') && c.includes('table 5000')),
    JSON.stringify(r1),
  );
  t.true(
    r1.details.trigger.some((x: string) => x.includes('route default table 5000 deleted')),
    JSON.stringify(r1),
  );
  t.true(r1.details.netlinkWrites > 0);
  t.is(r1.level, 'warn');
  t.true(hasTunnelDefault(s));
  await quiet();

  // 2. Its nft table deleted → made again, the foreign table untouched.
  run('ip', ['netns', 'exec', s.ns, '/usr/sbin/nft', 'delete', 'table', 'inet', s.table]);
  const r2 = await p.waitFor('nft repair', () => repairs(p)[1]);
  t.true(r2.details.trigger.includes(`nftables table inet ${s.table} deleted`), JSON.stringify(r2));
  t.true(nftTables(s.ns).includes(`inet ${s.table}`));
  t.true(nftRules(s.ns, s.table) > 0);
  t.true(nftTables(s.ns).includes('inet foreign'));
  t.is(nftRules(s.ns, 'foreign'), 0);
  await quiet();

  // 3. The link set down (the kernel drops the routes through it) → up again, routes back.
  run('ip', ['-n', s.ns, 'link', 'set', s.ifname, 'down']);
  const r3 = await p.waitFor('link repair', () =>
    repairs(p).find((r, i) => i >= 2 && r.details.changes.some((c: string) => c.includes('link'))),
  );
  t.true(
    r3.details.trigger.some((x: string) => x.includes(`link ${s.ifname}`)),
    JSON.stringify(r3),
  );
  await p.waitFor('the tunnel route back', () => hasTunnelDefault(s) || undefined);
  t.true(link(s).flags.includes('UP'));
  t.true(
    routes5000(s.ns, 6).some((r) => r.dst === 'default' && r.dev === s.ifname),
    'the IPv6 route too',
  );

  // Quiet again: the repairs' own notifications led to empty plans, not to more repairs.
  const settled = repairs(p).length;
  await quiet();
  t.is(repairs(p).length, settled);

  // 4. Its policy rule deleted (uid mode: uidrange → table 5000, protocol 233) → put back exactly, the foreign rules untouched.
  const rules4 = rules(s.ns, 4);
  const rules6 = rules(s.ns, 6);
  const own = rules4.filter((r) => r.protocol === '233' && r.uid_start !== undefined);
  t.is(own.length, 1, JSON.stringify(rules4));
  t.is(rules4.filter((r) => r.protocol === '233').length, 2, 'and the fwmark rule of the connections that arrived through the tunnel');
  const ownRule = own[0]!;
  t.like(ownRule, { uid_start: 1000, uid_end: 1000, table: '5000' });
  t.not(ownRule.priority, 150);
  run('ip', [
    '-n',
    s.ns,
    '-4',
    'rule',
    'del',
    'priority',
    String(ownRule.priority),
    'uidrange',
    '1000-1000',
    'lookup',
    '5000',
    'proto',
    '233',
  ]);
  const r5 = await p.waitFor('rule repair', () =>
    repairs(p)
      .slice(settled)
      .find((r) => r.details.trigger.includes(`rule ${ownRule.priority} (IPv4) deleted`)),
  );
  t.true(r5.details.changes.includes(`+ rule ${ownRule.priority}: uidrange 1000-1000 lookup 5000`), JSON.stringify(r5));
  t.is(r5.details.changes.length, 1, JSON.stringify(r5));
  t.is(r5.level, 'warn');
  await settlesTo(t, "the IPv4 rules as before (netfwd's back, the foreign one unchanged)", () => rules(s.ns, 4), rules4);
  t.deepEqual(rules(s.ns, 6), rules6, 'the IPv6 rules untouched');
  await quiet();

  // 5. Its tunnel address deleted (the kernel drops the route with that source) → put back, route too; the foreign addresses untouched.
  const tunnelAddrs = addrs(s.ns, s.ifname);
  t.true(
    tunnelAddrs.some((a) => a.includes('"10.0.0.2"')),
    tunnelAddrs.join('\n'),
  );
  const beforeAddr = repairs(p).length;
  run('ip', ['-n', s.ns, 'addr', 'del', '10.0.0.2/24', 'dev', s.ifname]);
  const r6 = await p.waitFor('address repair', () =>
    repairs(p)
      .slice(beforeAddr)
      .find((r) => r.details.trigger.includes(`address 10.0.0.2/24 on ${s.ifname} deleted`)),
  );
  t.true(r6.details.changes.includes(`+ address 10.0.0.2/24 dev ${s.ifname}`), JSON.stringify(r6));
  t.false(
    r6.details.changes.some((c: string) => c.startsWith('-')),
    `nothing removed: ${JSON.stringify(r6)}`,
  );
  await settlesTo(t, 'the tunnel addresses as before', () => addrs(s.ns, s.ifname), tunnelAddrs);
  await p.waitFor('the tunnel route back', () => hasTunnelDefault(s) || undefined);
  t.deepEqual(addrs(s.ns, 'lo'), foreignAddrs, 'the foreign addresses untouched');
  t.deepEqual(rules(s.ns, 4), rules4, 'the rules untouched by the address repair');
  t.deepEqual(rules(s.ns, 6), rules6);
  const settled2 = repairs(p).length;
  await quiet();
  t.is(repairs(p).length, settled2, 'no more repairs after the rule and address repairs');

  // SIGHUP: the file is read again and applied (one more service port); a broken file is refused.
  const spec = JSON.parse(readFileSync(s.config, 'utf8'));
  spec.services.push({ protocol: 'tcp', port: 9736 });
  writeFile(s.config, JSON.stringify(spec), 0o600);
  p.kill('SIGHUP');
  await p.waitFor('reloaded', () => p.json().find((l) => l.event === 'reloaded'));
  const r4 = await p.waitFor('the reload applied', () => repairs(p).find((r) => r.details.trigger.includes('configuration reloaded')));
  t.true(
    r4.details.changes.some((c: string) => c.includes(`table inet ${s.table}`)),
    JSON.stringify(r4),
  );
  const services = JSON.parse(
    run('ip', ['netns', 'exec', s.ns, '/usr/sbin/nft', '-j', 'list', 'set', 'inet', s.table, 'services']),
  ).nftables.find((x: any) => x.set).set;
  t.true(JSON.stringify(services.elem).includes('9736'), JSON.stringify(services.elem));
  await rx.waitFor('RELOADING=1', () => datagrams(rx).find((d) => d.split('\n').includes('RELOADING=1')));
  writeFile(s.config, '{ "role": "backend", ', 0o600);
  p.kill('SIGHUP');
  const failed = await p.waitFor('reload-failed', () => p.json().find((l) => l.event === 'reload-failed'));
  t.is(failed.level, 'error');
  t.is(p.child.exitCode, null, 'still running with the previous configuration');

  // SIGTERM: STOPPING=1, exit 0, and everything stays — the leak guard included.
  p.kill('SIGTERM');
  t.is(await p.exited, 0, p.stderr);
  await rx.waitFor('STOPPING=1', () => datagrams(rx).find((d) => d.split('\n').includes('STOPPING=1')));
  t.like(p.json().at(-1), { event: 'stopped', details: { configurationLeft: true } });
  t.true(hasLeakGuard(s));
  t.true(nftTables(s.ns).includes(`inet ${s.table}`));
  t.truthy(link(s));
  t.true(ipJson<Array<Record<string, any>>>(s.ns, ['rule', 'show']).some((r) => r.table === '5000' && r.protocol === '233'));
  t.deepEqual(
    rules(s.ns, 4).find((r) => r.priority === 150),
    foreignRule4,
    'the foreign rules are still there, unchanged',
  );
  t.deepEqual(
    rules(s.ns, 6).find((r) => r.priority === 151),
    foreignRule6,
  );
  t.deepEqual(addrs(s.ns, 'lo'), foreignAddrs, 'the foreign addresses are still there, unchanged');
});

test('--down-on-exit removes the configuration on SIGTERM; an abstract notification socket works', async (t) => {
  const s = backendConfig(t);
  const rx = await receiver(t, `@netfwd-test-${process.pid}-${uniqueTag()}`);
  const p = startRun(t, s, ['--down-on-exit'], { NOTIFY_SOCKET: `@${rx.child.spawnargs.at(-1)!.slice(1)}` });
  await p.waitFor('ready', () => p.json().find((l) => l.event === 'ready'));
  await rx.waitFor('READY=1', () => datagrams(rx).find((d) => d.split('\n').includes('READY=1')));
  t.true(hasLeakGuard(s));
  p.kill('SIGTERM');
  t.is(await p.exited, 0, p.stderr);
  const down = p.json().find((l) => l.event === 'down')!;
  t.true(down.details.changes.length > 5);
  t.deepEqual(routes5000(s.ns), []);
  t.false(nftTables(s.ns).includes(`inet ${s.table}`));
  t.is(ipJson(s.ns, ['link', 'show']).filter((l: any) => l.ifname === s.ifname).length, 0);
  t.false(ipJson<Array<Record<string, any>>>(s.ns, ['rule', 'show']).some((r) => r.protocol === '233'));
});

test('the watchdog is pinged at half of WATCHDOG_USEC', async (t) => {
  const s = backendConfig(t);
  const sock = join(s.dir, 'notify.sock');
  const rx = await receiver(t, sock);
  const p = startRun(t, s, [], { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '1000000' });
  const wd = await p.waitFor('watchdog', () => p.json().find((l) => l.event === 'watchdog'));
  t.is(wd.details.intervalMs, 500);
  // Six pings arrive, 500 ms apart: never faster (a loaded machine may delay a timer, never add one).
  // Times are the receiver's (when each datagram arrived), not when this process read its line.
  const arrived = () => rx.stderr.split('\n').filter(Boolean).map(Number);
  const pingTimes = () => {
    const at = arrived();
    return rx.lines.slice(1).flatMap((l, i) => (JSON.parse(l) === 'WATCHDOG=1' && at[i] !== undefined ? [at[i]!] : []));
  };
  await rx.waitFor('six pings', () => pingTimes().length >= 6 || undefined, 20_000);
  const times = pingTimes().slice(0, 6);
  const span = times[5]! - times[0]!;
  t.true(span >= 5 * 500 * 0.8 && span < 15_000, `5 intervals took ${span} ms`);
  // WATCHDOG_PID of another process: no pings (sd_watchdog_enabled).
  p.kill('SIGTERM');
  await p.exited;
  const q = startRun(t, s, [], { NOTIFY_SOCKET: sock, WATCHDOG_USEC: '400000', WATCHDOG_PID: '1' });
  await q.waitFor('ready', () => q.json().find((l) => l.event === 'ready'));
  t.falsy(q.json().find((l) => l.event === 'watchdog'));
});

test('a bad configuration exits 3 before touching anything; usage errors exit 2', async (t) => {
  const s = backendConfig(t);
  const bad = writeFile(join(s.dir, 'bad.json'), JSON.stringify({ role: 'backend', netns: s.ns, tunnel: { interface: 'x' } }), 0o600);
  const r = await cli(['run', '-c', bad]);
  t.is(r.code, EXIT.CONFIG, r.stderr);
  t.deepEqual(nftTables(s.ns), []);
  t.is((await cli(['run', '-c', s.config, '--reresolve-after', 'soon'])).code, EXIT.USAGE);
  t.is((await cli(['run'])).code, EXIT.USAGE);
  // A link of the tunnel's name that netfwd does not own: retrying cannot help, run exits 8 and leaves it.
  run('ip', ['-n', s.ns, 'link', 'add', s.ifname, 'type', 'veth', 'peer', 'name', 'other0']);
  const taken = await cli(['run', '-c', s.config, '--json']);
  t.is(taken.code, EXIT.OWNERSHIP, taken.stdout + taken.stderr);
  t.regex(taken.stderr, /not|own/i);
  t.is(ipJson<Array<Record<string, any>>>(s.ns, ['-d', 'link', 'show', 'dev', s.ifname])[0]!.linkinfo.info_kind, 'veth');
  t.deepEqual(nftTables(s.ns), []);
});

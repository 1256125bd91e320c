/**
 * `netfwd run` beside other writers (issue 16, item 4): two supervisors of
 * two configurations in one namespace never repair each other (each touches
 * only what its claim owns), and against a program that keeps changing
 * netfwd's objects the supervisor repairs a bounded number of times, then
 * stops and names that program (the nft tool, from nftables' own record of
 * who committed; `ip -batch`, from the netlink socket it holds).
 * Checked with ip -j and nft -j; the other party is the real nft / ip.
 */

import { spawn } from 'node:child_process';
import ava, { type ExecutionContext } from 'ava';
import { backendConfigFile, CLI, missingBuild, Proc } from '../helpers/cli.js';
import { e2eSkipReason, uniqueTag } from '../helpers/e2e.js';
import { freshNetns, ipJson, kernelTest, run } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const skip = e2eSkipReason();
const test = skip ? base.skip : base;
if (skip) process.stderr.write(`skipping: ${skip}\n`);
if (!skip) {
  ava.before('the CLI is built', (t) => {
    const missing = missingBuild();
    if (missing) t.fail(missing);
    else t.pass();
  });
}

function config(t: ExecutionContext, ns: string, ifname: string, subnet: number, returnPath: Record<string, unknown>): string {
  return backendConfigFile(t, { ns, ifname, subnet, returnPath }).config;
}

function startRun(t: ExecutionContext, file: string, args: string[] = []): Proc {
  const p = new Proc(
    spawn(process.execPath, [CLI, 'run', '-c', file, '--json', '--recheck', '0', ...args], {
      env: { ...process.env, NOTIFY_SOCKET: '', WATCHDOG_USEC: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  t.teardown(async () => {
    p.kill('SIGKILL');
    await p.exited;
  });
  return p;
}

const events = (p: Proc, name: string) => p.json().filter((l) => l.event === name);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('two supervisors of two configurations in one namespace (uid and snat) never repair each other', async (t) => {
  const ns = freshNetns(t, 'nfcont');
  const a = startRun(t, config(t, ns, `nfa${uniqueTag()}`, 0, { mode: 'uid', uids: ['1000'] }));
  await a.waitFor('A ready', () => events(a, 'applied')[0]);
  const b = startRun(t, config(t, ns, `nfb${uniqueTag()}`, 1, { mode: 'snat' }));
  await b.waitFor('B ready', () => events(b, 'applied')[0]);
  const rules = ipJson<Array<{ table?: string; protocol?: string }>>(ns, ['rule']).filter((r) => r.protocol === '233');
  // Let them both see each other's writes, and more: a bounded time in which a fight would show many repairs.
  await sleep(4000);
  t.deepEqual(events(a, 'repaired'), [], 'A repaired nothing');
  t.deepEqual(events(b, 'repaired'), [], 'B repaired nothing');
  t.deepEqual(
    ipJson<Array<{ table?: string; protocol?: string }>>(ns, ['rule']).filter((r) => r.protocol === '233'),
    rules,
    "A's rules as A made them",
  );
  t.is(rules.length, 2, 'the fwmark and uid rules of A (B in mode snat has none)');
});

test('against a program that keeps deleting its objects, the supervisor repairs at most --max-repairs times per window, then stops and names it', async (t) => {
  const ns = freshNetns(t, 'nfcont');
  const ifname = `nfa${uniqueTag()}`;
  const p = startRun(t, config(t, ns, ifname, 0, { mode: 'uid', uids: ['1000'] }), ['--max-repairs', '3', '--repair-window', '60']);
  await p.waitFor('ready', () => events(p, 'applied')[0]);
  const table = `netfwd-${ifname}`;
  // The nft tool deletes the services element whenever it is there: a program fighting the supervisor.
  const hasElement = () => run('ip', ['netns', 'exec', ns, '/usr/sbin/nft', 'list', 'set', 'inet', table, 'services']).includes('9735');
  let deletions = 0;
  const end = Date.now() + 8000;
  while (Date.now() < end) {
    if (hasElement()) {
      run('ip', ['netns', 'exec', ns, '/usr/sbin/nft', 'delete', 'element', 'inet', table, 'services', '{ tcp . 9735 }']);
      deletions++;
    }
    await sleep(150);
  }
  const repaired = events(p, 'repaired');
  t.is(repaired.length, 3, `${deletions} deletions, ${repaired.length} repairs`);
  t.true(deletions >= 4, 'the program deleted it more often than the supervisor repaired it');
  t.true(
    repaired.every((r) => (r.details.by as string[]).some((who) => /\(nft\)$/.test(who))),
    JSON.stringify(repaired.map((r) => r.details.by)),
  );
  const throttled = events(p, 'repairs-throttled');
  t.is(throttled.length, 1, 'one warning for the episode');
  t.is(throttled[0]!.level, 'warn');
  t.true(
    (throttled[0]!.details.by as string[]).some((who) => /^pid \d+ \(nft\)$/.test(who)),
    JSON.stringify(throttled[0]!.details),
  );
  t.deepEqual(throttled[0]!.details.changes, [`~ nftables table inet ${table}: elements +1 (services)`]);
  t.false(hasElement(), 'it stopped repairing');
});

test('a policy rule deleted again and again through one `ip -batch` process: the supervisor names that process', async (t) => {
  const ns = freshNetns(t, 'nfcont');
  const ifname = `nfa${uniqueTag()}`;
  const p = startRun(t, config(t, ns, ifname, 0, { mode: 'uid', uids: ['1000'] }), ['--max-repairs', '2', '--repair-window', '60']);
  await p.waitFor('ready', () => events(p, 'applied')[0]);
  // One long-lived ip process (one netlink socket) reading commands from its stdin.
  const ip = spawn('/usr/sbin/ip', ['-n', ns, '-force', '-batch', '-'], { stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => ip.kill('SIGKILL'));
  const end = Date.now() + 6000;
  while (Date.now() < end && events(p, 'repairs-throttled').length === 0) {
    ip.stdin.write('rule del priority 101 uidrange 1000-1000 lookup 5000\n');
    await sleep(400);
  }
  const throttled = await p.waitFor('repairs-throttled', () => events(p, 'repairs-throttled')[0], 5000);
  t.true(
    (throttled.details.by as string[]).some((who) => who === `pid ${ip.pid} (ip)`),
    JSON.stringify(throttled.details.by),
  );
  t.is(events(p, 'repaired').length, 2);
});

test('a supervisor whose table another configuration claims exits 3 at once (retrying cannot help), naming it', async (t) => {
  const ns = freshNetns(t, 'nfcont');
  const aName = `nfa${uniqueTag()}`;
  const a = startRun(t, config(t, ns, aName, 0, { mode: 'uid', uids: ['1000'] }));
  await a.waitFor('A ready', () => events(a, 'applied')[0]);
  const b = startRun(t, config(t, ns, `nfb${uniqueTag()}`, 1, { mode: 'connmark' }));
  const code = await Promise.race([b.exited, sleep(15_000).then(() => 'still running')]);
  t.is(code, 3, b.stderr);
  t.regex(b.stderr, new RegExp(`table 5000 is used by the netfwd configuration of tunnel ${aName}`));
  t.true(b.json().some((l) => l.event === 'apply-failed' && l.details.fatal === true));
  t.deepEqual(events(a, 'repaired'), [], 'and A was left alone');
});

/**
 * Several targets per forward (issue 19), end to end: one frontend, two
 * backends ("home" in the lab's backend host, "office" in backend2, both
 * mode connmark), each with the same services, and `netfwd run`'s
 * supervisor (in-process, a 1 s check) measuring the targets.
 *
 *   port 80  failover [home:8080, office:8080], TCP check of 8080 every 1 s
 *   port 81  hash     [home:8080, office:8080]
 *   port 82  failover [home:9000, office:9000] (a stream), checked on 9001
 *
 * - failover: home's service stops, then its tunnel goes → new connections
 *   reach office (the time is measured and printed); home comes back →
 *   they return to it; the tunnel alone going has the same effect;
 * - a connection open across a failover keeps flowing to its old target;
 * - hash: a client keeps its target over 100 connections, and two clients
 *   whose addresses fall into buckets of different targets land on
 *   different backends;
 * - events target-down / target-up, and status shows each target's health.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { NormalizedFrontend } from '../../src/forward/spec/normalized-config.js';
import { validateSpec } from '../../src/forward/spec/validate/index.js';
import { Supervisor, type SupervisorEvent } from '../../src/forward/supervisor.js';
import { cli, missingBuild, tempDir, writeFile } from '../helpers/cli.js';
import { type Env, e2eSuite, LAB_ADDRESSES, type RunningService, serve, startEnv, tcpAsk, wgBackend } from '../helpers/e2e.js';
import { toolPath } from '../helpers/kernel.js';
import { streamWatch } from '../helpers/recipe.js';

interface TargetsEnv extends Env {
  supervisor: Supervisor;
  events: SupervisorEvent[];
  home: { main: RunningService; stream: RunningService; health: RunningService };
  office: RunningService;
}

const SERVICES = [
  { protocol: 'tcp' as const, port: 8080 },
  { protocol: 'tcp' as const, port: 9000 },
  { protocol: 'tcp' as const, port: 9001 },
];

/**
 * Two client addresses (besides the client's own) added to the client's
 * link. They were chosen by probing: with netfwd's fixed seed, 12 buckets
 * and bucket b going to target b mod 2, 198.51.100.11 falls into a bucket
 * of home (bucket 10) and 198.51.100.10 into one of office (bucket 11) (the test checks it, so a
 * changed seed or bucket rule shows up here).
 */
const CLIENT_A = '198.51.100.11';
const CLIENT_B = '198.51.100.10';

const { test, env } = e2eSuite<TargetsEnv>(async () => {
  const e = await startEnv({
    prefix: 'nftgt',
    backends: [
      { host: 'backend', name: 'home', mode: 'connmark', addresses: ['10.0.0.2/24', 'fd00::2/64'], services: SERVICES },
      { host: 'backend2', name: 'office', mode: 'connmark', addresses: ['10.0.0.3/24', 'fd00::3/64'], services: SERVICES },
    ],
    forwards: [
      {
        protocol: 'tcp',
        port: 80,
        to: [
          { peer: 'home', port: 8080 },
          { peer: 'office', port: 8080 },
        ],
        check: { intervalSeconds: 1, timeoutMs: 500 },
      },
      {
        protocol: 'tcp',
        port: 81,
        balance: 'hash',
        to: [
          { peer: 'home', port: 8080 },
          { peer: 'office', port: 8080 },
        ],
      },
      {
        protocol: 'tcp',
        port: 82,
        to: [
          { peer: 'home', port: 9000 },
          { peer: 'office', port: 9000 },
        ],
        check: { port: 9001, intervalSeconds: 1, timeoutMs: 500 },
      },
    ],
  });
  try {
    const home = {
      main: await serve(e, 'backend', { name: 'home', tcp: [8080], udp: [] }),
      stream: await serve(e, 'backend', { name: 'home-stream', tcp: [], tcpStream: [9000], udp: [] }),
      health: await serve(e, 'backend', { name: 'home-health', tcp: [9001], udp: [] }),
    };
    const office = await serve(e, 'backend2', { name: 'office', tcp: [8080, 9001], tcpStream: [9000], udp: [] });
    const client = e.lab.hosts.client;
    for (const a of [CLIENT_A, CLIENT_B])
      execFileSync(toolPath('ip'), ['-n', client.netns, 'addr', 'add', `${a}/24`, 'dev', client.uplink!]);
    await e.handshakes();
    const events: SupervisorEvent[] = [];
    const supervisor = new Supervisor(validateSpec(e.specs.frontend) as NormalizedFrontend, {
      implementation: wgBackend(),
      debounceMs: 50,
      handshakeCheckMs: 1000,
      log: (ev) => events.push(ev),
    });
    e.cleanups.push(() => supervisor.stop());
    await supervisor.start();
    await supervisor.ready;
    return Object.assign(e, { supervisor, events, home, office });
  } catch (err) {
    await e.close().catch(() => undefined);
    throw err;
  }
});

const f4 = LAB_ADDRESSES.frontend.ipv4;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Asks `port` of the frontend until the answer starts with `who`; the time it took (ms). */
async function until(e: TargetsEnv, port: number, who: string, limitMs = 30_000): Promise<number> {
  const start = Date.now();
  let last = '';
  while (Date.now() - start < limitMs) {
    last = await e.lab.run('client', tcpAsk, { host: f4, port, timeoutMs: 800 });
    if (last.startsWith(`${who} `)) return Date.now() - start;
    await sleep(50);
  }
  throw new Error(`port ${port} did not reach ${who} within ${limitMs} ms (last answer: ${last})`);
}

/** `count` TCP connections one after the other from local address `from`: the answers. */
async function askMany(arg: { host: string; port: number; from: string; count: number }): Promise<string[]> {
  const net = await import('node:net');
  const one = () =>
    new Promise<string>((resolve) => {
      const c = net.connect({ port: arg.port, host: arg.host, localAddress: arg.from });
      let data = '';
      const timer = setTimeout(() => {
        c.destroy();
        resolve('(timeout)');
      }, 3000);
      c.on('data', (d) => (data += d));
      c.on('end', () => {
        clearTimeout(timer);
        resolve(data.trim());
      });
      c.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(`(error ${err.code})`);
      });
    });
  const out: string[] = [];
  for (let i = 0; i < arg.count; i++) out.push(await one());
  return out;
}

/** The backend's tunnel link down (its tunnel dies), or back up with netfwd's routes restored. */
function homeTunnel(e: TargetsEnv, up: boolean): Promise<unknown> | undefined {
  const spec = e.specs.backends[0]!;
  execFileSync(toolPath('ip'), ['-n', spec.netns!, 'link', 'set', 'dev', spec.tunnel!.interface, up ? 'up' : 'down']);
  // The kernel removed the routes through the link when it went down: apply puts them back.
  return up ? e.backends[0]!.apply() : undefined;
}

test('hash: a client keeps its target over 100 connections; two clients in buckets of different targets reach different backends', async (t) => {
  const e = env();
  const a = await e.lab.run('client', askMany, { host: f4, port: 81, from: CLIENT_A, count: 100 });
  const b = await e.lab.run('client', askMany, { host: f4, port: 81, from: CLIENT_B, count: 100 });
  t.deepEqual([...new Set(a)], [`home ${CLIENT_A} 8080`], `${CLIENT_A}: 100 times home`);
  t.deepEqual([...new Set(b)], [`office ${CLIENT_B} 8080`], `${CLIENT_B}: 100 times office`);
});

test('failover: home stops its service, then its tunnel goes → office; home back → home again', async (t) => {
  const e = env();
  t.true((await e.lab.run('client', tcpAsk, { host: f4, port: 80 })).startsWith('home '));
  const downs = e.events.filter((x) => x.event === 'target-down').length;

  e.home.main.stop();
  const toOffice = await until(e, 80, 'office');
  t.log(`home's service stopped: new connections reached office after ${toOffice} ms (check every 1 s, timeout 500 ms)`);
  const down = e.events
    .slice()
    .reverse()
    .find((x) => x.event === 'target-down');
  t.like(down?.details, { forward: 'forwards[0]', target: 'home' });
  t.regex(String(down?.details.reason), /check tcp 10\.0\.0\.2:8080 refused/);
  t.true(e.events.filter((x) => x.event === 'target-down').length > downs);

  const s = await e.frontend.status();
  const home = s.targets.find((x) => x.forward === 'forwards[0]' && x.target === 'home');
  const office = s.targets.find((x) => x.forward === 'forwards[0]' && x.target === 'office');
  t.like(home, { elements: 0, health: { up: false } });
  t.true((office?.elements ?? 0) > 0 && office?.health?.up === true, JSON.stringify(office));
  t.regex(home?.health?.since ?? '', /^\d{4}-\d\d-\d\dT/);
  // The CLI (another process) reads the health the supervisor recorded.
  if (!missingBuild()) {
    const file = writeFile(join(tempDir(t), 'frontend.json'), JSON.stringify(e.specs.frontend), 0o600);
    const r = await cli(['status', '-c', file]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stdout, /target forwards\[0\] → home: DOWN since \S+ \(.*check tcp 10\.0\.0\.2:8080 refused\); not chosen now/);
    t.regex(r.stdout, /target forwards\[0\] → office: up since \S+ \(.*\); new connections go here \(2 map elements\)/);
  } else t.log(`CLI status not checked: ${missingBuild()}`);

  // Its tunnel goes too: still office.
  await homeTunnel(e, false);
  await sleep(2500);
  t.true((await e.lab.run('client', tcpAsk, { host: f4, port: 80 })).startsWith('office '));
  t.true((await e.lab.run('client', tcpAsk, { host: f4, port: 80 })).startsWith('office '));

  // Home comes back: service, then tunnel.
  e.home.main = await serve(e, 'backend', { name: 'home', tcp: [8080], udp: [] });
  await homeTunnel(e, true);
  const back = await until(e, 80, 'home');
  t.log(`home back (service and tunnel): new connections reached home again after ${back} ms`);
  const up = e.events
    .slice()
    .reverse()
    .find((x) => x.event === 'target-up' && x.details.forward === 'forwards[0]');
  t.like(up?.details, { forward: 'forwards[0]', target: 'home' });
});

test('failover: the tunnel alone going moves new connections; they return when it is back', async (t) => {
  const e = env();
  await until(e, 80, 'home');
  await homeTunnel(e, false);
  const toOffice = await until(e, 80, 'office');
  t.log(`home's tunnel down: new connections reached office after ${toOffice} ms`);
  const down = e.events
    .slice()
    .reverse()
    .find((x) => x.event === 'target-down' && x.details.forward === 'forwards[0]');
  t.regex(String(down?.details.reason), /check tcp 10\.0\.0\.2:8080 (timeout|unreachable)/);
  await homeTunnel(e, true);
  const back = await until(e, 80, 'home');
  t.log(`home's tunnel back: new connections reached home again after ${back} ms`);
});

test('a connection open across a failover keeps flowing to its old target while new ones go to the other', async (t) => {
  const e = env();
  const seenHome = e.home.stream.seen().length;
  const seenOffice = e.office.seen().length;
  const watch = e.lab.start('client', streamWatch, { host: f4, port: 82, durationMs: 7000 });
  for (let i = 0; e.home.stream.seen().length === seenHome; i++) {
    if (i > 100) throw new Error('the stream did not reach home');
    await sleep(50);
  }
  await sleep(500);
  // home fails its check (its health port closes) but keeps serving the stream.
  e.home.health.stop();
  const failedAt = Date.now();
  // New connections on port 82 reach office's stream service.
  let movedAfter = -1;
  for (let i = 0; i < 150 && movedAfter < 0; i++) {
    const probe = e.lab.start('client', streamWatch, { host: f4, port: 82, durationMs: 300 });
    await probe.result;
    if (
      e.office
        .seen()
        .slice(seenOffice)
        .some((l) => l.startsWith('stream '))
    )
      movedAfter = Date.now() - failedAt;
  }
  t.true(movedAfter >= 0, 'new connections reached office');
  t.log(`home's check failed: new stream connections reached office after ${movedAfter} ms`);
  const r = await watch.result;
  const late = r.lines.filter((l) => l.at > failedAt + movedAfter + 200);
  t.log(`the open stream: ${r.lines.length} lines in all, ${late.length} after new connections had moved; ${r.end}`);
  t.true(late.length >= 10, 'the existing connection still flows to home');
  t.is(r.end, '(open)', 'and was not cut');
  // Once moved, every new connection goes to office; home gets none.
  const homeNow = e.home.stream.seen().length;
  const officeNow = e.office.seen().filter((l) => l.startsWith('stream ')).length;
  for (let i = 0; i < 3; i++) await e.lab.start('client', streamWatch, { host: f4, port: 82, durationMs: 300 }).result;
  t.is(e.home.stream.seen().length, homeNow, 'no new connection reached home');
  t.is(e.office.seen().filter((l) => l.startsWith('stream ')).length, officeNow + 3, 'all three reached office');
  e.home.health = await serve(e, 'backend', { name: 'home-health', tcp: [9001], udp: [] });
});

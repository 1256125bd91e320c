/**
 * Two frontends and one backend (issue 19), both families: clients through
 * either VPS reach the service, which sees their real addresses; the
 * backend's counters show every reply leaving by the tunnel it came in on;
 * VPS A dies (its port on the public segment goes down: the backend's wga
 * link stays up, traffic simply times out) → existing and new connections via
 * B keep working, the service's own egress (modes uid and mark) moves to B,
 * and no packet of a selected or forwarded connection leaves by the home
 * uplink at any moment (the home router's counters over the whole sequence);
 * A back → egress returns to A. A second way to lose A: the backend's own wga
 * link is deleted (a crashed daemon) → the leak guard, nothing on the home uplink.
 *
 * The issue's bound "egress moves within one handshake period" is read as: it
 * moved within 20 s of the VPS dying (the supervisor's defaults: a check
 * every 5 s, 2 s timeout; WireGuard's handshake period is 5 s, its keepalive
 * 25 s), looked at every second; the times measured are printed (t.log),
 * nothing asserts on speed beyond that bound.
 */
import anyTest, { type ExecutionContext } from 'ava';
import { forwardService } from '../../src/forward/index.js';
import { tcpAsk, udpAsk } from '../../src/lab/index.js';
import { dialAs, e2eSkipReason, inNetns, OTHER_UID } from '../helpers/e2e.js';
import {
  ADDR,
  backendCounters,
  components,
  homeCounters,
  leaks,
  openStream,
  P,
  type Stream,
  selectedEgress,
  startTwoFrontends,
  TUN,
  type TwoFrontendsEnv,
  type TwoMode,
  unselectedEgress,
  watchConnection,
  within,
} from '../helpers/two-frontends.js';

const skip = e2eSkipReason();
if (skip) process.stderr.write(`skipping the end-to-end tests of this file: ${skip}\n`);
const test = skip ? anyTest.skip : anyTest.serial;

/** How long the egress may take to move (see the file's comment). */
const MOVE_BOUND_MS = 20_000;

/** How long the egress may take to return to A once A is back (a generous bound, not the issue's). */
const RETURN_BOUND_MS = 45_000;

/** The supervisor's tunnel events since `since`: "+8.1s tunnel-down wga… (timeout in 2001 ms)". */
function tunnelEvents(e: TwoFrontendsEnv, since: number): string {
  return e.events
    .filter((x) => ['tunnel-down', 'tunnel-up', 'egress-moved'].includes(x.event) && Date.parse(x.ts) >= since)
    .map((x) => {
      const d = x.details;
      const what = x.event === 'egress-moved' ? `${d.from} → ${d.to} (${d.reason})` : `${d.interface} (${d.check})`;
      return `+${((Date.parse(x.ts) - since) / 1000).toFixed(1)}s ${x.event} ${what}`;
    })
    .join('; ');
}

const c4 = ADDR.client.ipv4;
const c6 = ADDR.client.ipv6;
const viaA = [ADDR.vpsa.ipv4, ADDR.vpsa.ipv6];
const viaB = [ADDR.vpsb.ipv4, ADDR.vpsb.ipv6];
const homeLine = [ADDR.home.ipv4, ADDR.backend.ipv6];

/** Where one family's egress went: 'A', 'B', 'failed', or 'HOME' / what else the outside host saw. */
function where(answer: string, family: 0 | 1): string {
  if (answer === viaA[family]) return 'A';
  if (answer === viaB[family]) return 'B';
  if (/^\((error E[A-Z]+|timeout)\)$/.test(answer)) return 'failed';
  if (answer === homeLine[family]) return 'HOME';
  return `other(${answer})`;
}

/**
 * Dials the selected egress (IPv4, IPv6) every second until both went by
 * `want`; every answer on the way must be A, B or a failure — never the home
 * line. Returns the milliseconds since `since` and the answers seen.
 */
async function egressUntil(
  t: ExecutionContext,
  e: TwoFrontendsEnv,
  want: 'A' | 'B',
  since: number,
  boundMs = MOVE_BOUND_MS,
): Promise<{ ms: number; seen: string[] }> {
  const seen: string[] = [];
  await within(`the selected egress goes by ${want}`, boundMs, async () => {
    const r = await selectedEgress(e, 1500);
    const w = [where(r[0]!, 0), where(r[1]!, 1)];
    seen.push(`${((Date.now() - since) / 1000).toFixed(1)}s ${w.join('/')}`);
    for (const x of w) t.true(x === 'A' || x === 'B' || x === 'failed', `selected egress went by ${x}: ${seen.join(', ')}`);
    return w[0] === want && w[1] === want;
  });
  return { ms: Date.now() - since, seen };
}

async function growing(s: Stream, ms = 1500): Promise<boolean> {
  const n = s.lines();
  await new Promise((r) => setTimeout(r, ms));
  return s.lines() > n;
}

function delta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
}

/** Requests through one VPS, both families, TCP and UDP: the service sees the client's own address. */
async function requestsVia(t: ExecutionContext, e: TwoFrontendsEnv, vps: 'vpsa' | 'vpsb'): Promise<void> {
  for (const [addr, client] of [
    [ADDR[vps].ipv4, c4],
    [ADDR[vps].ipv6, c6],
  ] as const) {
    t.is(await e.lab.run('client', tcpAsk, { host: addr, port: P.pub }), `home ${client} ${P.svc}`, `TCP via ${vps} (${addr})`);
    t.is(await e.lab.run('client', udpAsk, { host: addr, port: P.udp }), `home ${client} ${P.udp}`, `UDP via ${vps} (${addr})`);
  }
}

function checkNoLeak(t: ExecutionContext, e: TwoFrontendsEnv, when: string): void {
  const home = homeCounters(e);
  t.is(leaks(home), 0, `${when}: packets left by the home uplink: ${JSON.stringify(home)}`);
  const b = backendCounters(e);
  t.is(b['reply elsewhere'], 0, `${when}: replies left the backend by neither tunnel: ${JSON.stringify(b)}`);
  t.is(b['egress elsewhere'], 0, `${when}: selected egress left the backend by neither tunnel: ${JSON.stringify(b)}`);
}

async function issueSequence(t: ExecutionContext, mode: TwoMode): Promise<void> {
  t.timeout(240_000);
  const selecting = mode !== 'connmark';
  const e = await startTwoFrontends({ mode });
  const streams: Stream[] = [];
  t.teardown(async () => {
    for (const s of streams) s.stop();
    await e.close();
  });
  t.log(components(e));

  // 1. Both VPSes, both families: the service sees the client; every reply leaves by the tunnel it came in on.
  for (const [vps, mine, other] of [
    ['vpsa', 'A', 'B'],
    ['vpsb', 'B', 'A'],
  ] as const) {
    const before = backendCounters(e);
    await requestsVia(t, e, vps);
    const d = delta(before, backendCounters(e));
    t.true(d[`reply via ${mine}`]! >= 4, `replies via ${mine}: ${JSON.stringify(d)}`);
    t.is(d[`reply via ${other}`], 0, `requests via ${vps}: replies via ${other}: ${JSON.stringify(d)}`);
    t.is(d['reply elsewhere'], 0);
    t.log(`requests via ${vps}: the backend's replies by interface: ${JSON.stringify(d)}`);
  }

  // 1b. Answers the kernel makes, not the service: a reset (TCP port nothing listens on) and ICMP
  // port unreachable (UDP), both families — by the tunnel the packet came in on too.
  for (const [vps, mine, other] of [
    ['vpsa', 'A', 'B'],
    ['vpsb', 'B', 'A'],
  ] as const) {
    const before = backendCounters(e);
    for (const addr of [ADDR[vps].ipv4, ADDR[vps].ipv6]) {
      t.is(await e.lab.run('client', tcpAsk, { host: addr, port: P.pubClosed }), '(error ECONNREFUSED)', `TCP ${addr}:${P.pubClosed}`);
      await e.lab.run('client', udpAsk, { host: addr, port: P.closedUdp, timeoutMs: 500 });
    }
    const d = delta(before, backendCounters(e));
    t.log(`kernel answers via ${vps}: ${JSON.stringify(d)}`);
    t.true(d[`reset via ${mine}`]! >= 2, `resets via ${mine}: ${JSON.stringify(d)}`);
    t.true(d[`icmp4 error via ${mine}`]! >= 1 && d[`icmp6 error via ${mine}`]! >= 1, `ICMP errors via ${mine}: ${JSON.stringify(d)}`);
    for (const what of ['reset', 'icmp4 error', 'icmp6 error']) {
      t.is(d[`${what} via ${other}`], 0, `${what} via ${other}: ${JSON.stringify(d)}`);
      t.is(d[`${what} elsewhere`], 0, `${what} elsewhere: ${JSON.stringify(d)}`);
    }
  }

  // 2. The service's own egress takes the first tunnel; other users take the home line.
  if (selecting) t.deepEqual(await selectedEgress(e), viaA, 'the selected egress goes by VPS A');
  t.deepEqual(await unselectedEgress(e), homeLine, 'an unselected user goes by the home line');

  // 3. Open connections through both VPSes.
  const sA = openStream(e, ADDR.vpsa.ipv4, P.pubStream);
  const sB4 = openStream(e, ADDR.vpsb.ipv4, P.pubStream);
  const sB6 = openStream(e, ADDR.vpsb.ipv6, P.pubStream);
  streams.push(sA, sB4, sB6);
  await within('the three streams flow', 10_000, () => streams.every((s) => s.lines() >= 3), 100);
  // Counters for two of them by the client's port: which tunnel their packets leave the backend by.
  watchConnection(e, 'stream A', 'ipv4', await sA.port);
  watchConnection(e, 'stream B', 'ipv6', await sB6.port);
  checkNoLeak(t, e, 'before A died');

  // 4. VPS A dies.
  const atDown = backendCounters(e);
  const down = Date.now();
  await e.lab.setVpsUp('vpsa', false);
  if (selecting) {
    const moved = await egressUntil(t, e, 'B', down);
    t.log(`VPS A died: the selected egress went by B after ${moved.ms} ms (${moved.seen.join(', ')})`);
    const ev = e.events.find((x) => x.event === 'egress-moved' && x.details.to === e.ifaces.b);
    t.like(
      ev?.details,
      { from: e.ifaces.a, to: e.ifaces.b },
      `egress-moved to B: ${JSON.stringify(e.events.filter((x) => x.level !== 'debug'))}`,
    );
    t.log(`events: ${tunnelEvents(e, down)}`);
  } else {
    // Nothing to move in connmark mode: stay in this state as long as a move would take.
    await new Promise((r) => setTimeout(r, 8000));
  }
  // netfwd status (another process would do the same): tunnel A's frontend does not answer, B's does.
  const during = await forwardService(e.specs.backend).status();
  const [stA, stB] = during.tunnels!;
  t.false(stA!.check.alive, `status: tunnel A's check ${stA!.check.result}`);
  t.true(stB!.check.alive, `status: tunnel B's check ${stB!.check.result}`);
  if (selecting) t.deepEqual([stA!.egress, stB!.egress], [false, true], 'status: B carries the egress');
  t.log(`status while A is dead: A ${stA!.check.result}, B ${stB!.check.result}`);
  t.true(await growing(sB4), 'the open IPv4 connection via B still receives');
  t.true(await growing(sB6), 'the open IPv6 connection via B still receives');
  await requestsVia(t, e, 'vpsb');
  t.is(await e.lab.run('client', tcpAsk, { host: ADDR.vpsa.ipv4, port: P.pub, timeoutMs: 2000 }), '(timeout)', 'VPS A really is gone');
  const aStalled = !(await growing(sA, 1000));
  t.log(`the open connection via A ${aStalled ? 'stalled' : 'still received'} while A was dead (its NAT state lives on VPS A)`);
  checkNoLeak(t, e, 'while A was dead');
  // The dead VPS's connection: the service's packets for it still go into tunnel A (and are lost
  // there), never into B and never by the home line.
  const dead = delta(atDown, backendCounters(e));
  t.true(dead['stream A via A']! > 0, `the connection via A still sends by A: ${JSON.stringify(dead)}`);
  t.log(`while A was dead: ${JSON.stringify(dead)}`);

  // 5. VPS A comes back.
  const up = Date.now();
  await e.lab.setVpsUp('vpsa', true);
  if (selecting) {
    // No bound from the issue here: WireGuard needs a new handshake (retried every 5 s) before the check passes.
    const back = await egressUntil(t, e, 'A', up, RETURN_BOUND_MS);
    t.log(`VPS A back: the selected egress went by A again after ${back.ms} ms (${back.seen.join(', ')})`);
    const ev = e.events.find((x) => x.event === 'egress-moved' && x.details.to === e.ifaces.a && x.details.from === e.ifaces.b);
    t.truthy(ev, `egress-moved back to A: ${JSON.stringify(e.events.filter((x) => x.level !== 'debug'))}`);
    t.log(`events: ${tunnelEvents(e, up)}`);
  }
  await within('new connections via A work again', MOVE_BOUND_MS, async () => {
    const r = await e.lab.run('client', tcpAsk, { host: ADDR.vpsa.ipv4, port: P.pub, timeoutMs: 1500 });
    return r === `home ${c4} ${P.svc}`;
  });
  await requestsVia(t, e, 'vpsa');
  t.true(await growing(sB4), 'the connection via B still receives after A came back');
  t.log(`the connection via A ${(await growing(sA, 2000)) ? 'resumed' : 'did not resume'} after A came back`);

  // 6. Over the whole sequence: nothing left by the home uplink but WireGuard and the unselected user.
  checkNoLeak(t, e, 'over the whole sequence');
  const b = backendCounters(e);
  t.like(b, { 'stream A via B': 0, 'stream A elsewhere': 0, 'stream B via A': 0, 'stream B elsewhere': 0 }, JSON.stringify(b));
  t.true(b['stream B via B']! > 0);
  const home = homeCounters(e);
  t.log(`home uplink counters over the whole sequence: ${JSON.stringify(home)}`);
  t.log(`backend counters over the whole sequence: ${JSON.stringify(backendCounters(e))}`);
  t.true(home.wireguard4! > 0 && home.wireguard6! > 0 && home.unselected! > 0, 'the home router saw the traffic it lets out');

  // 7. Control: the oracle counts a leak when there is one (an unselected user dials the selected port).
  t.deepEqual(await dialAs(e.lab, 'backend', OTHER_UID, [{ host: ADDR.outside.ipv4, port: P.selected }]), [ADDR.home.ipv4]);
  t.true(homeCounters(e)['leak tcp']! > 0, 'the leak counter counts');
}

for (const mode of ['uid', 'connmark', 'mark'] as const) {
  test(`${mode}: two VPSes, both families — replies by the tunnel they came in on, VPS A dies and comes back, nothing by the home uplink`, (t) =>
    issueSequence(t, mode));
}

test("uid: the backend's wga link disappears (a crashed daemon) — the leak guard holds, nothing by the home uplink, the supervisor makes it again", async (t) => {
  t.timeout(240_000);
  const e = await startTwoFrontends({ mode: 'uid' });
  const streams: Stream[] = [];
  t.teardown(async () => {
    for (const s of streams) s.stop();
    await e.close();
  });
  t.log(components(e));
  const ns = e.lab.hosts.backend.netns;
  t.deepEqual(await selectedEgress(e), viaA);
  const sB = openStream(e, ADDR.vpsb.ipv6, P.pubStream);
  streams.push(sB);
  await within('the stream via B flows', 10_000, () => sB.lines() >= 3, 100);

  // Without a supervisor to repair it (netfwd run killed, its configuration left): the leak guard alone.
  await e.restartSupervisor(async () => {
    inNetns(ns, 'ip', ['link', 'del', e.ifaces.a]);
    const r = await selectedEgress(e, 1500);
    t.deepEqual(
      r.map((x, i) => where(x, i as 0 | 1)),
      ['failed', 'failed'],
      `with wga gone and nobody to move the egress, the selected traffic fails: ${r}`,
    );
    t.true(await growing(sB), 'the connection via B is untouched');
    await requestsVia(t, e, 'vpsb');
    checkNoLeak(t, e, 'wga deleted, no supervisor');
  });
  // The new supervisor made wga again.
  const back = Date.now();
  const r1 = await egressUntil(t, e, 'A', back);
  t.log(`a new supervisor made wga again: the selected egress went by A after ${r1.ms} ms (${r1.seen.join(', ')})`);

  // With the supervisor running: the link goes, the supervisor repairs it; the egress may go by B meanwhile, never home.
  const del = Date.now();
  inNetns(ns, 'ip', ['link', 'del', e.ifaces.a]);
  const seen: string[] = [];
  for (let i = 0; i < 8; i++) {
    const r = await selectedEgress(e, 1000);
    const w = [where(r[0]!, 0), where(r[1]!, 1)];
    seen.push(`${((Date.now() - del) / 1000).toFixed(1)}s ${w.join('/')}`);
    for (const x of w) t.true(x === 'A' || x === 'B' || x === 'failed', `selected egress went by ${x}: ${seen.join(', ')}`);
  }
  const r2 = await egressUntil(t, e, 'A', del);
  t.log(`wga deleted under a running supervisor: ${[...seen, ...r2.seen].join(', ')}`);
  t.log(
    `supervisor events: ${e.events
      .filter((x) => x.level !== 'debug')
      .map((x) => x.event)
      .join(' ')}`,
  );
  t.true(await growing(sB), 'the connection via B kept working');

  // The second tunnel's link goes the same way: the supervisor makes it again, B works again.
  const delB = Date.now();
  inNetns(ns, 'ip', ['link', 'del', e.ifaces.b!]);
  const bBack = await within('new connections via B work again', MOVE_BOUND_MS, async () => {
    const r = await e.lab.run('client', tcpAsk, { host: ADDR.vpsb.ipv6, port: P.pub, timeoutMs: 1500 });
    return r === `home ${c6} ${P.svc}`;
  });
  t.log(`wgb deleted under a running supervisor: connections via B work again after ${bBack} ms; ${tunnelEvents(e, delB)}`);
  t.deepEqual(await selectedEgress(e), viaA, 'the egress stayed on A');
  await requestsVia(t, e, 'vpsb');

  // Drift on the second tunnel: its IPv4 address deleted takes its IPv4 route along, which the
  // kernel does not announce — only the address event tells (the supervisor's periodic recheck
  // is off here, so only its monitor can repair it).
  inNetns(ns, 'ip', ['addr', 'del', TUN.b.backend[0], 'dev', e.ifaces.b!]);
  const addrBack = await within(`${TUN.b.backend[0]} on ${e.ifaces.b} again`, 10_000, () =>
    inNetns(ns, 'ip', ['route', 'show', 'table', '5001', 'default', 'dev', e.ifaces.b!]).includes('default'),
  );
  t.log(`the second tunnel's IPv4 address and route were made again after ${addrBack} ms`);
  await requestsVia(t, e, 'vpsb');
  checkNoLeak(t, e, 'over the whole sequence');
  t.log(`home uplink counters: ${JSON.stringify(homeCounters(e))}`);
});

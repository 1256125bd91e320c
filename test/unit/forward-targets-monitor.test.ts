/**
 * TargetMonitor without a kernel: the handshake ages come from a stand-in
 * for the WireGuard reader, so this is the health rule itself — a target is
 * down without a fresh handshake of its peer, events only on changes (and a
 * first "down"), the first measurement always re-plans, the record beside
 * the state file is what `status` reads, and stop() removes it.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { NormalizedFrontend } from '../../src/forward/spec/normalized-config.js';
import type { ForwardSpec } from '../../src/forward/spec/spec.js';
import { validateSpec } from '../../src/forward/spec/validate/index.js';
import { frontendSpec, KEYS } from '../fixtures/invalid-specs/base.js';

const dir = mkdtempSync(join(tmpdir(), 'netfwd-targets-'));
process.env.NETFWD_STATE_DIR = dir;
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function config(forwards: ForwardSpec[]): NormalizedFrontend {
  const s = frontendSpec();
  s.netns = `nftgm-${process.pid}`;
  s.tunnel.peers[1]!.addresses = ['10.0.0.3', 'fd00::3'];
  s.forwards = forwards;
  return validateSpec(s) as NormalizedFrontend;
}

/** A kernel whose WireGuard reports these handshake ages (seconds; null: none yet) by public key. */
function kernel(ages: Record<string, number | null>) {
  return {
    wg: {
      implementationOf: async () => 'userspace',
      get: async () => ({
        peers: Object.entries(ages).map(([publicKey, age]) => ({
          publicKey,
          lastHandshake: age === null ? null : new Date(Date.now() - age * 1000),
        })),
      }),
    },
  };
}

test('health from handshakes: events on changes, downTargets, the record status reads, removed at stop', async (t) => {
  const { TargetMonitor, readTargetHealth, targetHealthPath, monitoredForwards } = await import('../../src/forward/health/targets.js');
  t.true(targetHealthPath('x', 'wg0').startsWith(dir), 'the record goes to the test state directory');
  const c = config([
    { protocol: 'tcp+udp', port: 443, to: [{ peer: 'home' }, { peer: 'office' }] },
    { protocol: 'tcp', port: 80, to: { peer: 'home' } },
  ]);
  t.deepEqual(
    monitoredForwards(c).map((f) => f.source),
    ['forwards[0]'],
    'tcp+udp measured once; a single target without a check not at all',
  );
  const ages: Record<string, number | null> = { [KEYS.backendPublic]: 5, [KEYS.officePublic]: null };
  const events: Array<[string, Record<string, unknown>]> = [];
  let changes = 0;
  const m = new TargetMonitor(c, () => kernel(ages) as never, {
    peerUpSeconds: 180,
    handshakeCheckMs: 60_000,
    emit: (_level, event, details) => events.push([event, details]),
    changed: () => changes++,
  });
  t.is(m.downTargets(), undefined, 'before the first measurement: no health (the plan keeps the kernel)');
  await m.measure();
  t.deepEqual([...m.downTargets()!], ['forwards[0] office']);
  t.is(changes, 1, 'the first measurement always re-plans');
  t.deepEqual(
    events.map(([e, d]) => [e, d.forward, d.target, d.reason]),
    [['target-down', 'forwards[0]', 'office', 'no handshake with peer office']],
    'a target first seen up is no news; one first seen down is',
  );
  const recorded = readTargetHealth(c.netns, c.tunnel.interface)!;
  t.is(recorded.pid, process.pid);
  t.deepEqual(
    recorded.targets.map((x) => [x.key, x.up, x.reason]),
    [
      ['forwards[0] home', true, 'handshake 5 s ago'],
      ['forwards[0] office', false, 'no handshake with peer office'],
    ],
  );
  const since = recorded.targets[1]!.since;

  await m.measure();
  t.is(changes, 1, 'nothing changed: no new plan');
  t.is(events.length, 1);
  t.is(readTargetHealth(c.netns, c.tunnel.interface)!.targets[1]!.since, since, 'since stays while the state does');

  ages[KEYS.officePublic] = 2;
  ages[KEYS.backendPublic] = 200;
  await m.measure();
  t.is(changes, 2);
  t.deepEqual([...m.downTargets()!], ['forwards[0] home']);
  t.deepEqual(
    events.slice(1).map(([e, d]) => [e, d.target, d.reason]),
    [
      ['target-down', 'home', "peer home's last handshake 200 s ago"],
      ['target-up', 'office', 'handshake 2 s ago'],
    ],
  );

  m.stop();
  t.false(existsSync(targetHealthPath(c.netns, c.tunnel.interface)), 'the record goes with the monitor');
  t.is(readTargetHealth(c.netns, c.tunnel.interface), undefined, 'status then says: not measured');
});

test('check results: TCP open is up, refused is down; UDP silence is up, port unreachable is down (loopback only)', async (t) => {
  const { TargetMonitor } = await import('../../src/forward/health/targets.js');
  const net = await import('node:net');
  const dgram = await import('node:dgram');
  const tcp = net.createServer((c) => c.on('error', () => {})).listen(0, '127.0.0.1');
  await new Promise((r) => tcp.once('listening', r));
  const udp = dgram.createSocket('udp4'); // bound, never answers: "silent"
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  const closedTcp = net.createServer().listen(0, '127.0.0.1');
  await new Promise((r) => closedTcp.once('listening', r));
  const closedTcpPort = (closedTcp.address() as { port: number }).port;
  await new Promise((r) => closedTcp.close(r));
  const closedUdp = dgram.createSocket('udp4');
  await new Promise<void>((r) => closedUdp.bind(0, '127.0.0.1', () => r()));
  const closedUdpPort = closedUdp.address().port;
  closedUdp.close();
  t.teardown(() => {
    tcp.close();
    udp.close();
  });

  const open = { tcp: (tcp.address() as { port: number }).port, udp: udp.address().port };
  const c = config([
    { protocol: 'tcp', port: 443, to: [{ peer: 'home' }, { peer: 'office' }], check: { intervalSeconds: 1, timeoutMs: 300 } },
    { protocol: 'udp', port: 53, to: [{ peer: 'home' }, { peer: 'office' }], check: { intervalSeconds: 1, timeoutMs: 300 } },
  ]);
  // Checked in this namespace on loopback: the targets' addresses and ports are pointed there, no handshakes (external).
  const loop = c as NormalizedFrontend & { netns: string | undefined };
  loop.netns = undefined;
  loop.tunnel = { ...c.tunnel, external: true };
  const ports = [open.tcp, closedTcpPort, open.udp, closedUdpPort];
  c.forwards.forEach((fw, i) => {
    fw.families = [4];
    fw.targets.forEach((x, j) => {
      x.addresses = { 4: '127.0.0.1' };
      x.ports = { from: ports[i * 2 + j]!, to: ports[i * 2 + j]! };
    });
  });
  const events: Array<[string, unknown, unknown]> = [];
  const m = new TargetMonitor(c, () => ({}) as never, {
    peerUpSeconds: 180,
    handshakeCheckMs: 60_000,
    emit: (_l, event, d) => events.push([event, d.forward, d.reason]),
    changed: () => {},
  });
  await m.measure();
  m.stop();
  t.deepEqual([...m.downTargets()!].sort(), ['forwards[0] office', 'forwards[1] office']);
  t.deepEqual(events, [
    ['target-down', 'forwards[0]', `check tcp 127.0.0.1:${closedTcpPort} refused`],
    ['target-down', 'forwards[1]', `check udp 127.0.0.1:${closedUdpPort} refused`],
  ]);
});

/**
 * The leak guard end to end: with the backend's tunnel link down, the
 * selected traffic fails instead of leaving by the home uplink, while other
 * users' traffic still works. A control run with the guard's unreachable
 * routes deleted shows the same traffic *would* leak, so the guard is what
 * stops it. After the flap the kernel has deleted the routes through the
 * tunnel; `apply()` again restores them (documented behaviour). Then the same
 * backend is switched to mark mode and the guard is checked there too.
 */
import { forwardService } from '../../src/forward/index.js';
import type { BackendSpec } from '../../src/forward/spec/spec.js';
import {
  dialAs,
  type Env,
  e2eSuite,
  inNetns,
  installCounters,
  LAB_ADDRESSES,
  OTHER_UID,
  OUTSIDE_PORT,
  readCounters,
  resetCounters,
  returnPathOf,
  SERVICE_UID,
  serve,
  startEnv,
  tcpAsk,
  uplinkOfUid,
  whoami,
} from '../helpers/e2e.js';

const WATCH = 'e2e_watch';
const LEAK = `uplink: sockets of uid ${SERVICE_UID}`;

const { test, env } = e2eSuite<Env>(async () => {
  const e = await startEnv({
    backends: [
      {
        host: 'backend',
        name: 'home',
        mode: 'uid',
        addresses: ['10.0.0.2/24', 'fd00::2/64'],
        services: [
          { protocol: 'tcp', port: 8080 },
          { protocol: 'udp', port: 5353 },
        ],
      },
    ],
  });
  try {
    installCounters(e.lab.hosts.backend.netns, WATCH, [
      { name: LEAK, match: uplinkOfUid(SERVICE_UID), hook: 'postrouting' },
      { name: 'uplink: from the service port', match: 'oifname "eth0" tcp sport 8080', hook: 'postrouting' },
    ]);
    await serve(e, 'backend', { name: 'home', tcp: [8080], udp: [] });
    await e.lab.start('internet', whoami, OUTSIDE_PORT).result;
    await e.handshakes();
    return e;
  } catch (err) {
    await e.close().catch(() => undefined);
    throw err;
  }
});

const outside = [
  { host: LAB_ADDRESSES.outside.ipv4, port: OUTSIDE_PORT, timeoutMs: 2000 },
  { host: LAB_ADDRESSES.outside.ipv6, port: OUTSIDE_PORT, timeoutMs: 2000 },
];
const viaFrontend = [LAB_ADDRESSES.frontend.ipv4, LAB_ADDRESSES.frontend.ipv6];
const direct = [LAB_ADDRESSES.backend.ipv4, LAB_ADDRESSES.backend.ipv6];
const failed = /^\((error E(HOST|NET)UNREACH|error EPERM|timeout)\)$/;

const backendNs = () => env().lab.hosts.backend.netns;
const tunnel = () => env().specs.backends[0]!.tunnel!.interface;
const linkDown = () => inNetns(backendNs(), 'ip', ['link', 'set', 'dev', tunnel(), 'down']);

test('with the tunnel up, the selected user reaches the outside host through the frontend', async (t) => {
  t.deepEqual(await dialAs(env().lab, 'backend', SERVICE_UID, outside), viaFrontend);
});

test('tunnel link down: the selected traffic fails at once, nothing of it leaves the uplink, other users are unaffected', async (t) => {
  const e = env();
  resetCounters(backendNs(), WATCH);
  linkDown();
  const selected = await dialAs(e.lab, 'backend', SERVICE_UID, outside);
  for (const r of selected) t.regex(r, /^\(error E(HOST|NET)UNREACH\)$/, 'the unreachable route answers at once');
  t.deepEqual(await dialAs(e.lab, 'backend', OTHER_UID, outside), direct);
  t.is(readCounters(backendNs(), WATCH)[LEAK], 0);
  // The forwarded service is unreachable too (no reply can leave), and nothing of it leaks.
  t.is(await e.lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: 80, timeoutMs: 1500 }), '(timeout)');
  t.is(readCounters(backendNs(), WATCH)['uplink: from the service port'], 0);
  const s = await e.backends[0]!.status();
  t.false(s.tunnel.up);
  t.true(
    s.drift.some((d) => d.startsWith(`~ link ${tunnel()}`)),
    s.drift.join('\n'),
  );
  t.true(
    s.warnings.some((w) => w.startsWith(`the tunnel link ${tunnel()} is down: the selected traffic fails (leak guard)`)),
    s.warnings.join('\n'),
  );
  t.deepEqual(s.present.routes.filter((r) => r.startsWith('unreachable')).length, 2, 'the guard stays when the tunnel routes go');
});

test('control: with the guard deleted by hand, the same traffic leaks by the home uplink', async (t) => {
  const e = env();
  for (const family of ['-4', '-6'])
    inNetns(backendNs(), 'ip', [family, 'route', 'del', 'unreachable', 'default', 'table', '5000', 'metric', '4294967295']);
  t.deepEqual(await dialAs(e.lab, 'backend', SERVICE_UID, outside), direct, 'the selected user leaves with the home address');
  t.true(readCounters(backendNs(), WATCH)[LEAK]! > 0);
});

test('apply() after the flap restores the link, the tunnel routes and the guard; traffic goes through the frontend again', async (t) => {
  const e = env();
  const r = await e.backends[0]!.apply();
  const changes = r.plan.lines();
  t.true(
    changes.some((c) => c.startsWith(`~ link ${tunnel()}`)),
    changes.join('\n'),
  );
  t.is(changes.filter((c) => c.startsWith('+ route unreachable default')).length, 2, changes.join('\n'));
  t.is(changes.filter((c) => c.startsWith(`+ route default`) && c.includes(`dev ${tunnel()}`)).length, 2, changes.join('\n'));
  t.deepEqual((await e.backends[0]!.status()).drift, []);
  await e.handshakes();
  t.deepEqual(await dialAs(e.lab, 'backend', SERVICE_UID, outside), viaFrontend);
  t.is(await e.lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: 80 }), `home ${LAB_ADDRESSES.client.ipv4} 8080`);
});

test('switched to mark mode (same backend): the guard holds there too', async (t) => {
  const e = env();
  const spec: BackendSpec = { ...e.specs.backends[0]!, returnPath: returnPathOf('mark') };
  const mark = forwardService(spec);
  const plan = await mark.apply();
  t.true(
    plan.plan.changes.some((c) => c.kind === 'rule'),
    plan.plan.toString(),
  );
  t.deepEqual(await dialAs(e.lab, 'backend', SERVICE_UID, outside), viaFrontend, 'mark mode selects the user too');
  resetCounters(backendNs(), WATCH);
  linkDown();
  const selected = await dialAs(e.lab, 'backend', SERVICE_UID, outside);
  // The mark re-routes after the main table picked the uplink; the guard's route then refuses the packet.
  for (const r of selected) t.regex(r, failed);
  t.deepEqual(await dialAs(e.lab, 'backend', OTHER_UID, outside), direct);
  t.is(readCounters(backendNs(), WATCH)[LEAK], 0);
  await mark.apply();
  await e.handshakes();
  t.deepEqual(await dialAs(e.lab, 'backend', SERVICE_UID, outside), viaFrontend);
});

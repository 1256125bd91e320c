/**
 * Exclusions end to end: the selected user's traffic to an excluded
 * destination (here the outside host, 198.51.100.1 and 2001:db8:1::1) goes
 * directly by the home uplink, while its traffic to anything else (a whoami
 * server on the client host) goes through the frontend — in uid mode and, on
 * the same backend switched over, in mark mode. The exclusions are `throw`
 * routes in table 5000 (checked with `ip -j`), and they keep working while
 * the tunnel is down and the leak guard stops everything else.
 */
import { forwardService } from '../../src/forward/index.js';
import {
  dialAs,
  type Env,
  e2eSuite,
  inNetns,
  LAB_ADDRESSES,
  OUTSIDE_PORT,
  returnPathOf,
  SERVICE_UID,
  startEnv,
  whoami,
} from '../helpers/e2e.js';

const CLIENT_PORT = 7001;
const exclude = [LAB_ADDRESSES.outside.ipv4, LAB_ADDRESSES.outside.ipv6];

const { test, env } = e2eSuite<Env>(async () => {
  const e = await startEnv({
    backends: [
      {
        host: 'backend',
        name: 'home',
        mode: 'uid',
        addresses: ['10.0.0.2/24', 'fd00::2/64'],
        services: [{ protocol: 'tcp', port: 8080 }],
        returnPathExtra: { exclude },
      },
    ],
  });
  try {
    await e.lab.start('internet', whoami, OUTSIDE_PORT).result;
    await e.lab.start('client', whoami, CLIENT_PORT).result;
    await e.handshakes();
    return e;
  } catch (err) {
    await e.close().catch(() => undefined);
    throw err;
  }
});

const excluded = [
  { host: LAB_ADDRESSES.outside.ipv4, port: OUTSIDE_PORT, timeoutMs: 2000 },
  { host: LAB_ADDRESSES.outside.ipv6, port: OUTSIDE_PORT, timeoutMs: 2000 },
];
const tunneled = [
  { host: LAB_ADDRESSES.client.ipv4, port: CLIENT_PORT, timeoutMs: 2000 },
  { host: LAB_ADDRESSES.client.ipv6, port: CLIENT_PORT, timeoutMs: 2000 },
];
const direct = [LAB_ADDRESSES.backend.ipv4, LAB_ADDRESSES.backend.ipv6];
const viaFrontend = [LAB_ADDRESSES.frontend.ipv4, LAB_ADDRESSES.frontend.ipv6];

test('the exclusions are throw routes in table 5000 (ip -j)', (t) => {
  const ns = env().lab.hosts.backend.netns;
  const throws = (family: string) =>
    (JSON.parse(inNetns(ns, 'ip', ['-j', family, 'route', 'show', 'table', '5000'])) as Array<{ type?: string; dst: string }>)
      .filter((r) => r.type === 'throw')
      .map((r) => r.dst);
  t.deepEqual(throws('-4'), [LAB_ADDRESSES.outside.ipv4]);
  t.deepEqual(throws('-6'), [LAB_ADDRESSES.outside.ipv6]);
});

test('applying again changes nothing: the listed IPv6 throw routes (metric 1024) match the spec', async (t) => {
  const r = await env().backends[0]!.apply();
  t.true(r.plan.empty, r.plan.toString());
  t.is(r.netlinkWrites, 0);
});

test('uid mode: the selected user reaches an excluded host directly and everything else through the frontend', async (t) => {
  const { lab } = env();
  t.deepEqual(await dialAs(lab, 'backend', SERVICE_UID, excluded), direct);
  t.deepEqual(await dialAs(lab, 'backend', SERVICE_UID, tunneled), viaFrontend);
});

test('mark mode (the same backend switched over): the same', async (t) => {
  const e = env();
  const mark = forwardService({ ...e.specs.backends[0]!, returnPath: returnPathOf('mark', { exclude }) });
  await mark.apply();
  t.deepEqual(await dialAs(e.lab, 'backend', SERVICE_UID, excluded), direct);
  t.deepEqual(await dialAs(e.lab, 'backend', SERVICE_UID, tunneled), viaFrontend);
  await e.backends[0]!.apply();
});

test('with the tunnel link down the excluded destinations still work; the rest of the selected traffic fails', async (t) => {
  const e = env();
  inNetns(e.lab.hosts.backend.netns, 'ip', ['link', 'set', 'dev', e.specs.backends[0]!.tunnel!.interface, 'down']);
  t.deepEqual(await dialAs(e.lab, 'backend', SERVICE_UID, excluded), direct);
  for (const r of await dialAs(e.lab, 'backend', SERVICE_UID, tunneled)) t.regex(r, /^\(error E(HOST|NET)UNREACH\)$/);
});

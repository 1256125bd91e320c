/**
 * Two backends behind one frontend: "home" (uid mode, 10.0.0.2, tunnel over
 * IPv4) and "office" (connmark mode, 10.0.0.3, in the lab's second backend
 * host, tunnel over IPv6: its endpoint is the frontend's IPv6 address). Each public
 * port reaches its own backend, both see the client's address, each backend's
 * return path behaves as its mode says, and the frontend's status tells the
 * two peers and their forwards apart.
 */
import { forwardService } from '../../src/forward/index.js';
import {
  dialAs,
  type Env,
  e2eSuite,
  LAB_ADDRESSES,
  OUTSIDE_PORT,
  SERVICE_UID,
  serve,
  startEnv,
  tcpAsk,
  udpAsk,
  whoami,
} from '../helpers/e2e.js';

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
      {
        host: 'backend2',
        name: 'office',
        mode: 'connmark',
        addresses: ['10.0.0.3/24', 'fd00::3/64'],
        services: [
          { protocol: 'tcp', port: 8080 },
          { protocol: 'udp', port: 5353 },
        ],
        endpoint6: true,
      },
    ],
    forwards: [
      { protocol: 'tcp', port: 80, to: { peer: 'home', port: 8080 } },
      { protocol: 'tcp', port: 81, to: { peer: 'office', port: 8080 } },
      { protocol: 'udp', port: 5353, to: { peer: 'home' } },
      { protocol: 'udp', port: 5354, to: { peer: 'office', port: 5353 } },
    ],
  });
  try {
    await serve(e, 'backend', { name: 'home', tcp: [8080], udp: [{ port: 5353, bind: '::' }] });
    await serve(e, 'backend2', {
      name: 'office',
      tcp: [8080],
      udp: [
        { port: 5353, bind: '10.0.0.3' },
        { port: 5353, bind: 'fd00::3' },
      ],
    });
    await e.lab.start('internet', whoami, OUTSIDE_PORT).result;
    await e.handshakes();
    return e;
  } catch (err) {
    await e.close().catch(() => undefined);
    throw err;
  }
});

const c4 = LAB_ADDRESSES.client.ipv4;
const c6 = LAB_ADDRESSES.client.ipv6;
const f4 = LAB_ADDRESSES.frontend.ipv4;
const f6 = LAB_ADDRESSES.frontend.ipv6;

test('each public TCP port reaches its own backend, which sees the client (IPv4, IPv6)', async (t) => {
  const { lab } = env();
  t.is(await lab.run('client', tcpAsk, { host: f4, port: 80 }), `home ${c4} 8080`);
  t.is(await lab.run('client', tcpAsk, { host: f4, port: 81 }), `office ${c4} 8080`);
  t.is(await lab.run('client', tcpAsk, { host: f6, port: 80 }), `home ${c6} 8080`);
  t.is(await lab.run('client', tcpAsk, { host: f6, port: 81 }), `office ${c6} 8080`);
});

test('UDP too: 5353 → home, 5354 → office:5353', async (t) => {
  const { lab } = env();
  t.is(await lab.run('client', udpAsk, { host: f4, port: 5353 }), `home ${c4} 5353`);
  t.is(await lab.run('client', udpAsk, { host: f4, port: 5354 }), `office ${c4} 5353`);
  t.is(await lab.run('client', udpAsk, { host: f6, port: 5354 }), `office ${c6} 5353`);
});

test("each backend's own outgoing traffic follows its mode: home's service through the frontend, office's directly", async (t) => {
  const { lab } = env();
  const outside = [
    { host: LAB_ADDRESSES.outside.ipv4, port: OUTSIDE_PORT },
    { host: LAB_ADDRESSES.outside.ipv6, port: OUTSIDE_PORT },
  ];
  t.deepEqual(await dialAs(lab, 'backend', SERVICE_UID, outside), [f4, f6]);
  t.deepEqual(await dialAs(lab, 'backend2', SERVICE_UID, outside), [LAB_ADDRESSES.backend2.ipv4, LAB_ADDRESSES.backend2.ipv6]);
});

test("the frontend's status names both peers, their endpoints and their forwards' counters", async (t) => {
  const s = await env().frontend.status();
  const peers = Object.fromEntries(s.tunnel.peers.map((p) => [p.name ?? '?', p] as const));
  t.deepEqual(Object.keys(peers).sort(), ['home', 'office']);
  t.regex(peers.home!.endpoint ?? '', /^192\.0\.2\.2:\d+$/);
  t.regex(peers.office!.endpoint ?? '', /^\[2001:db8:4::2\]:\d+$/, 'the office dials over IPv6');
  for (const p of Object.values(peers)) t.true(p!.handshakeAge !== null && p!.rxBytes > 0 && p!.txBytes > 0, p!.name);
  const n = (peer: string, protocol: string, family: number) =>
    s.forwards.filter((f) => f.peer === peer && f.protocol === protocol && f.family === family).reduce((sum, f) => sum + f.connections, 0);
  t.is(n('home', 'tcp', 4), 1);
  t.is(n('office', 'tcp', 4), 1);
  t.is(n('home', 'tcp', 6), 1);
  t.is(n('office', 'tcp', 6), 1);
  t.is(n('home', 'udp', 4), 1);
  t.is(n('office', 'udp', 4), 1);
  t.is(n('office', 'udp', 6), 1);
  t.deepEqual(s.drift, []);
});

test("dropping the office's forwards from the frontend deletes only their map elements; home keeps working", async (t) => {
  const e = env();
  const spec = e.specs.frontend;
  const without = forwardService({
    ...spec,
    forwards: spec.forwards.filter((f) => (Array.isArray(f.to) ? f.to[0] : f.to)?.peer !== 'office'),
  });
  const plan = await without.plan();
  t.deepEqual(
    plan.changes.map((c) => `${c.action} ${c.kind}`),
    ['update nftables'],
    plan.toString(),
  );
  // Per family: one DNAT element and one stats element for each of the two forwards.
  t.regex(plan.changes[0]!.detail ?? '', /^elements -8 /);
  await without.apply();
  t.is(await e.lab.run('client', tcpAsk, { host: f4, port: 80 }), `home ${c4} 8080`);
  t.is(await e.lab.run('client', tcpAsk, { host: f4, port: 81 }), '(error ECONNREFUSED)');
  t.is(await e.lab.run('client', udpAsk, { host: f4, port: 5353 }), `home ${c4} 5353`);
  // And back: the original spec adds the same elements again.
  const back = await e.frontend.apply();
  t.deepEqual(
    back.plan.changes.map((c) => `${c.action} ${c.kind}`),
    ['update nftables'],
  );
  t.regex(back.plan.changes[0]!.detail ?? '', /^elements \+8 /);
  t.is(await e.lab.run('client', tcpAsk, { host: f4, port: 81 }), `office ${c4} 8080`);
});

/**
 * The end-to-end scenario of one return-path mode, shared by
 * test/e2e/mode-{uid,mark,connmark,snat}.test.ts: one lab, netfwd on the
 * frontend and the backend, a TCP and UDP service run as uid 1000 on the
 * backend, and checks from the client, the outside host and counters on the
 * backend's uplink.
 */
import { netlinkTotals } from '../../src/netlink/exchange.js';
import {
  type Counter,
  dialAs,
  type Env,
  e2eSuite,
  inNetns,
  installCounters,
  LAB_ADDRESSES,
  type Mode,
  OTHER_UID,
  OUTSIDE_PORT,
  type RunningService,
  readCounters,
  SERVICE_UID,
  serve,
  startEnv,
  streamClient,
  tcpAsk,
  udpAsk,
  uplinkOfUid,
  whoami,
} from './e2e.js';

const WATCH = 'e2e_watch';
const TCP = 8080;
const UDP = 5353;
/** A UDP service bound to every address (the wildcard): in connmark mode its answers leave from the wrong address. */
const UDP_ANY = 5354;
/** A TCP service that keeps sending ("tick N" every 100 ms) while the connection lasts. */
const STREAM = 8081;

interface ModeEnv extends Env {
  service: RunningService;
  tunnel: string;
  /** Client-side totals of DNATed connections, to compare with the frontend's counters. */
  made: { tcp4: number; tcp6: number; udp4: number; udp6: number };
}

export function defineModeTests(mode: Mode): void {
  const routed = mode !== 'snat';
  /** Modes in which the service's own outgoing traffic goes through the tunnel. */
  const selectsOutgoing = mode === 'uid' || mode === 'mark';

  const { test, env } = e2eSuite<ModeEnv>(async () => {
    const e = await startEnv({
      backends: [
        {
          host: 'backend',
          name: 'home',
          mode,
          addresses: ['10.0.0.2/24', 'fd00::2/64'],
          services: [
            { protocol: 'tcp', port: `${TCP}-${STREAM}` },
            { protocol: 'udp', port: `${UDP}-${UDP_ANY}` },
          ],
        },
      ],
      forwards: [
        { protocol: 'tcp', port: 80, to: { peer: 'home', port: TCP } },
        { protocol: 'tcp', port: 81, to: { peer: 'home', port: STREAM } },
        { protocol: 'udp', port: UDP, to: { peer: 'home' } },
        { protocol: 'udp', port: UDP_ANY, to: { peer: 'home' } },
      ],
    });
    try {
      const tunnel = e.specs.backends[0]!.tunnel!.interface;
      const counters: Counter[] = [
        { name: 'uplink: tcp from the service port', match: `oifname "eth0" tcp sport ${TCP}`, hook: 'postrouting' },
        { name: 'uplink: udp from the service ports', match: `oifname "eth0" udp sport ${UDP}-${UDP_ANY}`, hook: 'postrouting' },
        {
          name: 'uplink: udp from the wildcard service, before the leak guard',
          match: `oifname "eth0" udp sport ${UDP_ANY}`,
          hook: 'postrouting-first',
        },
        { name: 'uplink: to the client (IPv4)', match: `oifname "eth0" ip daddr ${LAB_ADDRESSES.client.ipv4}`, hook: 'postrouting' },
        { name: 'uplink: to the client (IPv6)', match: `oifname "eth0" ip6 daddr ${LAB_ADDRESSES.client.ipv6}`, hook: 'postrouting' },
        { name: `uplink: sockets of uid ${SERVICE_UID}`, match: uplinkOfUid(SERVICE_UID), hook: 'postrouting' },
        { name: `uplink: sockets of uid ${OTHER_UID}`, match: uplinkOfUid(OTHER_UID), hook: 'postrouting' },
        { name: 'tunnel: service answers', match: `oifname "${tunnel}" th sport { ${TCP}, ${UDP}, ${UDP_ANY} }`, hook: 'postrouting' },
        { name: 'uplink in: to the service port', match: `iifname "eth0" th dport { ${TCP}, ${UDP} }`, hook: 'prerouting' },
        { name: 'sent by the stream service', match: `tcp sport ${STREAM}`, hook: 'output-first' },
        {
          name: 'uplink: stream service, before the leak guard chain',
          match: `oifname "eth0" tcp sport ${STREAM}`,
          hook: 'postrouting-first',
        },
      ];
      installCounters(e.lab.hosts.backend.netns, WATCH, counters);
      // In mark and connmark modes an unconnected UDP socket must answer from the
      // address it was reached on: the service binds the tunnel's addresses.
      const udp =
        mode === 'uid' || mode === 'snat'
          ? [{ port: UDP, bind: '::' }]
          : [
              { port: UDP, bind: '10.0.0.2' },
              { port: UDP, bind: 'fd00::2' },
            ];
      const service = await serve(e, 'backend', {
        name: 'home',
        tcp: [TCP],
        tcpStream: [STREAM],
        udp: [...udp, { port: UDP_ANY, bind: '::' }],
      });
      const outside = e.lab.start('internet', whoami, OUTSIDE_PORT);
      await outside.result;
      await e.handshakes();
      return { ...e, service, tunnel, made: { tcp4: 0, tcp6: 0, udp4: 0, udp6: 0 } };
    } catch (err) {
      await e.close().catch(() => undefined);
      throw err;
    }
  });

  const client4 = mode === 'snat' ? '10.0.0.1' : LAB_ADDRESSES.client.ipv4;
  const client6 = mode === 'snat' ? 'fd00::1' : LAB_ADDRESSES.client.ipv6;

  test(`${mode}: TCP to the frontend's public address and port 80 reaches the service on 8080, which sees ${mode === 'snat' ? "the frontend's tunnel address" : "the client's address"} (IPv4, IPv6)`, async (t) => {
    const e = env();
    t.is(await e.lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: 80 }), `home ${client4} ${TCP}`);
    e.made.tcp4++;
    t.is(await e.lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv6, port: 80 }), `home ${client6} ${TCP}`);
    e.made.tcp6++;
  });

  test(`${mode}: UDP to the frontend reaches the service and the answer comes back (IPv4, IPv6)`, async (t) => {
    const e = env();
    t.is(await e.lab.run('client', udpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: UDP }), `home ${client4} ${UDP}`);
    e.made.udp4++;
    t.is(await e.lab.run('client', udpAsk, { host: LAB_ADDRESSES.frontend.ipv6, port: UDP }), `home ${client6} ${UDP}`);
    e.made.udp6++;
  });

  if (mode === 'connmark') {
    test('connmark: a UDP service answering from the wrong address (bound to the wildcard) is dropped by the leak guard, not leaked', async (t) => {
      const e = env();
      const before = readCounters(e.lab.hosts.backend.netns, WATCH)['uplink: udp from the wildcard service, before the leak guard']!;
      // The datagram reaches the service; its answer takes the main table's source and route.
      t.is(await e.lab.run('client', udpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: UDP_ANY, timeoutMs: 1500 }), '(timeout)');
      e.made.udp4++;
      t.true(e.service.seen().includes(`udp ${LAB_ADDRESSES.client.ipv4} ${UDP_ANY}`), 'the service received the datagram');
      const after = readCounters(e.lab.hosts.backend.netns, WATCH);
      t.true(after['uplink: udp from the wildcard service, before the leak guard']! > before, 'the answer was headed for the uplink');
      t.is(after['uplink: udp from the service ports'], 0, 'and never left by it');
    });
  } else if (mode !== 'mark') {
    test(`${mode}: a UDP service bound to the wildcard answers from the right address`, async (t) => {
      const e = env();
      t.is(await e.lab.run('client', udpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: UDP_ANY }), `home ${client4} ${UDP_ANY}`);
      e.made.udp4++;
      t.is(await e.lab.run('client', udpAsk, { host: LAB_ADDRESSES.frontend.ipv6, port: UDP_ANY }), `home ${client6} ${UDP_ANY}`);
      e.made.udp6++;
    });
  }

  test(`${mode}: the service's own outgoing connection ${selectsOutgoing ? "reaches the outside host from the frontend's address" : 'leaves directly (this mode routes only replies)'}; an unselected user's leaves directly`, async (t) => {
    const e = env();
    const via4 = selectsOutgoing ? LAB_ADDRESSES.frontend.ipv4 : LAB_ADDRESSES.backend.ipv4;
    const via6 = selectsOutgoing ? LAB_ADDRESSES.frontend.ipv6 : LAB_ADDRESSES.backend.ipv6;
    const outside = [
      { host: LAB_ADDRESSES.outside.ipv4, port: OUTSIDE_PORT },
      { host: LAB_ADDRESSES.outside.ipv6, port: OUTSIDE_PORT },
    ];
    t.deepEqual(await dialAs(e.lab, 'backend', SERVICE_UID, outside), [via4, via6], `uid ${SERVICE_UID}`);
    t.deepEqual(
      await dialAs(e.lab, 'backend', OTHER_UID, outside),
      [LAB_ADDRESSES.backend.ipv4, LAB_ADDRESSES.backend.ipv6],
      `uid ${OTHER_UID}`,
    );
  });

  test(`${mode}: no service packet leaves the backend's uplink (nft counters after NAT and the leak guard)`, (t) => {
    const c = readCounters(env().lab.hosts.backend.netns, WATCH);
    t.is(c['uplink: tcp from the service port'], 0);
    t.is(c['uplink: udp from the service ports'], 0);
    t.is(c['uplink: to the client (IPv4)'], 0);
    t.is(c['uplink: to the client (IPv6)'], 0);
    if (selectsOutgoing) t.is(c[`uplink: sockets of uid ${SERVICE_UID}`], 0, "no packet of the service's user leaves by the uplink");
    else t.true(c[`uplink: sockets of uid ${SERVICE_UID}`]! > 0, `${mode} mode leaves the service's own outgoing connections alone`);
    // The counters do count: the service's answers went into the tunnel and the other user's packets out of the uplink.
    t.true(c['tunnel: service answers']! >= 4, `service answers in the tunnel: ${c['tunnel: service answers']}`);
    t.true(c[`uplink: sockets of uid ${OTHER_UID}`]! > 0);
  });

  test(`${mode}: the service ports are closed on the backend's uplink`, async (t) => {
    const e = env();
    const ns = e.lab.hosts.backend.netns;
    const seen = e.service.seen().length;
    const arrived = readCounters(ns, WATCH)['uplink in: to the service port']!;
    // Dropped, not refused: the three probes run at once and each waits for its answer in vain.
    const probes = await Promise.all([
      e.lab.run('client', tcpAsk, { host: LAB_ADDRESSES.backend.ipv4, port: TCP, timeoutMs: 1500 }),
      e.lab.run('client', tcpAsk, { host: LAB_ADDRESSES.backend.ipv6, port: TCP, timeoutMs: 1500 }),
      e.lab.run('client', udpAsk, { host: LAB_ADDRESSES.backend.ipv4, port: UDP, timeoutMs: 1500 }),
    ]);
    t.deepEqual(probes, ['(timeout)', '(timeout)', '(timeout)']);
    // The packets did arrive on the uplink, and the service never saw them.
    t.true(readCounters(ns, WATCH)['uplink in: to the service port']! >= arrived + 3);
    t.deepEqual(e.service.seen().slice(seen), []);
  });

  test(`${mode}: status shows the tunnel (handshake, bytes, endpoint), the per-forward counters, no drift and no warnings`, async (t) => {
    const e = env();
    const b = await e.backends[0]!.status();
    t.true(b.tunnel.present);
    t.true(b.tunnel.up);
    t.is(b.tunnel.privateKey, '(hidden)');
    t.is(b.tunnel.peers.length, 1);
    const bp = b.tunnel.peers[0]!;
    t.is(bp.name, 'frontend');
    t.is(bp.endpoint, `${LAB_ADDRESSES.frontend.ipv4}:51820`);
    t.true(bp.handshakeAge !== null && bp.handshakeAge >= 0);
    t.true(bp.rxBytes > 0 && bp.txBytes > 0);
    t.deepEqual(b.drift, []);
    t.deepEqual(b.warnings, []);
    t.true(b.present.link);
    t.deepEqual([...b.present.addresses].sort(), ['10.0.0.2/24', 'fd00::2/64']);
    t.is(b.present.nftTable, `inet netfwd-${e.tunnel}`);
    t.is(b.present.routes.length, routed ? 4 : 0, b.present.routes.join('; '));
    // Per family: the fwmark rule of the connections that arrived through the tunnel; mode uid adds its uid range.
    t.is(b.present.rules.length, routed ? (mode === 'uid' ? 4 : 2) : 0, b.present.rules.join('; '));

    const f = await e.frontend.status();
    t.deepEqual(f.drift, []);
    t.deepEqual(f.warnings, []);
    const fp = f.tunnel.peers[0]!;
    t.is(fp.name, 'home');
    t.regex(fp.endpoint ?? '', new RegExp(`^${LAB_ADDRESSES.backend.ipv4.replace(/\./g, '\\.')}:\\d+$`));
    t.true(fp.rxBytes > 0 && fp.txBytes > 0);
    const counter = (protocol: string, family: number, port: string) =>
      f.forwards.find((x) => x.protocol === protocol && x.family === family && x.publicPorts === port)!;
    t.is(counter('tcp', 4, '80').connections, e.made.tcp4);
    t.is(counter('tcp', 6, '80').connections, e.made.tcp6);
    t.is(counter('udp', 4, String(UDP)).connections, 1);
    t.is(counter('udp', 6, String(UDP)).connections, 1);
    // A TCP exchange is at least SYN, SYN-ACK, ACK, data, FIN in some direction.
    t.true(counter('tcp', 4, '80').packets >= 5, `tcp/4 packets ${counter('tcp', 4, '80').packets}`);
    t.true(counter('tcp', 4, '80').bytes > 0);
    t.true(counter('udp', 6, String(UDP)).packets >= 2, 'UDP: the request and the answer');
  });

  test(`${mode}: applying again changes nothing and makes zero netlink writes`, async (t) => {
    const e = env();
    for (const fwd of [e.frontend, e.backends[0]!]) {
      const before = netlinkTotals.writes;
      const r = await fwd.apply();
      t.true(r.plan.empty, r.plan.toString());
      t.is(r.netlinkWrites, 0);
      t.is(netlinkTotals.writes - before, 0);
    }
  });

  if (mode === 'connmark') {
    // Last: it takes the tunnel down.
    test("connmark: when the tunnel goes down mid-connection, routing refuses the service's further replies (leak guard): none is even routed to the uplink", async (t) => {
      const e = env();
      const ns = e.lab.hosts.backend.netns;
      const client = e.lab.start('client', streamClient, { host: LAB_ADDRESSES.frontend.ipv4, port: 81 });
      t.is(await client.result, 'tick 1');
      inNetns(ns, 'ip', ['link', 'set', 'dev', e.tunnel, 'down']);
      const sent = readCounters(ns, WATCH)['sent by the stream service']!;
      // The service keeps writing (and retransmitting) into its connection.
      for (let i = 0; i < 100 && readCounters(ns, WATCH)['sent by the stream service']! < sent + 3; i++)
        await new Promise((r) => setTimeout(r, 100));
      const c = readCounters(ns, WATCH);
      t.true(c['sent by the stream service']! >= sent + 3, `the service sent ${c['sent by the stream service']! - sent} more packets`);
      t.is(c['uplink: stream service, before the leak guard chain'], 0);
      t.is(c['uplink: tcp from the service port'], 0);
      await client.stop();
    });
  }
}

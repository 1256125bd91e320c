/**
 * Port translation and port ranges end to end (uid mode), on a frontend
 * without `public.addresses`, so every forward goes through the "any local
 * address" maps (dnat{4,6}_any and dnat{4,6}_any_range), plus one forward
 * limited to one IPv4 address (dnat4):
 *   tcp 80            → home:8080         (translation)
 *   tcp+udp 8000-8004 → home:18000-18004  (a shifted range, port by port)
 *   tcp+udp 9000-9004 → home:9000-9004    (a range kept as is: an interval)
 *   tcp 443 on 203.0.113.2 only → home:8443
 * The service answers with the port it was reached on.
 */
import { type Env, e2eSuite, inNetns, LAB_ADDRESSES, type RunningService, serve, startEnv, tcpAsk, udpAsk } from '../helpers/e2e.js';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

const { test, env } = e2eSuite<Env & { service: RunningService }>(async () => {
  const e = await startEnv({
    public: null,
    backends: [
      {
        host: 'backend',
        name: 'home',
        mode: 'uid',
        addresses: ['10.0.0.2/24', 'fd00::2/64'],
        services: [
          { protocol: 'tcp', port: 8080 },
          { protocol: 'tcp+udp', port: '18000-18004' },
          { protocol: 'tcp+udp', port: '9000-9004' },
          { protocol: 'tcp', port: 8443 },
        ],
      },
    ],
    forwards: [
      { protocol: 'tcp', port: 80, to: { peer: 'home', port: 8080 } },
      { protocol: 'tcp+udp', port: '8000-8004', to: { peer: 'home', port: '18000-18004' } },
      { protocol: 'tcp+udp', port: '9000-9004', to: { peer: 'home' } },
      { protocol: 'tcp', port: 443, address: LAB_ADDRESSES.frontend.ipv4, to: { peer: 'home', port: 8443 } },
    ],
  });
  try {
    const service = await serve(e, 'backend', {
      name: 'home',
      tcp: [8080, ...range(18000, 18004), ...range(9000, 9004), 8443],
      udp: [...range(18000, 18004), ...range(9000, 9004)].map((port) => ({ port, bind: '::' })),
    });
    await e.handshakes();
    return { ...e, service };
  } catch (err) {
    await e.close().catch(() => undefined);
    throw err;
  }
});

const v4 = LAB_ADDRESSES.frontend.ipv4;
const v6 = LAB_ADDRESSES.frontend.ipv6;
const tcp = (host: string, port: number) => env().lab.run('client', tcpAsk, { host, port });
const udp = (host: string, port: number) => env().lab.run('client', udpAsk, { host, port });
const answer = (family: 4 | 6, port: number) => `home ${family === 4 ? LAB_ADDRESSES.client.ipv4 : LAB_ADDRESSES.client.ipv6} ${port}`;

test('nft (the tool) shows the forwards in the any-address maps and the address-bound one in dnat4', (t) => {
  const e = env();
  const table = `netfwd-${e.specs.frontend.tunnel.interface}`;
  const listed = JSON.parse(inNetns(e.lab.hosts.frontend.netns, 'nft', ['-j', 'list', 'table', 'inet', table])) as {
    nftables: Array<{ map?: { name: string; elem?: unknown[] } }>;
  };
  const sizes = Object.fromEntries(listed.nftables.filter((x) => x.map).map((x) => [x.map!.name, x.map!.elem?.length ?? 0]));
  // 80 and the ten ports of 8000-8004 (TCP and UDP) one by one; 9000-9004 as one interval per protocol.
  t.like(sizes, {
    dnat4_any: 11,
    dnat6_any: 11,
    dnat4_any_range: 2,
    dnat6_any_range: 2,
    dnat4: 1,
    dnat6: 0,
    dnat4_range: 0,
    dnat6_range: 0,
  });
});

test('port translation: public 80 reaches the service on 8080 (IPv4, IPv6)', async (t) => {
  t.is(await tcp(v4, 80), answer(4, 8080));
  t.is(await tcp(v6, 80), answer(6, 8080));
});

test('a shifted range maps port by port: 8000-8004 → 18000-18004, TCP and UDP, both families, both ends of the range', async (t) => {
  t.is(await tcp(v4, 8000), answer(4, 18000));
  t.is(await tcp(v4, 8002), answer(4, 18002));
  t.is(await tcp(v4, 8004), answer(4, 18004));
  t.is(await tcp(v6, 8003), answer(6, 18003));
  t.is(await udp(v4, 8001), answer(4, 18001));
  t.is(await udp(v6, 8004), answer(6, 18004));
});

test('a range kept as is (an interval map): 9000-9004, TCP and UDP, both families', async (t) => {
  t.is(await tcp(v4, 9000), answer(4, 9000));
  t.is(await tcp(v4, 9004), answer(4, 9004));
  t.is(await tcp(v6, 9002), answer(6, 9002));
  t.is(await udp(v4, 9003), answer(4, 9003));
  t.is(await udp(v6, 9000), answer(6, 9000));
});

test('ports just outside the ranges are not forwarded (the frontend itself refuses them)', async (t) => {
  for (const port of [79, 81, 7999, 8005, 8999, 9005]) {
    t.is(await tcp(v4, port), '(error ECONNREFUSED)', `IPv4 port ${port}`);
  }
  t.is(await tcp(v6, 8005), '(error ECONNREFUSED)');
  t.is(await tcp(v6, 9005), '(error ECONNREFUSED)');
});

test('a forward limited to one IPv4 address: 443 on it reaches 8443; on the IPv6 address it is not forwarded', async (t) => {
  t.is(await tcp(v4, 443), answer(4, 8443));
  t.is(await tcp(v6, 443), '(error ECONNREFUSED)');
});

test('the per-forward counters add up the connections made to each forward', async (t) => {
  const s = await env().frontend.status();
  const c = (key: string) => s.forwards.find((f) => `${f.protocol}/${f.family} ${f.publicPorts}` === key)!;
  t.is(c('tcp/4 80').connections, 1);
  t.is(c('tcp/6 80').connections, 1);
  t.is(c('tcp/4 8000-8004').connections, 3);
  t.is(c('tcp/6 8000-8004').connections, 1);
  t.is(c('udp/4 8000-8004').connections, 1);
  t.is(c('udp/6 8000-8004').connections, 1);
  t.is(c('tcp/4 9000-9004').connections, 2);
  t.is(c('tcp/6 9000-9004').connections, 1);
  t.is(c('udp/4 9000-9004').connections, 1);
  t.is(c('udp/6 9000-9004').connections, 1);
  t.is(c('tcp/4 443').connections, 1);
  for (const key of ['tcp/4 8000-8004', 'tcp/4 9000-9004', 'udp/6 9000-9004', 'tcp/4 443']) {
    t.true(c(key).packets > 0 && c(key).bytes > 0, `${key}: ${c(key).packets} packets, ${c(key).bytes} bytes`);
  }
  // Every connection the service saw came from the client, on the expected ports.
  t.is(env().service.seen().length, 14);
});

/**
 * Containment (issue 16, item 2) end to end: an IPv4-only tunnel on a
 * dual-stack home, in modes uid and mark (one lab each). The selected user's
 * IPv4 goes through the frontend; its IPv6 must fail (an unreachable route),
 * never leave by the home uplink. Checked with `ip -j route get`, `ip -j rule`
 * and counters on the router's link to the backend.
 */

import {
  type ContainmentEnv,
  e2eSuite,
  FAILED,
  installWatch,
  ip,
  LAB_ADDRESSES,
  OTHER_UID,
  OUTSIDE_PORT,
  probe,
  probeAs,
  readWatch,
  resetWatch,
  routeGet,
  SERVICE_UID,
  serve,
  startContainmentEnv,
  type Watch,
  wgDescription,
  whoami,
} from '../helpers/containment.js';
import type { Mode } from '../helpers/e2e.js';

const MARK = 0x2a;
const LEAK6 = `home uplink: IPv6 to the outside host's port ${OUTSIDE_PORT}`;

interface V4Env extends ContainmentEnv {
  router: Watch;
  tunnel: string;
}

/** "unreachable": the kernel refused the lookup, or answered with a route that refuses. */
function unreachable(r: { route?: Record<string, unknown>; error?: string }): boolean {
  if (r.error !== undefined) return /unreachable|no route to host/i.test(r.error);
  return ['unreachable', 'blackhole', 'prohibit'].includes(String(r.route?.type));
}

for (const mode of ['uid', 'mark'] as const satisfies readonly Mode[]) {
  const { test, env } = e2eSuite<V4Env>(async () => {
    const e = await startContainmentEnv({
      backends: [{ host: 'backend', name: 'home', mode, addresses: ['10.0.0.2/24'], services: [{ protocol: 'tcp', port: 8080 }] }],
      public: { addresses: [LAB_ADDRESSES.frontend.ipv4] },
      forwards: [{ protocol: 'tcp', port: 80, to: { peer: 'home', port: 8080 } }],
      // The frontend's tunnel is IPv4-only too.
      patch: (s) => {
        s.frontend.tunnel.addresses = ['10.0.0.1/24'];
      },
    });
    try {
      const router = installWatch(e.lab.hosts.internet.netns, 'cz_leaks', [
        {
          name: LEAK6,
          match: `iifname "to-backend" ip6 daddr ${LAB_ADDRESSES.outside.ipv6} tcp dport ${OUTSIDE_PORT}`,
          hook: 'prerouting',
        },
      ]);
      await serve(e, 'backend', { name: 'home', tcp: [8080], udp: [] });
      await e.lab.start('internet', whoami, OUTSIDE_PORT).result;
      await e.handshakes();
      return { ...e, router, tunnel: e.specs.backends[0]!.tunnel!.interface };
    } catch (err) {
      await e.close().catch(() => undefined);
      throw err;
    }
  });

  const backend = () => env().lab.hosts.backend.netns;
  const selector =
    mode === 'uid'
      ? [['uid', String(SERVICE_UID)]]
      : [
          ['mark', `0x${MARK.toString(16)}`],
          ['uid', String(SERVICE_UID)],
        ];

  test(`${mode}, IPv4-only tunnel: uid ${SERVICE_UID}'s IPv4 reaches the outside host through the frontend; the forward works`, async (t) => {
    const e = env();
    t.log(wgDescription(e));
    t.deepEqual(
      await probeAs(backend(), SERVICE_UID, [{ proto: 'tcp', host: LAB_ADDRESSES.outside.ipv4, port: OUTSIDE_PORT, timeoutMs: 5000 }]),
      [LAB_ADDRESSES.frontend.ipv4],
    );
    t.deepEqual(await probe(e.lab.hosts.client.netns, [{ proto: 'tcp', host: LAB_ADDRESSES.frontend.ipv4, port: 80, timeoutMs: 5000 }]), [
      `home ${LAB_ADDRESSES.client.ipv4} 8080`,
    ]);
    // ip says the same: the selected IPv4 is routed into the tunnel.
    const r = routeGet(backend(), [LAB_ADDRESSES.outside.ipv4, ...selector[0]!]);
    t.is(r.route?.dev, e.tunnel, JSON.stringify(r));
  });

  test(`${mode}, IPv4-only tunnel on a dual-stack home: ip -6 route get ${LAB_ADDRESSES.outside.ipv6} ${selector.map((s) => s.join(' ')).join(' / ')} is unreachable, and an IPv6 rule selects a table whose only default refuses`, (t) => {
    const e = env();
    const lookups = selector.map((s) => ({ selector: s.join(' '), result: routeGet(backend(), [LAB_ADDRESSES.outside.ipv6, ...s]) }));
    t.log(
      lookups
        .map((l) => `ip -6 route get ${LAB_ADDRESSES.outside.ipv6} ${l.selector}: ${l.result.error ?? JSON.stringify(l.result.route)}`)
        .join('\n'),
    );
    if (mode === 'uid') {
      t.true(unreachable(lookups[0]!.result), `the selected user's IPv6 is unreachable: ${JSON.stringify(lookups[0])}`);
    } else {
      // In mode mark the nft chain marks the user's packets, which a route lookup does not run:
      // the rule may match the mark or the uid, so one of the two lookups must meet the refusal.
      t.true(
        lookups.some((l) => unreachable(l.result)),
        `the selected user's IPv6 is unreachable: ${JSON.stringify(lookups)}`,
      );
    }
    // Unselected traffic is untouched: another user's IPv6 still takes the home uplink.
    t.is(routeGet(backend(), [LAB_ADDRESSES.outside.ipv6, 'uid', String(OTHER_UID)]).route?.dev, 'eth0');

    const rules = JSON.parse(ip(backend(), ['-6', '-j', 'rule', 'show'])) as Array<Record<string, unknown>>;
    const selecting = rules.filter(
      (r) =>
        (typeof r.uid_start === 'number' && (r.uid_start as number) <= SERVICE_UID && SERVICE_UID <= (r.uid_end as number)) ||
        (mode === 'mark' && r.fwmark !== undefined && Number(r.fwmark) === MARK),
    );
    t.true(
      selecting.length > 0,
      `an IPv6 rule selects uid ${SERVICE_UID}${mode === 'mark' ? ` or mark 0x${MARK.toString(16)}` : ''}: ${JSON.stringify(rules)}`,
    );
    const tables = selecting.map((r) => {
      const routes = JSON.parse(ip(backend(), ['-6', '-j', 'route', 'show', 'table', String(r.table)])) as Array<Record<string, unknown>>;
      return { table: r.table, routes };
    });
    t.log(`IPv6 rules selecting the user: ${JSON.stringify(selecting)}; their tables: ${JSON.stringify(tables)}`);
    t.true(
      tables.some(
        (x) =>
          x.routes.some((r) => r.dst === 'default') &&
          x.routes.every((r) => ['unreachable', 'blackhole', 'prohibit'].includes(String(r.type))),
      ),
      'one of them leads to a table holding only a refusing default',
    );
  });

  test(`${mode}, IPv4-only tunnel on a dual-stack home: uid ${SERVICE_UID}'s IPv6 connection fails and nothing of it reaches the router by the home uplink; an unselected user's IPv6 does (the counter counts)`, async (t) => {
    const e = env();
    resetWatch(e.router);
    const target = [{ proto: 'tcp' as const, host: LAB_ADDRESSES.outside.ipv6, port: OUTSIDE_PORT, timeoutMs: 1500 }];
    const selected = await probeAs(backend(), SERVICE_UID, target);
    t.regex(selected[0]!, FAILED, `uid ${SERVICE_UID}'s IPv6`);
    t.is(readWatch(e.router)[LEAK6], 0, `packets of uid ${SERVICE_UID}'s IPv6 connection on the home uplink`);
    // Control: the same connection of an unselected user leaves by the home uplink, and the counter sees it.
    t.deepEqual(await probeAs(backend(), OTHER_UID, [{ ...target[0]!, timeoutMs: 5000 }]), [LAB_ADDRESSES.backend.ipv6]);
    t.true(readWatch(e.router)[LEAK6]! > 0);
  });
}

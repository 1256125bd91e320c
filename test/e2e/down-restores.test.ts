/**
 * `down` leaves every namespace as it was before `up`, for each mode: links,
 * addresses, routes and rules of both families (`ip -j -d`), the whole
 * nftables ruleset (`nft -j list ruleset`) and the forwarding, reverse-path
 * and mark sysctls, of all four lab namespaces — with foreign configuration in
 * place that netfwd must not touch (a firewall table, policy rules and
 * routes, including a foreign route and rule in netfwd's own table 5000).
 * Real traffic runs in between, so everything was really in use.
 *
 * Normalised before comparing: the packet and byte counts of counters in the
 * foreign rules (traffic legitimately changes them). Nothing else.
 */
import { existsSync } from 'node:fs';
import { forwardService, type ServiceForward } from '../../src/forward/index.js';
import { STATE_DIR } from '../../src/forward/plan/state-file.js';
import { Lab } from '../../src/lab/index.js';
import { socketPath } from '../../src/wireguard/userspace/socket.js';
import {
  buildSpecs,
  dialAs,
  e2eSuite,
  inNetns,
  LAB_ADDRESSES,
  type Mode,
  OUTSIDE_PORT,
  SERVICE_UID,
  snapshot,
  startService,
  sysctlIn,
  tcpAsk,
  udpAsk,
  uniqueTag,
  whoami,
} from '../helpers/e2e.js';

const FRONTEND_FOREIGN = `
table inet fw {
  chain input { type filter hook input priority 0; policy accept; ct state established,related counter accept; counter; }
  chain forward { type filter hook forward priority 0; policy accept; counter; }
}
table ip natfw {
  chain post { type nat hook postrouting priority 100; policy accept; oifname "eth0" counter; }
}
`;
const BACKEND_FOREIGN = `
table inet fw {
  chain input { type filter hook input priority 0; policy accept; tcp dport 22 counter accept; counter; }
  chain output { type route hook output priority -150; policy accept; meta mark 7 counter; }
}
`;

const { test, env } = e2eSuite<{ lab: Lab; before: Record<string, Record<string, unknown>>; close(): Promise<void> }>(async () => {
  const lab = await Lab.create({ prefix: `nfe2e-${uniqueTag()}` });
  try {
    const fe = lab.hosts.frontend.netns;
    const be = lab.hosts.backend.netns;
    inNetns(fe, 'nft', ['-f', '-'], FRONTEND_FOREIGN);
    inNetns(fe, 'ip', ['rule', 'add', 'priority', '300', 'from', '192.0.2.0/24', 'lookup', '200']);
    inNetns(fe, 'ip', ['-6', 'rule', 'add', 'priority', '301', 'from', '2001:db8:3::/64', 'lookup', '200']);
    inNetns(fe, 'ip', ['route', 'add', '198.51.100.0/24', 'via', LAB_ADDRESSES.routerToFrontend.ipv4, 'table', '200']);
    inNetns(be, 'nft', ['-f', '-'], BACKEND_FOREIGN);
    inNetns(be, 'ip', ['rule', 'add', 'priority', '50', 'fwmark', '7', 'lookup', '300']);
    inNetns(be, 'ip', ['route', 'add', 'default', 'via', LAB_ADDRESSES.routerToBackend.ipv4, 'table', '300']);
    // In netfwd's own table and pointing at it, but not netfwd's (other protocol numbers): they stay.
    inNetns(be, 'ip', ['route', 'add', '203.0.113.99', 'via', LAB_ADDRESSES.routerToBackend.ipv4, 'table', '5000', 'proto', 'static']);
    inNetns(be, 'ip', [
      '-6',
      'route',
      'add',
      '2001:db8:2::99',
      'via',
      LAB_ADDRESSES.routerToBackend.ipv6,
      'table',
      '5000',
      'proto',
      'static',
    ]);
    inNetns(be, 'ip', ['rule', 'add', 'priority', '200', 'uidrange', '2000-2000', 'lookup', '5000']);
    sysctlIn(be, 'net.ipv4.conf.all.rp_filter', '1');
    await lab.start('internet', whoami, OUTSIDE_PORT).result;
    const before = Object.fromEntries(Object.values(lab.hosts).map((h) => [h.name, snapshot(h.netns)]));
    return { lab, before, close: () => lab.destroy() };
  } catch (err) {
    await lab.destroy().catch(() => undefined);
    throw err;
  }
});

async function upTrafficDown(lab: Lab, mode: Mode): Promise<{ answers: string[]; down: ServiceForward[] }> {
  const tag = uniqueTag();
  const specs = buildSpecs(lab, tag, {
    backends: [
      {
        host: 'backend',
        name: 'home',
        mode,
        addresses: ['10.0.0.2/24', 'fd00::2/64'],
        services: [
          { protocol: 'tcp', port: 8080 },
          { protocol: 'udp', port: 5353 },
        ],
      },
    ],
  });
  const frontend = forwardService(specs.frontend);
  const backend = forwardService(specs.backends[0]!);
  try {
    await frontend.apply();
    await backend.apply();
    const udp =
      mode === 'uid' || mode === 'snat'
        ? [{ port: 5353, bind: '::' }]
        : [
            { port: 5353, bind: '10.0.0.2' },
            { port: 5353, bind: 'fd00::2' },
          ];
    const service = await startService(lab, 'backend', { name: 'home', tcp: [8080], udp });
    try {
      for (let i = 0; i < 300 && !(await backend.status()).tunnel.peers[0]?.lastHandshake; i++)
        await new Promise((r) => setTimeout(r, 100));
      const answers = [
        await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: 80 }),
        await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv6, port: 80 }),
        await lab.run('client', udpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: 5353 }),
        await lab.run('client', udpAsk, { host: LAB_ADDRESSES.frontend.ipv6, port: 5353 }),
        ...(await dialAs(lab, 'backend', SERVICE_UID, [{ host: LAB_ADDRESSES.outside.ipv4, port: OUTSIDE_PORT }])),
      ];
      await frontend.status();
      await backend.status();
      return { answers, down: [backend, frontend] };
    } finally {
      service.stop();
    }
  } finally {
    await backend.down();
    await frontend.down();
  }
}

for (const mode of ['uid', 'mark', 'connmark', 'snat'] as const) {
  test(`${mode}: up, traffic, down leaves all four namespaces byte-identical (ip -j -d, nft -j, sysctls)`, async (t) => {
    const { lab, before } = env();
    const { answers, down } = await upTrafficDown(lab, mode);
    const client4 = mode === 'snat' ? '10.0.0.1' : LAB_ADDRESSES.client.ipv4;
    const client6 = mode === 'snat' ? 'fd00::1' : LAB_ADDRESSES.client.ipv6;
    const out4 = mode === 'uid' || mode === 'mark' ? LAB_ADDRESSES.frontend.ipv4 : LAB_ADDRESSES.backend.ipv4;
    t.deepEqual(
      answers,
      [`home ${client4} 8080`, `home ${client6} 8080`, `home ${client4} 5353`, `home ${client6} 5353`, out4],
      'the forwarding worked while up',
    );
    for (const h of Object.values(lab.hosts)) {
      const after = snapshot(h.netns);
      for (const key of Object.keys(before[h.name]!)) t.deepEqual(after[key], before[h.name]![key], `${h.name}: ${key}`);
    }
    for (const fwd of down) {
      const again = await fwd.down();
      t.true(again.plan.empty, `a second down has nothing to do: ${again.plan.toString()}`);
      t.false(existsSync(socketPath(fwd.config.tunnel.interface)), 'no UAPI socket left');
      t.false(existsSync(`${STATE_DIR}/${fwd.config.netns}`), 'no state left');
    }
  });
}

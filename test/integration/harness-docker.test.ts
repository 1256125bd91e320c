/**
 * The Docker helper (test/helpers/docker.ts): Docker Engine (or its
 * emulation) inside a lab namespace answers on its published ports with the
 * client's real address, the container's own connections leave masqueraded,
 * the emulation installs exactly Docker's rules, and stop() leaves nothing of
 * the daemon behind.
 */
import { existsSync } from 'node:fs';
import test from 'ava';
import { LAB_ADDRESSES, LAN_LAB_ADDRESSES, Lab, LanLab, tcpAsk, udpAsk, whoami } from '../../src/lab/index.js';
import { netns } from '../../src/netns/index.js';
import { dockerEngineSkipReason, dockerSkipReason, startDocker } from '../helpers/docker.js';
import { inNetns } from '../helpers/e2e.js';
import { kernelSkipReason, run } from '../helpers/kernel.js';

const reason = kernelSkipReason(['ip', 'nft']) ?? dockerSkipReason();
if (reason) process.stderr.write(`skipping the Docker harness tests: ${reason}\n`);
const engineReason = reason ?? dockerEngineSkipReason();
if (!reason && engineReason) process.stderr.write(`skipping the Docker Engine comparison: ${engineReason}\n`);
const t0 = reason ? test.skip : test;
const tEngine = engineReason ? test.skip : test;
const OUTSIDE_PORT = 7200;

/** iptables-save without its comments and counters. */
const iptablesSave = (ns: string) =>
  inNetns(ns, 'iptables-save', [])
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/, ''))
    .join('\n');

/** `nft -j list ruleset` without handles, counters' values and the tool's metainfo. */
const nftRuleset = (ns: string): unknown => {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (v && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (k === 'handle' || k === 'metainfo') continue;
        o[k] = k === 'counter' && x && typeof x === 'object' ? { packets: 0, bytes: 0 } : strip(x);
      }
      return o;
    }
    return v;
  };
  return strip(
    (JSON.parse(inNetns(ns, 'nft', ['-j', 'list', 'ruleset'])) as { nftables: unknown[] }).nftables.filter(
      (x) => !(x as object).hasOwnProperty('metainfo'),
    ),
  );
};

t0('Docker in the backend: the published TCP and UDP ports answer the client with its own address, egress is masqueraded', async (t) => {
  const lab = await Lab.create();
  t.teardown(() => lab.destroy());
  const docker = await startDocker(lab.hosts.backend.netns, {
    ports: [
      { protocol: 'tcp', port: 9735 },
      { protocol: 'udp', port: 5353 },
      { protocol: 'tcp', port: 80, hostPort: 8080 },
    ],
  });
  t.teardown(() => docker.stop());
  t.log(`component: ${docker.describe}`);
  t.is(docker.containerNetwork, '203.0.113.128/26');
  t.is(docker.containerAddress, '203.0.113.130');
  t.is(docker.gateway, '203.0.113.129');
  t.is(docker.publishedPort, 9735);
  if (docker.kind === 'docker-engine') t.regex(docker.version!, /^\d+\.\d+/);

  const backend = LAB_ADDRESSES.backend.ipv4;
  const client = LAB_ADDRESSES.client.ipv4;
  t.is(await lab.run('client', tcpAsk, { host: backend, port: 9735 }), `container ${client} 9735`);
  t.is(await lab.run('client', udpAsk, { host: backend, port: 5353 }), `container ${client} 5353`);
  t.is(await lab.run('client', tcpAsk, { host: backend, port: 8080 }), `container ${client} 80`);
  t.deepEqual(await docker.container.seen(), [`tcp ${client} 9735`, `udp ${client} 5353`, `tcp ${client} 80`]);
  // The DNAT is Docker's (nft shows iptables-nft's translation of its rule).
  t.regex(
    inNetns(lab.hosts.backend.netns, 'nft', ['list', 'table', 'ip', 'nat']),
    /tcp dport 9735 counter packets \d+ bytes \d+ dnat to 203\.0\.113\.130:9735/,
  );

  // The container's own connection leaves by the uplink with the backend's address (Docker's masquerade).
  await lab.start('internet', whoami, OUTSIDE_PORT).result;
  t.is(await docker.container.ask(LAB_ADDRESSES.outside.ipv4, OUTSIDE_PORT), backend);

  // A second container, with no published port.
  const other = await docker.addContainer({ name: 'other', ports: [] });
  t.is(other.address, '203.0.113.131');
  t.is(await other.ask(LAB_ADDRESSES.outside.ipv4, OUTSIDE_PORT), backend);

  await docker.stop();
  if (docker.kind === 'docker-engine') {
    t.false(existsSync(docker.stateDir!), 'its directory is removed');
    const left = run('find', ['/sys/fs/cgroup', '-maxdepth', '3', '-name', docker.cgroupParent!]).trim();
    t.is(left, '', 'its cgroups are removed');
  }
  // Nothing of Docker runs in the namespace any more (the lab started nothing else there).
  t.deepEqual(netns.processes(lab.hosts.backend.netns), []);
  t.is(await lab.run('client', tcpAsk, { host: backend, port: 9735, timeoutMs: 1000 }), '(error ECONNREFUSED)');
});

t0("Docker in the LAN lab's VPN client: a LAN host reaches the published port; over IPv6 docker-proxy answers", async (t) => {
  const lab = await LanLab.create();
  t.teardown(() => lab.destroy());
  const docker = await startDocker(lab.host('vpnclient').netns, { name: 'svc' });
  t.teardown(() => docker.stop());
  t.log(`component: ${docker.describe}`);
  const A = LAN_LAB_ADDRESSES;
  t.is(await lab.run('servicehost', tcpAsk, { host: A.vpnclient.ipv4, port: 9735 }), `svc ${A.servicehost.ipv4} 9735`);
  // IPv6 is not NATed to the container: the userland proxy relays it, from docker0's address.
  t.is(await lab.run('servicehost', tcpAsk, { host: A.vpnclient.ipv6, port: 9735 }), `svc ${docker.gateway} 9735`);
  // The container reaches the internet through the VPN client and the home router: two masquerades.
  await lab.start('internet', whoami, OUTSIDE_PORT).result;
  t.is(await docker.container.ask(A.outside.ipv4, OUTSIDE_PORT), A.home.ipv4);
});

t0("the emulation (forced): same answers, and Docker's chains in iptables-nft", async (t) => {
  const lab = await Lab.create();
  t.teardown(() => lab.destroy());
  const docker = await startDocker(lab.hosts.backend.netns, { kind: 'emulated', name: 'emu' });
  t.teardown(() => docker.stop());
  t.is(docker.kind, 'emulated');
  t.log(`component: ${docker.describe}`);
  t.is(docker.containerAddress, '203.0.113.130');
  t.truthy(docker.container.netns);
  const client = LAB_ADDRESSES.client.ipv4;
  t.is(await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.backend.ipv4, port: 9735 }), `emu ${client} 9735`);
  t.deepEqual(await docker.container.seen(), [`tcp ${client} 9735`]);
  const save = iptablesSave(lab.hosts.backend.netns);
  t.regex(save, /^:FORWARD DROP/m);
  t.regex(save, /^-A DOCKER ! -i docker0 -p tcp -m tcp --dport 9735 -j DNAT --to-destination 203\.0\.113\.130:9735$/m);
  await lab.start('internet', whoami, OUTSIDE_PORT).result;
  t.is(await docker.container.ask(LAB_ADDRESSES.outside.ipv4, OUTSIDE_PORT), LAB_ADDRESSES.backend.ipv4);
  const cns = docker.container.netns!;
  await docker.stop();
  t.false(netns.exists(cns), 'the container namespace is removed');
  t.notRegex(iptablesSave(lab.hosts.backend.netns), /dport 9735/, 'and its port rules');
});

tEngine('the emulation installs exactly the ruleset Docker Engine installs (iptables-save and nft -j)', async (t) => {
  const lab = await Lab.create({ backends: 2 });
  t.teardown(() => lab.destroy());
  const ports = [
    { protocol: 'tcp' as const, port: 9735 },
    { protocol: 'udp' as const, port: 5353 },
  ];
  const engine = await startDocker(lab.hosts.backend.netns, { kind: 'docker-engine', ports });
  t.teardown(() => engine.stop());
  const emulated = await startDocker(lab.hosts.backend2!.netns, { kind: 'emulated', ports });
  t.teardown(() => emulated.stop());
  t.log(`engine: ${engine.describe}`);
  t.is(engine.kind, 'docker-engine');
  t.is(engine.containerAddress, emulated.containerAddress);
  t.is(iptablesSave(lab.hosts.backend2!.netns), iptablesSave(lab.hosts.backend.netns));
  t.deepEqual(nftRuleset(lab.hosts.backend2!.netns), nftRuleset(lab.hosts.backend.netns));
  for (const key of ['net.ipv4.ip_forward', 'net.bridge.bridge-nf-call-iptables']) {
    try {
      t.is(netns.sysctl(lab.hosts.backend2!.netns, key), netns.sysctl(lab.hosts.backend.netns, key), key);
    } catch {
      t.log(`${key}: not on this host`);
    }
  }
  // Both answer alike (the container's name aside), over IPv4 and, by docker-proxy, over IPv6.
  const client = LAB_ADDRESSES.client.ipv4;
  t.is(await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.backend.ipv4, port: 9735 }), `container ${client} 9735`);
  t.is(await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.backend2.ipv4, port: 9735 }), `container ${client} 9735`);
  t.is(await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.backend.ipv6, port: 9735 }), `container ${engine.gateway} 9735`);
  t.is(await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.backend2.ipv6, port: 9735 }), `container ${emulated.gateway} 9735`);
});

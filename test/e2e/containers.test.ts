/**
 * Containers on the backend (issue 18): Docker Engine (Debian's docker.io)
 * started inside the backend's namespace — or, where its daemon cannot start,
 * the emulation of its bridge and rules (test/helpers/docker.ts says which
 * ran) — with published ports, the backend in mode connmark, netfwd's own
 * WireGuard tunnel. The backend is the home's gateway here (LanLab gateway
 * 'vpnclient'), so its uplink is the home line, counted.
 *
 * - A container behind a published port sees the client's real address: its
 *   replies are forwarded packets, which get the connection's mark in
 *   prerouting (reply direction) and so go back into the tunnel. Shown for a
 *   container outside returnPath.sources too, whose replies no source rule
 *   carries (the fact: a source rule hides a missing restore).
 * - returnPath.sources (the first container only): its own outgoing
 *   connection is seen by an outside host as the frontend's address; the
 *   other container's still leaves by the home line.
 * - Tunnel down: the selected container's outgoing connection fails, the
 *   client gets no answer, and nothing of theirs leaves by the home line.
 * IPv4 only: Docker's IPv6 port publishing goes through docker-proxy, whose
 * connections come from the proxy's address, not the client's.
 */

import { forwardService } from '../../src/forward/index.js';
import type { BackendSpec, FrontendSpec } from '../../src/forward/spec/spec.js';
import { LAN_LAB_ADDRESSES as A, LanLab, whoami } from '../../src/lab/index.js';
import { generatePresharedKey, generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { type DockerContainer, type DockerService, dockerSkipReason, startDocker } from '../helpers/docker.js';
import { e2eSuite, inNetns, tcpAsk, uniqueTag, wgBackend } from '../helpers/e2e.js';
import { installUplinkCounters, type UplinkCounters } from '../helpers/lan.js';

const OUTSIDE_PORT = 7000;
const SELECTED_PORT = 9735;
const OTHER_PORT = 9736;

interface Setup {
  lab: LanLab;
  docker: DockerService;
  selected: DockerContainer;
  other: DockerContainer;
  backendIf: string;
  backendSpec: BackendSpec;
  uplink: UplinkCounters;
  close(): Promise<void>;
}

async function build(): Promise<Setup> {
  const reason = dockerSkipReason();
  if (reason) throw new Error(`the container tests need Docker or its emulation: ${reason}`);
  const lab = await LanLab.create({ gateway: 'vpnclient', hosts: 0 });
  let docker: DockerService | undefined;
  try {
    const be = lab.host('vpnclient').netns;
    docker = await startDocker(be, { ports: [{ protocol: 'tcp', port: SELECTED_PORT }], name: 'selected' });
    const selected = docker.container;
    const other = await docker.addContainer({ name: 'other', ports: [{ protocol: 'tcp', port: OTHER_PORT }] });
    const tag = uniqueTag();
    const fk = generatePrivateKey();
    const bk = generatePrivateKey();
    const psk = generatePresharedKey().toBase64();
    const backendIf = `nf${tag}b`;
    const frontend: FrontendSpec = {
      role: 'frontend',
      netns: lab.host('frontend').netns,
      tunnel: {
        interface: `nf${tag}f`,
        addresses: ['10.0.0.1/24'],
        listenPort: 51820,
        privateKey: fk.toBase64(),
        peers: [{ name: 'home', publicKey: publicKey(bk), presharedKey: psk, addresses: ['10.0.0.2'] }],
      },
      public: { addresses: [A.frontend.ipv4] },
      forwards: [
        { protocol: 'tcp', port: SELECTED_PORT, to: { peer: 'home' } },
        { protocol: 'tcp', port: OTHER_PORT, to: { peer: 'home' } },
      ],
    };
    const backendSpec: BackendSpec = {
      role: 'backend',
      netns: be,
      tunnel: {
        interface: backendIf,
        addresses: ['10.0.0.2/24'],
        privateKey: bk.toBase64(),
        peer: { publicKey: publicKey(fk), presharedKey: psk, endpoint: `${A.frontend.ipv4}:51820`, persistentKeepalive: 25 },
      },
      // Only the first container's own traffic goes through the tunnel.
      returnPath: { mode: 'connmark', mark: 0x2b, sources: [`${selected.address}/32`] },
      services: [
        { protocol: 'tcp', port: SELECTED_PORT },
        { protocol: 'tcp', port: OTHER_PORT },
      ],
    };
    const options = { implementation: wgBackend() };
    await forwardService(frontend, options).apply();
    await forwardService(backendSpec, options).apply();
    lab.start('internet', whoami, OUTSIDE_PORT);
    const uplink = installUplinkCounters(lab, [
      { name: 'containers-to-client', direction: 'out-before-nat', saddr: docker.containerNetwork, daddr: A.client.ipv4 },
      { name: 'selected-out', direction: 'out-before-nat', saddr: `${selected.address}/32` },
    ]);
    process.stdout.write(`containers: ${docker.describe}; WireGuard ${wgBackend()}\n`);
    const d = docker;
    return {
      lab,
      docker: d,
      selected,
      other,
      backendIf,
      backendSpec,
      uplink,
      close: async () => {
        await d.stop();
        await lab.destroy();
      },
    };
  } catch (err) {
    await docker?.stop();
    await lab.destroy();
    throw err;
  }
}

const { test, env } = e2eSuite(build);

const ask = (s: Setup, port: number, timeoutMs = 3000) => s.lab.run('client', tcpAsk, { host: A.frontend.ipv4, port, timeoutMs });
const leaks = (s: Setup) => Object.fromEntries(Object.entries(s.uplink.read()).filter(([, n]) => n > 0));

test('containers behind published ports see the client’s real address, inside and outside returnPath.sources', async (t) => {
  const s = env();
  t.is(await ask(s, SELECTED_PORT), `selected ${A.client.ipv4} ${SELECTED_PORT}`);
  t.is(await ask(s, OTHER_PORT), `other ${A.client.ipv4} ${OTHER_PORT}`);
  t.true((await s.other.seen()).includes(`tcp ${A.client.ipv4} ${OTHER_PORT}`));
  t.deepEqual(leaks(s), {});
});

test('returnPath.sources: the selected container’s own connection leaves with the frontend’s address; the other one’s by the home line', async (t) => {
  const s = env();
  t.is(await s.selected.ask(A.outside.ipv4, OUTSIDE_PORT), A.frontend.ipv4);
  t.is(await s.other.ask(A.outside.ipv4, OUTSIDE_PORT), A.home.ipv4);
  t.deepEqual(leaks(s), {});
});

test('tunnel down: the selected container’s connection fails and the client gets no answer; nothing of theirs on the home line', async (t) => {
  const s = env();
  const be = s.lab.host('vpnclient').netns;
  inNetns(be, 'ip', ['link', 'set', s.backendIf, 'down']);
  try {
    t.regex(await s.selected.ask(A.outside.ipv4, OUTSIDE_PORT, 2000), /^\(/);
    t.regex(await ask(s, SELECTED_PORT, 2000), /^\(/);
    t.regex(await ask(s, OTHER_PORT, 2000), /^\(/);
    t.deepEqual(leaks(s), {});
  } finally {
    inNetns(be, 'ip', ['link', 'set', s.backendIf, 'up']);
    await forwardService(s.backendSpec, { implementation: wgBackend() }).apply();
  }
  t.is(await s.selected.ask(A.outside.ipv4, OUTSIDE_PORT), A.frontend.ipv4);
});

/**
 * A service on a LAN host behind the backend (issue 18), with netfwd's own
 * WireGuard tunnel, IPv4 and IPv6, in the LAN lab (src/lab/lan-topology.ts):
 *
 * - mode connmark, the backend (vpnclient) is the LAN's gateway: the frontend
 *   DNATs straight to the host (tunnel.peers[].routes, to.address); the host
 *   sees the client's real address; its replies — forwarded packets, which
 *   no output chain sees — go back into the tunnel, and not one packet to
 *   the client leaves by the home uplink (counted there), also while the
 *   tunnel is down;
 * - mode snat, the home router is the LAN's gateway: the host sees the
 *   backend's LAN address, and nothing leaves by the router's uplink;
 * - the attacker's side: only the listed host and port are reachable through
 *   the tunnel (another port of the same host and another LAN host are not,
 *   even for a packet sent into the tunnel by the frontend itself), and the
 *   home's public address answers nothing.
 */

import { forwardService } from '../../src/forward/index.js';
import type { BackendSpec, FrontendSpec } from '../../src/forward/spec/spec.js';
import { LAN_LAB_ADDRESSES as A, LanLab } from '../../src/lab/lan-topology.js';
import { generatePresharedKey, generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { e2eSuite, inNetns, type RunningService, startService, tcpAsk, uniqueTag, wgBackend } from '../helpers/e2e.js';
import { installUplinkCounters, type UplinkCounters } from '../helpers/lan.js';

const PUBLIC_PORT = 443;
const SERVICE_PORT = 8080;
const OTHER_PORT = 8081;

interface Setup {
  lab: LanLab;
  frontendIf: string;
  backendIf: string;
  service: RunningService;
  other: RunningService;
  uplink: UplinkCounters;
  backendSpec: BackendSpec;
  close(): Promise<void>;
}

async function build(mode: 'connmark' | 'snat'): Promise<Setup> {
  const lab = await LanLab.create({ gateway: mode === 'connmark' ? 'vpnclient' : 'router', hosts: 2 });
  try {
    const tag = uniqueTag();
    const fe = generatePrivateKey();
    const be = generatePrivateKey();
    const psk = generatePresharedKey().toBase64();
    const frontendIf = `nf${tag}f`;
    const backendIf = `nf${tag}b`;
    const host = [A.servicehost.ipv4, A.servicehost.ipv6];
    const frontend: FrontendSpec = {
      role: 'frontend',
      netns: lab.host('frontend').netns,
      tunnel: {
        interface: frontendIf,
        addresses: ['10.0.0.1/24', 'fd00::1/64'],
        listenPort: 51820,
        privateKey: fe.toBase64(),
        peers: [
          {
            name: 'home',
            publicKey: publicKey(be),
            presharedKey: psk,
            addresses: ['10.0.0.2', 'fd00::2'],
            routes: [A.lan.ipv4, A.lan.ipv6],
          },
        ],
      },
      public: { addresses: [A.frontend.ipv4, A.frontend.ipv6] },
      forwards: [{ protocol: 'tcp', port: PUBLIC_PORT, to: { address: host, port: SERVICE_PORT } }],
      sourceNat: mode === 'snat',
    };
    const backend: BackendSpec = {
      role: 'backend',
      netns: lab.host('vpnclient').netns,
      tunnel: {
        interface: backendIf,
        addresses: ['10.0.0.2/24', 'fd00::2/64'],
        privateKey: be.toBase64(),
        peer: { publicKey: publicKey(fe), presharedKey: psk, endpoint: `${A.frontend.ipv4}:51820`, persistentKeepalive: 25 },
      },
      returnPath: mode === 'connmark' ? { mode: 'connmark', mark: 0x2b } : { mode: 'snat' },
      services: [{ protocol: 'tcp', port: SERVICE_PORT, host }],
    };
    const options = { implementation: wgBackend() };
    await forwardService(frontend, options).apply();
    await forwardService(backend, options).apply();
    const service = await startService(lab, 'servicehost', { name: 'nas', tcp: [SERVICE_PORT], udp: [] });
    // A port of the same host that is not a service, and a second LAN host with the service's port.
    const other = await startService(lab, 'servicehost', { name: 'other', tcp: [OTHER_PORT], udp: [] });
    await startService(lab, 'extrahost', { name: 'extra', tcp: [SERVICE_PORT], udp: [] });
    // What leaves the home: any packet from the LAN to the client (the gateway's own resets to a
    // probe of its public address are not the LAN's), and anything from the service's port.
    const uplink = installUplinkCounters(lab, [
      { name: 'to-client4', direction: 'out-before-nat', saddr: A.lan.ipv4, daddr: A.client.ipv4 },
      { name: 'to-client6', direction: 'out-before-nat', saddr: A.lan.ipv6, daddr: A.client.ipv6 },
      { name: 'from-service4', direction: 'out-before-nat', saddr: A.servicehost.ipv4, sport: SERVICE_PORT },
      { name: 'from-service6', direction: 'out-before-nat', saddr: A.servicehost.ipv6, sport: SERVICE_PORT },
    ]);
    process.stdout.write(`lan-hosts (${mode}): WireGuard ${wgBackend()} tunnel; LAN gateway: ${lab.gateway}\n`);
    return {
      lab,
      frontendIf,
      backendIf,
      service,
      other,
      uplink,
      backendSpec: backend,
      close: () => lab.destroy(),
    };
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}

const ask = (lab: LanLab, address: string, port = PUBLIC_PORT, timeoutMs = 3000) =>
  lab.run('client', tcpAsk, { host: address, port, timeoutMs });

const leaks = (u: UplinkCounters) => Object.fromEntries(Object.entries(u.read()).filter(([, n]) => n > 0));

for (const mode of ['connmark', 'snat'] as const) {
  const { test, env } = e2eSuite(() => build(mode));
  const seenAs = (family: 4 | 6) =>
    mode === 'connmark' ? (family === 4 ? A.client.ipv4 : A.client.ipv6) : family === 4 ? A.vpnclient.ipv4 : A.vpnclient.ipv6;

  test(`${mode}: the LAN host answers through the frontend and sees ${mode === 'connmark' ? "the client's real address" : "the backend's LAN address"} (IPv4, IPv6); nothing leaves by the home uplink`, async (t) => {
    const s = env();
    t.is(await ask(s.lab, A.frontend.ipv4), `nas ${seenAs(4)} ${SERVICE_PORT}`);
    t.is(await ask(s.lab, A.frontend.ipv6), `nas ${seenAs(6)} ${SERVICE_PORT}`);
    t.true(s.service.seen().includes(`tcp ${seenAs(4)} ${SERVICE_PORT}`));
    t.deepEqual(leaks(s.uplink), {});
  });

  test(`${mode}: through the tunnel only the listed host and port: another port of the host, another LAN host and the home's public address answer nothing`, async (t) => {
    const s = env();
    // From the frontend itself, into the tunnel (its routes take the LAN there): the backend forwards only the service.
    t.not(
      await s.lab.run('frontend', tcpAsk, { host: A.servicehost.ipv4, port: OTHER_PORT, timeoutMs: 1500 }),
      `other 10.0.0.1 ${OTHER_PORT}`,
    );
    t.regex(await s.lab.run('frontend', tcpAsk, { host: A.extrahost.ipv4, port: SERVICE_PORT, timeoutMs: 1500 }), /^\(/);
    t.regex(await s.lab.run('frontend', tcpAsk, { host: A.servicehost.ipv6, port: OTHER_PORT, timeoutMs: 1500 }), /^\(/);
    t.deepEqual(s.other.seen(), [], 'the unlisted port never saw a connection');
    // The frontend forwards into the tunnel only the forwards' targets: a client cannot reach the LAN by routing.
    t.regex(await ask(s.lab, A.servicehost.ipv4, SERVICE_PORT, 1500), /^\(/);
    // The home's public address has nothing of the service.
    t.regex(await ask(s.lab, A.home.ipv4, SERVICE_PORT, 1500), /^\(/);
    t.regex(await ask(s.lab, A.home.ipv4, PUBLIC_PORT, 1500), /^\(/);
    t.deepEqual(leaks(s.uplink), {});
  });

  test(`${mode}: with the backend's tunnel down the client gets no answer, and still nothing leaves by the home uplink`, async (t) => {
    const s = env();
    const be = s.lab.host('vpnclient').netns;
    inNetns(be, 'ip', ['link', 'set', s.backendIf, 'down']);
    try {
      t.regex(await ask(s.lab, A.frontend.ipv4, PUBLIC_PORT, 2000), /^\(/);
      t.regex(await ask(s.lab, A.frontend.ipv6, PUBLIC_PORT, 2000), /^\(/);
      t.deepEqual(leaks(s.uplink), {});
    } finally {
      inNetns(be, 'ip', ['link', 'set', s.backendIf, 'up']);
      // `up` restores the routes the kernel removed with the link (netfwd run would do it by itself).
      await forwardService(s.backendSpec, { implementation: wgBackend() }).apply();
    }
    t.is(await ask(s.lab, A.frontend.ipv4), `nas ${seenAs(4)} ${SERVICE_PORT}`);
  });
}

/**
 * The demo: runDemo() runs the topology asked for — 'lan' and 'recipe' in
 * lan-demo.ts, 'docker' in docker-demo.ts, what they share in common.ts —
 * and by default the two-machine one, here: it builds the lab, sets up a
 * frontend and a backend with netfwd, runs a TCP and a UDP service as uid
 * 1000 on the backend, and checks from the outside what VPN NAT service
 * forwarding promises:
 *   - a client reaching the frontend's public address reaches the service,
 *     which sees the client's real address (snat mode: the frontend's);
 *   - the service's own outgoing connection leaves from the frontend
 *     (uid and mark modes; connmark and snat route only replies);
 *   - no packet of the service leaves the backend's uplink with its own address;
 *   - the service port is closed on the backend's uplink.
 */
import { forwardService, type ServiceForward } from '../forward/index.js';
import type { BackendSpec, FrontendSpec } from '../forward/spec/spec.js';
import { LAB_ADDRESSES, Lab, type NetnsTask, tcpAsk, udpAsk, whoami } from '../lab/index.js';
import { nftExpr as e, Nft } from '../nft/index.js';
import { generatePresharedKey, generatePrivateKey, publicKey } from '../wireguard/index.js';
import {
  DEMO_DIR,
  type DemoMode,
  type DemoOptions,
  DemoRecorder,
  type DemoReport,
  forwardOptions,
  waitForHandshake,
  writeKeptConfigs,
} from './common.js';
import { runDockerDemo } from './docker-demo.js';
import { runLanDemo } from './lan-demo.js';

export {
  DEMO_DIR,
  DEMO_MODES,
  DEMO_TOPOLOGIES,
  type DemoCheck,
  type DemoMode,
  type DemoOptions,
  type DemoReport,
  type DemoTopology,
  TOPOLOGY_MODES,
} from './common.js';

const TCP_PORT = 8080;
const UDP_PORT = 5353;
const PUBLIC_TCP = 80;
const FRONTEND_PORT = 51820;
const OUTSIDE_PORT = 7000;
const SERVICE_UID = 1000;

/**
 * The backend's service: TCP and UDP answer with the address they saw; a
 * 'dial' request on a local control port connects out. In uid mode the UDP
 * socket listens on every address (routing picks the tunnel's address for
 * the answer); in mark and connmark modes an unconnected UDP socket must
 * answer from the address it was reached on, so it binds the tunnel's.
 */
const serviceSource = (udpBinds: string[]) => `
const net = require('node:net'), dgram = require('node:dgram');
const strip = (a) => a.replace(/^::ffff:/, '');
net.createServer((c) => c.end(strip(c.remoteAddress) + '\\n')).listen(${TCP_PORT}, '::');
for (const addr of ${JSON.stringify(udpBinds)}) {
  const u = dgram.createSocket({ type: addr.includes(':') ? 'udp6' : 'udp4' });
  u.on('message', (m, r) => u.send(strip(r.address), r.port, r.address));
  u.bind(${UDP_PORT}, addr);
}
net.createServer((c) => {
  c.once('data', (d) => {
    const [host, port] = String(d).trim().split(' ');
    const out = net.connect(Number(port), host);
    out.on('data', (x) => c.end(x));
    out.on('error', (err) => c.end('error ' + err.code));
  });
}).listen(9999, '127.0.0.1');
process.stdout.write('ready\\n');
`;

export function demoSpecs(lab: Lab, mode: DemoMode, tag: string): { frontend: FrontendSpec; backend: BackendSpec } {
  const fe = generatePrivateKey();
  const be = generatePrivateKey();
  const psk = generatePresharedKey().toBase64();
  const frontend = {
    role: 'frontend',
    netns: lab.hosts.frontend.netns,
    tunnel: {
      interface: `nfd${tag}f`,
      addresses: ['10.0.0.1/24', 'fd00::1/64'],
      listenPort: FRONTEND_PORT,
      privateKey: fe.toBase64(),
      peers: [{ name: 'home', publicKey: publicKey(be), presharedKey: psk, addresses: ['10.0.0.2', 'fd00::2'] }],
    },
    public: { addresses: [LAB_ADDRESSES.frontend.ipv4, LAB_ADDRESSES.frontend.ipv6] },
    forwards: [
      { protocol: 'tcp', port: PUBLIC_TCP, to: { peer: 'home', port: TCP_PORT } },
      { protocol: 'udp', port: UDP_PORT, to: { peer: 'home' } },
    ],
    sourceNat: mode === 'snat',
  } as FrontendSpec;
  const returnPath =
    mode === 'uid'
      ? { mode, uids: [`${SERVICE_UID}`] }
      : mode === 'mark'
        ? { mode, uids: [`${SERVICE_UID}`], mark: 0x2a }
        : mode === 'connmark'
          ? { mode, mark: 0x2b }
          : { mode };
  const backend = {
    role: 'backend',
    netns: lab.hosts.backend.netns,
    tunnel: {
      interface: `nfd${tag}b`,
      addresses: ['10.0.0.2/24', 'fd00::2/64'],
      privateKey: be.toBase64(),
      peer: {
        publicKey: publicKey(fe),
        presharedKey: psk,
        endpoint: `${LAB_ADDRESSES.frontend.ipv4}:${FRONTEND_PORT}`,
        persistentKeepalive: 25,
      },
    },
    returnPath,
    services: [
      { protocol: 'tcp', port: TCP_PORT },
      { protocol: 'udp', port: UDP_PORT },
    ],
  } as BackendSpec;
  return { frontend, backend };
}

/** Runs the demo of `options.topology` (default: the two-machine one) and returns its report. */
export async function runDemo(options: DemoOptions = {}): Promise<DemoReport> {
  const topology = options.topology ?? 'two-machine';
  if (topology === 'lan' || topology === 'recipe') return runLanDemo(topology, options);
  if (topology === 'docker') return runDockerDemo(options);
  return runTwoMachineDemo(options);
}

async function runTwoMachineDemo(options: DemoOptions): Promise<DemoReport> {
  const mode = options.mode ?? 'uid';
  const rec = new DemoRecorder(options.log);
  const phase = <T>(name: string, fn: () => Promise<T>) => rec.phase(name, fn);
  const check = (name: string, expected: string, actual: string, ok?: boolean) => rec.check(name, expected, actual, ok);

  const tag = Math.random().toString(16).slice(2, 6);
  const lab = await phase('build the lab (4 namespaces, 3 veth pairs)', () => Lab.create({ prefix: `nfdemo-${tag}` }));
  let fwdFrontend: ServiceForward | undefined;
  let fwdBackend: ServiceForward | undefined;
  const tasks: NetnsTask<unknown>[] = [];
  let implementation = '';
  let servicePid: number | null = null;
  let configs: { frontend: string; backend: string } | undefined;
  try {
    const specs = demoSpecs(lab, mode, tag);
    // The kept lab can be inspected and removed with the CLI itself.
    if (options.keep) configs = writeKeptConfigs(lab.prefix, specs);
    const fwOptions = forwardOptions(options);
    fwdFrontend = forwardService(specs.frontend, fwOptions);
    fwdBackend = forwardService(specs.backend, fwOptions);
    await phase('frontend: netfwd apply', () => fwdFrontend!.apply());
    await phase('backend: netfwd apply', () => fwdBackend!.apply());

    // Count what leaves the backend's uplink from the service, in a table of the demo's own.
    const uplink = lab.hosts.backend.uplink!;
    const leakNft = await Nft.open({ netns: lab.hosts.backend.netns });
    try {
      await leakNft.transaction((tx) => {
        tx.addTable({ family: 'inet', name: 'demo_leakcheck' });
        tx.addChain({
          family: 'inet',
          table: 'demo_leakcheck',
          name: 'post',
          type: 'filter',
          hook: 'postrouting',
          priority: 'filter',
          policy: 'accept',
        });
        // The tunnel's own encrypted packets to the frontend are not counted: the kernel's
        // WireGuard sends each with the socket of the packet inside (wireguard-go from its own).
        tx.addRule({
          family: 'inet',
          table: 'demo_leakcheck',
          chain: 'post',
          expr: [e.oifname.eq(uplink), e.ip.daddr.eq(LAB_ADDRESSES.frontend.ipv4), e.udp.dport.eq(FRONTEND_PORT), e.accept()],
          comment: 'the tunnel',
        });
        tx.addRule({
          family: 'inet',
          table: 'demo_leakcheck',
          chain: 'post',
          expr: [e.oifname.eq(uplink), e.meta.skuid.eq(SERVICE_UID), e.counter()],
          comment: 'service sockets',
        });
        tx.addRule({
          family: 'inet',
          table: 'demo_leakcheck',
          chain: 'post',
          expr: [e.oifname.eq(uplink), e.th.sport.in([TCP_PORT, UDP_PORT]), e.counter()],
          comment: 'service replies',
        });
      });
    } finally {
      leakNft.close();
    }

    const ready = await phase('start the services as uid 1000 (TCP 8080, UDP 5353) and the outside host', async () => {
      const udpBinds = mode === 'uid' || mode === 'snat' ? ['::'] : ['10.0.0.2', 'fd00::2'];
      const child = lab.exec('backend', process.execPath, ['-e', serviceSource(udpBinds)], {
        uid: SERVICE_UID,
        gid: SERVICE_UID,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      servicePid = child.pid ?? null;
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once('data', () => resolve());
        child.once('exit', (code) => reject(new Error(`the demo service exited (${code}): ${err.trim()}`)));
      });
      if (options.keep) {
        // A kept lab keeps its service: let go of it, or this process could never exit.
        child.stdout!.destroy();
        child.stderr!.destroy();
        child.unref();
      }
      const outside = lab.start('internet', whoami, OUTSIDE_PORT);
      tasks.push(outside as NetnsTask<unknown>);
      await outside.result;
      return true;
    });
    void ready;

    const st = await phase('wait for the WireGuard handshake', () => waitForHandshake(fwdBackend!));
    implementation = st.tunnel.implementation ?? 'none';
    check('WireGuard handshake', 'done', st.tunnel.peers[0]?.lastHandshake ? 'done' : 'none');

    const expectClient4 = mode === 'snat' ? '10.0.0.1' : LAB_ADDRESSES.client.ipv4;
    const expectClient6 = mode === 'snat' ? 'fd00::1' : LAB_ADDRESSES.client.ipv6;
    await phase('client → frontend: TCP and UDP, IPv4 and IPv6', async () => {
      check(
        'TCP over IPv4: address the service saw',
        expectClient4,
        await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: PUBLIC_TCP }),
      );
      check(
        'TCP over IPv6: address the service saw',
        expectClient6,
        await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv6, port: PUBLIC_TCP }),
      );
      check(
        'UDP over IPv4: address the service saw',
        expectClient4,
        await lab.run('client', udpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: UDP_PORT }),
      );
      check(
        'UDP over IPv6: address the service saw',
        expectClient6,
        await lab.run('client', udpAsk, { host: LAB_ADDRESSES.frontend.ipv6, port: UDP_PORT }),
      );
    });

    await phase("the service's own outgoing connection", async () => {
      const selected = mode === 'uid' || mode === 'mark';
      // The service (uid 1000) dials the outside host through its local control port.
      const seen = await lab.run('backend', tcpAsk, {
        host: '127.0.0.1',
        port: 9999,
        send: `${LAB_ADDRESSES.outside.ipv4} ${OUTSIDE_PORT}\n`,
      });
      check(
        `outgoing connection of the service seen by an outside host (${selected ? 'through the tunnel' : `${mode} mode routes only replies`})`,
        selected ? LAB_ADDRESSES.frontend.ipv4 : LAB_ADDRESSES.backend.ipv4,
        seen,
      );
      const other = await lab.run('backend', tcpAsk, { host: LAB_ADDRESSES.outside.ipv4, port: OUTSIDE_PORT });
      check('outgoing connection of another user (root) goes out directly', LAB_ADDRESSES.backend.ipv4, other);
    });

    await phase('leak check on the backend uplink', async () => {
      const nft = await Nft.open({ netns: lab.hosts.backend.netns });
      try {
        const r = await nft.list({ family: 'inet', table: 'demo_leakcheck' });
        const counted = (comment: string) => {
          const rule = r.rules.find((x) => x.comment === comment);
          const c = rule?.expr.find((s) => s.type === 'counter') as { packets?: number } | undefined;
          return c?.packets ?? -1;
        };
        const viaSocket = counted('service sockets');
        const viaPort = counted('service replies');
        // Outgoing connections of the service leave directly in connmark/snat mode, by design.
        const allowedSocketPackets = mode === 'uid' || mode === 'mark' ? 0 : viaSocket;
        check(`service packets leaving ${uplink} with the backend's own address (replies)`, '0', String(viaPort));
        if (mode === 'uid' || mode === 'mark')
          check(`packets of the service's sockets leaving ${uplink}`, '0', String(viaSocket), viaSocket === allowedSocketPackets);
      } finally {
        nft.close();
      }
      const direct = await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.backend.ipv4, port: TCP_PORT, timeoutMs: 1500 });
      check("the service port is closed on the backend's uplink", '(timeout)', direct);
    });

    const fst = await fwdFrontend.status();
    const counter = fst.forwards.find((f) => f.protocol === 'tcp' && f.family === 4);
    check(
      'frontend counters saw the forwarded TCP connection',
      'at least 1',
      String(counter?.connections ?? 0),
      (counter?.connections ?? 0) >= 1,
    );
  } finally {
    await Promise.allSettled(tasks.map((t) => t.stop()));
    if (!options.keep) {
      await phase('tear down (netfwd down on both, remove the lab)', async () => {
        await fwdBackend?.down().catch(() => undefined);
        await fwdFrontend?.down().catch(() => undefined);
        await lab.destroy();
      });
    }
  }
  const report: DemoReport = { topology: 'two-machine', mode, ok: rec.ok, implementation, checks: rec.checks, phases: rec.phases };
  if (options.keep) {
    report.namespaces = Object.fromEntries(Object.entries(lab.hosts).map(([k, h]) => [k, h.netns]));
    if (configs) {
      report.kept = {
        configs,
        servicePid,
        cleanup: [
          ...(servicePid !== null ? [`kill ${servicePid}`] : []),
          `netfwd down -c ${configs.backend}`,
          `netfwd down -c ${configs.frontend}`,
          ...Object.values(lab.hosts).map((h) => `ip netns del ${h.netns}`),
          `rm -r ${DEMO_DIR}/${lab.prefix}`,
        ],
      };
    }
  }
  return report;
}

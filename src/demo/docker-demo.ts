/**
 * `netfwd demo --topology docker`: the service in a container of a real
 * Docker Engine started inside the backend's namespace (src/lab/docker.ts),
 * behind a published port, as appliances run it. The LAN lab with the VPN
 * client as the home's gateway (its uplink is the home line) and no other
 * LAN host; netfwd's WireGuard; the backend in mode connmark with
 * returnPath.sources = the Docker network. IPv4 (Docker's IPv6 port
 * publishing goes through docker-proxy, whose connections come from the
 * proxy's address, not the client's).
 *
 * Checks: the container sees the client's real address; its own outgoing
 * connection is seen by the outside host as the frontend's address; nothing
 * of the containers and nothing to the client leaves by the home uplink.
 * Where the daemon does not start, the demo says so and stops (there is no
 * stand-in for Docker here).
 */
import { forwardService, type ServiceForward } from '../forward/index.js';
import type { BackendSpec, FrontendSpec } from '../forward/spec/spec.js';
import { type DockerEngine, DockerEngineError, dockerEngineMissing, startDockerEngine } from '../lab/docker.js';
import { LAN_LAB_ADDRESSES as A, LanLab, type NetnsTask, tcpAsk, whoami } from '../lab/index.js';
import { nftExpr as e } from '../nft/index.js';
import {
  DEMO_DIR,
  type DemoOptions,
  DemoRecorder,
  type DemoReport,
  forwardOptions,
  installCounters,
  type KeptConfigs,
  readCounters,
  TOPOLOGY_MODES,
  tunnelSpecs,
  WG_PORT,
  waitForHandshake,
  writeKeptConfigs,
} from './common.js';

const PUBLIC_PORT = 443;
const CONTAINER_PORT = 8080;
const OUTSIDE_PORT = 7000;
const IMAGE = 'netfwd-demo:local';

/**
 * The container's program: without arguments a TCP server that answers with
 * the address it saw (and prints "ready"); `ask HOST PORT` connects out and
 * prints what the peer sent, "(timeout)" or "(error CODE)".
 */
const CONTAINER_SOURCE = `
const net = require('node:net');
const [cmd, host, port] = process.argv.slice(2);
if (cmd === 'ask') {
  let data = '', done = false;
  const c = net.connect(Number(port), host);
  const finish = (s) => { if (!done) { done = true; clearTimeout(t); c.destroy(); process.stdout.write(s + '\\n'); } };
  const t = setTimeout(() => finish('(timeout)'), 5000);
  c.on('data', (d) => (data += d));
  c.on('end', () => finish(data.trim()));
  c.on('error', (err) => finish('(error ' + err.code + ')'));
} else {
  net.createServer((c) => c.end(c.remoteAddress.replace(/^::ffff:/, '') + '\\n')).listen(${CONTAINER_PORT}, () => console.log('ready'));
}
`;

/** The frontend and backend of the docker topology. */
export function dockerDemoSpecs(lab: LanLab, tag: string, dockerNetwork: string): { frontend: FrontendSpec; backend: BackendSpec } {
  const tunnel = tunnelSpecs({
    tag,
    frontendNetns: lab.host('frontend').netns,
    backendNetns: lab.host('vpnclient').netns,
    endpoint: `${A.frontend.ipv4}:${WG_PORT}`,
    ipv6: false,
  });
  return {
    frontend: {
      role: 'frontend',
      netns: lab.host('frontend').netns,
      tunnel: tunnel.frontend,
      public: { addresses: [A.frontend.ipv4] },
      forwards: [{ protocol: 'tcp', port: PUBLIC_PORT, to: { peer: 'home', port: CONTAINER_PORT } }],
    },
    backend: {
      role: 'backend',
      netns: lab.host('vpnclient').netns,
      tunnel: tunnel.backend,
      returnPath: { mode: 'connmark', mark: 0x2b, sources: [dockerNetwork] },
      services: [{ protocol: 'tcp', port: CONTAINER_PORT }],
    },
  };
}

export async function runDockerDemo(options: DemoOptions): Promise<DemoReport> {
  const missing = dockerEngineMissing();
  if (missing) throw new DockerEngineError(`the docker topology needs Docker Engine: ${missing}`);
  const mode = TOPOLOGY_MODES.docker;
  const rec = new DemoRecorder(options.log);
  const tag = Math.random().toString(16).slice(2, 6);
  const lab = await rec.phase('build the LAN lab (5 namespaces: the VPN client is the home gateway with the home uplink)', () =>
    LanLab.create({ prefix: `nfdemo-${tag}`, gateway: 'vpnclient', hosts: 0 }),
  );
  const vpn = lab.host('vpnclient');
  let engine: DockerEngine | undefined;
  let fwdFrontend: ServiceForward | undefined;
  let fwdBackend: ServiceForward | undefined;
  const tasks: NetnsTask<unknown>[] = [];
  let implementation = '';
  let thrown = false;
  let configs: KeptConfigs | undefined;
  const container = `nfdemo-${tag}`;
  try {
    engine = await rec.phase(`start Docker Engine inside the backend's namespace (${vpn.netns})`, async () => {
      try {
        return await startDockerEngine(vpn.netns);
      } catch (err) {
        if (!(err instanceof DockerEngineError)) throw err;
        throw new DockerEngineError(
          `the docker topology needs Docker Engine, and its daemon did not start in the backend's namespace: ${err.message}`,
        );
      }
    });
    const docker = engine.docker;
    const dockerNetwork = engine.bridgeNetwork();
    const address = await rec.phase(
      `container: an image of this node binary, run with -p ${CONTAINER_PORT}:${CONTAINER_PORT}`,
      async () => {
        engine!.importNodeImage(IMAGE, { 'service.js': CONTAINER_SOURCE }, [process.execPath, '/service.js']);
        docker(['run', '-d', '--name', container, '-p', `${CONTAINER_PORT}:${CONTAINER_PORT}`, IMAGE]);
        for (let i = 0; !docker(['logs', container]).split('\n').includes('ready'); i++) {
          if (i > 100) throw new DockerEngineError(`the demo container did not start: ${docker(['logs', container])}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        return docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', container]);
      },
    );
    rec.log(`Docker Engine ${engine.version}; the Docker network ${dockerNetwork}, the container ${address}`);

    const specs = dockerDemoSpecs(lab, tag, dockerNetwork);
    if (options.keep) configs = writeKeptConfigs(lab.prefix, specs);
    const fwOptions = forwardOptions(options);
    fwdFrontend = forwardService(specs.frontend, fwOptions);
    fwdBackend = forwardService(specs.backend, fwOptions);
    await rec.phase(`frontend: netfwd apply (TCP ${PUBLIC_PORT} to the backend's ${CONTAINER_PORT})`, () => fwdFrontend!.apply());
    await rec.phase(`backend: netfwd apply (mode ${mode}, returnPath.sources ${dockerNetwork})`, () => fwdBackend!.apply());

    // What leaves the home line: anything of the Docker network (before the masquerades), anything to the client.
    await installCounters(vpn.netns, 'demo_uplink', [
      { name: 'from the Docker network', hook: 'out-before-nat', match: [e.oifname.eq(vpn.uplink!), e.ip.saddr.eq(dockerNetwork)] },
      { name: 'to the client', hook: 'out', match: [e.oifname.eq(vpn.uplink!), e.ip.daddr.eq(A.client.ipv4)] },
    ]);
    await rec.phase(`start the outside host (${A.outside.ipv4}:${OUTSIDE_PORT}, answers with the address it saw)`, async () => {
      const outside = lab.start('internet', whoami, OUTSIDE_PORT);
      tasks.push(outside as NetnsTask<unknown>);
      await outside.result;
    });

    const st = await rec.phase('wait for the WireGuard handshake', () => waitForHandshake(fwdBackend!));
    implementation = st.tunnel.implementation ?? 'none';
    rec.check('WireGuard handshake', 'done', st.tunnel.peers[0]?.lastHandshake ? 'done' : 'none');

    await rec.phase(`client → frontend TCP ${PUBLIC_PORT} → published port ${CONTAINER_PORT} → container`, async () => {
      rec.check(
        'TCP over IPv4: address the container saw',
        A.client.ipv4,
        await lab.run('client', tcpAsk, { host: A.frontend.ipv4, port: PUBLIC_PORT }),
      );
    });
    await rec.phase("the container's own outgoing connection (returnPath.sources)", async () => {
      rec.check(
        `outgoing connection of the container seen by the outside host ${A.outside.ipv4} (through the tunnel)`,
        A.frontend.ipv4,
        docker(['exec', container, process.execPath, '/service.js', 'ask', A.outside.ipv4, String(OUTSIDE_PORT)]),
      );
    });
    await rec.phase(`leak check on the home uplink (${vpn.name} ${vpn.uplink})`, async () => {
      const c = await readCounters(vpn.netns, 'demo_uplink');
      rec.check(`packets of the Docker network leaving ${vpn.uplink} (before NAT)`, '0', String(c['from the Docker network'] ?? -1));
      rec.check(`packets to the client leaving ${vpn.uplink}`, '0', String(c['to the client'] ?? -1));
      // Docker publishes the port on every address; netfwd closes it on all but the tunnel.
      const direct = await lab.run('client', tcpAsk, { host: A.home.ipv4, port: CONTAINER_PORT, timeoutMs: 1500 });
      rec.noAnswer(`the published port on the home's public address (${A.home.ipv4}:${CONTAINER_PORT})`, direct);
    });
    const fst = await fwdFrontend.status();
    const connections = fst.forwards.filter((f) => f.protocol === 'tcp').reduce((n, f) => n + f.connections, 0);
    rec.check('frontend counters saw the forwarded TCP connection', 'at least 1', String(connections), connections >= 1);
  } catch (err) {
    thrown = true;
    throw err;
  } finally {
    await Promise.allSettled(tasks.map((t) => t.stop()));
    // A kept lab stays only when the demo ran to the end.
    if (options.keep && !thrown) engine?.detach();
    else {
      await rec.phase('tear down (Docker Engine, netfwd down on both, remove the lab)', async () => {
        await engine?.stop().catch(() => undefined);
        await fwdBackend?.down().catch(() => undefined);
        await fwdFrontend?.down().catch(() => undefined);
        await lab.destroy();
      });
    }
  }
  const report: DemoReport = { topology: 'docker', mode, ok: rec.ok, implementation, checks: rec.checks, phases: rec.phases };
  if (engine) report.docker = engine.version;
  if (options.keep) {
    report.namespaces = { ...Object.fromEntries(Object.values(lab.hosts).map((h) => [h.name, h.netns])), lanswitch: lab.switchNetns };
    if (configs && engine) {
      const cgroups = engine.cgroupDirs();
      report.kept = {
        configs,
        servicePid: null,
        cleanup: [
          `docker -H unix://${engine.socket} rm -f ${container}`,
          `kill ${engine.pid}`,
          `netfwd down -c ${configs.backend}`,
          `netfwd down -c ${configs.frontend}`,
          ...lab.namespaces.map((ns) => `ip netns del ${ns}`),
          ...(cgroups.length ? [`rmdir ${cgroups.join(' ')}`] : []),
          `rm -r ${engine.stateDir}`,
          `rm -r ${DEMO_DIR}/${lab.prefix}`,
        ],
      };
    }
  }
  return report;
}

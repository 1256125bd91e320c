/**
 * `netfwd demo --topology lan|recipe`: a service on a LAN host behind the
 * backend, in the LAN lab (src/lab/lan-topology.ts), with netfwd's WireGuard.
 * The frontend routes the home LAN into the tunnel (tunnel.peers[].routes)
 * and DNATs public TCP 443 straight to the service host's port 8080
 * (forwards[].to.address); the backend forwards only that host and port
 * (services[].host).
 *
 * - lan: the backend (vpnclient) is the LAN's gateway, with the home uplink;
 *   return path connmark. Checks: the service sees the client's real address
 *   (IPv4 and IPv6); another port of the host is not reachable through the
 *   tunnel; not one packet from the LAN to the client leaves by the uplink.
 * - recipe: the tagged-routing recipe. A home router is the LAN's gateway and
 *   the backend one LAN host, in return-path mode dscp (42, mark 42, table
 *   42); the router runs role lan-router, the service host role
 *   service-host. Checks: the real client address at the service; the
 *   replies leave tagged, go through the router back into the LAN, reach the
 *   VPN client and leave into the tunnel; nothing on the router's uplink.
 */
import {
  type FamilyCounts,
  forwardService,
  type LanRole,
  type LanRouterSpec,
  lanRole,
  type ServiceForward,
  type ServiceHostSpec,
} from '../forward/index.js';
import type { BackendSpec, FrontendSpec } from '../forward/spec/spec.js';
import { LAN_LAB_ADDRESSES as A, LanLab, tcpAsk } from '../lab/index.js';
import { nftExpr as e, type NftStmt } from '../nft/index.js';
import {
  type CounterRule,
  DEMO_DIR,
  type DemoOptions,
  DemoRecorder,
  type DemoReport,
  forwardOptions,
  installCounters,
  type KeptConfigs,
  readCounters,
  serviceReady,
  TOPOLOGY_MODES,
  tunnelSpecs,
  WG_PORT,
  waitForHandshake,
  writeKeptConfigs,
} from './common.js';

const PUBLIC_PORT = 443;
const SERVICE_PORT = 8080;
const OTHER_PORT = 8081;
const SERVICE_UID = 1000;
/** The recipe's numbers: tag, connection mark and table. */
const RECIPE = { dscp: 42, mark: 42, table: 42 } as const;

/** The service host's servers: 8080 answers with the address it saw, 8081 (not a service) with "other ADDRESS". */
const SERVICE_SOURCE = `
const net = require('node:net');
const strip = (a) => a.replace(/^::ffff:/, '');
let pending = 2;
const up = () => { if (--pending === 0) process.stdout.write('ready\\n'); };
net.createServer((c) => c.end(strip(c.remoteAddress) + '\\n')).listen(${SERVICE_PORT}, '::', up);
net.createServer((c) => c.end('other ' + strip(c.remoteAddress) + '\\n')).listen(${OTHER_PORT}, '::', up);
`;

type Family = 4 | 6;
const FAMILIES: readonly Family[] = [4, 6];
const at = (pair: { ipv4: string; ipv6: string }, f: Family) => (f === 4 ? pair.ipv4 : pair.ipv6);
const ipOf = (f: Family) => (f === 4 ? e.ip : e.ip6);
const familyName = (f: Family) => (f === 4 ? 'IPv4' : 'IPv6');

export interface LanDemoSpecs {
  frontend: FrontendSpec;
  backend: BackendSpec;
  /** The recipe only. */
  'lan-router'?: LanRouterSpec;
  'service-host'?: ServiceHostSpec;
}

/** The specs of the lan (connmark) or recipe (dscp, with the two LAN roles) topology. */
export function lanDemoSpecs(lab: LanLab, topology: 'lan' | 'recipe', tag: string): LanDemoSpecs {
  const service = [A.servicehost.ipv4, A.servicehost.ipv6];
  const tunnel = tunnelSpecs({
    tag,
    frontendNetns: lab.host('frontend').netns,
    backendNetns: lab.host('vpnclient').netns,
    endpoint: `${A.frontend.ipv4}:${WG_PORT}`,
    routes: [A.lan.ipv4, A.lan.ipv6],
  });
  const specs: LanDemoSpecs = {
    frontend: {
      role: 'frontend',
      netns: lab.host('frontend').netns,
      tunnel: tunnel.frontend,
      public: { addresses: [A.frontend.ipv4, A.frontend.ipv6] },
      forwards: [{ protocol: 'tcp', port: PUBLIC_PORT, to: { address: service, port: SERVICE_PORT } }],
    },
    backend: {
      role: 'backend',
      netns: lab.host('vpnclient').netns,
      tunnel: tunnel.backend,
      returnPath: topology === 'recipe' ? { mode: 'dscp', ...RECIPE } : { mode: 'connmark', mark: 0x2b },
      services: [{ protocol: 'tcp', port: SERVICE_PORT, host: service }],
    },
  };
  if (topology === 'recipe') {
    const router = lab.host('homerouter');
    const sh = lab.host('servicehost');
    specs['lan-router'] = {
      role: 'lan-router',
      netns: router.netns,
      interface: router.lan!,
      via: [A.vpnclient.ipv4, A.vpnclient.ipv6],
      ...RECIPE,
    };
    specs['service-host'] = { role: 'service-host', netns: sh.netns, interface: sh.lan!, dscp: RECIPE.dscp, mark: RECIPE.mark };
  }
  return specs;
}

/** One counter per family: `${name} (IPv4)`, `${name} (IPv6)`. */
const perFamily = (name: string, hook: CounterRule['hook'], match: (f: Family) => NftStmt[]): CounterRule[] =>
  FAMILIES.map((f) => ({ name: `${name} (${familyName(f)})`, hook, match: match(f) }));

/** Packets per family (IPv4, IPv6) of a perFamily counter. */
const counted = (c: Record<string, number>, name: string) => FAMILIES.map((f) => c[`${name} (${familyName(f)})`] ?? 0);
/** Packets per family (IPv4, IPv6) of a LAN role's counter. */
const roleCounted = (c: FamilyCounts | undefined) => FAMILIES.map((f) => (f === 4 ? c?.ipv4 : c?.ipv6)?.packets ?? 0);

const sum = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);

export async function runLanDemo(topology: 'lan' | 'recipe', options: DemoOptions): Promise<DemoReport> {
  const recipe = topology === 'recipe';
  const mode = TOPOLOGY_MODES[topology];
  const rec = new DemoRecorder(options.log);
  const tag = Math.random().toString(16).slice(2, 6);
  const lab = await rec.phase(
    recipe
      ? 'build the LAN lab (7 namespaces: a home router is the LAN gateway; the VPN client and the service host are LAN hosts)'
      : 'build the LAN lab (6 namespaces: the VPN client is the LAN gateway with the home uplink; a service host)',
    () => LanLab.create({ prefix: `nfdemo-${tag}`, gateway: recipe ? 'router' : 'vpnclient', hosts: 1 }),
  );
  let fwdFrontend: ServiceForward | undefined;
  let fwdBackend: ServiceForward | undefined;
  const roles: LanRole[] = [];
  let implementation = '';
  let thrown = false;
  let servicePid: number | null = null;
  let configs: KeptConfigs | undefined;
  const vpn = lab.host('vpnclient');
  const sh = lab.host('servicehost');
  const gw = lab.gatewayHost;
  try {
    const specs = lanDemoSpecs(lab, topology, tag);
    if (options.keep) configs = writeKeptConfigs(lab.prefix, { ...specs });
    const fwOptions = forwardOptions(options);
    fwdFrontend = forwardService(specs.frontend, fwOptions);
    fwdBackend = forwardService(specs.backend, fwOptions);
    await rec.phase('frontend: netfwd apply (routes the LAN into the tunnel, DNATs 443 to the service host)', () => fwdFrontend!.apply());
    await rec.phase(`backend (VPN client): netfwd apply (mode ${mode}, the service on ${A.servicehost.ipv4})`, () => fwdBackend!.apply());
    if (specs['lan-router'] && specs['service-host']) {
      const router = lanRole(specs['lan-router']);
      const host = lanRole(specs['service-host']);
      roles.push(router, host);
      await rec.phase('home router: netfwd apply (role lan-router: tagged packets go to the VPN client)', () => router.apply());
      await rec.phase('service host: netfwd apply (role service-host: replies of tagged connections are tagged)', () => host.apply());
    }

    // Counters of the demo's own: what leaves the home uplink, and (recipe) each hop of the replies.
    const tunnelIf = specs.backend.tunnel!.interface;
    const service = (f: Family) => [ipOf(f).saddr.eq(at(A.servicehost, f)), e.tcp.sport.eq(SERVICE_PORT)];
    await installCounters(gw.netns, 'demo_uplink', [
      ...perFamily('from the LAN to the client', 'out-before-nat', (f) => [
        e.oifname.eq(gw.uplink!),
        ipOf(f).saddr.eq(at(A.lan, f)),
        ipOf(f).daddr.eq(at(A.client, f)),
      ]),
      ...perFamily('to the client', 'out', (f) => [e.oifname.eq(gw.uplink!), ipOf(f).daddr.eq(at(A.client, f))]),
      ...perFamily('from the service port', 'out', (f) => [
        e.oifname.eq(gw.uplink!),
        e.meta.nfproto.eq(f === 4 ? 'ipv4' : 'ipv6'),
        e.tcp.sport.eq(SERVICE_PORT),
      ]),
    ]);
    if (recipe) {
      const router = lab.host('homerouter');
      await installCounters(router.netns, 'demo_path', [
        ...perFamily('back into the LAN', 'out', (f) => [e.oifname.eq(router.lan!), ...service(f)]),
      ]);
      await installCounters(vpn.netns, 'demo_path', [
        ...perFamily('from the LAN', 'in', (f) => [e.iifname.eq(vpn.lan!), ...service(f)]),
        ...perFamily('into the tunnel', 'out', (f) => [e.oifname.eq(tunnelIf), ...service(f), ipOf(f).daddr.eq(at(A.client, f))]),
      ]);
    }

    await rec.phase(`service host: start the service (TCP ${SERVICE_PORT}) and a port that is not one (TCP ${OTHER_PORT})`, async () => {
      const child = lab.exec('servicehost', process.execPath, ['-e', SERVICE_SOURCE], {
        uid: SERVICE_UID,
        gid: SERVICE_UID,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      servicePid = child.pid ?? null;
      await serviceReady(child, options.keep ?? false);
    });

    const st = await rec.phase('wait for the WireGuard handshake', () => waitForHandshake(fwdBackend!));
    implementation = st.tunnel.implementation ?? 'none';
    rec.check('WireGuard handshake', 'done', st.tunnel.peers[0]?.lastHandshake ? 'done' : 'none');

    await rec.phase(`client → frontend TCP ${PUBLIC_PORT} → service host, IPv4 and IPv6`, async () => {
      for (const f of FAMILIES) {
        rec.check(
          `TCP over ${familyName(f)}: address the service on the LAN host saw`,
          at(A.client, f),
          await lab.run('client', tcpAsk, { host: at(A.frontend, f), port: PUBLIC_PORT }),
        );
      }
    });

    await rec.phase(`through the tunnel only the service: port ${OTHER_PORT} of the same host, from the frontend`, async () => {
      // Both families at once: each waits out its timeout.
      const seen = await Promise.all(
        FAMILIES.map((f) => lab.run('frontend', tcpAsk, { host: at(A.servicehost, f), port: OTHER_PORT, timeoutMs: 1500 })),
      );
      FAMILIES.forEach((f, i) => rec.noAnswer(`${familyName(f)}: port ${OTHER_PORT} of the service host through the tunnel`, seen[i]!));
    });

    if (recipe) {
      await rec.phase("the replies' way: service host → home router → VPN client → tunnel", async () => {
        const [router, host] = [await roles[0]!.status(), await roles[1]!.status()];
        const hop = (name: string, n: number[]) =>
          rec.check(
            name,
            'at least 1 per family',
            FAMILIES.map((f, i) => `${familyName(f)} ${n[i]}`).join(', '),
            n.every((x) => x >= 1),
          );
        const lan0 = lab.host('homerouter').lan;
        hop(`service host (role service-host): replies it tagged DSCP ${RECIPE.dscp}`, roleCounted(host.counters.replies));
        hop(`home router (role lan-router): tagged packets in on ${lan0}`, roleCounted(router.counters.tagged));
        const rp = await readCounters(lab.host('homerouter').netns, 'demo_path');
        hop(`home router: the replies sent back out of ${lan0} (to the VPN client)`, counted(rp, 'back into the LAN'));
        const vp = await readCounters(vpn.netns, 'demo_path');
        hop(`VPN client: the replies in on ${vpn.lan}`, counted(vp, 'from the LAN'));
        hop(`VPN client: the replies out into the tunnel ${tunnelIf}`, counted(vp, 'into the tunnel'));
        rec.check('home router: marked packets dropped by the leak guard', '0', String(router.counters.leakDropped?.packets ?? 0));
      });
    }

    await rec.phase(`leak check on the home uplink (${gw.name} ${gw.uplink})`, async () => {
      const c = await readCounters(gw.netns, 'demo_uplink');
      const pick = (name: string) => Object.fromEntries(Object.entries(c).filter(([k]) => k.startsWith(name)));
      rec.check(`packets from the LAN to the client leaving ${gw.name} ${gw.uplink} (before NAT)`, '0', String(sum(pick('from the LAN'))));
      rec.check(`packets to the client leaving ${gw.name} ${gw.uplink} (after NAT)`, '0', String(sum(pick('to the client'))));
      rec.check(`packets from the service port leaving ${gw.name} ${gw.uplink}`, '0', String(sum(pick('from the service port'))));
    });

    const fst = await fwdFrontend.status();
    const connections = fst.forwards.filter((f) => f.protocol === 'tcp').reduce((n, f) => n + f.connections, 0);
    rec.check('frontend counters saw the forwarded TCP connections', 'at least 2', String(connections), connections >= 2);
  } catch (err) {
    thrown = true;
    throw err;
  } finally {
    // A kept lab stays only when the demo ran to the end.
    if (!options.keep || thrown) {
      await rec.phase('tear down (netfwd down everywhere, remove the lab)', async () => {
        for (const r of [...roles].reverse()) await r.down().catch(() => undefined);
        await fwdBackend?.down().catch(() => undefined);
        await fwdFrontend?.down().catch(() => undefined);
        await lab.destroy();
      });
    }
  }
  const report: DemoReport = { topology, mode, ok: rec.ok, implementation, checks: rec.checks, phases: rec.phases };
  if (options.keep) {
    report.namespaces = { ...Object.fromEntries(Object.values(lab.hosts).map((h) => [h.name, h.netns])), lanswitch: lab.switchNetns };
    if (configs) {
      const { frontend, backend, ...lanRoles } = configs;
      report.kept = {
        configs,
        servicePid,
        cleanup: [
          ...(servicePid !== null ? [`kill ${servicePid}`] : []),
          ...Object.values(lanRoles).map((c) => `netfwd down -c ${c}`),
          `netfwd down -c ${backend}`,
          `netfwd down -c ${frontend}`,
          ...lab.namespaces.map((ns) => `ip netns del ${ns}`),
          `rm -r ${DEMO_DIR}/${lab.prefix}`,
        ],
      };
    }
  }
  return report;
}

/**
 * The two-frontends lab: one home server reached through two VPSes. An
 * internet client, an "internet" router (also the outside host), two VPSes
 * on one public segment, and a home router that masquerades its LAN, with the
 * backend behind it. Built with netfwd itself (Route and Nft, no `ip`/`nft`
 * commands). Teardown always runs.
 *
 *   client (203.0.113.2) ── internet ──┬─ br0 ─┬─ vpsa (198.51.100.1)
 *   outside host: the router,          │       └─ vpsb (198.51.100.2)
 *   203.0.113.1                        └── homerouter (eth0 192.0.2.2, the home's public address)
 *                                              │ lan0 192.0.2.129
 *                                              └── backend (eth0 192.0.2.130)
 *
 * Address plan (documentation ranges): client segment 203.0.113.0/24 +
 * 2001:db8:203::/64; the VPS segment 198.51.100.0/24 + 2001:db8:100::/64 (a
 * bridge in the router's namespace, one port per VPS: to-vpsa, to-vpsb); the
 * home uplink 192.0.2.0/25 + 2001:db8:192::/64; the home LAN 192.0.2.128/25 +
 * 2001:db8:192:1::/64. Like a real home router, the home router masquerades
 * IPv4 leaving by its uplink (nft table `mflab`); IPv6 is routed (the
 * internet router has a route for the LAN's /64).
 *
 * `setVpsUp(vps, false)` takes a VPS's port on the segment down: the VPS is
 * gone for everyone, its own links stay up (a dead VPS, as the backend sees it).
 */
import { randomBytes } from 'node:crypto';
import { NetfwdError } from '../errors.js';
import { netns } from '../netns/index.js';
import { nftExpr as e, Nft } from '../nft/index.js';
import { Route } from '../route/index.js';
import { NamespaceLab } from './namespace-lab.js';

export type MultiFrontendHostName = 'client' | 'internet' | 'vpsa' | 'vpsb' | 'homerouter' | 'backend';
export type VpsName = 'vpsa' | 'vpsb';

export interface MultiFrontendHost {
  name: MultiFrontendHostName;
  /** The namespace name under /run/netns. */
  netns: string;
  /** The interface of the host's default route ("eth0"); absent for the internet router. */
  uplink?: string;
  /** The host's address on its uplink (the outside host's on the client segment, for the router). */
  ipv4: string;
  ipv6: string;
}

export interface MultiFrontendLabOptions {
  /** Prefix of the namespace names (default: "nfm-<pid>-<random>"). */
  prefix?: string;
}

/** Addresses of the two-frontends lab, all from the documentation ranges. */
export const MULTI_FRONTEND_LAB_ADDRESSES = {
  client: { ipv4: '203.0.113.2', ipv6: '2001:db8:203::2' },
  /** The internet router's address on the client side: the "outside host". */
  outside: { ipv4: '203.0.113.1', ipv6: '2001:db8:203::1' },
  vpsa: { ipv4: '198.51.100.1', ipv6: '2001:db8:100::1' },
  vpsb: { ipv4: '198.51.100.2', ipv6: '2001:db8:100::2' },
  routerToVps: { ipv4: '198.51.100.254', ipv6: '2001:db8:100::fe' },
  /** The home's public address: the home router's uplink. */
  home: { ipv4: '192.0.2.2', ipv6: '2001:db8:192::2' },
  routerToHome: { ipv4: '192.0.2.1', ipv6: '2001:db8:192::1' },
  /** The home router's LAN side and the backend on it. */
  homerouterLan: { ipv4: '192.0.2.129', ipv6: '2001:db8:192:1::1' },
  backend: { ipv4: '192.0.2.130', ipv6: '2001:db8:192:1::2' },
  /** The home LAN. */
  lan: { ipv4: '192.0.2.128/25', ipv6: '2001:db8:192:1::/64' },
} as const;

/** The home router's nft table (its IPv4 masquerade). */
export const MULTI_FRONTEND_LAB_NFT_TABLE = 'mflab';

type Pair = { ipv4: string; ipv6: string };

export class MultiFrontendLab extends NamespaceLab<MultiFrontendHostName> {
  readonly prefix: string;
  readonly hosts: Record<MultiFrontendHostName, MultiFrontendHost>;
  /** The namespaces this lab made: destroy() removes these and no others. */
  private readonly created = new Set<string>();

  private constructor(prefix: string) {
    super();
    this.prefix = prefix;
    const A = MULTI_FRONTEND_LAB_ADDRESSES;
    const host = (name: MultiFrontendHostName, at: Pair, uplink?: string): MultiFrontendHost => ({
      name,
      netns: `${prefix}-${name}`,
      ...(uplink ? { uplink } : {}),
      ipv4: at.ipv4,
      ipv6: at.ipv6,
    });
    this.hosts = {
      client: host('client', A.client, 'eth0'),
      internet: host('internet', A.outside),
      vpsa: host('vpsa', A.vpsa, 'eth0'),
      vpsb: host('vpsb', A.vpsb, 'eth0'),
      homerouter: host('homerouter', A.home, 'eth0'),
      backend: host('backend', A.backend, 'eth0'),
    };
  }

  /** The host, or an error naming the hosts there are. */
  host(name: MultiFrontendHostName): MultiFrontendHost {
    const h = this.hosts[name];
    if (!h) throw new NetfwdError(`the two-frontends lab has no host ${name} (it has ${Object.keys(this.hosts).join(', ')})`);
    return h;
  }

  /** Every namespace of the lab. */
  get namespaces(): string[] {
    return Object.values(this.hosts).map((h) => h.netns);
  }

  /** Builds the topology; on failure everything made so far is removed. */
  static async create(options: MultiFrontendLabOptions = {}): Promise<MultiFrontendLab> {
    const lab = new MultiFrontendLab(options.prefix ?? `nfm-${process.pid}-${randomBytes(2).toString('hex')}`);
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  /**
   * Takes a VPS's port on the public segment down (false) or up again (true),
   * in the router's namespace: down, the VPS is unreachable for everyone —
   * a dead VPS — while every link of the VPS itself and of the backend stays up.
   */
  async setVpsUp(vps: VpsName, up: boolean): Promise<void> {
    if (vps !== 'vpsa' && vps !== 'vpsb') throw new NetfwdError(`setVpsUp: no VPS ${String(vps)} (vpsa or vpsb)`);
    await this.withRoute(this.hosts.internet.netns, (rt) => rt.links.set(`to-${vps}`, { up }));
  }

  private async build(): Promise<void> {
    for (const ns of this.namespaces) {
      netns.create(ns);
      this.created.add(ns);
      // Addresses must be usable at once: no IPv6 duplicate address detection.
      netns.sysctl(ns, 'net.ipv6.conf.all.accept_dad', 0);
      netns.sysctl(ns, 'net.ipv6.conf.default.accept_dad', 0);
    }
    const A = MULTI_FRONTEND_LAB_ADDRESSES;
    const { internet, homerouter } = this.hosts;
    for (const router of [internet, homerouter]) {
      netns.sysctl(router.netns, 'net.ipv4.ip_forward', 1);
      netns.sysctl(router.netns, 'net.ipv6.conf.all.forwarding', 1);
    }
    for (const key of ['iptables', 'ip6tables', 'arptables']) {
      try {
        netns.sysctl(internet.netns, `net.bridge.bridge-nf-call-${key}`, 0);
      } catch {
        // no br_netfilter on this host: bridged frames skip the inet hooks anyway
      }
    }

    await this.withRoute(internet.netns, async (rt) => {
      await rt.links.set('lo', { up: true });
      const routed = async (side: string, peer: MultiFrontendHost, router: Pair, prefix4: number) => {
        await rt.links.add({ name: side, kind: 'veth', peer: { name: peer.uplink!, netns: peer.netns } });
        await rt.links.set(side, { up: true });
        await rt.addresses.add({ link: side, address: `${router.ipv4}/${prefix4}` });
        await rt.addresses.add({ link: side, address: `${router.ipv6}/64` });
      };
      await routed('to-client', this.hosts.client, A.outside, 24);
      await routed('to-home', homerouter, A.routerToHome, 25);
      // The VPSes share one segment: a bridge with the router's address, a port per VPS.
      await rt.links.add({ name: 'br0', kind: 'bridge' });
      await rt.links.set('br0', { up: true });
      await rt.addresses.add({ link: 'br0', address: `${A.routerToVps.ipv4}/24` });
      await rt.addresses.add({ link: 'br0', address: `${A.routerToVps.ipv6}/64` });
      for (const vps of ['vpsa', 'vpsb'] as const) {
        await rt.links.add({ name: `to-${vps}`, kind: 'veth', master: 'br0', peer: { name: 'eth0', netns: this.hosts[vps].netns } });
        await rt.links.set(`to-${vps}`, { up: true });
      }
      // The home LAN's IPv6 prefix is routed to the home router (IPv4 is masqueraded: no route to it).
      await rt.routes.add({ destination: A.lan.ipv6, gateway: A.home.ipv6 });
    });

    await this.configureUplink(this.hosts.client, 24, A.outside);
    await this.configureUplink(this.hosts.vpsa, 24, A.routerToVps);
    await this.configureUplink(this.hosts.vpsb, 24, A.routerToVps);
    await this.configureUplink(homerouter, 25, A.routerToHome);

    // The home LAN: one veth between the home router (lan0) and the backend (eth0).
    await this.withRoute(homerouter.netns, async (rt) => {
      await rt.links.add({ name: 'lan0', kind: 'veth', peer: { name: 'eth0', netns: this.hosts.backend.netns } });
      await rt.links.set('lan0', { up: true });
      await rt.addresses.add({ link: 'lan0', address: `${A.homerouterLan.ipv4}/25` });
      await rt.addresses.add({ link: 'lan0', address: `${A.homerouterLan.ipv6}/64` });
    });
    await this.configureUplink(this.hosts.backend, 25, A.homerouterLan);
    await this.installMasquerade();
  }

  /** lo and the uplink up, the uplink's addresses, default routes via `router`. */
  private async configureUplink(h: MultiFrontendHost, prefix4: number, router: Pair): Promise<void> {
    await this.withRoute(h.netns, async (rt) => {
      await rt.links.set('lo', { up: true });
      await rt.links.set(h.uplink!, { up: true });
      await rt.addresses.add({ link: h.uplink!, address: `${h.ipv4}/${prefix4}` });
      await rt.addresses.add({ link: h.uplink!, address: `${h.ipv6}/64` });
      await rt.routes.add({ destination: 'default', gateway: router.ipv4 });
      await rt.routes.add({ destination: 'default', gateway: router.ipv6 });
    });
  }

  /** The home router masquerades IPv4 leaving by its uplink, as a home router does. */
  private async installMasquerade(): Promise<void> {
    const h = this.hosts.homerouter;
    const nft = await Nft.open({ netns: h.netns });
    try {
      await nft.transaction((tx) => {
        const table = MULTI_FRONTEND_LAB_NFT_TABLE;
        tx.addTable({ family: 'inet', name: table });
        tx.addChain({ family: 'inet', table, name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' });
        tx.addRule({
          family: 'inet',
          table,
          chain: 'postrouting',
          expr: [e.oifname.eq(h.uplink!), e.meta.nfproto.eq('ipv4'), e.masquerade()],
        });
      });
    } finally {
      nft.close();
    }
  }

  protected netnsOf(host: MultiFrontendHostName): string {
    return this.host(host).netns;
  }

  protected madeNamespaces(): string[] {
    return [...this.created];
  }
}

/** Creates a two-frontends lab, runs `fn`, and always destroys the lab afterwards. */
export async function withMultiFrontendLab<T>(
  fn: (lab: MultiFrontendLab) => Promise<T>,
  options: MultiFrontendLabOptions = {},
): Promise<T> {
  const lab = await MultiFrontendLab.create(options);
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}

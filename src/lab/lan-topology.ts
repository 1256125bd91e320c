/**
 * The LAN lab: the "tagged routing" recipe's three machines at home (a home
 * router, the VPN client that is netfwd's backend, a service host) on one
 * switched LAN behind a masquerading router, plus the client, the "internet"
 * router and the VPS frontend of the two-machine lab. Built with netfwd itself
 * (Route and Nft, no `ip`/`nft` commands). Teardown always runs.
 *
 *   client (198.51.100.2) ── internet ── frontend (203.0.113.2, eth0)
 *                               │  (also the outside host 198.51.100.1)
 *                               └── homerouter (eth0 192.0.2.2, the home's public address)
 *                                       │ lan0 198.51.100.129
 *                  lanswitch: bridge br0 ┼── vpnclient   (eth0 198.51.100.130)
 *                                        ├── servicehost (eth0 198.51.100.131)
 *                                        └── extrahost   (eth0 198.51.100.132, `hosts: 2`)
 *
 * Address plan (documentation ranges, every segment a /25 so the upper halves
 * stay free): client segment 198.51.100.0/25 + 2001:db8:1::/64; frontend
 * segment 203.0.113.0/25 + 2001:db8:2::/64; the home uplink 192.0.2.0/25 +
 * 2001:db8:3::/64; the home LAN 198.51.100.128/25 + 2001:db8:100::/64. Free
 * for a Docker network: 203.0.113.128/25 (LAN_LAB_ADDRESSES.docker).
 *
 * Like a real home router, the LAN's gateway masquerades IPv4 leaving by its
 * uplink (everything, as OpenWrt's wan zone does) in its own nft table
 * `lanlab`; IPv6 is routed (the internet router has a route for the LAN's
 * /64), unless `nat66` masquerades it too. With `gateway: 'vpnclient'` there
 * is no home router: the VPN client has the uplink (eth0, 192.0.2.2), its LAN
 * side is lan0 (198.51.100.130), and it is the other LAN hosts' gateway.
 *
 * br_netfilter makes bridged frames traverse the inet hooks of the switch's
 * namespace; the switch turns net.bridge.bridge-nf-call-* off there.
 */
import { randomBytes } from 'node:crypto';
import { NetfwdError } from '../errors.js';
import { netns } from '../netns/index.js';
import { nftExpr as e, Nft, type NftStmt } from '../nft/index.js';
import { Route } from '../route/index.js';
import { NamespaceLab } from './namespace-lab.js';

export type LanHostName = 'client' | 'internet' | 'frontend' | 'homerouter' | 'vpnclient' | 'servicehost' | 'extrahost';

export interface LanHost {
  name: LanHostName;
  /** The namespace name under /run/netns. */
  netns: string;
  /** The interface of the host's default route ("eth0"); absent for the internet router. */
  uplink?: string;
  /** The host's interface on the home LAN ("lan0" on the LAN's gateway, else the uplink); absent off the LAN. */
  lan?: string;
  /** The host's address on its uplink (the gateway's public one; the LAN address of the other LAN hosts). */
  ipv4: string;
  /** Absent with `ipv6: false`. */
  ipv6?: string;
  /** The host's address on the home LAN; absent off the LAN. */
  lanIpv4?: string;
  lanIpv6?: string;
}

export interface LanLabOptions {
  /** Prefix of the namespace names (default: "nfn-<pid>-<random>"). */
  prefix?: string;
  /**
   * The LAN hosts' default gateway: 'router' (the recipe: a home router does
   * NAT, the VPN client is one LAN host) or 'vpnclient' (no home router: the
   * VPN client is the LAN's gateway with its own uplink, and masquerades).
   */
  gateway?: 'router' | 'vpnclient';
  /** LAN hosts besides the VPN client and the router: 0, 1 (servicehost, the default) or 2 (and extrahost). */
  hosts?: 0 | 1 | 2;
  /** Configure IPv6 addresses and routes (default true). */
  ipv6?: boolean;
  /** The gateway masquerades IPv6 as well, and the internet has no route for the LAN's /64 (default false). */
  nat66?: boolean;
  /** The gateway drops forwarded packets in conntrack state invalid, as some home routers do (default false). */
  dropInvalid?: boolean;
}

/** Addresses of the LAN lab, all from the documentation ranges. */
export const LAN_LAB_ADDRESSES = {
  client: { ipv4: '198.51.100.2', ipv6: '2001:db8:1::2' },
  /** The internet router's address on the client side: the "outside host". */
  outside: { ipv4: '198.51.100.1', ipv6: '2001:db8:1::1' },
  frontend: { ipv4: '203.0.113.2', ipv6: '2001:db8:2::2' },
  routerToFrontend: { ipv4: '203.0.113.1', ipv6: '2001:db8:2::1' },
  /** The home's public address: the uplink of the LAN's gateway (home router, or VPN client with gateway 'vpnclient'). */
  home: { ipv4: '192.0.2.2', ipv6: '2001:db8:3::2' },
  routerToHome: { ipv4: '192.0.2.1', ipv6: '2001:db8:3::1' },
  /** LAN addresses. */
  homerouter: { ipv4: '198.51.100.129', ipv6: '2001:db8:100::1' },
  vpnclient: { ipv4: '198.51.100.130', ipv6: '2001:db8:100::2' },
  servicehost: { ipv4: '198.51.100.131', ipv6: '2001:db8:100::3' },
  extrahost: { ipv4: '198.51.100.132', ipv6: '2001:db8:100::4' },
  /** The home LAN. */
  lan: { ipv4: '198.51.100.128/25', ipv6: '2001:db8:100::/64' },
  /** Not used by the lab: room for a Docker network in a LAN host (test/helpers/docker.ts's default). */
  docker: { ipv4: '203.0.113.128/25' },
} as const;

/** The nft table of the LAN's gateway (its masquerade and, with dropInvalid, its forward filter). */
export const LAN_LAB_NFT_TABLE = 'lanlab';

const LAN_PREFIX4 = 25;
const SEGMENT_PREFIX4 = 25;

type Pair = { ipv4: string; ipv6: string };

export class LanLab extends NamespaceLab<LanHostName> {
  readonly prefix: string;
  readonly gateway: 'router' | 'vpnclient';
  readonly ipv6: boolean;
  /** The hosts present in this lab (homerouter only with gateway 'router', extrahost only with hosts: 2). */
  readonly hosts: Partial<Record<LanHostName, LanHost>>;
  /** The namespace of the LAN switch (bridge br0, one port per LAN host: p-<host>). */
  readonly switchNetns: string;
  private readonly options: Required<Omit<LanLabOptions, 'prefix'>>;
  /** The namespaces this lab made: destroy() removes these and no others. */
  private readonly created = new Set<string>();

  private constructor(prefix: string, o: Required<Omit<LanLabOptions, 'prefix'>>) {
    super();
    this.prefix = prefix;
    this.options = o;
    this.gateway = o.gateway;
    this.ipv6 = o.ipv6;
    this.switchNetns = `${prefix}-lanswitch`;
    const A = LAN_LAB_ADDRESSES;
    const v6 = (a: string) => (o.ipv6 ? a : undefined);
    const host = (name: LanHostName, at: Pair, extra: Partial<LanHost> = {}): LanHost => ({
      name,
      netns: `${prefix}-${name}`,
      ipv4: at.ipv4,
      ipv6: v6(at.ipv6),
      ...extra,
    });
    const onLan = (name: 'homerouter' | 'vpnclient' | 'servicehost' | 'extrahost', uplink: Pair, lan: string) =>
      host(name, uplink, { uplink: 'eth0', lan, lanIpv4: A[name].ipv4, lanIpv6: v6(A[name].ipv6) });
    const hosts: Partial<Record<LanHostName, LanHost>> = {
      client: host('client', A.client, { uplink: 'eth0' }),
      internet: host('internet', A.outside),
      frontend: host('frontend', A.frontend, { uplink: 'eth0' }),
    };
    if (o.gateway === 'router') {
      hosts.homerouter = onLan('homerouter', A.home, 'lan0');
      hosts.vpnclient = onLan('vpnclient', A.vpnclient, 'eth0');
    } else {
      hosts.vpnclient = onLan('vpnclient', A.home, 'lan0');
    }
    if (o.hosts >= 1) hosts.servicehost = onLan('servicehost', A.servicehost, 'eth0');
    if (o.hosts >= 2) hosts.extrahost = onLan('extrahost', A.extrahost, 'eth0');
    this.hosts = hosts;
  }

  /** The host, or an error naming the option that adds it. */
  host(name: LanHostName): LanHost {
    const h = this.hosts[name];
    if (h) return h;
    const why: Partial<Record<LanHostName, string>> = {
      homerouter: "gateway: 'router'",
      servicehost: 'hosts: 1 or 2',
      extrahost: 'hosts: 2',
    };
    throw new NetfwdError(`the LAN lab has no host ${name}${why[name] ? ` (create it with ${why[name]})` : ''}`);
  }

  /** The host that is the LAN's default gateway and masquerades (homerouter, or vpnclient with gateway 'vpnclient'). */
  get gatewayHost(): LanHost {
    return this.host(this.gateway === 'router' ? 'homerouter' : 'vpnclient');
  }

  /** The LAN hosts (on the switch), the gateway first. */
  get lanHosts(): LanHost[] {
    return Object.values(this.hosts)
      .filter((h) => h.lan !== undefined)
      .sort((a, b) => Number(b === this.gatewayHost) - Number(a === this.gatewayHost));
  }

  /** Every namespace of the lab, the switch's included. */
  get namespaces(): string[] {
    return [...Object.values(this.hosts).map((h) => h.netns), this.switchNetns];
  }

  /** Builds the topology; on failure everything made so far is removed. */
  static async create(options: LanLabOptions = {}): Promise<LanLab> {
    const o = {
      gateway: options.gateway ?? 'router',
      hosts: options.hosts ?? 1,
      ipv6: options.ipv6 ?? true,
      nat66: options.nat66 ?? false,
      dropInvalid: options.dropInvalid ?? false,
    };
    if (o.gateway !== 'router' && o.gateway !== 'vpnclient') throw new NetfwdError("LanLabOptions.gateway is 'router' or 'vpnclient'");
    if (o.hosts !== 0 && o.hosts !== 1 && o.hosts !== 2) throw new NetfwdError('LanLabOptions.hosts is 0, 1 or 2');
    if (o.nat66 && !o.ipv6) throw new NetfwdError('LanLabOptions.nat66 needs ipv6');
    const lab = new LanLab(options.prefix ?? `nfn-${process.pid}-${randomBytes(2).toString('hex')}`, o);
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private async build(): Promise<void> {
    for (const ns of this.namespaces) {
      netns.create(ns);
      this.created.add(ns);
      // Addresses must be usable at once: no IPv6 duplicate address detection.
      netns.sysctl(ns, 'net.ipv6.conf.all.accept_dad', 0);
      netns.sysctl(ns, 'net.ipv6.conf.default.accept_dad', 0);
    }
    const A = LAN_LAB_ADDRESSES;
    const gw = this.gatewayHost;
    for (const router of [this.host('internet'), gw]) {
      netns.sysctl(router.netns, 'net.ipv4.ip_forward', 1);
      if (this.ipv6) netns.sysctl(router.netns, 'net.ipv6.conf.all.forwarding', 1);
    }

    // The internet router and its three segments.
    const segments: Array<{ host: LanHost; side: string; router: Pair }> = [
      { host: this.host('client'), side: 'to-client', router: A.outside },
      { host: this.host('frontend'), side: 'to-frontend', router: A.routerToFrontend },
      { host: gw, side: 'to-home', router: A.routerToHome },
    ];
    await this.withRoute(this.host('internet').netns, async (rt) => {
      await rt.links.set('lo', { up: true });
      for (const s of segments) {
        await rt.links.add({ name: s.side, kind: 'veth', peer: { name: s.host.uplink!, netns: s.host.netns } });
        await rt.links.set(s.side, { up: true });
        await rt.addresses.add({ link: s.side, address: `${s.router.ipv4}/${SEGMENT_PREFIX4}` });
        if (this.ipv6) await rt.addresses.add({ link: s.side, address: `${s.router.ipv6}/64` });
      }
      // The LAN's IPv6 prefix is routed to the home (IPv4 is masqueraded: the internet knows no route to it).
      if (this.ipv6 && !this.options.nat66) await rt.routes.add({ destination: A.lan.ipv6, gateway: A.home.ipv6 });
    });
    for (const s of segments) await this.configureUplink(s.host, SEGMENT_PREFIX4, s.router);

    // The switch: one bridge, a port for each LAN host.
    await this.buildSwitch();
    const gwLan = { ipv4: gw.lanIpv4!, ipv6: A[gw.name as 'homerouter' | 'vpnclient'].ipv6 };
    for (const h of this.lanHosts) {
      if (h === gw) {
        await this.withRoute(h.netns, async (rt) => {
          await rt.links.set(h.lan!, { up: true });
          await rt.addresses.add({ link: h.lan!, address: `${h.lanIpv4}/${LAN_PREFIX4}` });
          if (h.lanIpv6) await rt.addresses.add({ link: h.lan!, address: `${h.lanIpv6}/64` });
        });
      } else {
        await this.configureUplink(h, LAN_PREFIX4, gwLan);
      }
    }
    await this.installGatewayTable(gw);
  }

  private async buildSwitch(): Promise<void> {
    const sw = this.switchNetns;
    for (const key of ['iptables', 'ip6tables', 'arptables']) {
      try {
        netns.sysctl(sw, `net.bridge.bridge-nf-call-${key}`, 0);
      } catch {
        // no br_netfilter on this host: bridged frames skip the inet hooks anyway
      }
    }
    await this.withRoute(sw, async (rt) => {
      await rt.links.set('lo', { up: true });
      await rt.links.add({ name: 'br0', kind: 'bridge' });
      await rt.links.set('br0', { up: true });
      for (const h of this.lanHosts) {
        const port = `p-${h.name}`;
        await rt.links.add({ name: port, kind: 'veth', master: 'br0', peer: { name: h.lan!, netns: h.netns } });
        await rt.links.set(port, { up: true });
      }
    });
  }

  /** lo and the uplink up, the uplink's addresses, default routes via `router`. */
  private async configureUplink(h: LanHost, prefix4: number, router: Pair): Promise<void> {
    await this.withRoute(h.netns, async (rt) => {
      await rt.links.set('lo', { up: true });
      await rt.links.set(h.uplink!, { up: true });
      await rt.addresses.add({ link: h.uplink!, address: `${h.ipv4}/${prefix4}` });
      if (h.ipv6) await rt.addresses.add({ link: h.uplink!, address: `${h.ipv6}/64` });
      await rt.routes.add({ destination: 'default', gateway: router.ipv4 });
      if (h.ipv6) await rt.routes.add({ destination: 'default', gateway: router.ipv6 });
    });
  }

  /** The gateway's own nft table: masquerade out of the uplink (and the optional invalid-state drop). */
  private async installGatewayTable(gw: LanHost): Promise<void> {
    const nft = await Nft.open({ netns: gw.netns });
    try {
      await nft.transaction((tx) => {
        const table = LAN_LAB_NFT_TABLE;
        tx.addTable({ family: 'inet', name: table });
        tx.addChain({ family: 'inet', table, name: 'postrouting', type: 'nat', hook: 'postrouting', priority: 'srcnat', policy: 'accept' });
        const masquerade = (family: 'ipv4' | 'ipv6'): NftStmt[] => [e.oifname.eq(gw.uplink!), e.meta.nfproto.eq(family), e.masquerade()];
        tx.addRule({ family: 'inet', table, chain: 'postrouting', expr: masquerade('ipv4') });
        if (this.options.nat66) tx.addRule({ family: 'inet', table, chain: 'postrouting', expr: masquerade('ipv6') });
        if (this.options.dropInvalid) {
          tx.addChain({ family: 'inet', table, name: 'forward', type: 'filter', hook: 'forward', priority: 'filter', policy: 'accept' });
          tx.addRule({ family: 'inet', table, chain: 'forward', expr: [e.ct.state.any('invalid'), e.drop()] });
        }
      });
    } finally {
      nft.close();
    }
  }

  protected netnsOf(host: LanHostName): string {
    return this.host(host).netns;
  }

  protected madeNamespaces(): string[] {
    return [...this.created];
  }
}

/** Creates a LAN lab, runs `fn`, and always destroys the lab afterwards. */
export async function withLanLab<T>(fn: (lab: LanLab) => Promise<T>, options: LanLabOptions = {}): Promise<T> {
  const lab = await LanLab.create(options);
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}

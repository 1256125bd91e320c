/**
 * The namespace lab: a client, an "internet" router, a VPS frontend and a home
 * backend, joined by veth pairs and addressed from the documentation ranges.
 * Built with netfwd itself (no `ip` commands). Teardown always runs.
 *
 *   client (198.51.100.2) ── internet ── frontend (203.0.113.2, public)
 *                               │
 *                               ├─────── backend (192.0.2.2, home uplink)
 *                               └─────── backend2 (192.0.2.130, optional: `backends: 2`)
 *
 * The internet namespace routes between them and doubles as the "outside
 * host" at 198.51.100.1 / 2001:db8:1::1. The second backend's segment is the
 * upper half of 192.0.2.0/24 (the router's longer prefix wins over the first
 * backend's /24) and 2001:db8:4::/64.
 */
import { randomBytes } from 'node:crypto';
import { NetfwdError } from '../errors.js';
import { netns } from '../netns/index.js';
import { Route } from '../route/index.js';
import { NamespaceLab } from './namespace-lab.js';

export { endProcessesIn } from './namespace-lab.js';

export type LabHostName = 'client' | 'internet' | 'frontend' | 'backend' | 'backend2';

export interface LabHost {
  name: LabHostName;
  /** The namespace name under /run/netns. */
  netns: string;
  /** The host's uplink interface ("eth0"), absent for the router. */
  uplink?: string;
  ipv4: string;
  ipv6: string;
}

export interface LabOptions {
  /** Prefix of the namespace names (default: "nfl-<pid>-<random>"). */
  prefix?: string;
  /** 2 adds a second backend host, `backend2` (default 1). */
  backends?: 1 | 2;
}

/** Addresses of the lab, all from the documentation ranges. */
export const LAB_ADDRESSES = {
  client: { ipv4: '198.51.100.2', ipv6: '2001:db8:1::2' },
  frontend: { ipv4: '203.0.113.2', ipv6: '2001:db8:2::2' },
  backend: { ipv4: '192.0.2.2', ipv6: '2001:db8:3::2' },
  /** The optional second backend (LabOptions.backends = 2). */
  backend2: { ipv4: '192.0.2.130', ipv6: '2001:db8:4::2' },
  /** The router's address on the client side: the "outside host". */
  outside: { ipv4: '198.51.100.1', ipv6: '2001:db8:1::1' },
  routerToFrontend: { ipv4: '203.0.113.1', ipv6: '2001:db8:2::1' },
  routerToBackend: { ipv4: '192.0.2.1', ipv6: '2001:db8:3::1' },
  routerToBackend2: { ipv4: '192.0.2.129', ipv6: '2001:db8:4::1' },
} as const;

interface Segment {
  host: Exclude<LabHostName, 'internet'>;
  routerSide: string;
  router: { ipv4: string; ipv6: string };
  /** IPv4 prefix length of the segment (IPv6 is always /64). */
  prefix4: number;
}

const SEGMENTS: Segment[] = [
  { host: 'client', routerSide: 'to-client', router: LAB_ADDRESSES.outside, prefix4: 24 },
  { host: 'frontend', routerSide: 'to-frontend', router: LAB_ADDRESSES.routerToFrontend, prefix4: 24 },
  { host: 'backend', routerSide: 'to-backend', router: LAB_ADDRESSES.routerToBackend, prefix4: 24 },
  { host: 'backend2', routerSide: 'to-backend2', router: LAB_ADDRESSES.routerToBackend2, prefix4: 25 },
];

export class Lab extends NamespaceLab<LabHostName> {
  readonly prefix: string;
  /** The hosts; `backend2` only with `backends: 2`. */
  readonly hosts: Record<Exclude<LabHostName, 'backend2'>, LabHost> & { backend2?: LabHost };

  private constructor(prefix: string, backends: 1 | 2) {
    super();
    this.prefix = prefix;
    const host = (name: LabHostName, ipv4: string, ipv6: string, uplink?: string): LabHost => ({
      name,
      netns: `${prefix}-${name}`,
      uplink,
      ipv4,
      ipv6,
    });
    this.hosts = {
      client: host('client', LAB_ADDRESSES.client.ipv4, LAB_ADDRESSES.client.ipv6, 'eth0'),
      internet: host('internet', LAB_ADDRESSES.outside.ipv4, LAB_ADDRESSES.outside.ipv6),
      frontend: host('frontend', LAB_ADDRESSES.frontend.ipv4, LAB_ADDRESSES.frontend.ipv6, 'eth0'),
      backend: host('backend', LAB_ADDRESSES.backend.ipv4, LAB_ADDRESSES.backend.ipv6, 'eth0'),
      ...(backends === 2 ? { backend2: host('backend2', LAB_ADDRESSES.backend2.ipv4, LAB_ADDRESSES.backend2.ipv6, 'eth0') } : {}),
    };
  }

  /** The host, or an error naming the option that adds it. */
  host(name: LabHostName): LabHost {
    const h = this.hosts[name as keyof typeof this.hosts];
    if (!h) throw new NetfwdError(`the lab has no host ${name} (create it with backends: 2)`);
    return h;
  }

  /** Builds the topology; on failure everything made so far is removed. */
  static async create(options: LabOptions = {}): Promise<Lab> {
    if (options.backends !== undefined && options.backends !== 1 && options.backends !== 2)
      throw new NetfwdError('LabOptions.backends is 1 or 2');
    const lab = new Lab(options.prefix ?? `nfl-${process.pid}-${randomBytes(2).toString('hex')}`, options.backends ?? 1);
    try {
      await lab.build();
    } catch (err) {
      await lab.destroy();
      throw err;
    }
    return lab;
  }

  private async build(): Promise<void> {
    for (const h of Object.values(this.hosts)) {
      netns.create(h.netns);
      // Addresses must be usable at once: no IPv6 duplicate address detection.
      netns.sysctl(h.netns, 'net.ipv6.conf.all.accept_dad', 0);
      netns.sysctl(h.netns, 'net.ipv6.conf.default.accept_dad', 0);
    }
    const router = this.hosts.internet.netns;
    netns.sysctl(router, 'net.ipv4.ip_forward', 1);
    netns.sysctl(router, 'net.ipv6.conf.all.forwarding', 1);

    const rt = await Route.open({ netns: router });
    try {
      await rt.links.set('lo', { up: true });
      for (const s of SEGMENTS) {
        const h = this.hosts[s.host as keyof typeof this.hosts];
        if (!h) continue;
        await rt.links.add({ name: s.routerSide, kind: 'veth', peer: { name: h.uplink!, netns: h.netns } });
        await rt.links.set(s.routerSide, { up: true });
        await rt.addresses.add({ link: s.routerSide, address: `${s.router.ipv4}/${s.prefix4}` });
        await rt.addresses.add({ link: s.routerSide, address: `${s.router.ipv6}/64` });
        await this.configureHost(h, s.router, s.prefix4);
      }
    } finally {
      rt.close();
    }
  }

  private async configureHost(h: LabHost, router: { ipv4: string; ipv6: string }, prefix4: number): Promise<void> {
    const rt = await Route.open({ netns: h.netns });
    try {
      await rt.links.set('lo', { up: true });
      await rt.links.set(h.uplink!, { up: true });
      await rt.addresses.add({ link: h.uplink!, address: `${h.ipv4}/${prefix4}` });
      await rt.addresses.add({ link: h.uplink!, address: `${h.ipv6}/64` });
      await rt.routes.add({ destination: 'default', gateway: router.ipv4 });
      await rt.routes.add({ destination: 'default', gateway: router.ipv6 });
    } finally {
      rt.close();
    }
  }

  protected netnsOf(host: LabHostName): string {
    return this.host(host).netns;
  }

  protected madeNamespaces(): string[] {
    return Object.values(this.hosts).map((h) => h.netns);
  }
}

/** Creates a lab, runs `fn`, and always destroys the lab afterwards. */
export async function withLab<T>(fn: (lab: Lab) => Promise<T>, options: LabOptions = {}): Promise<T> {
  const lab = await Lab.create(options);
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}

/**
 * One object per namespace that creates, configures, reads and removes
 * WireGuard interfaces through the kernel (generic netlink) or a userspace
 * daemon (UAPI), with the same typed inputs and results for both.
 */
import { EventEmitter } from 'node:events';
import { NetfwdError, NetlinkError, ValidationError } from '../errors.js';
import { Connection } from '../netlink/connection.js';
import type { Prefix } from '../netlink/ip.js';
import type { Backend, BackendContext } from './backend.js';
import { type ParsedConfig, type ParsedPeer, parseConfig, validateInterfaceName } from './config.js';
import { KernelBackend } from './kernel/backend.js';
import { getLink, type LinkInfo, listLinks, setLinkUp } from './link.js';
import { toDevice } from './state.js';
import type {
  CreateOptions,
  DaemonExit,
  GetOptions,
  WireGuardConfig,
  WireGuardDevice,
  WireGuardImplementation,
  WireGuardInterface,
  WireGuardNotice,
  WireGuardOptions,
} from './types.js';
import { UserspaceBackend } from './userspace/backend.js';

const EEXIST = 17;
const ENODEV = 19;

const MODES = ['auto', 'kernel', 'userspace'] as const;

export interface WireGuard {
  on(event: 'daemonExit', listener: (exit: DaemonExit) => void): this;
  once(event: 'daemonExit', listener: (exit: DaemonExit) => void): this;
  off(event: 'daemonExit', listener: (exit: DaemonExit) => void): this;
  on(event: 'notice', listener: (notice: WireGuardNotice) => void): this;
  once(event: 'notice', listener: (notice: WireGuardNotice) => void): this;
  off(event: 'notice', listener: (notice: WireGuardNotice) => void): this;
}

export class WireGuard extends EventEmitter {
  /** The namespace given to open(), if any. */
  readonly netns?: string;
  readonly implementation: 'auto' | WireGuardImplementation;

  private readonly route: Connection;
  /** The backends this object may use, in the order create() tries them ('auto': the kernel first). */
  private readonly backends: readonly Backend[];
  private readonly userspace?: UserspaceBackend;
  private closed = false;
  private readonly noticed = new Set<WireGuardNotice['feature']>();

  private constructor(route: Connection, options: WireGuardOptions) {
    super();
    this.route = route;
    this.netns = options.netns;
    this.implementation = options.implementation ?? 'auto';
    const context: BackendContext = { route, netns: options.netns, where: () => this.where() };
    const backends: Backend[] = [];
    if (this.implementation !== 'userspace') backends.push(new KernelBackend(context, { fallback: this.implementation === 'auto' }));
    if (this.implementation !== 'kernel') {
      this.userspace = new UserspaceBackend(context, options, (exit: DaemonExit) => this.emit('daemonExit', exit));
      backends.push(this.userspace);
    }
    this.backends = backends;
  }

  /** Opens the rtnetlink connection of the namespace; generic netlink is opened when first needed. */
  static async open(options: WireGuardOptions = {}): Promise<WireGuard> {
    if (options.implementation !== undefined && !MODES.includes(options.implementation)) {
      throw new ValidationError(
        'implementation',
        `unknown implementation ${JSON.stringify(options.implementation)}`,
        "'auto', 'kernel' or 'userspace'",
      );
    }
    if (options.userspaceCommand !== undefined && (typeof options.userspaceCommand !== 'string' || options.userspaceCommand === '')) {
      throw new ValidationError('userspaceCommand', 'must be a non-empty string', 'a program name or path, e.g. wireguard-go');
    }
    const route = await Connection.open('route', { netns: options.netns });
    return new WireGuard(route, { ...options });
  }

  /**
   * Netlink messages sent on this object's own connections (rtnetlink, and
   * generic netlink once used), e.g. to count the writes of one operation
   * while other connections of the process are busy. UAPI exchanges with a
   * userspace daemon are not netlink and not counted.
   */
  get netlinkStats(): { messages: number; writes: number } {
    let { messages, writes } = this.route.stats;
    for (const backend of this.backends) {
      const own = backend.netlinkStats();
      messages += own?.messages ?? 0;
      writes += own?.writes ?? 0;
    }
    return { messages, writes };
  }

  private where(): string {
    return this.netns ? `network namespace ${this.netns}` : 'this network namespace';
  }

  private ensureOpen(): void {
    if (this.closed) throw new NetfwdError('this WireGuard object is closed');
  }

  private notFound(name: string, why = 'no such WireGuard interface'): NetlinkError {
    return new NetlinkError(ENODEV, { operation: `${name}: ${why} in ${this.where()}` });
  }

  /**
   * What `name` is in this namespace, or undefined when it is no WireGuard
   * interface here. `probe: false` skips asking the daemon of a TUN link
   * whether it answers, for a caller whose next step is a UAPI exchange,
   * which reports a daemon that does not answer (ENODEV) itself.
   */
  private async classify(name: string, probe = true): Promise<{ link: LinkInfo; backend: Backend } | undefined> {
    const link = await getLink(this.route, name);
    if (!link) return undefined;
    for (const backend of this.backends) if (await backend.claims(link, probe)) return { link, backend };
    return undefined;
  }

  private async device(name: string, probe = true): Promise<{ link: LinkInfo; backend: Backend }> {
    validateInterfaceName(name);
    const found = await this.classify(name, probe);
    if (!found) {
      const link = await getLink(this.route, name);
      throw this.notFound(
        name,
        link
          ? `the link exists but is not a ${this.implementation === 'auto' ? '' : `${this.implementation} `}WireGuard interface`
          : undefined,
      );
    }
    return found;
  }

  /**
   * Creates an interface. Kernel: RTM_NEWLINK of kind wireguard. Userspace:
   * starts the daemon in the namespace and waits for its UAPI socket. 'auto'
   * uses the kernel when it knows the link kind.
   */
  async create(name: string, options: CreateOptions = {}): Promise<WireGuardInterface> {
    this.ensureOpen();
    validateInterfaceName(name);
    if (await getLink(this.route, name)) {
      throw new NetlinkError(EEXIST, { operation: `create WireGuard ${name}: an interface of that name exists in ${this.where()}` });
    }
    const backend = await this.createWith(name);
    const link = await getLink(this.route, name);
    if (!link) throw this.notFound(name, 'the interface vanished right after it was created');
    if (options.up) await setLinkUp(this.route, link.index, name);
    return { name, ifindex: link.index, implementation: backend.implementation };
  }

  /** The first backend that creates the interface ('auto': the kernel when it knows the link kind, else the daemon). */
  private async createWith(name: string): Promise<Backend> {
    for (const backend of this.backends) if ((await backend.create(name)) === 'created') return backend;
    // Unreachable: only a backend with another after it says 'unavailable'.
    throw new NetfwdError(`create WireGuard ${name}: no WireGuard implementation is available`);
  }

  /**
   * Applies a configuration. Everything is validated (keys, endpoints, CIDRs)
   * and host names resolved before anything is sent.
   */
  async configure(name: string, config: WireGuardConfig): Promise<void> {
    this.ensureOpen();
    validateInterfaceName(name);
    // The interface is looked up while the configuration is validated (its
    // netlink request is on its way before the validation starts); a
    // validation error still comes first, and nothing is sent before both.
    const device = this.device(name, false);
    device.catch(() => undefined);
    let parsed = await parseConfig(config);
    const { backend } = await device;
    if (parsed.peers.some((p) => p.removeAllowedIps.length > 0)) parsed = await this.planRemovals(name, backend, parsed);
    await backend.configure(name, parsed);
  }

  /**
   * Allowed-IP removal: only prefixes the peer holds now are kept (removing
   * anything else does nothing anyway). Where the kernel removes them itself
   * (WGALLOWEDIP_F_REMOVE_ME, Linux 6.16+) they are sent as such; otherwise —
   * older kernels, a userspace daemon — each such peer gets its current
   * allowed IPs minus the removed ones (plus any added) with
   * replaceAllowedIps, and a 'notice' says so once per object.
   */
  private async planRemovals(name: string, backend: Backend, parsed: ParsedConfig): Promise<ParsedConfig> {
    const current = await backend.get(name);
    const key = (p: Prefix) => `${p.family}/${p.address.toString('hex')}/${p.length}`;
    const peers: ParsedPeer[] = parsed.peers.map((peer) => {
      if (peer.removeAllowedIps.length === 0) return peer;
      const held = current.peers.find((c) => c.publicKey.equals(peer.publicKey))?.allowedIps ?? [];
      const heldKeys = new Set(held.map(key));
      return { ...peer, removeAllowedIps: peer.removeAllowedIps.filter((r) => heldKeys.has(key(r))) };
    });
    const first = peers.find((p) => p.removeAllowedIps.length > 0);
    if (!first) return { ...parsed, peers };
    const { supported, why } = await backend.allowedIpRemoval(name, first.publicKey, first.removeAllowedIps[0]!);
    if (supported) return { ...parsed, peers };
    if (!this.noticed.has('allowedIpRemoval')) {
      this.noticed.add('allowedIpRemoval');
      const notice: WireGuardNotice = {
        feature: 'allowedIpRemoval',
        implementation: backend.implementation,
        message: `${name}: ${why}, so removeAllowedIps is done by setting each such peer's remaining allowed IPs with replaceAllowedIps`,
      };
      this.emit('notice', notice);
    }
    return {
      ...parsed,
      peers: peers.map((peer) => {
        if (peer.removeAllowedIps.length === 0) return peer;
        const gone = new Set(peer.removeAllowedIps.map(key));
        const held = current.peers.find((c) => c.publicKey.equals(peer.publicKey))!.allowedIps;
        const keep = held.filter((p) => !gone.has(key(p)));
        const seen = new Set(keep.map(key));
        const added = peer.allowedIps.filter((p) => !seen.has(key(p)) && seen.add(key(p)));
        return { ...peer, removeAllowedIps: [], replaceAllowedIps: true, allowedIps: [...keep, ...added] };
      }),
    };
  }

  /** Reads an interface; secrets only with `{ secrets: true }`, and then wrapped. */
  async get(name: string, options: GetOptions = {}): Promise<WireGuardDevice> {
    this.ensureOpen();
    const { backend } = await this.device(name);
    return toDevice(await backend.get(name), name, backend.implementation, options.secrets === true);
  }

  /** Deletes an interface; a userspace daemon exits with its link, and this waits for it. */
  async remove(name: string): Promise<void> {
    this.ensureOpen();
    const { link, backend } = await this.device(name);
    await backend.remove(name, link);
  }

  /** The WireGuard interfaces of this namespace, with their implementation. */
  async devices(): Promise<WireGuardInterface[]> {
    this.ensureOpen();
    const links = await listLinks(this.route);
    const out: WireGuardInterface[] = [];
    for (const backend of this.backends) {
      for (const link of await backend.claimAll(links))
        out.push({ name: link.name, ifindex: link.index, implementation: backend.implementation });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Names of the WireGuard interfaces of this namespace. */
  async list(): Promise<string[]> {
    return (await this.devices()).map((d) => d.name);
  }

  /** 'kernel' or 'userspace' for a WireGuard interface of this namespace, undefined for anything else. */
  async implementationOf(name: string): Promise<WireGuardImplementation | undefined> {
    this.ensureOpen();
    validateInterfaceName(name);
    return (await this.classify(name))?.backend.implementation;
  }

  /** Sets the link up (IFF_UP). */
  async up(name: string): Promise<void> {
    this.ensureOpen();
    const { link } = await this.device(name);
    await setLinkUp(this.route, link.index, name);
  }

  /** The pid of a daemon this object started for `name` and that still runs. */
  daemonPid(name: string): number | undefined {
    return this.userspace?.daemonPid(name);
  }

  /**
   * Closes the netlink connections. Daemons started with `detach: false` are
   * stopped; detached ones keep running (remove() ends them).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.route.close();
    for (const backend of this.backends) backend.close();
  }
}

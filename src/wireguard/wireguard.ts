/**
 * One object per namespace that creates, configures, reads and removes
 * WireGuard interfaces through the kernel (generic netlink) or a userspace
 * daemon (UAPI), with the same typed inputs and results for both.
 */
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { readdirSync, rmSync } from 'node:fs';
import { ConflictError, NetfwdError, NetlinkError, ValidationError } from '../errors.js';
import { Connection } from '../netlink/connection.js';
import type { Prefix } from '../netlink/ip.js';
import { type ParsedConfig, type ParsedPeer, parseConfig, validateInterfaceName } from './config.js';
import { KernelBackend } from './kernel.js';
import { type LinkInfo, createWireGuardLink, deleteLink, getLink, listLinks, setLinkUp } from './link.js';
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
import { DEFAULT_LOG_DIR, UAPI_DIR, WireGuardDaemonError, probeSocket, removeStaleSocket, socketPath, startDaemon, uapiGet, uapiSet, waitSocketGone } from './userspace.js';

const EEXIST = 17;
const ENODEV = 19;
const EOPNOTSUPP = 95;

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
  private generic?: Connection;
  private kernel?: Promise<KernelBackend>;
  private kernelMissing = false;
  private readonly daemons = new Map<string, ChildProcess>();
  private readonly options: WireGuardOptions;
  private closed = false;
  private readonly noticed = new Set<WireGuardNotice['feature']>();

  private constructor(route: Connection, options: WireGuardOptions) {
    super();
    this.route = route;
    this.options = options;
    this.netns = options.netns;
    this.implementation = options.implementation ?? 'auto';
  }

  /** Opens the rtnetlink connection of the namespace; generic netlink is opened when first needed. */
  static async open(options: WireGuardOptions = {}): Promise<WireGuard> {
    if (options.implementation !== undefined && !MODES.includes(options.implementation)) {
      throw new ValidationError('implementation', `unknown implementation ${JSON.stringify(options.implementation)}`, "'auto', 'kernel' or 'userspace'");
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
    const g = this.generic?.stats;
    return { messages: this.route.stats.messages + (g?.messages ?? 0), writes: this.route.stats.writes + (g?.writes ?? 0) };
  }

  private where(): string {
    return this.netns ? `network namespace ${this.netns}` : 'this network namespace';
  }

  private ensureOpen(): void {
    if (this.closed) throw new NetfwdError('this WireGuard object is closed');
  }

  private kernelBackend(): Promise<KernelBackend> {
    // One generic netlink connection, opened on first use (concurrent callers share it).
    this.kernel ??= Connection.open('generic', { netns: this.netns }).then((conn) => {
      this.generic = conn;
      if (this.closed) conn.close();
      return new KernelBackend(conn);
    });
    return this.kernel;
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
  private async classify(name: string, probe = true): Promise<{ link: LinkInfo; implementation: WireGuardImplementation } | undefined> {
    const link = await getLink(this.route, name);
    if (!link) return undefined;
    if (link.kind === 'wireguard') return this.implementation === 'userspace' ? undefined : { link, implementation: 'kernel' };
    if (this.implementation === 'kernel' || link.kind !== 'tun') return undefined;
    // A userspace device is a TUN link of this name here plus a daemon answering on its (global) socket.
    if (!probe || (await probeSocket(socketPath(name))) === 'live') return { link, implementation: 'userspace' };
    return undefined;
  }

  private async device(name: string, probe = true): Promise<{ link: LinkInfo; implementation: WireGuardImplementation }> {
    validateInterfaceName(name);
    const found = await this.classify(name, probe);
    if (!found) {
      const link = await getLink(this.route, name);
      throw this.notFound(name, link ? `the link exists but is not a ${this.implementation === 'auto' ? '' : `${this.implementation} `}WireGuard interface` : undefined);
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
    let implementation: WireGuardImplementation = this.implementation === 'userspace' ? 'userspace' : 'kernel';
    if (implementation === 'kernel' && this.implementation === 'auto' && this.kernelMissing) implementation = 'userspace';
    if (implementation === 'kernel') {
      try {
        await createWireGuardLink(this.route, name);
      } catch (err) {
        // It was not there a moment ago: another program created it at the same time.
        if (err instanceof NetlinkError && err.errno === EEXIST) {
          throw new ConflictError(`create WireGuard ${name}: another process created an interface of that name at the same time; read the state again and retry`, { cause: err });
        }
        if (!(err instanceof NetlinkError && err.errno === EOPNOTSUPP)) throw err;
        if (this.implementation === 'kernel') {
          throw err.annotate({ operation: `create WireGuard ${name}: this kernel has no WireGuard link kind (use implementation 'userspace' or 'auto')` });
        }
        this.kernelMissing = true;
        implementation = 'userspace';
      }
    }
    if (implementation === 'userspace') await this.startUserspace(name);
    const link = await getLink(this.route, name);
    if (!link) throw this.notFound(name, 'the interface vanished right after it was created');
    if (options.up) await setLinkUp(this.route, link.index, name);
    return { name, ifindex: link.index, implementation };
  }

  private async startUserspace(name: string): Promise<void> {
    const path = socketPath(name);
    const state = await probeSocket(path);
    if (state === 'live') {
      throw new NetlinkError(EEXIST, {
        operation:
          `create WireGuard ${name}: a userspace daemon already answers on ${path}, for an interface in another network namespace ` +
          '(the UAPI socket directory is global, so interface names must be unique across namespaces)',
      });
    }
    if (state === 'stale') await removeStaleSocket(path);
    const o = this.options;
    const logFile = o.daemonLog === null ? null : typeof o.daemonLog === 'function' ? o.daemonLog(name) : (o.daemonLog ?? `${DEFAULT_LOG_DIR}/${name}.log`);
    let child: Awaited<ReturnType<typeof startDaemon>>;
    try {
      child = await startDaemon({
        name,
        netns: this.netns,
        command: o.userspaceCommand ?? 'wireguard-go',
        args: o.userspaceArgs ?? ['-f'],
        detach: o.detach ?? true,
        logFile,
        env: o.daemonEnv ?? {},
        timeout: o.startTimeout ?? 15000,
      });
    } catch (err) {
      // Neither the link nor a daemon was there a moment ago. If one is there now, another
      // process created the interface at the same time and our daemon lost the TUN device.
      if (err instanceof WireGuardDaemonError && ((await getLink(this.route, name)) || (await probeSocket(path)) === 'live')) {
        throw new ConflictError(`create WireGuard ${name}: another process created an interface of that name at the same time; read the state again and retry`, {
          cause: err,
        });
      }
      throw err;
    }
    const link = await getLink(this.route, name);
    if (!link) {
      child.kill('SIGTERM');
      throw new WireGuardDaemonError(`the daemon for ${name} opened ${path} but its link is not in ${this.where()}; it was stopped`, {
        interfaceName: name,
        command: o.userspaceCommand ?? 'wireguard-go',
      });
    }
    this.daemons.set(name, child);
    child.once('exit', (code, signal) => {
      if (this.daemons.get(name) === child) this.daemons.delete(name);
      this.emit('daemonExit', { name, pid: child.pid, code, signal } satisfies DaemonExit);
    });
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
    const { implementation } = await device;
    if (parsed.peers.some((p) => p.removeAllowedIps.length > 0)) parsed = await this.planRemovals(name, implementation, parsed);
    if (implementation === 'kernel') await (await this.kernelBackend()).configure(name, parsed);
    else await uapiSet(name, parsed);
  }

  /**
   * Allowed-IP removal: only prefixes the peer holds now are kept (removing
   * anything else does nothing anyway). Where the kernel removes them itself
   * (WGALLOWEDIP_F_REMOVE_ME, Linux 6.16+) they are sent as such; otherwise —
   * older kernels, a userspace daemon — each such peer gets its current
   * allowed IPs minus the removed ones (plus any added) with
   * replaceAllowedIps, and a 'notice' says so once per object.
   */
  private async planRemovals(name: string, implementation: WireGuardImplementation, parsed: ParsedConfig): Promise<ParsedConfig> {
    const current = implementation === 'kernel' ? await (await this.kernelBackend()).get(name) : await uapiGet(name);
    const key = (p: Prefix) => `${p.family}/${p.address.toString('hex')}/${p.length}`;
    const peers: ParsedPeer[] = parsed.peers.map((peer) => {
      if (peer.removeAllowedIps.length === 0) return peer;
      const held = current.peers.find((c) => c.publicKey.equals(peer.publicKey))?.allowedIps ?? [];
      const heldKeys = new Set(held.map(key));
      return { ...peer, removeAllowedIps: peer.removeAllowedIps.filter((r) => heldKeys.has(key(r))) };
    });
    const first = peers.find((p) => p.removeAllowedIps.length > 0);
    if (!first) return { ...parsed, peers };
    let why: string;
    if (implementation === 'kernel') {
      const probe = await (await this.kernelBackend()).allowedIpRemoval(name, first.publicKey, first.removeAllowedIps[0]!);
      if (probe.supported) return { ...parsed, peers };
      why = `${probe.why}; Linux 6.16 or later removes allowed IPs itself`;
    } else {
      why = 'the userspace implementation has no allowed-IP removal in its UAPI';
    }
    if (!this.noticed.has('allowedIpRemoval')) {
      this.noticed.add('allowedIpRemoval');
      const notice: WireGuardNotice = {
        feature: 'allowedIpRemoval',
        implementation,
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
    const { implementation } = await this.device(name);
    const raw = implementation === 'kernel' ? await (await this.kernelBackend()).get(name) : await uapiGet(name);
    return toDevice(raw, name, implementation, options.secrets === true);
  }

  /** Deletes an interface; a userspace daemon exits with its link, and this waits for it. */
  async remove(name: string): Promise<void> {
    this.ensureOpen();
    const { link, implementation } = await this.device(name);
    const child = this.daemons.get(name);
    await deleteLink(this.route, link.index, name);
    if (implementation === 'userspace') {
      const timeout = this.options.stopTimeout ?? 10000;
      await waitSocketGone(socketPath(name), timeout);
      if (child) await waitExit(child, timeout);
      // The default log of a daemon that went away as asked is of no more use.
      if (this.options.daemonLog === undefined) rmSync(`${DEFAULT_LOG_DIR}/${name}.log`, { force: true });
    }
  }

  /** The WireGuard interfaces of this namespace, with their implementation. */
  async devices(): Promise<WireGuardInterface[]> {
    this.ensureOpen();
    const links = await listLinks(this.route);
    const out: WireGuardInterface[] = [];
    let sockets: Set<string> | undefined;
    for (const link of links) {
      if (link.kind === 'wireguard') {
        if (this.implementation !== 'userspace') out.push({ name: link.name, ifindex: link.index, implementation: 'kernel' });
        continue;
      }
      if (this.implementation === 'kernel' || link.kind !== 'tun') continue;
      sockets ??= socketNames();
      if (sockets.has(link.name) && (await probeSocket(socketPath(link.name))) === 'live') {
        out.push({ name: link.name, ifindex: link.index, implementation: 'userspace' });
      }
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
    return (await this.classify(name))?.implementation;
  }

  /** Sets the link up (IFF_UP). */
  async up(name: string): Promise<void> {
    this.ensureOpen();
    const { link } = await this.device(name);
    await setLinkUp(this.route, link.index, name);
  }

  /** The pid of a daemon this object started for `name` and that still runs. */
  daemonPid(name: string): number | undefined {
    return this.daemons.get(name)?.pid;
  }

  /**
   * Closes the netlink connections. Daemons started with `detach: false` are
   * stopped; detached ones keep running (remove() ends them).
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.route.close();
    this.generic?.close();
    if (this.options.detach === false) {
      for (const child of this.daemons.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
    this.daemons.clear();
  }
}

/**
 * Waits for a child to exit, at most `timeout` ms. The timer stays referenced:
 * the daemon itself is unref'd, and an await with nothing referenced would let
 * the process end in the middle of it.
 */
function waitExit(child: ChildProcess, timeout: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeout);
    function done() {
      clearTimeout(timer);
      child.off('exit', done);
      resolve();
    }
    child.once('exit', done);
  });
}

function socketNames(): Set<string> {
  try {
    return new Set(
      readdirSync(UAPI_DIR)
        .filter((f) => f.endsWith('.sock'))
        .map((f) => f.slice(0, -'.sock'.length)),
    );
  } catch {
    return new Set();
  }
}

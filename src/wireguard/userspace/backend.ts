/**
 * The userspace backend: a daemon (wireguard-go by default) started inside the
 * namespace so its TUN link lands there, configured over its UAPI socket
 * /var/run/wireguard/NAME.sock. That directory is global (not per
 * namespace), so an interface counts as being in a namespace only when its
 * link exists there, and names must be unique across namespaces.
 */
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { ConflictError, NetlinkError } from '../../errors.js';
import type { AllowedIpRemoval, Backend, BackendContext } from '../backend.js';
import type { ParsedConfig } from '../config.js';
import { deleteLink, getLink, type LinkInfo } from '../link.js';
import type { RawDevice } from '../state.js';
import type { DaemonExit, WireGuardOptions } from '../types.js';
import { uapiGet, uapiSet } from './client.js';
import { DEFAULT_LOG_DIR, startDaemon, WireGuardDaemonError, waitExit, waitSocketGone } from './daemon.js';
import { probeSocket, removeStaleSocket, socketNames, socketPath } from './socket.js';

const EEXIST = 17;

/** The options of WireGuard.open() that concern daemons. */
export type DaemonSettings = Pick<
  WireGuardOptions,
  'userspaceCommand' | 'userspaceArgs' | 'detach' | 'daemonLog' | 'daemonEnv' | 'startTimeout' | 'stopTimeout'
>;

export class UserspaceBackend implements Backend {
  readonly implementation = 'userspace';
  private readonly daemons = new Map<string, ChildProcess>();

  /** `onExit` hears of every daemon this backend started that exits. */
  constructor(
    private readonly context: BackendContext,
    private readonly options: DaemonSettings,
    private readonly onExit: (exit: DaemonExit) => void,
  ) {}

  /** A userspace device is a TUN link of this name here plus a daemon answering on its (global) socket. */
  async claims(link: LinkInfo, probe: boolean): Promise<boolean> {
    return link.kind === 'tun' && (!probe || (await probeSocket(socketPath(link.name))) === 'live');
  }

  async claimAll(links: readonly LinkInfo[]): Promise<LinkInfo[]> {
    const out: LinkInfo[] = [];
    let sockets: Set<string> | undefined;
    for (const link of links) {
      if (link.kind !== 'tun') continue;
      sockets ??= socketNames();
      if (sockets.has(link.name) && (await probeSocket(socketPath(link.name))) === 'live') out.push(link);
    }
    return out;
  }

  /** Starts the daemon in the namespace and waits for its UAPI socket. */
  async create(name: string): Promise<'created'> {
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
    const logFile =
      o.daemonLog === null
        ? null
        : typeof o.daemonLog === 'function'
          ? o.daemonLog(name)
          : (o.daemonLog ?? `${DEFAULT_LOG_DIR}/${name}.log`);
    let child: Awaited<ReturnType<typeof startDaemon>>;
    try {
      child = await startDaemon({
        name,
        netns: this.context.netns,
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
      if (err instanceof WireGuardDaemonError && ((await getLink(this.context.route, name)) || (await probeSocket(path)) === 'live')) {
        throw new ConflictError(
          `create WireGuard ${name}: another process created an interface of that name at the same time; read the state again and retry`,
          {
            cause: err,
          },
        );
      }
      throw err;
    }
    const link = await getLink(this.context.route, name);
    if (!link) {
      child.kill('SIGTERM');
      throw new WireGuardDaemonError(
        `the daemon for ${name} opened ${path} but its link is not in ${this.context.where()}; it was stopped`,
        {
          interfaceName: name,
          command: o.userspaceCommand ?? 'wireguard-go',
        },
      );
    }
    this.daemons.set(name, child);
    child.once('exit', (code, signal) => {
      if (this.daemons.get(name) === child) this.daemons.delete(name);
      this.onExit({ name, pid: child.pid, code, signal });
    });
    return 'created';
  }

  configure(name: string, config: ParsedConfig): Promise<void> {
    return uapiSet(name, config);
  }

  get(name: string): Promise<RawDevice> {
    return uapiGet(name);
  }

  async allowedIpRemoval(): Promise<AllowedIpRemoval> {
    return { supported: false, why: 'the userspace implementation has no allowed-IP removal in its UAPI' };
  }

  /** The daemon exits with its link: this waits for it (at most stopTimeout). */
  async remove(name: string, link: LinkInfo): Promise<void> {
    const child = this.daemons.get(name);
    await deleteLink(this.context.route, link.index, name);
    const timeout = this.options.stopTimeout ?? 10000;
    await waitSocketGone(socketPath(name), timeout);
    if (child) await waitExit(child, timeout);
    // The default log of a daemon that went away as asked is of no more use.
    if (this.options.daemonLog === undefined) rmSync(`${DEFAULT_LOG_DIR}/${name}.log`, { force: true });
  }

  /** The pid of a daemon this backend started for `name` and that still runs. */
  daemonPid(name: string): number | undefined {
    return this.daemons.get(name)?.pid;
  }

  netlinkStats(): undefined {
    return undefined;
  }

  /** Daemons started with `detach: false` are stopped; detached ones keep running (remove() ends them). */
  close(): void {
    if (this.options.detach === false) {
      for (const child of this.daemons.values()) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
    this.daemons.clear();
  }
}

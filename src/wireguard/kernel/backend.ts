/**
 * The kernel backend: an interface is a link of kind wireguard (rtnetlink),
 * configured and read over the generic netlink family "wireguard" on a
 * connection of the namespace opened when first needed.
 */
import { ConflictError, NetlinkError } from '../../errors.js';
import { Connection } from '../../netlink/connection.js';
import type { Prefix } from '../../netlink/ip.js';
import type { AllowedIpRemoval, Backend, BackendContext } from '../backend.js';
import type { ParsedConfig } from '../config.js';
import { createWireGuardLink, deleteLink, type LinkInfo } from '../link.js';
import type { RawDevice } from '../state.js';
import { GenlClient } from './client.js';

const EEXIST = 17;
const EOPNOTSUPP = 95;

export interface KernelBackendOptions {
  /**
   * Another backend follows ('auto'): when the kernel has no WireGuard link
   * kind, create() says 'unavailable' (then and on every later call) instead
   * of failing.
   */
  fallback?: boolean;
  /** Opens the generic netlink connection. Default: one in the context's namespace. */
  openGeneric?: () => Promise<Connection>;
}

export class KernelBackend implements Backend {
  readonly implementation = 'kernel';
  private generic?: Connection;
  private client?: Promise<GenlClient>;
  /** The kernel refused the link kind ('auto' goes straight to the next backend from then on). */
  private missing = false;
  private closed = false;

  constructor(
    private readonly context: BackendContext,
    private readonly options: KernelBackendOptions = {},
  ) {}

  private genl(): Promise<GenlClient> {
    // One generic netlink connection, opened on first use (concurrent callers share it).
    const open = this.options.openGeneric ?? (() => Connection.open('generic', { netns: this.context.netns }));
    this.client ??= open().then((conn) => {
      this.generic = conn;
      if (this.closed) conn.close();
      return new GenlClient(conn);
    });
    return this.client;
  }

  async claims(link: LinkInfo): Promise<boolean> {
    return link.kind === 'wireguard';
  }

  async claimAll(links: readonly LinkInfo[]): Promise<LinkInfo[]> {
    return links.filter((link) => link.kind === 'wireguard');
  }

  /** RTM_NEWLINK of kind wireguard. */
  async create(name: string): Promise<'created' | 'unavailable'> {
    if (this.missing) return 'unavailable';
    try {
      await createWireGuardLink(this.context.route, name);
    } catch (err) {
      // It was not there a moment ago: another program created it at the same time.
      if (err instanceof NetlinkError && err.errno === EEXIST) {
        throw new ConflictError(
          `create WireGuard ${name}: another process created an interface of that name at the same time; read the state again and retry`,
          { cause: err },
        );
      }
      if (!(err instanceof NetlinkError && err.errno === EOPNOTSUPP)) throw err;
      if (!this.options.fallback) {
        throw err.annotate({
          operation: `create WireGuard ${name}: this kernel has no WireGuard link kind (use implementation 'userspace' or 'auto')`,
        });
      }
      this.missing = true;
      return 'unavailable';
    }
    return 'created';
  }

  async configure(name: string, config: ParsedConfig): Promise<void> {
    await (await this.genl()).configure(name, config);
  }

  async get(name: string): Promise<RawDevice> {
    return (await this.genl()).get(name);
  }

  /** WGALLOWEDIP_F_REMOVE_ME (Linux 6.16+), probed once per connection. */
  async allowedIpRemoval(name: string, peer: Buffer, prefix: Prefix): Promise<AllowedIpRemoval> {
    const probe = await (await this.genl()).allowedIpRemoval(name, peer, prefix);
    if (probe.supported) return probe;
    return { supported: false, why: `${probe.why}; Linux 6.16 or later removes allowed IPs itself` };
  }

  async remove(name: string, link: LinkInfo): Promise<void> {
    await deleteLink(this.context.route, link.index, name);
  }

  netlinkStats(): { messages: number; writes: number } | undefined {
    return this.generic?.stats;
  }

  close(): void {
    this.closed = true;
    this.generic?.close();
  }
}

/**
 * What a WireGuard implementation does for the WireGuard class: the kernel
 * (kernel/: a link of kind wireguard, generic netlink) and a userspace daemon
 * (userspace/: a TUN link, the UAPI socket) each implement Backend. The
 * class finds the backend of an interface once per call and delegates.
 */
import type { Connection } from '../netlink/connection.js';
import type { Prefix } from '../netlink/ip.js';
import type { ParsedConfig } from './config.js';
import type { LinkInfo } from './link.js';
import type { RawDevice } from './state.js';
import type { WireGuardImplementation } from './types.js';

/** What the WireGuard object shares with its backends. */
export interface BackendContext {
  /** The rtnetlink connection of the namespace (links are created, found and deleted with it). */
  readonly route: Connection;
  /** The namespace given to open(), if any. */
  readonly netns?: string;
  /** 'network namespace NAME' or 'this network namespace', for messages. */
  where(): string;
}

/** Whether a backend takes allowed IPs away itself, and why (or why not). */
export interface AllowedIpRemoval {
  supported: boolean;
  why: string;
}

export interface Backend {
  readonly implementation: WireGuardImplementation;
  /**
   * Whether `link` is an interface of this backend. `probe: false` skips
   * asking a daemon whether it answers, for a caller whose next step is an
   * exchange with it (which reports a daemon that does not answer itself).
   */
  claims(link: LinkInfo, probe: boolean): Promise<boolean>;
  /** The links of `links` that are interfaces of this backend. */
  claimAll(links: readonly LinkInfo[]): Promise<LinkInfo[]>;
  /**
   * Creates interface `name`, of which no link existed a moment before.
   * 'unavailable' when this system lacks the implementation and the caller
   * may try the next backend (only a backend told it has a fallback says so).
   */
  create(name: string): Promise<'created' | 'unavailable'>;
  /** Applies a validated configuration. */
  configure(name: string, config: ParsedConfig): Promise<void>;
  /** Reads the interface back, secrets included (the caller decides what to show). */
  get(name: string): Promise<RawDevice>;
  /**
   * Whether allowed IPs flagged for removal are taken away by the
   * implementation; `peer` holds `prefix` now, for a backend that has to try.
   */
  allowedIpRemoval(name: string, peer: Buffer, prefix: Prefix): Promise<AllowedIpRemoval>;
  /** Deletes the interface, whose link is `link`. */
  remove(name: string, link: LinkInfo): Promise<void>;
  /** Messages sent on the backend's own netlink connections, if it has any. */
  netlinkStats(): { messages: number; writes: number } | undefined;
  close(): void;
}

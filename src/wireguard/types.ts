/** The public shapes of the WireGuard API, shared by both backends. */
import type { WireGuardSecret } from './curve25519.js';

export type WireGuardImplementation = 'kernel' | 'userspace';

export interface WireGuardOptions {
  /** Namespace name under /run/netns, or a path to a namespace file. Default: the caller's. */
  netns?: string;
  /**
   * 'kernel': the wireguard link kind and generic netlink family only.
   * 'userspace': a UAPI daemon (wireguard-go) for every interface.
   * 'auto' (default): create() uses the kernel when the link kind exists, else
   * the daemon; every other call looks at what the interface is.
   */
  implementation?: 'auto' | WireGuardImplementation;
  /** The userspace daemon. Default 'wireguard-go' (found on PATH). */
  userspaceCommand?: string;
  /** Arguments before the interface name. Default ['-f'] (stay in the foreground, so the pid is the daemon's). */
  userspaceArgs?: string[];
  /**
   * Start daemons detached (own process group, not killed by close(), left
   * running when this process exits). Default true: a CLI that sets a tunnel
   * up and exits leaves it running.
   */
  detach?: boolean;
  /**
   * Where a daemon's stdout and stderr go: a file path (truncated at start),
   * or null to discard them. Default /run/netfwd/wireguard/NAME.log. The
   * output is quoted when the daemon dies before its socket appears.
   */
  daemonLog?: string | ((name: string) => string) | null;
  /** Extra environment of the daemon. */
  daemonEnv?: Record<string, string>;
  /** How long create() waits for a daemon's UAPI socket, in ms. Default 15000. */
  startTimeout?: number;
  /** How long remove() waits for a daemon to go away, in ms. Default 10000. */
  stopTimeout?: number;
}

export interface CreateOptions {
  /** Set the link up after creating it (IFF_UP). Default false. */
  up?: boolean;
}

export interface WireGuardPeerConfig {
  /** base64, as `wg pubkey` prints it. */
  publicKey: string;
  /** A secret, its base64, or null to remove the preshared key. */
  presharedKey?: WireGuardSecret | string | null;
  /** 'host:port' or '[IPv6]:port'; host names are resolved before anything is sent. */
  endpoint?: string;
  /** Seconds, 0 to turn it off. */
  persistentKeepalive?: number;
  /** CIDRs ('10.0.0.2/32', 'fd00::/64'); a bare address means a host prefix. */
  allowedIps?: string[];
  /**
   * CIDRs to take away from this peer, leaving its others. Linux 6.16 and
   * later do it in the kernel (WGALLOWEDIP_F_REMOVE_ME); on older kernels and
   * with a userspace daemon, configure() reads the peer's allowed IPs and sets
   * the rest with replaceAllowedIps instead, and emits a 'notice' saying so.
   * A prefix the peer does not have is ignored.
   */
  removeAllowedIps?: string[];
  /** Remove the peer's allowed IPs before adding these. */
  replaceAllowedIps?: boolean;
  /** Remove the peer. */
  remove?: boolean;
  /** Only change the peer if it exists; never create it. */
  updateOnly?: boolean;
}

export interface WireGuardConfig {
  /** A secret, its base64, or null to remove the private key. */
  privateKey?: WireGuardSecret | string | null;
  /** UDP port, 0 for a random one. */
  listenPort?: number;
  /** Mark of the tunnel's own packets, 0 to turn it off. */
  fwmark?: number;
  /** Remove every peer not listed here (the listed ones are set from scratch). */
  replacePeers?: boolean;
  peers?: WireGuardPeerConfig[];
}

export interface GetOptions {
  /** Include the private key and the preshared keys (as WireGuardSecret, which never prints). */
  secrets?: boolean;
}

export interface WireGuardPeer {
  publicKey: string;
  /** Only with `{ secrets: true }`; null when the peer has none. */
  presharedKey?: WireGuardSecret | null;
  hasPresharedKey: boolean;
  /** 'ip:port' / '[ip6]:port' as wg prints it, or null. */
  endpoint: string | null;
  /** Normalised CIDR text, as wg prints it, in the order the implementation reports. */
  allowedIps: string[];
  /** null before the first handshake. */
  lastHandshake: Date | null;
  rxBytes: number;
  txBytes: number;
  /** Seconds, 0 when off. */
  persistentKeepalive: number;
  protocolVersion: number;
}

export interface WireGuardDevice {
  name: string;
  implementation: WireGuardImplementation;
  /** null when the interface has no private key. */
  publicKey: string | null;
  /** Only with `{ secrets: true }`; null when there is none. */
  privateKey?: WireGuardSecret | null;
  listenPort: number;
  /** 0 when off. */
  fwmark: number;
  peers: WireGuardPeer[];
}

export interface WireGuardInterface {
  name: string;
  ifindex: number;
  implementation: WireGuardImplementation;
}

/** Emitted as 'notice' when a feature is not available and configure() did the same another way. */
export interface WireGuardNotice {
  feature: 'allowedIpRemoval';
  implementation: WireGuardImplementation;
  message: string;
}

/** Emitted as 'daemonExit' when a daemon this WireGuard object started exits. */
export interface DaemonExit {
  name: string;
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * WireGuard: one interface API over two backends, the kernel's generic
 * netlink family and a userspace daemon's UAPI socket (wireguard-go by
 * default); keys through node:crypto.
 */

export { normalizeAllowedIp } from './config.js';
export { generatePresharedKey, generatePrivateKey, publicKey, WireGuardSecret } from './curve25519.js';
export type {
  CreateOptions as WireGuardCreateOptions,
  DaemonExit as WireGuardDaemonExit,
  GetOptions as WireGuardGetOptions,
  WireGuardConfig,
  WireGuardDevice,
  WireGuardImplementation,
  WireGuardInterface,
  WireGuardNotice,
  WireGuardOptions,
  WireGuardPeer,
  WireGuardPeerConfig,
} from './types.js';
export { WireGuardDaemonError } from './userspace/daemon.js';
export { WireGuard } from './wireguard.js';

/**
 * WireGuard: one interface API over two backends, the kernel's generic
 * netlink family and a userspace daemon's UAPI socket (wireguard-go by
 * default); keys through node:crypto.
 */
export { WireGuard } from './wireguard.js';
export { WireGuardSecret, generatePrivateKey, generatePresharedKey, publicKey } from './curve25519.js';
export { WireGuardDaemonError } from './userspace/daemon.js';
export { normalizeAllowedIp } from './config.js';
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

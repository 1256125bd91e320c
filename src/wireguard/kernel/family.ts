/**
 * The generic netlink family "wireguard", version 1 (linux/wireguard.h): its
 * commands, flags and attribute schemas, shared by the SET_DEVICE encoder
 * (configure.ts) and the GET_DEVICE decoder (parse.ts).
 */
import { attrs } from '../../netlink/attributes.js';
import { genlmsghdr } from '../../netlink/genl.js';
import { messageCodec } from '../../netlink/message.js';
import { struct } from '../../netlink/struct.js';

export const WG_GENL_NAME = 'wireguard';
export const WG_GENL_VERSION = 1;
export const WG_CMD_GET_DEVICE = 0;
export const WG_CMD_SET_DEVICE = 1;
export const WGDEVICE_F_REPLACE_PEERS = 1;
export const WGPEER_F_REMOVE_ME = 1;
export const WGPEER_F_REPLACE_ALLOWEDIPS = 2;
export const WGPEER_F_UPDATE_ONLY = 4;
/** Linux 6.16 and later: the allowed IP is removed from the peer instead of added. */
export const WGALLOWEDIP_F_REMOVE_ME = 1;

export const AF_INET = 2;
export const AF_INET6 = 10;

/** struct __kernel_timespec */
const kernelTimespec = struct('__kernel_timespec', { sec: 'u64', nsec: 'u64' });

export const allowedIpAttrs = attrs('wgallowedip', {
  family: { type: 1, kind: 'u16' }, // WGALLOWEDIP_A_FAMILY
  ipaddr: { type: 2, kind: 'binary' }, // WGALLOWEDIP_A_IPADDR: in_addr / in6_addr
  cidrMask: { type: 3, kind: 'u8' }, // WGALLOWEDIP_A_CIDR_MASK
  flags: { type: 4, kind: 'u32' }, // WGALLOWEDIP_A_FLAGS (Linux 6.16+)
});

// Declared in the order wireguard-tools writes the attributes, so a SET message
// is byte for byte what `wg setconf` sends (test/fixtures/wireguard-genl-wg-set.hex).
export const peerAttrs = attrs('wgpeer', {
  publicKey: { type: 1, kind: 'binary' },
  presharedKey: { type: 2, kind: 'binary' },
  endpoint: { type: 4, kind: 'binary' }, // sockaddr_in / sockaddr_in6
  persistentKeepaliveInterval: { type: 5, kind: 'u16' },
  flags: { type: 3, kind: 'u32' },
  lastHandshakeTime: { type: 6, kind: 'struct', struct: kernelTimespec },
  rxBytes: { type: 7, kind: 'u64' },
  txBytes: { type: 8, kind: 'u64' },
  allowedIps: { type: 9, kind: 'array', element: allowedIpAttrs, elementType: 0 },
  protocolVersion: { type: 10, kind: 'u32' },
});

export const deviceAttrs = attrs('wgdevice', {
  ifindex: { type: 1, kind: 'u32' },
  ifname: { type: 2, kind: 'string' },
  privateKey: { type: 3, kind: 'binary' },
  publicKey: { type: 4, kind: 'binary' },
  listenPort: { type: 6, kind: 'u16' },
  fwmark: { type: 7, kind: 'u32' },
  flags: { type: 5, kind: 'u32' },
  peers: { type: 8, kind: 'array', element: peerAttrs, elementType: 0 },
});

export const deviceMessage = messageCodec(genlmsghdr, deviceAttrs);

export const WGDEVICE_A_PEERS = 8;
export const WGPEER_A_ALLOWEDIPS = 9;

/** Identifies the device in every message (one, not both, of ifindex and ifname). */
export type DeviceTarget = { ifname: string } | { ifindex: number };

/** The GET_DEVICE dump request payload. */
export function encodeGetDevice(target: DeviceTarget): Buffer {
  return deviceMessage.encode({ cmd: WG_CMD_GET_DEVICE, version: WG_GENL_VERSION }, target);
}

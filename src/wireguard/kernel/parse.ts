/**
 * GET_DEVICE of the kernel backend: the messages of a dump of the "wireguard"
 * family merged into one device (a device with many peers spans several
 * messages, and a peer with many allowed IPs is continued in the next).
 */
import { DecodeError } from '../../errors.js';
import type { Prefix } from '../../netlink/ip.js';
import { emptyPeer, type RawDevice, type RawPeer } from '../state.js';
import { AF_INET, AF_INET6, deviceMessage } from './family.js';
import { decodeSockaddr } from './sockaddr.js';

function toPrefix(a: { family?: number; ipaddr?: Buffer; cidrMask?: number }, path: string): Prefix {
  const family = a.family === AF_INET ? 4 : a.family === AF_INET6 ? 6 : undefined;
  if (!family) throw new DecodeError(`allowed IP of unknown family ${a.family}`, path);
  const size = family === 4 ? 4 : 16;
  if (!a.ipaddr || a.ipaddr.length < size)
    throw new DecodeError(`allowed IP address of ${a.ipaddr?.length ?? 0} bytes for IPv${family}`, path);
  const length = a.cidrMask ?? -1;
  if (length < 0 || length > size * 8) throw new DecodeError(`CIDR mask ${length} for IPv${family}`, path);
  return { family, address: a.ipaddr.subarray(0, size), length };
}

function key(b: Buffer, path: string): Buffer {
  if (b.length !== 32) throw new DecodeError(`${b.length}-byte key, WireGuard keys have 32`, path);
  return b;
}

/**
 * Merges the messages of a GET_DEVICE dump: the device attributes come from
 * whichever message carries them, peers are coalesced by public key (a peer
 * split over messages repeats its key and continues its allowed IPs).
 */
export function mergeDump(payloads: readonly Buffer[]): RawDevice & { ifindex?: number; ifname?: string } {
  const device: RawDevice & { ifindex?: number; ifname?: string } = { listenPort: 0, fwmark: 0, peers: [] };
  const byKey = new Map<string, RawPeer>();
  payloads.forEach((payload, m) => {
    const { attrs: a } = deviceMessage.decode(payload);
    if (a.ifindex !== undefined) device.ifindex = a.ifindex;
    if (a.ifname !== undefined) device.ifname = a.ifname;
    if (a.privateKey !== undefined) device.privateKey = key(a.privateKey, `message[${m}].privateKey`);
    if (a.publicKey !== undefined) device.publicKey = key(a.publicKey, `message[${m}].publicKey`);
    if (a.listenPort !== undefined) device.listenPort = a.listenPort;
    if (a.fwmark !== undefined) device.fwmark = a.fwmark;
    (a.peers ?? []).forEach((p, i) => {
      const path = `message[${m}].peers[${i}]`;
      if (!p.publicKey || p.publicKey.length !== 32) throw new DecodeError(`peer without a 32-byte public key`, path);
      const hex = p.publicKey.toString('hex');
      let peer = byKey.get(hex);
      if (!peer) {
        peer = emptyPeer(p.publicKey);
        byKey.set(hex, peer);
        device.peers.push(peer);
      }
      if (p.presharedKey !== undefined) peer.presharedKey = key(p.presharedKey, `${path}.presharedKey`);
      if (p.endpoint !== undefined) peer.endpoint = decodeSockaddr(p.endpoint, `${path}.endpoint`);
      if (p.persistentKeepaliveInterval !== undefined) peer.persistentKeepalive = p.persistentKeepaliveInterval;
      if (p.lastHandshakeTime !== undefined) {
        peer.handshakeSec = p.lastHandshakeTime.sec;
        peer.handshakeNsec = p.lastHandshakeTime.nsec;
      }
      if (p.rxBytes !== undefined) peer.rxBytes = p.rxBytes;
      if (p.txBytes !== undefined) peer.txBytes = p.txBytes;
      if (p.protocolVersion !== undefined) peer.protocolVersion = p.protocolVersion;
      (p.allowedIps ?? []).forEach((aip, j) => peer!.allowedIps.push(toPrefix(aip, `${path}.allowedIps[${j}]`)));
    });
  });
  return device;
}

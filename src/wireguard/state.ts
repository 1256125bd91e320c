/**
 * What both backends read back, in bytes, and its conversion to the public
 * result (text as wg prints it, secrets wrapped and only on request).
 */
import { formatKey, isZeroKey } from '../grammar/index.js';
import type { Prefix } from '../netlink/ip.js';
import { formatPrefix } from './config.js';
import { WireGuardSecret } from './curve25519.js';
import { type Endpoint, formatEndpoint } from './endpoint.js';
import type { WireGuardDevice, WireGuardImplementation, WireGuardPeer } from './types.js';

export interface RawPeer {
  publicKey: Buffer;
  presharedKey?: Buffer;
  endpoint?: Endpoint;
  persistentKeepalive: number;
  handshakeSec: bigint;
  handshakeNsec: bigint;
  rxBytes: bigint;
  txBytes: bigint;
  allowedIps: Prefix[];
  protocolVersion: number;
}

export interface RawDevice {
  privateKey?: Buffer;
  publicKey?: Buffer;
  listenPort: number;
  fwmark: number;
  peers: RawPeer[];
}

export function emptyPeer(publicKey: Buffer): RawPeer {
  return {
    publicKey,
    persistentKeepalive: 0,
    handshakeSec: 0n,
    handshakeNsec: 0n,
    rxBytes: 0n,
    txBytes: 0n,
    allowedIps: [],
    protocolVersion: 0,
  };
}

const isZero = (b: Buffer | undefined) => !b || isZeroKey(b);

export function toDevice(raw: RawDevice, name: string, implementation: WireGuardImplementation, secrets: boolean): WireGuardDevice {
  const hasPrivate = !isZero(raw.privateKey);
  let publicKey: string | null = null;
  if (raw.publicKey && !isZero(raw.publicKey)) publicKey = formatKey(raw.publicKey);
  else if (hasPrivate) publicKey = WireGuardSecret.fromBytes(raw.privateKey!).publicKey();
  const device: WireGuardDevice = {
    name,
    implementation,
    publicKey,
    listenPort: raw.listenPort,
    fwmark: raw.fwmark,
    peers: raw.peers.map((p) => toPeer(p, secrets)),
  };
  if (secrets) device.privateKey = hasPrivate ? WireGuardSecret.fromBytes(raw.privateKey!) : null;
  return device;
}

function toPeer(p: RawPeer, secrets: boolean): WireGuardPeer {
  const hasPsk = !isZero(p.presharedKey);
  const handshake =
    p.handshakeSec === 0n && p.handshakeNsec === 0n
      ? null
      : new Date(Number(p.handshakeSec) * 1000 + Math.floor(Number(p.handshakeNsec) / 1e6));
  const peer: WireGuardPeer = {
    publicKey: formatKey(p.publicKey),
    hasPresharedKey: hasPsk,
    endpoint: p.endpoint ? formatEndpoint(p.endpoint) : null,
    allowedIps: p.allowedIps.map(formatPrefix),
    lastHandshake: handshake,
    rxBytes: Number(p.rxBytes),
    txBytes: Number(p.txBytes),
    persistentKeepalive: p.persistentKeepalive,
    protocolVersion: p.protocolVersion,
  };
  if (secrets) peer.presharedKey = hasPsk ? WireGuardSecret.fromBytes(p.presharedKey!) : null;
  return peer;
}

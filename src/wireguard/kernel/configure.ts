/**
 * SET_DEVICE of the kernel backend: a configuration as messages of the
 * "wireguard" family, split over several messages as linux/wireguard.h
 * documents, with a fast path that writes checked peers from templates.
 */
import { decimalAt, ipv4At } from '../../grammar/index.js';
import { type Span, walkAttributes } from '../../netlink/attributes.js';
import { NLA_F_NESTED } from '../../netlink/constants.js';
import { genlmsghdr } from '../../netlink/genl.js';
import type { Prefix } from '../../netlink/ip.js';
import { Writer } from '../../netlink/writer.js';
import { CheckedPeer, type ParsedConfig, type ParsedPeer } from '../config.js';
import {
  AF_INET,
  AF_INET6,
  allowedIpAttrs,
  type DeviceTarget,
  deviceAttrs,
  peerAttrs,
  WG_CMD_SET_DEVICE,
  WG_GENL_VERSION,
  WGALLOWEDIP_F_REMOVE_ME,
  WGDEVICE_A_PEERS,
  WGDEVICE_F_REPLACE_PEERS,
  WGPEER_A_ALLOWEDIPS,
  WGPEER_F_REMOVE_ME,
  WGPEER_F_REPLACE_ALLOWEDIPS,
  WGPEER_F_UPDATE_ONLY,
} from './family.js';
import { encodeSockaddr } from './sockaddr.js';

/**
 * Largest SET_DEVICE payload (genlmsghdr and attributes, without nlmsghdr).
 * A nest's length is 16 bits, so WGDEVICE_A_PEERS must stay below 64 KiB.
 */
export const DEFAULT_MESSAGE_BUDGET = 32 * 1024;
const MAX_BUDGET = 65000;

// Worst cases, to decide before writing whether something still fits:
// a peer head (nest, key, flags, psk, sockaddr_in6, keepalive, allowed-IPs
// nest) and one IPv6 allowed IP (nest, family, address, mask), plus the
// closing padding of the open nests.
const PEER_HEAD_MAX = 4 + 36 + 8 + 36 + 32 + 8 + 4;
const ALLOWED_IP_MAX = 4 + 8 + 20 + 8 + 8;
const CLOSE_SLACK = 16;

export interface SetMessage {
  payload: Buffer;
  /** Byte ranges of the payload mapped to input paths (`peers[3].allowedIps[1]`). */
  spans: Span[];
}

function allowedIpValue(p: Prefix, remove = false) {
  return {
    family: p.family === 4 ? AF_INET : AF_INET6,
    ipaddr: p.address,
    cidrMask: p.length,
    flags: remove ? WGALLOWEDIP_F_REMOVE_ME : undefined,
  };
}

/**
 * Encodes a configuration as SET_DEVICE payloads of at most `budget` bytes:
 * device attributes and REPLACE_PEERS only in the first; a peer continued in
 * a later message repeats its public key (with UPDATE_ONLY kept, so a skipped
 * peer stays skipped) and carries REPLACE_ALLOWEDIPS only in its first
 * fragment.
 */
export function encodeSetDevice(target: DeviceTarget, config: ParsedConfig, budget = DEFAULT_MESSAGE_BUDGET): SetMessage[] {
  return [...setDeviceMessages(target, config, budget, true)];
}

/**
 * The messages of `encodeSetDevice`, one at a time as each is complete (a
 * caller can send one while the next is encoded). Without `withSpans` the
 * messages carry no spans (`spans` is empty): building the attribute paths
 * costs more than the bytes, and only an error needs them — encode again
 * with spans then (the same input gives the same messages).
 */
export function* setDeviceMessages(
  target: DeviceTarget,
  config: ParsedConfig,
  budget = DEFAULT_MESSAGE_BUDGET,
  withSpans = true,
): Generator<SetMessage, void, undefined> {
  const limit = Math.min(Math.max(budget, 128 + PEER_HEAD_MAX + ALLOWED_IP_MAX + CLOSE_SLACK), MAX_BUDGET);
  let w = new Writer(Math.min(limit + 256, 64 * 1024));
  let spans: Span[] | undefined;
  let peersNest = -1;
  let done: SetMessage | undefined;

  const start = (first: boolean) => {
    w = new Writer(Math.min(limit + 256, 64 * 1024));
    spans = withSpans ? [] : undefined;
    peersNest = -1;
    genlmsghdr.encode(w, { cmd: WG_CMD_SET_DEVICE, version: WG_GENL_VERSION });
    const device = first
      ? {
          ...target,
          privateKey: config.privateKey,
          flags: config.replacePeers ? WGDEVICE_F_REPLACE_PEERS : undefined,
          listenPort: config.listenPort,
          fwmark: config.fwmark,
        }
      : { ...target };
    deviceAttrs.encode(w, device, spans);
  };
  const finish = () => {
    if (peersNest >= 0) {
      w.endAttr(peersNest);
      spans?.push({ start: peersNest, end: w.pos, path: 'peers' });
    }
    done = { payload: w.finish(), spans: spans ?? [] };
  };
  const openPeers = () => {
    if (peersNest < 0) peersNest = w.beginAttr(WGDEVICE_A_PEERS | NLA_F_NESTED);
  };
  const room = (need: number) => w.pos + need + CLOSE_SLACK <= limit;
  /** Closes the message in the making and starts the next (`done` holds the closed one). */
  const next = () => {
    finish();
    start(false);
  };

  // Without spans, a peer the fast path checked is written as a copy of the
  // first peer of its shape with its values patched in (peerTemplate).
  const templates = withSpans ? undefined : new Map<string, PeerTemplate>();
  start(true);
  for (const peer of config.peers) {
    if (!room(PEER_HEAD_MAX + ALLOWED_IP_MAX)) next();
    if (done) {
      yield done;
      done = undefined;
    }
    openPeers();
    if (templates && peer instanceof CheckedPeer && !peer.remove && writeFromTemplate(peer, templates)) continue;
    // A peer longer than a message closes messages inside writePeer: they are yielded after it.
    const closed: SetMessage[] = [];
    writePeer(peer, closed);
    yield* closed;
  }
  finish();
  yield done!;

  /**
   * Writes a checked peer as its shape's template with its values in place,
   * when writePeer would write it whole: when no allowed IP of it reaches the
   * point where writePeer would continue the peer in the next message.
   * False (nothing written) otherwise.
   */
  function writeFromTemplate(peer: CheckedPeer, cache: Map<string, PeerTemplate>): boolean {
    const flags = peerFlags(peer);
    const ips = peer.allowedIpText;
    const shape = `${flags}/${peer.presharedKeyText === undefined ? 0 : 1}${peer.endpointText === undefined ? 0 : 1}${peer.persistentKeepalive === undefined ? 0 : 1}/${ips.length}`;
    let t = cache.get(shape);
    if (!t) {
      t = peerTemplate(peer, flags);
      cache.set(shape, t);
    }
    if (t.lastIpAt >= 0 && !room(t.lastIpAt + ALLOWED_IP_MAX)) return false;
    const at = w.pos;
    w.bytes(t.bytes);
    const buf = w.buf;
    buf.write(peer.publicKeyText, at + t.key, 32, 'base64');
    const psk = peer.presharedKeyText;
    if (psk === null) buf.fill(0, at + t.psk, at + t.psk + 32);
    else if (psk !== undefined) buf.write(psk, at + t.psk, 32, 'base64');
    const endpoint = peer.endpointText;
    if (endpoint !== undefined) {
      const sep = endpoint.lastIndexOf(':');
      const port = decimalAt(endpoint, sep + 1, endpoint.length, 65535);
      const e = at + t.endpoint;
      buf[e + 2] = port >>> 8; // sin_port, network order
      buf[e + 3] = port & 0xff;
      putBE32(buf, e + 4, ipv4At(endpoint, 0, sep)); // sin_addr
    }
    const keepalive = peer.persistentKeepalive;
    if (keepalive !== undefined) {
      buf[at + t.keepalive] = keepalive & 0xff; // u16, host order
      buf[at + t.keepalive + 1] = keepalive >>> 8;
    }
    for (let j = 0; j < ips.length; j++) {
      const text = ips[j]!;
      const slash = text.indexOf('/');
      putBE32(buf, at + t.ips[j]!.addr, ipv4At(text, 0, slash));
      buf[at + t.ips[j]!.mask] = decimalAt(text, slash + 1, text.length, 32);
    }
    return true;
  }

  function writePeer(peer: ParsedPeer, closed: SetMessage[]): void {
    const path = spans ? `peers[${peer.index}]` : '';
    const flags = peerFlags(peer);
    let peerStart = w.beginAttr(0 | NLA_F_NESTED);
    writePeerHead(w, peer, flags, spans, path);
    // Removals first (as WGALLOWEDIP_F_REMOVE_ME entries), then additions.
    const removals = peer.removeAllowedIps.length;
    const count = removals + peer.allowedIps.length;
    if (count > 0) {
      let nest = w.beginAttr(WGPEER_A_ALLOWEDIPS | NLA_F_NESTED);
      for (let j = 0; j < count; j++) {
        const remove = j < removals;
        const prefix = remove ? peer.removeAllowedIps[j]! : peer.allowedIps[j - removals]!;
        if (!room(ALLOWED_IP_MAX)) {
          // Close this fragment and continue the peer in the next message.
          w.endAttr(nest);
          spans?.push({ start: nest, end: w.pos, path: `${path}.allowedIps` });
          w.endAttr(peerStart);
          spans?.push({ start: peerStart, end: w.pos, path });
          next();
          closed.push(done!);
          done = undefined;
          openPeers();
          peerStart = w.beginAttr(0 | NLA_F_NESTED);
          peerAttrs.encode(w, { publicKey: peer.publicKey, flags: peer.updateOnly ? WGPEER_F_UPDATE_ONLY : undefined }, spans, path);
          nest = w.beginAttr(WGPEER_A_ALLOWEDIPS | NLA_F_NESTED);
        }
        const s = writeAllowedIp(w, prefix, remove);
        spans?.push({ start: s, end: w.pos, path: remove ? `${path}.removeAllowedIps[${j}]` : `${path}.allowedIps[${j - removals}]` });
      }
      w.endAttr(nest);
      spans?.push({ start: nest, end: w.pos, path: `${path}.allowedIps` });
    }
    w.endAttr(peerStart);
    spans?.push({ start: peerStart, end: w.pos, path });
  }
}

/** Byte stores: Buffer's writeUInt32BE is slow until the JIT has warmed up. */
function putBE32(buf: Buffer, at: number, v: number): void {
  buf[at] = v >>> 24;
  buf[at + 1] = (v >>> 16) & 0xff;
  buf[at + 2] = (v >>> 8) & 0xff;
  buf[at + 3] = v & 0xff;
}

function peerFlags(peer: ParsedPeer): number {
  let flags = 0;
  if (peer.remove) flags |= WGPEER_F_REMOVE_ME;
  if (peer.replaceAllowedIps) flags |= WGPEER_F_REPLACE_ALLOWEDIPS;
  if (peer.updateOnly) flags |= WGPEER_F_UPDATE_ONLY;
  return flags;
}

/** A peer's attributes before its allowed IPs. */
function writePeerHead(w: Writer, peer: ParsedPeer, flags: number, spans?: Span[], path = ''): void {
  peerAttrs.encode(
    w,
    peer.remove
      ? { publicKey: peer.publicKey, flags }
      : {
          publicKey: peer.publicKey,
          flags: flags || undefined,
          presharedKey: peer.presharedKey,
          endpoint: peer.endpoint ? encodeSockaddr(peer.endpoint) : undefined,
          persistentKeepaliveInterval: peer.persistentKeepalive,
        },
    spans,
    path,
  );
}

/** One allowed IP nest; returns where it starts. */
function writeAllowedIp(w: Writer, prefix: Prefix, remove: boolean): number {
  const s = w.beginAttr(0 | NLA_F_NESTED);
  allowedIpAttrs.encode(w, allowedIpValue(prefix, remove));
  w.endAttr(s);
  return s;
}

/** A peer nest as writePeer lays it out whole, with the offsets of its values (relative to the nest). */
interface PeerTemplate {
  bytes: Buffer;
  key: number;
  psk: number;
  /** The sockaddr_in. */
  endpoint: number;
  keepalive: number;
  ips: Array<{ addr: number; mask: number }>;
  /** Where the last allowed IP nest starts (-1 without allowed IPs): writePeer checks room there. */
  lastIpAt: number;
}

const WGPEER_A_PUBLIC_KEY = peerAttrs.entries.find((e) => e.name === 'publicKey')!.spec.type;
const WGPEER_A_PRESHARED_KEY = peerAttrs.entries.find((e) => e.name === 'presharedKey')!.spec.type;
const WGPEER_A_ENDPOINT = peerAttrs.entries.find((e) => e.name === 'endpoint')!.spec.type;
const WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL = peerAttrs.entries.find((e) => e.name === 'persistentKeepaliveInterval')!.spec.type;
const WGALLOWEDIP_A_IPADDR = allowedIpAttrs.entries.find((e) => e.name === 'ipaddr')!.spec.type;
const WGALLOWEDIP_A_CIDR_MASK = allowedIpAttrs.entries.find((e) => e.name === 'cidrMask')!.spec.type;

/**
 * The template of a checked peer's shape: the peer encoded by the schema as
 * writePeer writes it, and where its values sit, found by walking it.
 */
function peerTemplate(peer: CheckedPeer, flags: number): PeerTemplate {
  const t = new Writer(256);
  const start = t.beginAttr(0 | NLA_F_NESTED);
  writePeerHead(t, peer, flags);
  const ips: Array<{ addr: number; mask: number }> = [];
  let lastIpAt = -1;
  if (peer.allowedIps.length > 0) {
    const nest = t.beginAttr(WGPEER_A_ALLOWEDIPS | NLA_F_NESTED);
    for (const prefix of peer.allowedIps) lastIpAt = writeAllowedIp(t, prefix, false);
    t.endAttr(nest);
  }
  t.endAttr(start);
  const bytes = t.finish();
  const template: PeerTemplate = { bytes, key: -1, psk: -1, endpoint: -1, keepalive: -1, ips, lastIpAt };
  for (const a of walkAttributes(bytes, 4, bytes.length, 'peer template')) {
    if (a.type === WGPEER_A_PUBLIC_KEY) template.key = a.at;
    else if (a.type === WGPEER_A_PRESHARED_KEY) template.psk = a.at;
    else if (a.type === WGPEER_A_ENDPOINT) template.endpoint = a.at;
    else if (a.type === WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL) template.keepalive = a.at;
    else if (a.type === WGPEER_A_ALLOWEDIPS) {
      for (const ip of walkAttributes(bytes, a.at, a.at + a.len, 'peer template')) {
        const found = { addr: -1, mask: -1 };
        for (const f of walkAttributes(bytes, ip.at, ip.at + ip.len, 'peer template')) {
          if (f.type === WGALLOWEDIP_A_IPADDR) found.addr = f.at;
          else if (f.type === WGALLOWEDIP_A_CIDR_MASK) found.mask = f.at;
        }
        ips.push(found);
      }
    }
  }
  return template;
}

/**
 * The kernel backend: generic netlink family "wireguard", version 1
 * (linux/wireguard.h). SET_DEVICE is split over several messages as the
 * header documents; GET_DEVICE is a dump whose messages are merged.
 */
import { DecodeError, NetlinkError } from '../errors.js';
import { type Span, attrs, spanAt, walkAttributes } from '../netlink/attributes.js';
import type { Connection } from '../netlink/connection.js';
import { NLA_F_NESTED } from '../netlink/constants.js';
import { genlmsghdr, resolveFamily } from '../netlink/genl.js';
import type { Prefix } from '../netlink/ip.js';
import { type NetlinkMessage, type Request, messageCodec } from '../netlink/message.js';
import { struct } from '../netlink/struct.js';
import { Writer } from '../netlink/writer.js';
import { CheckedPeer, type ParsedConfig, type ParsedPeer } from './config.js';
import { decodeSockaddr, encodeSockaddr } from './endpoint.js';
import { decimalAt, ipv4At } from './ipv4.js';
import { type RawDevice, type RawPeer, emptyPeer } from './state.js';

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

const EINVAL = 22;
const EOPNOTSUPP = 95;
const AF_INET = 2;
const AF_INET6 = 10;

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

const WGDEVICE_A_PEERS = 8;
const WGPEER_A_ALLOWEDIPS = 9;

/** Identifies the device in every message (one, not both, of ifindex and ifname). */
export type DeviceTarget = { ifname: string } | { ifindex: number };

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
  return { family: p.family === 4 ? AF_INET : AF_INET6, ipaddr: p.address, cidrMask: p.length, flags: remove ? WGALLOWEDIP_F_REMOVE_ME : undefined };
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
export function* setDeviceMessages(target: DeviceTarget, config: ParsedConfig, budget = DEFAULT_MESSAGE_BUDGET, withSpans = true): Generator<SetMessage, void, undefined> {
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

/** The GET_DEVICE dump request payload. */
export function encodeGetDevice(target: DeviceTarget): Buffer {
  return deviceMessage.encode({ cmd: WG_CMD_GET_DEVICE, version: WG_GENL_VERSION }, target);
}

function toPrefix(a: { family?: number; ipaddr?: Buffer; cidrMask?: number }, path: string): Prefix {
  const family = a.family === AF_INET ? 4 : a.family === AF_INET6 ? 6 : undefined;
  if (!family) throw new DecodeError(`allowed IP of unknown family ${a.family}`, path);
  const size = family === 4 ? 4 : 16;
  if (!a.ipaddr || a.ipaddr.length < size) throw new DecodeError(`allowed IP address of ${a.ipaddr?.length ?? 0} bytes for IPv${family}`, path);
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

/** Talks to the kernel over one generic netlink connection (in the device's namespace). */
export class KernelBackend {
  private removal?: { supported: boolean; why: string };

  constructor(
    private readonly conn: Connection,
    private readonly budget = DEFAULT_MESSAGE_BUDGET,
  ) {}

  private async familyId(): Promise<number> {
    return (await resolveFamily(this.conn, WG_GENL_NAME)).id;
  }

  /** Sends the SET_DEVICE messages in order, stopping at the first refusal (as wg does). */
  async configure(name: string, config: ParsedConfig): Promise<number> {
    const type = await this.familyId();
    const target = { ifname: name };
    // Each message goes out from the thread pool while the next is encoded;
    // the next is sent once the kernel has acknowledged the one before (in
    // order; a refusal stops the rest).
    let sent = 0;
    let pending: Promise<unknown> | undefined;
    try {
      for (const { payload } of setDeviceMessages(target, config, this.budget, false)) {
        if (pending) await pending;
        const index = sent++;
        const req: Request = {
          type,
          flags: 0,
          payload,
          describe: `configure WireGuard ${name}${index > 0 ? ` (message ${index + 1})` : ''}`,
          // The attribute paths of an error, from the same message encoded again with them.
          locate: (offset) => {
            if (offset < genlmsghdr.size) return 'genlmsghdr';
            let i = 0;
            for (const m of setDeviceMessages(target, config, this.budget, true)) if (i++ === index) return spanAt(m.spans, offset)?.path;
            return undefined;
          },
        };
        pending = this.conn.request(req, { offload: true });
        pending.catch(() => undefined); // seen at the await
      }
      if (pending) await pending;
    } finally {
      if (pending) await pending.catch(() => undefined);
    }
    return sent;
  }

  /**
   * Whether this kernel removes allowed IPs flagged WGALLOWEDIP_F_REMOVE_ME
   * (Linux 6.16+). Older kernels reject the unknown attribute (strict
   * parsing) or, were one to ignore it, would add the prefix instead: the
   * probe removes `prefix`, which `peer` holds now, in a message of its own
   * (UPDATE_ONLY, nothing else), so on a kernel without the flag nothing
   * changes either way, and reading the peer back tells which kernel this is.
   * The answer is kept for this connection.
   */
  async allowedIpRemoval(name: string, peer: Buffer, prefix: Prefix): Promise<{ supported: boolean; why: string }> {
    if (this.removal) return this.removal;
    const type = await this.familyId();
    const [message] = encodeSetDevice(
      { ifname: name },
      { replacePeers: false, peers: [{ index: 0, publicKey: peer, allowedIps: [], removeAllowedIps: [prefix], replaceAllowedIps: false, remove: false, updateOnly: true }] },
      this.budget,
    );
    try {
      await this.conn.request({ type, flags: 0, payload: message!.payload, describe: `probe allowed-IP removal on WireGuard ${name}` });
    } catch (err) {
      if (!(err instanceof NetlinkError)) throw err;
      if (err.errno !== EINVAL && err.errno !== EOPNOTSUPP) throw err;
      return (this.removal = { supported: false, why: `the kernel refused WGALLOWEDIP_A_FLAGS (${err.code}${err.extack ? `: ${err.extack}` : ''})` });
    }
    const after = (await this.get(name)).peers.find((p) => p.publicKey.equals(peer));
    const still = after?.allowedIps.some((a) => a.family === prefix.family && a.length === prefix.length && a.address.equals(prefix.address));
    return (this.removal = still
      ? { supported: false, why: 'the kernel ignored WGALLOWEDIP_F_REMOVE_ME' }
      : { supported: true, why: 'the kernel removes allowed IPs flagged WGALLOWEDIP_F_REMOVE_ME' });
  }

  async get(name: string): Promise<RawDevice> {
    const type = await this.familyId();
    const messages: NetlinkMessage[] = await this.conn.dumpAll({
      type,
      flags: 0,
      payload: encodeGetDevice({ ifname: name }),
      describe: `read WireGuard ${name}`,
      access: 'read',
    });
    return mergeDump(messages.filter((m) => m.type === type).map((m) => m.data));
  }
}

/**
 * Validation of configure() input into the byte form both backends encode.
 * Everything wrong is reported as a ValidationError with the path of the field
 * before a single byte is sent.
 */
import { ValidationError } from '../errors.js';
import { type Prefix, formatIP, networkAddress, parsePrefix } from '../netlink/ip.js';
import { type Endpoint, type UnresolvedEndpoint, isResolved, parseEndpoint, resolveEndpoint } from './endpoint.js';
import { decimalAt, ipv4At, ipv4Bytes } from './ipv4.js';
import { WG_KEY_LEN, WireGuardSecret, decodeKey } from './keys.js';
import type { WireGuardConfig } from './types.js';

export interface ParsedPeer {
  /** Position in the caller's list, for error paths. */
  index: number;
  publicKey: Buffer;
  /** 32 zero bytes remove the key. */
  presharedKey?: Buffer;
  endpoint?: Endpoint;
  persistentKeepalive?: number;
  allowedIps: Prefix[];
  /** Allowed IPs to take away from the peer (WGALLOWEDIP_F_REMOVE_ME, or a replacement where the kernel lacks it). */
  removeAllowedIps: Prefix[];
  replaceAllowedIps: boolean;
  remove: boolean;
  updateOnly: boolean;
}

export interface ParsedConfig {
  /** 32 zero bytes remove the key. */
  privateKey?: Buffer;
  listenPort?: number;
  fwmark?: number;
  replacePeers: boolean;
  peers: ParsedPeer[];
}

const ZERO_KEY = Buffer.alloc(WG_KEY_LEN);
const IFNAME_EXPECTED = '1 to 15 bytes without "/", ":" or white space, not "." or ".."';

/** Checks an interface name as the kernel's dev_valid_name does (it also names the UAPI socket file). */
export function validateInterfaceName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string') throw new ValidationError(field, `not a string (${typeof name})`, IFNAME_EXPECTED);
  if (name.length === 0 || Buffer.byteLength(name) > 15 || name === '.' || name === '..' || /[/:\s\0]/.test(name)) {
    throw new ValidationError(field, `invalid interface name ${JSON.stringify(name)}`, IFNAME_EXPECTED);
  }
  return name;
}

function secretBytes(v: unknown, field: string): Buffer {
  if (v === null) return ZERO_KEY;
  if (v instanceof WireGuardSecret) return v.bytes();
  return decodeKey(v, field);
}

function integer(v: unknown, field: string, min: number, max: number, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new ValidationError(field, `invalid ${what} ${JSON.stringify(v)}`, `an integer from ${min} to ${max}`);
  }
  return v;
}

function bool(v: unknown, field: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw new ValidationError(field, `not a boolean (${typeof v})`, 'true or false');
  return v;
}

const PEER_KEYS = new Set(['publicKey', 'presharedKey', 'endpoint', 'persistentKeepalive', 'allowedIps', 'removeAllowedIps', 'replaceAllowedIps', 'remove', 'updateOnly']);
const DEVICE_KEYS = new Set(['privateKey', 'listenPort', 'fwmark', 'replacePeers', 'peers']);

function checkKeys(obj: object, allowed: Set<string>, path: string): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.has(k)) throw new ValidationError(path ? `${path}.${k}` : k, 'unknown field', [...allowed].join(', '));
  }
}

/**
 * Validates synchronously. Endpoints given as host names are returned in
 * `pending` for `parseConfig` to resolve.
 */
export function parseConfigSync(config: WireGuardConfig): { parsed: ParsedConfig; pending: Array<{ peer: ParsedPeer; endpoint: UnresolvedEndpoint; field: string }> } {
  if (typeof config !== 'object' || config === null) throw new ValidationError('config', 'not an object', 'a WireGuard configuration');
  checkKeys(config, DEVICE_KEYS, '');
  const parsed: ParsedConfig = { replacePeers: bool(config.replacePeers, 'replacePeers'), peers: [] };
  if (config.privateKey !== undefined) parsed.privateKey = secretBytes(config.privateKey, 'privateKey');
  if (config.listenPort !== undefined) parsed.listenPort = integer(config.listenPort, 'listenPort', 0, 65535, 'port');
  if (config.fwmark !== undefined) parsed.fwmark = integer(config.fwmark, 'fwmark', 0, 0xffffffff, 'fwmark');
  const pending: Array<{ peer: ParsedPeer; endpoint: UnresolvedEndpoint; field: string }> = [];
  const peers = config.peers ?? [];
  if (!Array.isArray(peers)) throw new ValidationError('peers', 'not an array', 'a list of peers');
  const seen = new Map<string, number>();
  for (let i = 0; i < peers.length; i++) {
    const p = peers[i];
    const path = `peers[${i}]`;
    if (typeof p !== 'object' || p === null) throw new ValidationError(path, 'not an object', 'a peer');
    checkKeys(p, PEER_KEYS, path);
    const publicKey = decodeKey(p.publicKey, `${path}.publicKey`);
    const earlier = seen.get(p.publicKey);
    if (earlier !== undefined) throw new ValidationError(`${path}.publicKey`, `the same peer as peers[${earlier}]`, 'each public key once');
    seen.set(p.publicKey, i);
    const peer: ParsedPeer = {
      index: i,
      publicKey,
      allowedIps: [],
      removeAllowedIps: [],
      replaceAllowedIps: bool(p.replaceAllowedIps, `${path}.replaceAllowedIps`),
      remove: bool(p.remove, `${path}.remove`),
      updateOnly: bool(p.updateOnly, `${path}.updateOnly`),
    };
    if (p.presharedKey !== undefined) peer.presharedKey = secretBytes(p.presharedKey, `${path}.presharedKey`);
    if (p.persistentKeepalive !== undefined) {
      peer.persistentKeepalive = integer(p.persistentKeepalive, `${path}.persistentKeepalive`, 0, 65535, 'keepalive interval');
    }
    if (p.endpoint !== undefined) {
      const field = `${path}.endpoint`;
      const e = parseEndpoint(p.endpoint, field);
      if (isResolved(e)) peer.endpoint = e;
      else pending.push({ peer, endpoint: e, field });
    }
    if (p.allowedIps !== undefined) {
      if (!Array.isArray(p.allowedIps)) throw new ValidationError(`${path}.allowedIps`, 'not an array', 'a list of CIDRs');
      for (let j = 0; j < p.allowedIps.length; j++) peer.allowedIps.push(parseAllowedIp(p.allowedIps[j]!, path, j));
    }
    if (p.removeAllowedIps !== undefined) {
      const field = `${path}.removeAllowedIps`;
      if (!Array.isArray(p.removeAllowedIps)) throw new ValidationError(field, 'not an array', 'a list of CIDRs');
      for (let j = 0; j < p.removeAllowedIps.length; j++) {
        const parsedPrefix = parsePrefix(p.removeAllowedIps[j]!, `${field}[${j}]`);
        // The kernel keeps allowed IPs with the host bits cleared: remove them by that form.
        const prefix: Prefix = { ...parsedPrefix, address: networkAddress(parsedPrefix) };
        const text = formatPrefix(prefix);
        const added = peer.allowedIps.findIndex((a) => formatPrefix(a) === text);
        if (added >= 0) throw new ValidationError(`${field}[${j}]`, `${text} is also in allowedIps[${added}]`, 'a prefix either added or removed');
        peer.removeAllowedIps.push(prefix);
      }
      if (peer.removeAllowedIps.length > 0 && peer.replaceAllowedIps) {
        throw new ValidationError(field, 'replaceAllowedIps already removes every allowed IP', 'removeAllowedIps or replaceAllowedIps, not both');
      }
    }
    if (peer.remove && (peer.allowedIps.length > 0 || peer.removeAllowedIps.length > 0 || peer.updateOnly)) {
      throw new ValidationError(`${path}.remove`, 'a removed peer takes no allowed IPs and no updateOnly', 'remove alone, or the peer without remove');
    }
    parsed.peers.push(peer);
  }
  return { parsed, pending };
}

/** A CIDR; 'a.b.c.d/len' by the fast path, anything else (IPv6, errors) by the core's parser. */
function parseAllowedIp(text: string, peerPath: string, j: number): Prefix {
  if (typeof text === 'string') {
    const slash = text.indexOf('/');
    if (slash > 0) {
      const v4 = ipv4At(text, 0, slash);
      const length = v4 >= 0 ? decimalAt(text, slash + 1, text.length, 32) : -1;
      if (length >= 0) return { family: 4, address: ipv4Bytes(v4), length };
    }
  }
  return parsePrefix(text, `${peerPath}.allowedIps[${j}]`);
}

/** Validates and resolves host-name endpoints. */
export async function parseConfig(config: WireGuardConfig): Promise<ParsedConfig> {
  const { parsed, pending } = parseConfigSync(config);
  if (pending.length > 0) {
    const resolved = await Promise.all(pending.map((p) => resolveEndpoint(p.endpoint, p.field)));
    pending.forEach((p, i) => (p.peer.endpoint = resolved[i]));
  }
  return parsed;
}

/** CIDR text with the host bits cleared, as wg prints allowed IPs. */
export function formatPrefix(p: Prefix): string {
  return `${formatIP(networkAddress(p))}/${p.length}`;
}

/** Normalises one allowed-IP text the way get() reports it ('10.0.0.7/24' → '10.0.0.0/24', '10.0.0.1' → '10.0.0.1/32'). */
export function normalizeAllowedIp(text: string): string {
  return formatPrefix(parsePrefix(text, 'allowedIp'));
}

/**
 * Validation of configure() input into the byte form both backends encode.
 * Everything wrong is reported as a ValidationError with the path of the field
 * before a single byte is sent.
 */
import { ValidationError } from '../errors.js';
import {
  decimalAt,
  formatIp,
  IPV4_ENDPOINT_TEXT,
  IPV4_PREFIX_TEXT,
  ipv4At,
  ipv4Bytes,
  isKeyText,
  networkAddress,
  parseIfname,
} from '../grammar/index.js';
import { type Prefix, parsePrefix } from '../netlink/ip.js';
import { decodeKey, WG_KEY_LEN, WireGuardSecret } from './curve25519.js';
import { type Endpoint, formatEndpoint, isResolved, parseEndpoint, resolveEndpoint, type UnresolvedEndpoint } from './endpoint.js';
import type { WireGuardConfig, WireGuardPeerConfig } from './types.js';

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
  const r = parseIfname(name);
  if (r.ok) return r.value;
  throw new ValidationError(
    field,
    r.code === 'type' ? `not a string (${typeof name})` : `invalid interface name ${JSON.stringify(name)}`,
    IFNAME_EXPECTED,
  );
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

const PEER_KEYS = new Set([
  'publicKey',
  'presharedKey',
  'endpoint',
  'persistentKeepalive',
  'allowedIps',
  'removeAllowedIps',
  'replaceAllowedIps',
  'remove',
  'updateOnly',
]);
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
export function parseConfigSync(config: WireGuardConfig): {
  parsed: ParsedConfig;
  pending: Array<{ peer: ParsedPeer; endpoint: UnresolvedEndpoint; field: string }>;
} {
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
    const p = peers[i] as WireGuardPeerConfig;
    // Most peers take the fast path (no path strings, no intermediate arrays);
    // anything it does not accept goes through parsePeer, which reports it.
    const peer = fastPeer(p) ?? parsePeer(p, i, seen, pending);
    if (peer.index === FAST) {
      peer.index = i;
      // The key as checked (a getter on the caller's object could answer differently twice).
      const key = (peer as CheckedPeer).publicKeyText;
      const earlier = seen.get(key);
      if (earlier !== undefined)
        throw new ValidationError(`peers[${i}].publicKey`, `the same peer as peers[${earlier}]`, 'each public key once');
      seen.set(key, i);
    }
    parsed.peers.push(peer);
  }
  return { parsed, pending };
}

export type Pending = Array<{ peer: ParsedPeer; endpoint: UnresolvedEndpoint; field: string }>;

/** Marks a peer made by fastPeer, whose duplicate check is still to be done. */
const FAST = -1;

/** The peer at index i, validated field by field with the path of each error. */
export function parsePeer(p: WireGuardPeerConfig, i: number, seen: Map<string, number>, pending: Pending): ParsedPeer {
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
      if (added >= 0)
        throw new ValidationError(`${field}[${j}]`, `${text} is also in allowedIps[${added}]`, 'a prefix either added or removed');
      peer.removeAllowedIps.push(prefix);
    }
    if (peer.removeAllowedIps.length > 0 && peer.replaceAllowedIps) {
      throw new ValidationError(
        field,
        'replaceAllowedIps already removes every allowed IP',
        'removeAllowedIps or replaceAllowedIps, not both',
      );
    }
  }
  if (peer.remove && (peer.allowedIps.length > 0 || peer.removeAllowedIps.length > 0 || peer.updateOnly)) {
    throw new ValidationError(
      `${path}.remove`,
      'a removed peer takes no allowed IPs and no updateOnly',
      'remove alone, or the peer without remove',
    );
  }
  return peer;
}

/** An IPv4 CIDR 'a.b.c.d/len' as a Prefix; undefined for anything else (IPv6, errors: the slow path). */
function fastV4Prefix(text: unknown): Prefix | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash <= 0) return undefined;
  const v4 = ipv4At(text, 0, slash);
  const length = v4 >= 0 ? decimalAt(text, slash + 1, text.length, 32) : -1;
  return length >= 0 ? { family: 4, address: ipv4Bytes(v4), length } : undefined;
}

// The fast path checks texts with the grammar's native regular expressions
// (IPV4_ENDPOINT_TEXT, IPV4_PREFIX_TEXT, isKeyText): checking 10 000 peers
// with them is several times faster than the character loops on a cold start.
// The byte forms are then read with ipv4At and decimalAt, which allocate nothing.

const NO_PREFIXES = Object.freeze([]) as unknown as Prefix[];

/**
 * A peer the fast path has checked. It keeps the checked texts (strings
 * cannot change behind it) and makes the byte forms when they are first
 * read: by the encoder, while the messages before it are already on their
 * way. Validating 10 000 peers this way allocates one small object each
 * instead of seven, which is most of what configure() did before its first
 * byte went out.
 */
export class CheckedPeer implements ParsedPeer {
  index = FAST;
  readonly replaceAllowedIps: boolean;
  readonly remove: boolean;
  readonly updateOnly: boolean;
  readonly persistentKeepalive: number | undefined;
  readonly removeAllowedIps: Prefix[] = NO_PREFIXES;
  readonly #publicKey: string;
  readonly #presharedKey: string | null | undefined;
  readonly #endpoint: string | undefined;
  readonly #allowedIps: readonly string[];
  #bytes: Buffer | undefined;
  #prefixes: Prefix[] | undefined;

  constructor(
    publicKey: string,
    presharedKey: string | null | undefined,
    endpoint: string | undefined,
    allowedIps: readonly string[],
    persistentKeepalive: number | undefined,
    replaceAllowedIps: boolean,
    remove: boolean,
    updateOnly: boolean,
  ) {
    this.#publicKey = publicKey;
    this.#presharedKey = presharedKey;
    this.#endpoint = endpoint;
    this.#allowedIps = allowedIps;
    this.persistentKeepalive = persistentKeepalive;
    this.replaceAllowedIps = replaceAllowedIps;
    this.remove = remove;
    this.updateOnly = updateOnly;
  }

  get publicKey(): Buffer {
    return (this.#bytes ??= Buffer.from(this.#publicKey, 'base64'));
  }

  get presharedKey(): Buffer | undefined {
    const psk = this.#presharedKey;
    return psk === undefined ? undefined : psk === null ? ZERO_KEY : Buffer.from(psk, 'base64');
  }

  get endpoint(): Endpoint | undefined {
    if (this.#endpoint === undefined) return undefined;
    // Checked by IPV4_ENDPOINT_TEXT: a dotted quad, ':', a port.
    const text = this.#endpoint;
    const sep = text.lastIndexOf(':');
    return { family: 4, address: ipv4Bytes(ipv4At(text, 0, sep)), port: decimalAt(text, sep + 1, text.length, 65535), scopeId: 0 };
  }

  get allowedIps(): Prefix[] {
    return (this.#prefixes ??= this.#allowedIps.map((text) => fastV4Prefix(text)!));
  }

  /** The endpoint text: checked to be 'a.b.c.d:port' without leading zeros, the form formatEndpoint writes. */
  get endpointText(): string | undefined {
    return this.#endpoint;
  }

  /** The public key as checked: 44 characters of canonical base64. */
  get publicKeyText(): string {
    return this.#publicKey;
  }

  /** The preshared key as checked (null: remove it), undefined when not given. */
  get presharedKeyText(): string | null | undefined {
    return this.#presharedKey;
  }

  /** The allowed IPs as checked: 'a.b.c.d/len' each (host bits as given). */
  get allowedIpText(): readonly string[] {
    return this.#allowedIps;
  }

  /** The allowed IPs as formatPrefix writes them: the checked text when its host bits are clear already. */
  allowedIpTexts(): string[] {
    return this.#allowedIps.map((text) => {
      const slash = text.indexOf('/');
      const length = decimalAt(text, slash + 1, text.length, 32);
      const host = length === 32 ? 0 : 2 ** (32 - length) - 1;
      return (ipv4At(text, 0, slash) & host) === 0 ? text : formatPrefix(fastV4Prefix(text)!);
    });
  }
}

/** A peer's endpoint as text ('ip:port', '[ip6]:port'), as formatEndpoint writes it. */
export function endpointTextOf(p: ParsedPeer): string | undefined {
  if (p instanceof CheckedPeer) return p.endpointText;
  return p.endpoint ? formatEndpoint(p.endpoint) : undefined;
}

/** A peer's allowed IPs as text with the host bits cleared, as formatPrefix writes them. */
export function allowedIpTextsOf(p: ParsedPeer): string[] {
  if (p instanceof CheckedPeer) return p.allowedIpTexts();
  return p.allowedIps.map(formatPrefix);
}

/**
 * The common peer — known fields only, base64 keys, an IPv4 'a.b.c.d:port'
 * endpoint, IPv4 allowed IPs, no removeAllowedIps — checked without building
 * error paths or byte forms; undefined for anything else, which parsePeer
 * then validates (and reports) field by field. Accepts a subset of what
 * parsePeer accepts, with the same result (test/unit/wireguard-config.test.ts
 * compares them); its index is FAST until the caller has checked the key is
 * new.
 */
export function fastPeer(p: WireGuardPeerConfig): ParsedPeer | undefined {
  if (typeof p !== 'object' || p === null) return undefined;
  for (const k in p) if (!PEER_KEYS.has(k)) return undefined;
  const { publicKey, presharedKey, endpoint, persistentKeepalive, allowedIps, removeAllowedIps, replaceAllowedIps, remove, updateOnly } = p;
  if (typeof publicKey !== 'string' || !isKeyText(publicKey) || removeAllowedIps !== undefined) return undefined;
  if (replaceAllowedIps !== undefined && typeof replaceAllowedIps !== 'boolean') return undefined;
  if (remove !== undefined && typeof remove !== 'boolean') return undefined;
  if (updateOnly !== undefined && typeof updateOnly !== 'boolean') return undefined;
  if (presharedKey !== undefined && presharedKey !== null && !isKeyText(presharedKey)) return undefined;
  if (persistentKeepalive !== undefined) {
    if (
      typeof persistentKeepalive !== 'number' ||
      !Number.isInteger(persistentKeepalive) ||
      persistentKeepalive < 0 ||
      persistentKeepalive > 65535
    )
      return undefined;
  }
  if (endpoint !== undefined && (typeof endpoint !== 'string' || !IPV4_ENDPOINT_TEXT.test(endpoint))) return undefined;
  let ips: readonly string[] = NO_TEXTS;
  if (allowedIps !== undefined) {
    if (!Array.isArray(allowedIps)) return undefined;
    // A copy, checked: the caller's array may change before the peer is encoded.
    if (allowedIps.length > 0) ips = allowedIps.length === 1 ? [allowedIps[0]!] : allowedIps.slice();
    for (let j = 0; j < ips.length; j++) {
      const text = ips[j];
      if (typeof text !== 'string' || !IPV4_PREFIX_TEXT.test(text)) return undefined;
    }
  }
  if (remove === true && (ips.length > 0 || updateOnly === true)) return undefined;
  const psk = presharedKey as string | null | undefined;
  return new CheckedPeer(
    publicKey,
    psk,
    endpoint as string | undefined,
    ips,
    persistentKeepalive,
    replaceAllowedIps === true,
    remove === true,
    updateOnly === true,
  );
}

const NO_TEXTS: readonly string[] = Object.freeze([]);

/** A CIDR; 'a.b.c.d/len' by the fast path, anything else (IPv6, errors) by the core's parser. */
function parseAllowedIp(text: string, peerPath: string, j: number): Prefix {
  return fastV4Prefix(text) ?? parsePrefix(text, `${peerPath}.allowedIps[${j}]`);
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
  return `${formatIp(networkAddress(p))}/${p.length}`;
}

/** Normalises one allowed-IP text the way get() reports it ('10.0.0.7/24' → '10.0.0.0/24', '10.0.0.1' → '10.0.0.1/32'). */
export function normalizeAllowedIp(text: string): string {
  return formatPrefix(parsePrefix(text, 'allowedIp'));
}

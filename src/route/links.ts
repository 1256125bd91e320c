/**
 * Network interfaces (RTM_NEWLINK/DELLINK/GETLINK): creating veth pairs
 * (the peer directly in another namespace), bridges, dummies, WireGuard
 * devices, ifb and macvlan; changing state, MTU, alias, master and namespace;
 * reading them back.
 */
import { NetlinkError, ValidationError } from '../errors.js';
import { walkAttributes } from '../netlink/attributes.js';
import type { Connection } from '../netlink/connection.js';
import { NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL } from '../netlink/constants.js';
import { messageCodec, type Request } from '../netlink/message.js';
import * as C from './constants.js';
import { withNetnsFd } from './netns-fd.js';
import { ifinfomsg, type LinkAttrs, linkAttrs, linkAttrsFor } from './schemas.js';
import { checkIfname, checkObject, checkUint } from './validation.js';

/** Link kinds netfwd can create. The host kernel must have the driver (e.g. `dummy`, `wireguard`). */
export const LINK_KINDS = ['veth', 'bridge', 'dummy', 'wireguard', 'ifb', 'macvlan'] as const;
export type LinkKind = (typeof LINK_KINDS)[number];

export type MacvlanMode = 'private' | 'vepa' | 'bridge' | 'passthru' | 'source';
const MACVLAN_MODES: Record<MacvlanMode, number> = { private: 1, vepa: 2, bridge: 4, passthru: 8, source: 16 };

interface LinkCommon {
  /** At most 15 bytes. */
  name: string;
  mtu?: number;
  /** IFLA_IFALIAS; netfwd tags the links it creates with it. Set right after creation. */
  alias?: string;
  /** Bring the link up on creation. */
  up?: boolean;
  /** Name of a bridge (or other master) to enslave the new link to. */
  master?: string;
  /** MAC address, `aa:bb:cc:dd:ee:ff`. */
  address?: string;
  txqlen?: number;
}

export interface VethPeerSpec {
  name: string;
  /** Create the peer directly in this namespace (a name under /run/netns, or a path). */
  netns?: string;
  mtu?: number;
  address?: string;
}

export interface VethLinkSpec extends LinkCommon {
  kind: 'veth';
  peer: VethPeerSpec;
}

export interface SimpleLinkSpec extends LinkCommon {
  kind: 'bridge' | 'dummy' | 'wireguard' | 'ifb';
}

export interface MacvlanLinkSpec extends LinkCommon {
  kind: 'macvlan';
  /** The lower device. */
  parent: string;
  /** Default 'bridge'. */
  mode?: MacvlanMode;
}

export type LinkSpec = VethLinkSpec | SimpleLinkSpec | MacvlanLinkSpec;

export interface LinkChange {
  up?: boolean;
  mtu?: number;
  /** Move the link into this namespace (a name under /run/netns, or a path). */
  netns?: string;
  /** The empty string or null removes the alias. */
  alias?: string | null;
  /** Enslave to this master; null releases it. */
  master?: string | null;
  /** Rename (the link must be down). */
  name?: string;
  address?: string;
  txqlen?: number;
}

export type OperState = 'unknown' | 'notpresent' | 'down' | 'lowerlayerdown' | 'testing' | 'dormant' | 'up';
const OPERSTATES: OperState[] = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'];

export interface Link {
  index: number;
  name: string;
  /** IFLA_INFO_KIND (`veth`, `bridge`, ...); absent for devices without one, such as lo. */
  kind?: string;
  /** Kind of the master this link is enslaved to (`bridge`). */
  slaveKind?: string;
  /** Interface flags by name, as `ip -j link` prints them (NO-CARRIER, BROADCAST, ..., UP, LOWER_UP). */
  flags: string[];
  /** The raw IFF_* bits. */
  rawFlags: number;
  /** IFF_UP: administratively up. */
  up: boolean;
  mtu?: number;
  alias?: string;
  master?: string;
  masterIndex?: number;
  operstate: OperState;
  /** MAC address (lowercase, colon-separated), when the link has one. */
  address?: string;
  broadcast?: string;
  /** ARPHRD_* device type (1 ether, 772 loopback, 65534 none). */
  type: number;
  txqlen?: number;
  /** IFLA_LINK: the peer of a veth, the lower device of a macvlan (an index, possibly in another namespace). */
  parentIndex?: number;
  /** IFLA_LINK_NETNSID: the namespace id `parentIndex` is in, when not this one. */
  linkNetnsId?: number;
  macvlanMode?: MacvlanMode;
}

export const linkCodec = messageCodec(ifinfomsg, linkAttrs);

// ---------------------------------------------------------------- encoding

const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
function parseMac(text: unknown, field: string): Buffer {
  if (typeof text !== 'string' || !MAC_RE.test(text))
    throw new ValidationError(field, `invalid MAC address ${JSON.stringify(text)}`, 'six hex pairs such as 02:00:00:00:00:01');
  return Buffer.from(text.replace(/:/g, ''), 'hex');
}
const formatMac = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');

const checkMtu = (v: unknown, field: string) => (v === undefined ? undefined : checkUint(v, field, 0xffffffff, 68));

/** Validates a link spec; throws a ValidationError before anything is sent. */
export function validateLinkSpec(input: LinkSpec): LinkSpec {
  const spec = checkObject(input, 'link') as unknown as LinkSpec;
  checkIfname(spec.name, 'name');
  if (!LINK_KINDS.includes(spec.kind as LinkKind)) {
    throw new ValidationError('kind', `unknown link kind ${JSON.stringify(spec.kind)}`, LINK_KINDS.map((k) => `'${k}'`).join(', '));
  }
  checkMtu(spec.mtu, 'mtu');
  if (spec.txqlen !== undefined) checkUint(spec.txqlen, 'txqlen', 0xffffffff);
  if (spec.address !== undefined) parseMac(spec.address, 'address');
  if (spec.alias !== undefined && (typeof spec.alias !== 'string' || Buffer.byteLength(spec.alias) > 255)) {
    throw new ValidationError('alias', 'invalid alias', 'a string of at most 255 bytes');
  }
  if (spec.master !== undefined) checkIfname(spec.master, 'master');
  if (spec.kind === 'veth') {
    const peer = checkObject(spec.peer, 'peer') as unknown as VethPeerSpec;
    checkIfname(peer.name, 'peer.name');
    if (peer.name === spec.name && peer.netns === undefined)
      throw new ValidationError('peer.name', 'the peer needs a name of its own in the same namespace');
    checkMtu(peer.mtu, 'peer.mtu');
    if (peer.address !== undefined) parseMac(peer.address, 'peer.address');
    if (peer.netns !== undefined && (typeof peer.netns !== 'string' || peer.netns.length === 0)) {
      throw new ValidationError('peer.netns', 'expected a namespace name or path');
    }
  } else if ('peer' in spec && (spec as { peer?: unknown }).peer !== undefined) {
    throw new ValidationError('peer', `a ${spec.kind} link has no peer`, "kind 'veth'");
  }
  if (spec.kind === 'macvlan') {
    checkIfname(spec.parent, 'parent');
    if (spec.mode !== undefined && !(spec.mode in MACVLAN_MODES)) {
      throw new ValidationError('mode', `unknown macvlan mode ${JSON.stringify(spec.mode)}`, Object.keys(MACVLAN_MODES).join(', '));
    }
  }
  return spec;
}

/** What the request builders need that only the kernel knows (indexes) or the OS gives (fds). */
export interface LinkResolved {
  masterIndex?: number;
  parentIndex?: number;
  peerNetnsFd?: number;
  netnsFd?: number;
  index?: number;
}

/** RTM_NEWLINK creating a link. Validate the spec first. */
export function linkAddRequest(spec: LinkSpec, resolved: LinkResolved = {}): Request {
  const attrs: Record<string, unknown> = { ifname: spec.name };
  if (spec.address !== undefined) attrs.address = parseMac(spec.address, 'address');
  if (spec.mtu !== undefined) attrs.mtu = spec.mtu;
  if (resolved.parentIndex !== undefined) attrs.link = resolved.parentIndex;
  if (resolved.masterIndex !== undefined) attrs.master = resolved.masterIndex;
  if (spec.txqlen !== undefined) attrs.txqlen = spec.txqlen;
  const info: Record<string, unknown> = { kind: spec.kind };
  if (spec.kind === 'veth') {
    const peer: Record<string, unknown> = { ifname: spec.peer.name };
    if (resolved.peerNetnsFd !== undefined) peer.netnsFd = resolved.peerNetnsFd;
    if (spec.peer.address !== undefined) peer.address = parseMac(spec.peer.address, 'peer.address');
    if (spec.peer.mtu !== undefined) peer.mtu = spec.peer.mtu;
    info.data = { peer: { header: {}, attrs: peer } };
  } else if (spec.kind === 'macvlan') {
    info.data = { mode: MACVLAN_MODES[spec.mode ?? 'bridge'] };
  }
  attrs.linkinfo = info;
  const codec = messageCodec(ifinfomsg, linkAttrsFor(spec.kind));
  const header = spec.up ? { flags: C.IFF_UP, change: C.IFF_UP } : {};
  const peerNote = spec.kind === 'veth' ? ` peer ${spec.peer.name}${spec.peer.netns ? ` in ${spec.peer.netns}` : ''}` : '';
  return codec.request(C.RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, header, attrs, `add link ${spec.name} (${spec.kind}${peerNote})`);
}

/** Validates a change; throws a ValidationError before anything is sent. */
export function validateLinkChange(name: string, input: LinkChange): LinkChange {
  checkIfname(name, 'name');
  const change = checkObject(input, 'change') as LinkChange;
  if (change.up !== undefined && typeof change.up !== 'boolean') throw new ValidationError('up', 'expected a boolean');
  checkMtu(change.mtu, 'mtu');
  if (change.txqlen !== undefined) checkUint(change.txqlen, 'txqlen', 0xffffffff);
  if (change.alias !== undefined && change.alias !== null && (typeof change.alias !== 'string' || Buffer.byteLength(change.alias) > 255)) {
    throw new ValidationError('alias', 'invalid alias', 'a string of at most 255 bytes, or null to remove it');
  }
  if (change.master !== undefined && change.master !== null) checkIfname(change.master, 'master');
  if (change.name !== undefined) checkIfname(change.name, 'name');
  if (change.address !== undefined) parseMac(change.address, 'address');
  if (change.netns !== undefined && (typeof change.netns !== 'string' || change.netns.length === 0)) {
    throw new ValidationError('netns', 'expected a namespace name or path');
  }
  return change;
}

/**
 * RTM_NEWLINK changing an existing link, found by `resolved.index` when given
 * (needed for a rename), otherwise by name.
 */
export function linkSetRequest(name: string, change: LinkChange, resolved: LinkResolved = {}): Request {
  const attrs: Record<string, unknown> = {};
  const header: { index?: number; flags?: number; change?: number } = {};
  if (resolved.index !== undefined) {
    header.index = resolved.index;
    if (change.name !== undefined) attrs.ifname = change.name;
  } else {
    attrs.ifname = name;
  }
  if (resolved.netnsFd !== undefined) attrs.netnsFd = resolved.netnsFd;
  if (change.up !== undefined) {
    header.flags = change.up ? C.IFF_UP : 0;
    header.change = C.IFF_UP;
  }
  if (change.address !== undefined) attrs.address = parseMac(change.address, 'address');
  if (change.mtu !== undefined) attrs.mtu = change.mtu;
  if (change.master !== undefined) attrs.master = change.master === null ? 0 : resolved.masterIndex;
  if (change.txqlen !== undefined) attrs.txqlen = change.txqlen;
  // A zero-length alias is how the kernel is told to remove it.
  if (change.alias !== undefined) attrs.ifalias = change.alias ?? '';
  return linkCodec.request(C.RTM_NEWLINK, 0, header, attrs, `set link ${name}`);
}

export function linkRemoveRequest(name: string, index?: number): Request {
  return index !== undefined
    ? linkCodec.request(C.RTM_DELLINK, 0, { index }, {}, `remove link ${name}`)
    : linkCodec.request(C.RTM_DELLINK, 0, {}, { ifname: name }, `remove link ${name}`);
}

export function linkGetRequest(key: string | number): Request {
  const attrs = { extMask: C.RTEXT_FILTER_SKIP_STATS, ...(typeof key === 'string' ? { ifname: key } : {}) };
  return linkCodec.request(C.RTM_GETLINK, 0, typeof key === 'number' ? { index: key } : {}, attrs, `get link ${key}`, 'read');
}

export function linkDumpRequest(): Request {
  return linkCodec.request(C.RTM_GETLINK, NLM_F_DUMP, {}, { extMask: C.RTEXT_FILTER_SKIP_STATS }, 'list links', 'read');
}

// ---------------------------------------------------------------- decoding

// The order `ip` prints them in (iproute2 print_link_flags); RUNNING is shown as NO-CARRIER when missing.
const FLAG_NAMES: Array<[number, string]> = [
  [C.IFF_LOOPBACK, 'LOOPBACK'],
  [C.IFF_BROADCAST, 'BROADCAST'],
  [C.IFF_POINTOPOINT, 'POINTOPOINT'],
  [C.IFF_MULTICAST, 'MULTICAST'],
  [C.IFF_NOARP, 'NOARP'],
  [C.IFF_ALLMULTI, 'ALLMULTI'],
  [C.IFF_PROMISC, 'PROMISC'],
  [C.IFF_MASTER, 'MASTER'],
  [C.IFF_SLAVE, 'SLAVE'],
  [C.IFF_DEBUG, 'DEBUG'],
  [C.IFF_DYNAMIC, 'DYNAMIC'],
  [C.IFF_AUTOMEDIA, 'AUTOMEDIA'],
  [C.IFF_PORTSEL, 'PORTSEL'],
  [C.IFF_NOTRAILERS, 'NOTRAILERS'],
  [C.IFF_UP, 'UP'],
  [C.IFF_LOWER_UP, 'LOWER_UP'],
  [C.IFF_DORMANT, 'DORMANT'],
  [C.IFF_ECHO, 'ECHO'],
];

export function linkFlagNames(flags: number): string[] {
  const out: string[] = [];
  if (flags & C.IFF_UP && !(flags & C.IFF_RUNNING)) out.push('NO-CARRIER');
  let rest = flags & ~C.IFF_RUNNING;
  for (const [bit, name] of FLAG_NAMES) {
    if (rest & bit) {
      out.push(name);
      rest &= ~bit;
    }
  }
  if (rest) out.push(rest.toString(16));
  return out;
}

/**
 * Decodes the payload of an RTM_NEWLINK/RTM_DELLINK message. `names` maps
 * indexes to names for `master`. Throws DecodeError on malformed bytes.
 */
export function decodeLink(payload: Buffer, names?: ReadonlyMap<number, string>): Link {
  const { header, attrs } = linkCodec.decode(payload);
  return linkFrom(header, attrs, names);
}

function linkFrom(header: { index: number; flags: number; type: number }, a: LinkAttrs, names?: ReadonlyMap<number, string>): Link {
  const link: Link = {
    index: header.index,
    name: a.ifname ?? '',
    flags: linkFlagNames(header.flags),
    rawFlags: header.flags,
    up: (header.flags & C.IFF_UP) !== 0,
    operstate: OPERSTATES[a.operstate ?? 0] ?? 'unknown',
    type: header.type,
  };
  if (a.linkinfo?.kind) link.kind = a.linkinfo.kind;
  if (a.linkinfo?.slaveKind) link.slaveKind = a.linkinfo.slaveKind;
  if (a.mtu !== undefined) link.mtu = a.mtu;
  if (a.ifalias) link.alias = a.ifalias;
  if (a.master) {
    link.masterIndex = a.master;
    const m = names?.get(a.master);
    if (m !== undefined) link.master = m;
  }
  if (a.address && a.address.length > 0) link.address = formatMac(a.address);
  if (a.broadcast && a.broadcast.length > 0) link.broadcast = formatMac(a.broadcast);
  if (a.txqlen !== undefined) link.txqlen = a.txqlen;
  if (a.link !== undefined && a.link !== header.index) link.parentIndex = a.link;
  if (a.linkNetnsId !== undefined && a.linkNetnsId >= 0) link.linkNetnsId = a.linkNetnsId;
  const data = a.linkinfo?.data as { mode?: number } | undefined;
  if ((link.kind === 'macvlan' || link.kind === 'macvtap') && data && typeof data.mode === 'number') {
    const mode = (Object.keys(MACVLAN_MODES) as MacvlanMode[]).find((k) => MACVLAN_MODES[k] === data.mode);
    if (mode) link.macvlanMode = mode;
  }
  return link;
}

// ---------------------------------------------------------------- API

const isErrno = (err: unknown, code: string) => err instanceof NetlinkError && err.code === code;

/** `rt.links`: interfaces of the Route's namespace. */
export class Links {
  constructor(private readonly conn: Connection) {}

  /**
   * Creates a link. A veth peer with `netns` is created directly in that
   * namespace. `alias` is set by a second message right after creation (the
   * kernel ignores IFLA_IFALIAS when creating).
   */
  async add(spec: LinkSpec): Promise<void> {
    validateLinkSpec(spec);
    const masterIndex = spec.master !== undefined ? await this.indexOf(spec.master, 'master') : undefined;
    const parentIndex = spec.kind === 'macvlan' ? await this.indexOf(spec.parent, 'parent') : undefined;
    const peerNetns = spec.kind === 'veth' ? spec.peer.netns : undefined;
    await withNetnsFd(peerNetns, 'peer.netns', async (peerNetnsFd) => {
      await this.conn.request(linkAddRequest(spec, { masterIndex, parentIndex, peerNetnsFd }));
    });
    if (spec.alias !== undefined) await this.conn.request(linkSetRequest(spec.name, { alias: spec.alias }));
  }

  /** Changes a link. Throws NetlinkError ENODEV when it does not exist. */
  async set(name: string, change: LinkChange): Promise<void> {
    validateLinkChange(name, change);
    const masterIndex = typeof change.master === 'string' ? await this.indexOf(change.master, 'master') : undefined;
    const index = change.name !== undefined && change.name !== name ? await this.indexOf(name, 'name') : undefined;
    await withNetnsFd(change.netns, 'netns', async (netnsFd) => {
      await this.conn.request(linkSetRequest(name, change, { masterIndex, netnsFd, index }));
    });
  }

  /** Removes a link (a veth takes its peer with it). Throws NetlinkError ENODEV when it does not exist. */
  async remove(name: string): Promise<void> {
    checkIfname(name, 'name');
    await this.conn.request(linkRemoveRequest(name));
  }

  /** The link with this name or index, or null when there is none (ENODEV is not thrown). */
  async get(nameOrIndex: string | number): Promise<Link | null> {
    const link = await this.fetch(nameOrIndex);
    if (link?.masterIndex !== undefined) {
      const master = await this.fetch(link.masterIndex);
      if (master) link.master = master.name;
    }
    return link;
  }

  private async fetch(nameOrIndex: string | number): Promise<Link | null> {
    if (typeof nameOrIndex === 'number') checkUint(nameOrIndex, 'index', 0x7fffffff, 1);
    else checkIfname(nameOrIndex, 'name');
    let replies;
    try {
      replies = await this.conn.request(linkGetRequest(nameOrIndex));
    } catch (err) {
      if (isErrno(err, 'ENODEV')) return null;
      throw err;
    }
    const msg = replies.find((m) => m.type === C.RTM_NEWLINK);
    return msg ? decodeLink(msg.data) : null;
  }

  /** Every link of the namespace, in index order. */
  async list(): Promise<Link[]> {
    const decoded: Array<{ header: { index: number; flags: number; type: number }; attrs: LinkAttrs }> = [];
    for await (const m of this.conn.dump(linkDumpRequest(), { key: linkKey })) {
      if (m.type === C.RTM_NEWLINK) decoded.push(linkCodec.decode(m.data));
    }
    const names = new Map(decoded.map((d) => [d.header.index, d.attrs.ifname ?? '']));
    return decoded.map((d) => linkFrom(d.header, d.attrs, names)).sort((x, y) => x.index - y.index);
  }

  /** Index → name of every link (for decoding routes and addresses). */
  async names(): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for await (const m of this.conn.dump(linkDumpRequest(), { key: linkKey })) {
      if (m.type !== C.RTM_NEWLINK) continue;
      const name = ifnameOf(m.data);
      out.set(m.data.readInt32LE(4), name);
    }
    return out;
  }

  /** The index of a link; NetlinkError ENODEV naming `field` when there is none. */
  async indexOf(name: string, field = 'link'): Promise<number> {
    checkIfname(name, field);
    const link = await this.fetch(name);
    if (!link) throw new NetlinkError(19, { operation: `${field}: no link named ${JSON.stringify(name)} in this namespace` });
    return link.index;
  }
}

/**
 * IFLA_IFNAME of an RTM_NEWLINK payload, found by walking the top-level
 * attributes only (names() needs nothing else; a full decode of every link
 * costs more than the dump). '' when absent; malformed bytes are a DecodeError.
 */
function ifnameOf(data: Buffer): string {
  if (data.length < ifinfomsg.size) linkCodec.decode(data); // throws the decoder's typed error
  for (const a of walkAttributes(data, ifinfomsg.size, data.length, 'link')) {
    if (a.type !== C.IFLA_IFNAME) continue;
    const nul = data.indexOf(0, a.at);
    return data.toString('utf8', a.at, nul === -1 || nul > a.at + a.len ? a.at + a.len : nul);
  }
  return '';
}

/** Dump identity of a link message: its index (bytes 4-7 of ifinfomsg). */
export const linkKey = (m: { data: Buffer }): string => (m.data.length >= 8 ? String(m.data.readInt32LE(4)) : m.data.toString('hex'));

/**
 * Interface addresses (RTM_NEWADDR/DELADDR/GETADDR), IPv4 and IPv6,
 * including point-to-point addresses with a peer.
 */
import { ValidationError } from '../errors.js';
import { formatIp } from '../grammar/index.js';
import type { Connection } from '../netlink/connection.js';
import { NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE } from '../netlink/constants.js';
import { dumpDecoded } from '../netlink/dump.js';
import { messageCodec, type NetlinkMessage, type Request } from '../netlink/message.js';
import * as C from './constants.js';
import type { Links } from './links.js';
import { addressBytes, prefixBytes } from './prefix.js';
import { addressAttrs, ifaddrmsg } from './schemas.js';
import { type RouteScope, scopeName, scopeNumber } from './scope.js';
import { checkFamily, checkIfname, checkObject, checkUint, familyNumber, familyOfNumber, type RouteFamily } from './validation.js';

export interface AddressSpec {
  /** Interface name. */
  link: string;
  /** `192.0.2.1/24`, `2001:db8::1/64`; a bare address is a host prefix (/32, /128). */
  address: string;
  /** The other end of a point-to-point link; with a prefix length, that length is the address's. */
  peer?: string;
  /** IPv4 broadcast address. */
  broadcast?: string;
  /** IPv4 label (`eth0:1`), at most 15 bytes and starting with the interface name. */
  label?: string;
  /** Default 'global' ('host' for 127.0.0.0/8). */
  scope?: RouteScope | number;
  /** Metric of the prefix route the kernel adds (IFA_RT_PRIORITY). */
  metric?: number;
  /** Do not add the prefix route (IFA_F_NOPREFIXROUTE). */
  noPrefixRoute?: boolean;
  /** IPv6: skip duplicate address detection, so the address is usable at once (IFA_F_NODAD). */
  noDad?: boolean;
}

/** The identity of an address for `remove`: what `list()` returns also fits. */
export interface AddressKey {
  link?: string;
  /** Interface index; used instead of `link` when given. */
  index?: number;
  address: string;
  peer?: string;
}

export interface Address {
  family: RouteFamily;
  /** Interface index. */
  index: number;
  /** Interface name (absent only if the link vanished while listing). */
  link?: string;
  /** `local/prefixLength`, the form `add` takes. */
  address: string;
  local: string;
  prefixLength: number;
  /** Point-to-point peer, when IFA_ADDRESS differs from IFA_LOCAL. */
  peer?: string;
  broadcast?: string;
  label?: string;
  scope: RouteScope | number;
  /** IFA_F_* flags by name: 'permanent', 'secondary', 'nodad', 'tentative', 'noprefixroute', ... */
  flags: string[];
  rawFlags: number;
  metric?: number;
  /** Seconds; 4294967295 is forever. */
  validLifetime?: number;
  preferredLifetime?: number;
}

export interface AddressFilter {
  link?: string;
  family?: RouteFamily;
}

export const addressCodec = messageCodec(ifaddrmsg, addressAttrs);

const FLAG_NAMES: Array<[number, string]> = [
  [C.IFA_F_SECONDARY, 'secondary'],
  [C.IFA_F_NODAD, 'nodad'],
  [C.IFA_F_OPTIMISTIC, 'optimistic'],
  [C.IFA_F_DADFAILED, 'dadfailed'],
  [C.IFA_F_HOMEADDRESS, 'home'],
  [C.IFA_F_DEPRECATED, 'deprecated'],
  [C.IFA_F_TENTATIVE, 'tentative'],
  [C.IFA_F_PERMANENT, 'permanent'],
  [C.IFA_F_MANAGETEMPADDR, 'mngtmpaddr'],
  [C.IFA_F_NOPREFIXROUTE, 'noprefixroute'],
  [C.IFA_F_MCAUTOJOIN, 'autojoin'],
  [C.IFA_F_STABLE_PRIVACY, 'stable-privacy'],
];

interface ParsedAddress {
  family: RouteFamily;
  local: string;
  prefixLength: number;
  peer?: string;
}

function parseAddressFields(spec: { address: unknown; peer?: unknown }): ParsedAddress {
  const p = prefixBytes(spec.address, 'address', undefined, true);
  const family: RouteFamily = p.family;
  let prefixLength = p.length;
  let peer: string | undefined;
  if (spec.peer !== undefined) {
    const q = prefixBytes(spec.peer, 'peer', family, true);
    peer = formatIp(q.bytes);
    if (typeof spec.peer === 'string' && spec.peer.includes('/')) prefixLength = q.length;
  }
  return { family, local: formatIp(p.bytes), prefixLength, peer };
}

/** Validates an address spec; throws a ValidationError before anything is sent. */
export function validateAddressSpec(input: AddressSpec): ParsedAddress {
  const spec = checkObject(input, 'address') as unknown as AddressSpec;
  checkIfname(spec.link, 'link');
  const parsed = parseAddressFields(spec);
  if (spec.broadcast !== undefined) {
    if (parsed.family !== 4) throw new ValidationError('broadcast', 'only IPv4 addresses have a broadcast address');
    addressBytes(spec.broadcast, 'broadcast', 4);
  }
  if (spec.label !== undefined) {
    checkIfname(spec.label.replace(':', '_'), 'label');
    if (parsed.family !== 4) throw new ValidationError('label', 'only IPv4 addresses have labels');
    if (!spec.label.startsWith(spec.link)) throw new ValidationError('label', `a label must start with the interface name ${spec.link}`);
  }
  if (spec.scope !== undefined) scopeNumber(spec.scope);
  if (spec.metric !== undefined) checkUint(spec.metric, 'metric', 0xffffffff);
  return parsed;
}

/** RTM_NEWADDR adding (or, with `replace`, replacing) an address on interface `index`. */
export function addressAddRequest(spec: AddressSpec, index: number, replace = false): Request {
  const a = validateAddressSpec(spec);
  let flags = 0;
  if (spec.noDad) flags |= C.IFA_F_NODAD;
  if (spec.noPrefixRoute) flags |= C.IFA_F_NOPREFIXROUTE;
  const scope =
    spec.scope !== undefined
      ? scopeNumber(spec.scope)
      : a.family === 4 && a.local.startsWith('127.')
        ? C.RT_SCOPE_HOST
        : C.RT_SCOPE_UNIVERSE;
  const header = { family: familyNumber(a.family), prefixlen: a.prefixLength, flags: flags <= 0xff ? flags : 0, scope, index };
  const attrs = {
    local: a.local,
    address: a.peer ?? a.local,
    broadcast: spec.broadcast,
    label: spec.label,
    flags: flags > 0xff ? flags : undefined,
    metric: spec.metric,
  };
  const what = `${a.local}/${a.prefixLength}${a.peer ? ` peer ${a.peer}` : ''} on ${spec.link}`;
  return addressCodec.request(
    C.RTM_NEWADDR,
    NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL),
    header,
    attrs,
    `${replace ? 'replace' : 'add'} address ${what}`,
  );
}

/** RTM_DELADDR removing one address from interface `index`. */
export function addressRemoveRequest(key: AddressKey, index: number): Request {
  const a = parseAddressFields(key);
  const header = { family: familyNumber(a.family), prefixlen: a.prefixLength, index };
  const what = `${a.local}/${a.prefixLength}${a.peer ? ` peer ${a.peer}` : ''} from ${key.link ?? `link ${index}`}`;
  return addressCodec.request(C.RTM_DELADDR, 0, header, { local: a.local, address: a.peer ?? a.local }, `remove address ${what}`);
}

export function addressDumpRequest(family?: RouteFamily, index?: number): Request {
  return addressCodec.request(
    C.RTM_GETADDR,
    NLM_F_DUMP,
    { family: family === undefined ? C.AF_UNSPEC : familyNumber(family), index: index ?? 0 },
    {},
    'list addresses',
    'read',
  );
}

/**
 * Decodes the payload of an RTM_NEWADDR/RTM_DELADDR message; undefined for
 * families other than IPv4 and IPv6. Throws DecodeError on malformed bytes.
 */
export function decodeAddress(payload: Buffer, names?: ReadonlyMap<number, string>): Address | undefined {
  const { header: h, attrs: a } = addressCodec.decode(payload);
  const family = familyOfNumber(h.family);
  if (family === undefined) return undefined;
  const local = a.local ?? a.address;
  if (local === undefined) return undefined;
  const rawFlags = a.flags ?? h.flags;
  const out: Address = {
    family,
    index: h.index,
    address: `${local}/${h.prefixlen}`,
    local,
    prefixLength: h.prefixlen,
    scope: scopeName(h.scope),
    flags: FLAG_NAMES.filter(([bit]) => rawFlags & bit).map(([, n]) => n),
    rawFlags,
  };
  const link = names?.get(h.index);
  if (link !== undefined) out.link = link;
  if (a.local !== undefined && a.address !== undefined && a.address !== a.local) out.peer = a.address;
  if (a.broadcast !== undefined) out.broadcast = a.broadcast;
  if (a.label !== undefined) out.label = a.label;
  if (a.metric !== undefined) out.metric = a.metric;
  if (a.cacheinfo) {
    out.validLifetime = a.cacheinfo.valid;
    out.preferredLifetime = a.cacheinfo.preferred;
  }
  return out;
}

export const addressKey = (a: Address): string => `${a.family}|${a.index}|${a.local}|${a.prefixLength}|${a.peer ?? ''}`;

/** `rt.addresses`: addresses of the Route's namespace. */
export class Addresses {
  /** @param streams The connection `stream()` dumps on (see Routes). */
  constructor(
    private readonly conn: Connection,
    private readonly links: Links,
    private readonly streams: () => Connection = () => conn,
  ) {}

  /** Adds an address. EEXIST (NetlinkError) when it is already there. */
  async add(spec: AddressSpec): Promise<void> {
    validateAddressSpec(spec);
    const index = await this.links.indexOf(spec.link, 'link');
    await this.conn.request(addressAddRequest(spec, index));
  }

  /** Adds an address or updates the one with the same local address and prefix. */
  async replace(spec: AddressSpec): Promise<void> {
    validateAddressSpec(spec);
    const index = await this.links.indexOf(spec.link, 'link');
    await this.conn.request(addressAddRequest(spec, index, true));
  }

  /** Removes one address; an object from `list()` works as it is. */
  async remove(key: AddressKey): Promise<void> {
    checkObject(key, 'address');
    parseAddressFields(key);
    let index = key.index;
    if (index === undefined) {
      if (key.link === undefined) throw new ValidationError('link', 'needed to find the address', 'an interface name, or index');
      index = await this.links.indexOf(key.link, 'link');
    } else checkUint(index, 'index', 0x7fffffff, 1);
    await this.conn.request(addressRemoveRequest(key, index));
  }

  /** Addresses, optionally of one link and/or one family. */
  async list(filter: AddressFilter = {}): Promise<Address[]> {
    const out: Address[] = [];
    for await (const a of this.iterate(filter, this.conn)) out.push(a);
    return out;
  }

  /**
   * `list()` as a stream: addresses are decoded and yielded as the dump
   * arrives. If the kernel flags the dump as interrupted by a concurrent
   * change (NLM_F_DUMP_INTR) it is re-run and only addresses not yet yielded
   * follow. Changing addresses while iterating is fine (the dump runs on a
   * socket of its own).
   */
  stream(filter: AddressFilter = {}): AsyncGenerator<Address, void, undefined> {
    return this.iterate(filter, this.streams());
  }

  private async *iterate(filter: AddressFilter, conn: Connection): AsyncGenerator<Address, void, undefined> {
    checkObject(filter, 'filter');
    const family = checkFamily(filter.family, 'family');
    let index: number | undefined;
    if (filter.link !== undefined) index = await this.links.indexOf(filter.link, 'link');
    const names = await this.links.names();
    const decode = (m: NetlinkMessage) => (m.type === C.RTM_NEWADDR ? decodeAddress(m.data, names) : undefined);
    for await (const a of dumpDecoded(conn, addressDumpRequest(family, index), decode, addressKey)) {
      if (index !== undefined && a.index !== index) continue;
      if (family !== undefined && a.family !== family) continue;
      yield a;
    }
  }
}

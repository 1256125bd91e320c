/**
 * Route messages: the spec a caller gives and the entry the kernel reports,
 * RTM_NEWROUTE/DELROUTE/GETROUTE requests (validated before anything is
 * sent) and the decoding of the kernel's route messages.
 */
import { ValidationError } from '../errors.js';
import { NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE } from '../netlink/constants.js';
import { messageCodec, type Request } from '../netlink/message.js';
import { LazyRequest } from '../netlink/request.js';
import * as C from './constants.js';
import { addressBytes, prefixBytes } from './prefix.js';
import { protocolNumber, type RouteProtocol } from './protocols.js';
import { type RouteAttrs, routeAttrs, routeWireAttrs, rtmsg } from './schemas.js';
import { type RouteScope, scopeName, scopeNumber } from './scope.js';
import {
  checkFamily,
  checkIfname,
  checkObject,
  checkTable,
  checkUint,
  familyNumber,
  familyOfNumber,
  type RouteFamily,
  type TableId,
} from './validation.js';

export type RouteType =
  | 'unicast'
  | 'local'
  | 'broadcast'
  | 'anycast'
  | 'multicast'
  | 'blackhole'
  | 'unreachable'
  | 'prohibit'
  | 'throw'
  | 'nat'
  | 'xresolve';

export const TYPE_NAMES: RouteType[] = [
  'unicast',
  'local',
  'broadcast',
  'anycast',
  'multicast',
  'blackhole',
  'unreachable',
  'prohibit',
  'throw',
  'nat',
  'xresolve',
];
const TYPE_NUMBERS = new Map<string, number>(TYPE_NAMES.map((t, i) => [t, i + 1]));
export const typeNumber = (t: RouteType): number => TYPE_NUMBERS.get(t)!;
const typeName = (n: number): RouteType | number => TYPE_NAMES[n - 1] ?? n;

/** Types that drop or divert packets and so take neither gateway nor link. */
const NO_NEXTHOP: ReadonlySet<RouteType> = new Set(['blackhole', 'unreachable', 'prohibit', 'throw']);

/** RTNH_F_ONLINK: the gateway is on the link even without a matching prefix. */
export const RTNH_F_ONLINK = 4;

export interface RouteSpec {
  /** A CIDR (`198.51.100.0/24`, `2001:db8::/32`), a bare address (host route), or 'default'. */
  destination: string;
  /** Needed only for 'default' without a gateway or source (then IPv4 is assumed). */
  family?: RouteFamily;
  gateway?: string;
  /** Output interface name. */
  link?: string;
  /** Output interface index; used instead of `link` when given (what `list()` returns has both). */
  linkIndex?: number;
  /** Default 'main' (254). */
  table?: TableId;
  /** RTA_PRIORITY. IPv6 routes get 1024 from the kernel when it is not given. */
  metric?: number;
  /** Default 'unicast'. */
  type?: RouteType;
  /** A number or a name from rt_protos. Default 'boot' (3), as `ip route add`. */
  protocol?: RouteProtocol;
  /** Default as `ip`: 'link' for a unicast route without gateway, 'host' for local, else 'global'. */
  scope?: RouteScope | number;
  /** Preferred source address (RTA_PREFSRC, `ip route ... src`). */
  source?: string;
  mtu?: number;
  advmss?: number;
  /** Treat the gateway as on-link (RTNH_F_ONLINK), e.g. over a point-to-point tunnel. */
  onlink?: boolean;
}

/** A route as the kernel reports it. Its fields fit `RouteSpec`, so it can be passed to `replace` and `remove`. */
export interface RouteEntry {
  family: RouteFamily;
  /** 'default' for a /0, otherwise `address/length`. */
  destination: string;
  table: number;
  type: RouteType;
  /** Protocol number (see `protocolName`). */
  protocol: number;
  scope: RouteScope | number;
  metric?: number;
  gateway?: string;
  link?: string;
  linkIndex?: number;
  source?: string;
  mtu?: number;
  advmss?: number;
  onlink?: boolean;
  tos: number;
  /** rtm_flags. */
  flags: number;
  /** IPv6 router preference (RTA_PREF: 0 medium, 1 high, 3 low), when present. */
  preference?: number;
}

export interface RouteFilter {
  table?: TableId;
  family?: RouteFamily;
  /** Only routes of this protocol (filtered by the kernel). */
  protocol?: RouteProtocol;
  /** Only routes of this type (filtered by the kernel). */
  type?: RouteType;
  /** Only routes through this interface (filtered by the kernel). */
  link?: string;
}

export const routeCodec = messageCodec(rtmsg, routeAttrs);
/** Encodes with addresses as bytes (parsed once, in `prepare`). */
export const routeWireCodec = messageCodec(rtmsg, routeWireAttrs);

interface RouteHeader {
  family: number;
  dstLen: number;
  table: number;
  protocol: number;
  scope: number;
  type: number;
  flags: number;
}

interface Prepared {
  header: RouteHeader;
  attrs: Record<string, unknown>;
  table: number;
}

/**
 * Validates a route spec and lays out its message (everything but the output
 * interface index, which the caller resolves). Throws ValidationError.
 */
function prepare(input: RouteSpec, op: 'add' | 'remove'): Prepared {
  const spec = checkObject(input, 'route') as unknown as RouteSpec;
  let family = checkFamily(spec.family, 'family');
  const type = spec.type ?? 'unicast';
  const typeNum = TYPE_NUMBERS.get(type);
  if (typeNum === undefined) throw new ValidationError('type', `unknown route type ${JSON.stringify(type)}`, TYPE_NAMES.join(', '));
  const attrs: Record<string, unknown> = {};
  let dstLen = 0;
  if (spec.destination === 'default') {
    family ??=
      spec.gateway !== undefined
        ? addressBytes(spec.gateway, 'gateway').family
        : spec.source !== undefined
          ? addressBytes(spec.source, 'source').family
          : 4;
  } else {
    const p = prefixBytes(spec.destination, 'destination', family);
    family = p.family;
    dstLen = p.length;
    if (dstLen > 0) attrs.dst = p.bytes;
  }
  if (spec.gateway !== undefined) attrs.gateway = addressBytes(spec.gateway, 'gateway', family).bytes;
  if (spec.source !== undefined) attrs.prefsrc = addressBytes(spec.source, 'source', family).bytes;
  const table = spec.table === undefined ? C.RT_TABLE_MAIN : checkTable(spec.table, 'table');
  if (table > 255) attrs.table = table;
  if (spec.metric !== undefined) attrs.priority = checkUint(spec.metric, 'metric', 0xffffffff);
  if (spec.mtu !== undefined || spec.advmss !== undefined) {
    const metrics: Record<string, number> = {};
    if (spec.mtu !== undefined) metrics.mtu = checkUint(spec.mtu, 'mtu', 0xffffffff, 68);
    if (spec.advmss !== undefined) metrics.advmss = checkUint(spec.advmss, 'advmss', 0xffff, 1);
    attrs.metrics = metrics;
  }
  if (spec.link !== undefined) checkIfname(spec.link, 'link');
  if (spec.linkIndex !== undefined) checkUint(spec.linkIndex, 'linkIndex', 0x7fffffff, 1);
  const hasLink = spec.link !== undefined || spec.linkIndex !== undefined;
  // (On removal a link is tolerated: IPv6 reports reject routes with dev lo.)
  if (NO_NEXTHOP.has(type) && (spec.gateway !== undefined || (hasLink && op === 'add'))) {
    throw new ValidationError(spec.gateway !== undefined ? 'gateway' : 'link', `a ${type} route takes neither gateway nor link`);
  }
  if (op === 'add' && type === 'unicast' && spec.gateway === undefined && !hasLink) {
    throw new ValidationError('gateway', 'a unicast route needs a gateway or a link', 'gateway and/or link');
  }
  let scope: number;
  if (spec.scope !== undefined) scope = scopeNumber(spec.scope);
  else if (op === 'remove')
    scope = C.RT_SCOPE_NOWHERE; // matches any scope
  else if (type === 'local' || type === 'nat') scope = C.RT_SCOPE_HOST;
  else if (type === 'broadcast' || type === 'multicast' || type === 'anycast') scope = C.RT_SCOPE_LINK;
  else if (type === 'unicast' && spec.gateway === undefined) scope = C.RT_SCOPE_LINK;
  else scope = C.RT_SCOPE_UNIVERSE;
  const protocol = spec.protocol !== undefined ? protocolNumber(spec.protocol) : op === 'add' ? C.RTPROT_BOOT : 0;
  const header: RouteHeader = {
    family: familyNumber(family),
    dstLen,
    table: table > 255 ? C.RT_TABLE_UNSPEC : table,
    protocol,
    scope,
    // On removal an unspecified type matches any.
    type: spec.type === undefined && op === 'remove' ? C.RTN_UNSPEC : typeNum,
    flags: spec.onlink ? RTNH_F_ONLINK : 0,
  };
  return { header, attrs, table };
}

function describeRoute(spec: RouteSpec): string {
  const type = spec.type ?? 'unicast';
  const table = spec.table ?? 'main';
  return `${type === 'unicast' ? '' : `${type} `}${spec.destination}${spec.gateway ? ` via ${spec.gateway}` : ''}${spec.link ? ` dev ${spec.link}` : ''} table ${table}${spec.metric !== undefined ? ` metric ${spec.metric}` : ''}`;
}
export const describeAdd = (spec: RouteSpec) => `add route ${describeRoute(spec)}`;
export const describeReplace = (spec: RouteSpec) => `replace route ${describeRoute(spec)}`;
export const describeRemove = (spec: RouteSpec) => `remove route ${describeRoute(spec)}`;

/** NLM_F_CREATE, with NLM_F_REPLACE or NLM_F_EXCL. */
export function addFlags(replace: boolean): number {
  return NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);
}

/** Validates a route spec; throws a ValidationError before anything is sent. */
export function validateRouteSpec(spec: RouteSpec, op: 'add' | 'remove' = 'add'): void {
  prepare(spec, op);
}

/** RTM_NEWROUTE (add, or with `replace` add-or-replace), validating first. `oif` is the resolved output interface. */
export function routeAddRequest(spec: RouteSpec, oif?: number, replace = false): Request {
  const p = prepare(spec, 'add');
  if (oif !== undefined) p.attrs.oif = oif;
  const flags = addFlags(replace);
  return new LazyRequest(routeWireCodec, C.RTM_NEWROUTE, flags, p.header, p.attrs, spec, replace ? describeReplace : describeAdd);
}

/** RTM_DELROUTE for exactly the route described (validating first): every field given must match. */
export function routeRemoveRequest(spec: RouteSpec, oif?: number): Request {
  const p = prepare(spec, 'remove');
  if (oif !== undefined) p.attrs.oif = oif;
  delete p.attrs.metrics;
  return new LazyRequest(routeWireCodec, C.RTM_DELROUTE, 0, p.header, p.attrs, spec, describeRemove);
}

export function routeDumpRequest(
  family: RouteFamily | undefined,
  filter: { table?: number; protocol?: number; type?: number; oif?: number } = {},
): Request {
  const attrs: RouteAttrs = {};
  const header = {
    family: family === undefined ? C.AF_UNSPEC : familyNumber(family),
    table: filter.table !== undefined && filter.table < 256 ? filter.table : 0,
    protocol: filter.protocol ?? 0,
    type: filter.type ?? 0,
  };
  if (filter.table !== undefined && filter.table > 255) attrs.table = filter.table;
  if (filter.oif !== undefined) attrs.oif = filter.oif;
  return routeCodec.request(
    C.RTM_GETROUTE,
    NLM_F_DUMP,
    header,
    attrs,
    `list routes${filter.table !== undefined ? ` of table ${filter.table}` : ''}`,
    'read',
  );
}

/**
 * Decodes the payload of an RTM_NEWROUTE/RTM_DELROUTE message; undefined for
 * families other than IPv4 and IPv6 and for cached clones. Throws DecodeError
 * on malformed bytes.
 */
type RouteMessage = ReturnType<typeof routeCodec.decode>;

export function decodeRoute(payload: Buffer, names?: ReadonlyMap<number, string>): RouteEntry | undefined {
  const { header: h, attrs: a } = routeCodec.decode(payload);
  if (h.flags & C.RTM_F_CLONED) return undefined;
  return routeEntry(h, a, names);
}

/** The entry of a decoded route message; undefined for families other than IPv4 and IPv6. */
function routeEntry(h: RouteMessage['header'], a: RouteAttrs, names?: ReadonlyMap<number, string>): RouteEntry | undefined {
  const family = familyOfNumber(h.family);
  if (family === undefined) return undefined;
  const destination = h.dstLen === 0 ? 'default' : `${a.dst ?? (family === 4 ? '0.0.0.0' : '::')}/${h.dstLen}`;
  const r: RouteEntry = {
    family,
    destination,
    table: a.table ?? h.table,
    type: typeName(h.type) as RouteType,
    protocol: h.protocol,
    scope: scopeName(h.scope),
    tos: h.tos,
    flags: h.flags,
  };
  if (a.priority !== undefined) r.metric = a.priority;
  if (a.gateway !== undefined) r.gateway = a.gateway;
  // IPv6 reports blackhole/unreachable/prohibit/throw routes with the loopback
  // device; such a route cannot be added with a device, so it is left out.
  if (a.oif !== undefined && !NO_NEXTHOP.has(r.type)) {
    r.linkIndex = a.oif;
    const name = names?.get(a.oif);
    if (name !== undefined) r.link = name;
  }
  if (a.prefsrc !== undefined) r.source = a.prefsrc;
  if (a.metrics?.mtu !== undefined) r.mtu = a.metrics.mtu;
  if (a.metrics?.advmss !== undefined) r.advmss = a.metrics.advmss;
  if (h.flags & RTNH_F_ONLINK) r.onlink = true;
  if (a.pref !== undefined) r.preference = a.pref;
  return r;
}

/** What `routes.get()` asks the kernel: the route a packet with these properties takes (`ip route get`). */
export interface RouteQuery {
  /** The packet's destination address. */
  to: string;
  /** Its source address (`ip route get … from`). */
  from?: string;
  /** The interface it arrives on, for a forwarded packet (`iif`); needs `from`. */
  iif?: string;
  /** The interface it must leave through (`oif`). */
  oif?: string;
  /** Its firewall mark (`mark`), as policy rules see it. */
  mark?: number;
  /** The uid of the socket sending it (`uid`), as uidrange rules see it. */
  uid?: number;
}

/**
 * RTM_GETROUTE for `query` (validated first), its interfaces given as
 * indexes. IPv4 asks for the table the route was found in
 * (RTM_F_LOOKUP_TABLE); IPv6 reports it anyway, and refuses the flag under
 * strict checking.
 */
export function routeGetRequest(query: RouteQuery, iif?: number, oif?: number): Request {
  checkObject(query, 'query');
  const to = addressBytes(query.to, 'to');
  const attrs: Record<string, unknown> = { dst: to.bytes };
  let srcLen = 0;
  if (query.from !== undefined) {
    attrs.src = addressBytes(query.from, 'from', to.family).bytes;
    srcLen = to.family === 4 ? 32 : 128;
  }
  if (query.iif !== undefined) checkIfname(query.iif, 'iif');
  if (query.oif !== undefined) checkIfname(query.oif, 'oif');
  if (iif !== undefined) attrs.iif = iif;
  if (oif !== undefined) attrs.oif = oif;
  if (query.mark !== undefined) attrs.mark = checkUint(query.mark, 'mark', 0xffffffff);
  if (query.uid !== undefined) attrs.uid = checkUint(query.uid, 'uid', 0xffffffff);
  const header = {
    family: familyNumber(to.family),
    dstLen: to.family === 4 ? 32 : 128,
    srcLen,
    flags: to.family === 4 ? C.RTM_F_LOOKUP_TABLE : 0,
  };
  const words = [`route get ${query.to}`];
  for (const k of ['from', 'iif', 'oif', 'mark', 'uid'] as const) if (query[k] !== undefined) words.push(`${k} ${query[k]}`);
  return routeWireCodec.request(C.RTM_GETROUTE, 0, header, attrs, words.join(' '), 'read');
}

/**
 * Decodes the kernel's answer to RTM_GETROUTE: the route as it applies to
 * the packet (a cached clone, which `decodeRoute` leaves out of dumps).
 */
export function decodeRouteAnswer(payload: Buffer, names?: ReadonlyMap<number, string>): RouteEntry | undefined {
  const { header: h, attrs: a } = routeCodec.decode(payload);
  return routeEntry(h, a, names);
}

export const routeKey = (r: RouteEntry): string =>
  `${r.family}|${r.table}|${r.destination}|${r.tos}|${r.metric ?? ''}|${r.type}|${r.linkIndex ?? ''}|${r.gateway ?? ''}`;

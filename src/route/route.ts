/**
 * Routes (RTM_NEWROUTE/DELROUTE/GETROUTE), IPv4 and IPv6, in any table
 * (tables above 255 through RTA_TABLE): add, replace, remove exactly one,
 * stream a dump, and pipelined bulk adds and removes.
 */
import { NetlinkError, ValidationError } from '../errors.js';
import { walkAttributes } from '../netlink/attributes.js';
import { type BulkItemFailure, type BulkReport, runBulk } from '../netlink/bulk.js';
import type { Connection } from '../netlink/connection.js';
import { NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE } from '../netlink/constants.js';
import { dumpDecoded } from '../netlink/dump.js';
import { type NetlinkMessage, type Request, messageCodec } from '../netlink/message.js';
import { LazyRequest } from '../netlink/request.js';
import type { Writer } from '../netlink/writer.js';
import * as C from './constants.js';
import type { Links } from './link.js';
import { type RouteProtocol, protocolNumber } from './protocols.js';
import { addressBytes, prefixBytes } from './prefix.js';
import { type RouteAttrs, routeAttrs, routeWireAttrs, rtmsg } from './schemas.js';
import { type RouteScope, scopeName, scopeNumber } from './scope.js';
import {
  type RouteFamily,
  type TableId,
  checkFamily,
  checkIfname,
  checkObject,
  checkTable,
  checkUint,
  familyNumber,
  familyOfNumber,
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

const TYPE_NAMES: RouteType[] = ['unicast', 'local', 'broadcast', 'anycast', 'multicast', 'blackhole', 'unreachable', 'prohibit', 'throw', 'nat', 'xresolve'];
const TYPE_NUMBERS = new Map<string, number>(TYPE_NAMES.map((t, i) => [t, i + 1]));
const typeNumber = (t: RouteType): number => TYPE_NUMBERS.get(t)!;
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
const routeWireCodec = messageCodec(rtmsg, routeWireAttrs);

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
  else if (op === 'remove') scope = C.RT_SCOPE_NOWHERE; // matches any scope
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
const describeAdd = (spec: RouteSpec) => `add route ${describeRoute(spec)}`;
const describeReplace = (spec: RouteSpec) => `replace route ${describeRoute(spec)}`;
const describeRemove = (spec: RouteSpec) => `remove route ${describeRoute(spec)}`;

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

/**
 * A route message laid out once, for routes that differ from it only in the
 * destination's address: the spec's other fields as they were, the resolved
 * output interface, and where RTA_DST's bytes are.
 */
interface RouteTemplate {
  bytes: Buffer;
  dstAt: number;
  family: number;
  dstLen: number;
  oif: number | undefined;
  spec: Omit<RouteSpec, 'destination'>;
  first: Request;
}

/** A request copied from a template with another destination address. */
class TemplateRequest implements Request {
  readonly access = 'write' as const;

  constructor(
    private readonly template: RouteTemplate,
    private readonly dst: Uint8Array,
    readonly type: number,
    readonly flags: number,
    private readonly spec: RouteSpec,
    private readonly describer: (spec: RouteSpec) => string,
  ) {}

  get payload(): Buffer {
    const b = Buffer.from(this.template.bytes);
    b.set(this.dst, this.template.dstAt);
    return b;
  }

  writePayload(w: Writer): void {
    const at = w.pos + this.template.dstAt;
    w.bytes(this.template.bytes);
    const buf = w.buf;
    const dst = this.dst;
    for (let i = 0; i < dst.length; i++) buf[at + i] = dst[i]!;
  }

  get describe(): string {
    return this.describer(this.spec);
  }

  /** The layout is the template's, so are the attribute paths. */
  locate(offset: number): string | undefined {
    return this.template.first.locate?.(offset);
  }
}

/**
 * Builds the requests of a bulk add or remove. A run of routes that differ
 * only in their destination address (the usual bulk input: many prefixes,
 * one table and next hop) is validated and laid out once: each later route
 * has its destination parsed and checked as `prepare` would, and its message
 * is the template's bytes with the address replaced.
 */
export class RouteRequestBuilder {
  private template: RouteTemplate | undefined;

  constructor(
    private readonly op: 'add' | 'remove',
    private readonly replace = false,
  ) {}

  build(spec: RouteSpec, oif: number | undefined): Request {
    const t = this.template;
    if (t !== undefined && typeof spec === 'object' && spec !== null && !Array.isArray(spec) && this.sameShape(spec, oif, t.spec, t.oif)) {
      const p = prefixBytes(spec.destination, 'destination', spec.family);
      if (p.length === t.dstLen && familyNumber(p.family) === t.family) {
        if (this.op === 'add') {
          return new TemplateRequest(t, p.bytes, C.RTM_NEWROUTE, addFlags(this.replace), spec, this.replace ? describeReplace : describeAdd);
        }
        return new TemplateRequest(t, p.bytes, C.RTM_DELROUTE, 0, spec, describeRemove);
      }
    }
    const req = this.op === 'add' ? routeAddRequest(spec, oif, this.replace) : routeRemoveRequest(spec, oif);
    this.template = makeTemplate(spec, oif, req);
    return req;
  }

  private sameShape(a: RouteSpec, oif: number | undefined, b: Omit<RouteSpec, 'destination'>, tOif: number | undefined): boolean {
    return (
      oif === tOif &&
      a.table === b.table &&
      a.link === b.link &&
      a.linkIndex === b.linkIndex &&
      a.gateway === b.gateway &&
      a.family === b.family &&
      a.metric === b.metric &&
      a.type === b.type &&
      a.protocol === b.protocol &&
      a.scope === b.scope &&
      a.source === b.source &&
      a.mtu === b.mtu &&
      a.advmss === b.advmss &&
      a.onlink === b.onlink &&
      a.destination !== 'default'
    );
  }
}

function addFlags(replace: boolean): number {
  return NLM_F_CREATE | (replace ? NLM_F_REPLACE : NLM_F_EXCL);
}

/** A template from a request just built (validated), when its destination is an RTA_DST. */
function makeTemplate(spec: RouteSpec, oif: number | undefined, req: Request): RouteTemplate | undefined {
  const bytes = req.payload;
  const family = bytes[0]!;
  const dstLen = bytes[1]!;
  for (const a of walkAttributes(bytes, rtmsg.size, bytes.length, 'route')) {
    if (a.type !== C.RTA_DST) continue;
    if (a.len !== (family === C.AF_INET ? 4 : 16)) return undefined;
    const { destination: _, ...rest } = spec;
    return { bytes, dstAt: a.at, family, dstLen, oif, spec: rest, first: req };
  }
  return undefined;
}

export function routeDumpRequest(family: RouteFamily | undefined, filter: { table?: number; protocol?: number; type?: number; oif?: number } = {}): Request {
  const attrs: RouteAttrs = {};
  const header = {
    family: family === undefined ? C.AF_UNSPEC : familyNumber(family),
    table: filter.table !== undefined && filter.table < 256 ? filter.table : 0,
    protocol: filter.protocol ?? 0,
    type: filter.type ?? 0,
  };
  if (filter.table !== undefined && filter.table > 255) attrs.table = filter.table;
  if (filter.oif !== undefined) attrs.oif = filter.oif;
  return routeCodec.request(C.RTM_GETROUTE, NLM_F_DUMP, header, attrs, `list routes${filter.table !== undefined ? ` of table ${filter.table}` : ''}`, 'read');
}

/**
 * Decodes the payload of an RTM_NEWROUTE/RTM_DELROUTE message; undefined for
 * families other than IPv4 and IPv6 and for cached clones. Throws DecodeError
 * on malformed bytes.
 */
export function decodeRoute(payload: Buffer, names?: ReadonlyMap<number, string>): RouteEntry | undefined {
  const { header: h, attrs: a } = routeCodec.decode(payload);
  const family = familyOfNumber(h.family);
  if (family === undefined || h.flags & C.RTM_F_CLONED) return undefined;
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

export const routeKey = (r: RouteEntry): string =>
  `${r.family}|${r.table}|${r.destination}|${r.tos}|${r.metric ?? ''}|${r.type}|${r.linkIndex ?? ''}|${r.gateway ?? ''}`;

/** `rt.routes`: routes of the Route's namespace. */
export class Routes {
  /**
   * @param streams The connection `list()` dumps on. Route gives it a socket of
   * its own, so requests made while iterating (e.g. removing what is listed)
   * are not queued behind a dump paused for backpressure.
   */
  constructor(
    private readonly conn: Connection,
    private readonly links: Links,
    private readonly streams: () => Connection = () => conn,
  ) {}

  private async oif(spec: RouteSpec): Promise<number | undefined> {
    if (spec.linkIndex !== undefined) return spec.linkIndex;
    if (spec.link !== undefined) return this.links.indexOf(spec.link, 'link');
    return undefined;
  }

  /** Adds a route. EEXIST (NetlinkError) when the same route is there. */
  async add(spec: RouteSpec): Promise<void> {
    validateRouteSpec(spec, 'add'); // before the link lookup
    await this.conn.request(routeAddRequest(spec, await this.oif(spec)));
  }

  /** Adds a route or replaces the one with the same destination, table, tos and (IPv6) metric. */
  async replace(spec: RouteSpec): Promise<void> {
    validateRouteSpec(spec, 'add');
    await this.conn.request(routeAddRequest(spec, await this.oif(spec), true));
  }

  /**
   * Removes one route. Fields left out match anything (type, protocol, metric,
   * scope, gateway, link); an entry from `list()` identifies exactly itself.
   * ESRCH (NetlinkError) when nothing matches.
   */
  async remove(spec: RouteSpec): Promise<void> {
    validateRouteSpec(spec, 'remove');
    await this.conn.request(routeRemoveRequest(spec, await this.oif(spec)));
  }

  /**
   * Streams the routes (all tables unless `table` is given; cached clones
   * excluded). Nothing is collected: a dump of 100 000 routes is decoded one
   * message at a time as it arrives. Changing routes while iterating is fine
   * (the dump runs on a socket of its own).
   */
  async *list(filter: RouteFilter = {}): AsyncGenerator<RouteEntry, void, undefined> {
    checkObject(filter, 'filter');
    const family = checkFamily(filter.family, 'family');
    const table = filter.table === undefined ? undefined : checkTable(filter.table, 'table');
    const protocol = filter.protocol === undefined ? undefined : protocolNumber(filter.protocol);
    if (filter.type !== undefined && !TYPE_NAMES.includes(filter.type)) {
      throw new ValidationError('type', `unknown route type ${JSON.stringify(filter.type)}`, TYPE_NAMES.join(', '));
    }
    const type = filter.type === undefined ? undefined : typeNumber(filter.type);
    const oif = filter.link === undefined ? undefined : await this.links.indexOf(filter.link, 'link');
    const names = await this.links.names();
    const decode = (m: NetlinkMessage) => (m.type === C.RTM_NEWROUTE ? decodeRoute(m.data, names) : undefined);
    const req = routeDumpRequest(family, { table, protocol, type, oif });
    try {
      for await (const r of dumpDecoded(this.streams(), req, decode, routeKey)) {
        // Older kernels ignore some filters; apply them here too.
        if (table !== undefined && r.table !== table) continue;
        if (protocol !== undefined && r.protocol !== protocol) continue;
        if (filter.type !== undefined && r.type !== filter.type) continue;
        if (oif !== undefined && r.linkIndex !== oif) continue;
        if (family !== undefined && r.family !== family) continue;
        yield r;
      }
    } catch (err) {
      // A one-family dump of a table that does not exist (yet) fails with
      // ENOENT; an AF_UNSPEC dump skips it quietly. Both mean: no routes.
      if (table !== undefined && err instanceof NetlinkError && err.code === 'ENOENT') return;
      throw err;
    }
  }

  /** `list()` collected into an array. */
  async listAll(filter: RouteFilter = {}): Promise<RouteEntry[]> {
    const out: RouteEntry[] = [];
    for await (const r of this.list(filter)) out.push(r);
    return out;
  }

  /**
   * Adds many routes pipelined (Connection.bulk): few large writes, no reply
   * per success. Each failure is reported with its input and index; invalid
   * inputs are reported the same way (with a ValidationError) and not sent.
   */
  async addMany(specs: Iterable<RouteSpec>, options: { replace?: boolean } = {}): Promise<BulkReport<RouteSpec>> {
    const names = await this.linkIndexes(specs);
    const builder = new RouteRequestBuilder('add', options.replace === true);
    return runBulk(this.conn, specs, (spec) => builder.build(spec, resolveOif(spec, names)));
  }

  /** Removes many routes pipelined; failures (ESRCH for a missing one) are reported as by `addMany`. */
  async removeMany(specs: Iterable<RouteSpec>): Promise<BulkReport<RouteSpec>> {
    const names = await this.linkIndexes(specs);
    const builder = new RouteRequestBuilder('remove');
    return runBulk(this.conn, specs, (spec) => builder.build(spec, resolveOif(spec, names)));
  }

  /** Name → index of every link, when any spec names a link (an array is checked; other iterables always). */
  private async linkIndexes(specs: Iterable<RouteSpec>): Promise<Map<string, number> | undefined> {
    if (Array.isArray(specs) && !specs.some((s) => s && typeof s === 'object' && s.link !== undefined && s.linkIndex === undefined)) return undefined;
    const byIndex = await this.links.names();
    return new Map([...byIndex].map(([i, n]) => [n, i]));
  }
}

function resolveOif(spec: RouteSpec, names: Map<string, number> | undefined): number | undefined {
  checkObject(spec, 'route');
  if (spec.linkIndex !== undefined) return spec.linkIndex;
  if (spec.link === undefined) return undefined;
  const index = names?.get(spec.link);
  if (index === undefined) throw new ValidationError('link', `no link named ${JSON.stringify(spec.link)} in this namespace`);
  return index;
}

export type { BulkItemFailure, BulkReport };

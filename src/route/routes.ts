/**
 * `rt.routes`: routes (IPv4 and IPv6, in any table, tables above 255 through
 * RTA_TABLE) of a namespace: add, replace, remove exactly one, stream a dump,
 * pipelined bulk adds and removes, and the kernel's route lookup.
 */
import { DecodeError, NetlinkError, ValidationError } from '../errors.js';
import { type BulkItemFailure, type BulkReport, runBulk } from '../netlink/bulk.js';
import type { Connection } from '../netlink/connection.js';
import { dumpDecoded } from '../netlink/dump.js';
import type { NetlinkMessage } from '../netlink/message.js';
import * as C from './constants.js';
import type { Links } from './links.js';
import { protocolNumber } from './protocols.js';
import { RouteRequestBuilder } from './route-builder.js';
import {
  decodeRoute,
  decodeRouteAnswer,
  type RouteEntry,
  type RouteFilter,
  type RouteQuery,
  type RouteSpec,
  routeAddRequest,
  routeDumpRequest,
  routeGetRequest,
  routeKey,
  routeRemoveRequest,
  TYPE_NAMES,
  typeNumber,
  validateRouteSpec,
} from './route-message.js';
import { checkFamily, checkObject, checkTable } from './validation.js';

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

  /**
   * The route the kernel picks for a packet with these properties, as `ip
   * route get` prints it: its destination is the address asked for (a host
   * prefix), `table` the table it was found in, `source` the source address
   * the kernel would choose. An unreachable destination is a NetlinkError
   * (ENETUNREACH, EHOSTUNREACH, …), as for `ip route get`.
   */
  async get(query: RouteQuery): Promise<RouteEntry> {
    routeGetRequest(query); // validated before the link lookups
    const iif = query.iif === undefined ? undefined : await this.links.indexOf(query.iif, 'iif');
    const oif = query.oif === undefined ? undefined : await this.links.indexOf(query.oif, 'oif');
    const replies = await this.conn.request(routeGetRequest(query, iif, oif));
    const msg = replies.find((m) => m.type === C.RTM_NEWROUTE);
    const entry = msg && decodeRouteAnswer(msg.data, await this.links.names());
    if (!entry) throw new DecodeError(`no route in the answer to route get ${query.to}`, 'route');
    return entry;
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
    if (Array.isArray(specs) && !specs.some((s) => s && typeof s === 'object' && s.link !== undefined && s.linkIndex === undefined))
      return undefined;
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

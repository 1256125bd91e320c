/**
 * `Route`: one rtnetlink connection to a namespace, with links, addresses,
 * routes, rules and monitors on top of it.
 */
import { Connection } from '../netlink/connection.js';
import { Addresses } from './addresses.js';
import { Links } from './links.js';
import { type MonitorKind, type MonitorOptions, openMonitor, type RouteMonitor } from './monitor.js';
import { Routes } from './routes.js';
import { Rules } from './rules.js';

export interface RouteOptions {
  /** A namespace name under /run/netns, or a path to a namespace file. Default: the caller's. */
  netns?: string;
  /** Receive buffer of the connection (see ConnectionOptions). */
  receiveBufferSize?: number;
  /** Send buffer of the connection (see ConnectionOptions). */
  sendBufferSize?: number;
}

export class Route {
  /** The connection every request goes through; `connection.stats.writes` counts state changes. */
  readonly connection: Connection;
  readonly links: Links;
  readonly addresses: Addresses;
  readonly routes: Routes;
  readonly rules: Rules;
  /** The namespace given to `open`, if any. */
  readonly netns?: string;
  private readonly monitors = new Set<RouteMonitor>();
  private readonly options: RouteOptions;
  private streamConn?: Connection;

  private constructor(connection: Connection, options: RouteOptions) {
    this.connection = connection;
    this.options = options;
    this.netns = options.netns;
    const streams = () => this.streamConnection();
    this.links = new Links(connection);
    this.addresses = new Addresses(connection, this.links, streams);
    this.routes = new Routes(connection, this.links, streams);
    this.rules = new Rules(connection);
  }

  /** Opens an rtnetlink connection in `netns` (or the caller's namespace). */
  static async open(options: RouteOptions = {}): Promise<Route> {
    const { netns, receiveBufferSize, sendBufferSize } = options;
    const conn = await Connection.open('route', { netns, receiveBufferSize, sendBufferSize });
    return new Route(conn, { netns, receiveBufferSize, sendBufferSize });
  }

  /**
   * The socket streaming dumps (`routes.list()`, `addresses.stream()`) run on,
   * opened on first use: a dump paused because its reader is behind must not
   * hold up the replies to requests made in the loop that reads it. Every
   * write goes through `connection`.
   */
  streamConnection(): Connection {
    if (this.connection.isClosed) return this.connection; // fails as a closed connection does
    if (!this.streamConn || this.streamConn.isClosed) {
      const { netns, receiveBufferSize } = this.options;
      this.streamConn = Connection.openSync('route', { netns, receiveBufferSize });
    }
    return this.streamConn;
  }

  /**
   * Typed notifications of the given kinds, as an async iterable. Subscribed
   * when this returns: changes made afterwards are seen even before iterating.
   * Lost notifications (ENOBUFS) arrive as a `{ kind: 'resync' }` event.
   */
  monitor(kinds: readonly MonitorKind[], options: MonitorOptions = {}): RouteMonitor {
    const m = openMonitor(this.netns, kinds, this.links, options, () => this.monitors.delete(m));
    this.monitors.add(m);
    return m;
  }

  /** Closes the connection and every monitor opened from it. */
  close(): void {
    for (const m of [...this.monitors]) m.close();
    this.streamConn?.close();
    this.connection.close();
  }
}

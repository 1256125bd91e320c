/**
 * The router's table T: netfwd's routes there (protocol 233) read, compared
 * with the desired ones — the route to the VPN client, with its gateway, and
 * the unreachable leak guard — and changed one by one, each with its undo.
 * (The backend's table has no gateway routes; these compare the gateway too.)
 */
import type { RouteEntry, RouteSpec } from '../../route/index.js';
import type { Kernel } from '../plan/context.js';
import { NETFWD_PROTOCOL } from '../plan/ownership.js';
import type { Step } from '../plan/plan.js';

/** netfwd's routes in `tables`, both families. */
export async function readLanRoutes(k: Kernel, tables: readonly number[]): Promise<RouteEntry[]> {
  const out: RouteEntry[] = [];
  for (const table of tables)
    for (const family of [4, 6] as const) for await (const r of k.rt.routes.list({ table, family, protocol: NETFWD_PROTOCOL })) out.push(r);
  return out;
}

/** The metric as the kernel applies it: none given is 0 (IPv4) or 1024 (IPv6) and listed so. */
const metricKey = (family: number | undefined, metric: number | undefined) =>
  metric === undefined || metric === (family === 6 ? 1024 : 0) ? '' : String(metric);

interface RouteShape {
  family?: number;
  destination: string;
  table?: unknown;
  type?: string;
  metric?: number;
  gateway?: string;
  link?: string;
}

const unicast = (r: RouteShape) => r.type === undefined || r.type === 'unicast';
const routeKey = (r: RouteShape) =>
  [
    r.family,
    r.table,
    r.destination,
    r.type ?? 'unicast',
    metricKey(r.family, r.metric),
    unicast(r) ? (r.gateway ?? '') : '',
    unicast(r) ? (r.link ?? '') : '',
  ].join('|');

/** A listed route as netfwd adds it again (the undo of its removal). */
function asSpec(r: RouteEntry): RouteSpec {
  return {
    destination: r.destination,
    family: r.family,
    table: r.table,
    type: r.type,
    protocol: NETFWD_PROTOCOL,
    ...(metricKey(r.family, r.metric) !== '' ? { metric: r.metric } : {}),
    ...(unicast(r) && r.gateway !== undefined ? { gateway: r.gateway } : {}),
    ...(unicast(r) && r.link !== undefined ? { link: r.link } : {}),
  };
}

/** A route as plans and status print it: `route default via 198.51.100.130 dev br0 table 42`. */
export const describeLanRoute = (r: RouteShape): string => describe(r);
const describe = (r: RouteShape) =>
  `route ${unicast(r) ? '' : `${r.type} `}${r.destination}${r.family === 6 ? ' (IPv6)' : ''}${unicast(r) && r.gateway ? ` via ${r.gateway}` : ''}${unicast(r) && r.link ? ` dev ${r.link}` : ''} table ${r.table}${metricKey(r.family, r.metric) ? ` metric ${r.metric}` : ''}`;

/**
 * Steps from `current` to `desired`: new routes added, routes no longer
 * wanted removed, and a route whose gateway changed replaced in place (adding
 * the new one first would collide with the old one — same destination, table
 * and metric — and removing first would open a gap).
 */
export function planLanRoutes(k: Kernel, desired: readonly RouteSpec[], current: readonly RouteEntry[]): Step[] {
  const have = new Map(current.map((r) => [routeKey(r), r]));
  const keep = new Set(desired.map(routeKey));
  const slot = (r: RouteShape) => routeKey({ ...r, gateway: undefined, link: undefined });
  const replaced = new Set<string>();
  const steps: Step[] = [];
  for (const r of desired) {
    if (have.has(routeKey(r))) continue;
    const old = [...have.entries()].find(([key, c]) => !keep.has(key) && !replaced.has(key) && slot(c) === slot(r));
    if (old) {
      replaced.add(old[0]);
      const previous = asSpec(old[1]);
      steps.push({
        action: 'update',
        kind: 'route',
        target: describe({ ...r, gateway: undefined, link: undefined }),
        detail: `via ${old[1].gateway ?? '(none)'} → ${r.gateway ?? '(none)'}`,
        async apply() {
          await k.rt.routes.replace(r);
          return { description: `restore ${describe(previous)}`, run: () => k.rt.routes.replace(previous) };
        },
      });
      continue;
    }
    steps.push({
      action: 'create',
      kind: 'route',
      target: describe(r),
      async apply() {
        await k.rt.routes.add(r);
        return { description: `remove ${describe(r)}`, run: () => k.rt.routes.remove(r) };
      },
    });
  }
  for (const [key, r] of have) {
    if (keep.has(key) || replaced.has(key)) continue;
    steps.push({
      action: 'delete',
      kind: 'route',
      target: describe(r),
      async apply() {
        await k.rt.routes.remove(r);
        return { description: `restore ${describe(r)}`, run: () => k.rt.routes.add(asSpec(r)) };
      },
    });
  }
  return steps;
}

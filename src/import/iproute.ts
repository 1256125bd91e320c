/**
 * `ip rule` and `ip route` commands (iproute2 syntax), and NetworkManager's
 * `routing-rule` values, which use the same words. Only what a return path is
 * made of is interpreted; other valid selectors are kept in `other` so the
 * translator can report the command as not translated.
 */
import { parseIp, parsePrefix } from '../grammar/index.js';
import { PREFIX_SYNTAX } from './cidr.js';
import { ImportError, type Origin } from './source.js';

export interface IpRule {
  origin: Origin;
  family: 4 | 6 | undefined;
  action: 'add' | 'delete' | 'flush' | 'show';
  priority?: number;
  from?: string;
  to?: string;
  fwmark?: { mark: number; mask?: number };
  uidrange?: { from: number; to: number };
  /** Table number; names are resolved for main (254), local (255) and default (253). */
  table?: number;
  /** An action other than a table lookup (unreachable, blackhole, goto …) or a selector not interpreted here. */
  other: string[];
  not: boolean;
}

export interface IpRoute {
  origin: Origin;
  family: 4 | 6 | undefined;
  action: 'add' | 'delete' | 'flush' | 'show';
  type: string;
  /** CIDR, or 'default'. */
  destination?: string;
  via?: string;
  dev?: string;
  table?: number;
  metric?: number;
  other: string[];
}

const TABLE_NAMES: Record<string, number> = { main: 254, local: 255, default: 253 };
const ROUTE_TYPES = new Set([
  'unicast',
  'local',
  'broadcast',
  'multicast',
  'throw',
  'unreachable',
  'prohibit',
  'blackhole',
  'nat',
  'anycast',
]);

function int(text: string | undefined, what: string, origin: Origin, max = 0xffffffff): number {
  if (text === undefined) throw new ImportError(origin, `${what} needs a value`, 'a complete ip command');
  const n = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text, 16) : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 0 || n > max)
    throw new ImportError(origin, `${what} "${text.slice(0, 20)}" is not a number from 0 to ${max}`, 'a number');
  return n;
}

function table(text: string | undefined, origin: Origin): number {
  if (text !== undefined && text in TABLE_NAMES) return TABLE_NAMES[text]!;
  if (text !== undefined && !/^(\d+|0x[0-9a-f]+)$/i.test(text)) {
    throw new ImportError(
      origin,
      `routing table "${text.slice(0, 20)}" is a name; only main, local and default can be resolved without /etc/iproute2/rt_tables`,
      'a table number',
    );
  }
  return int(text, 'table', origin);
}

function prefix(text: string | undefined, what: string, origin: Origin): string {
  if (text === undefined) throw new ImportError(origin, `${what} needs an address`, 'a complete ip command');
  if (text === 'all' || text === 'default' || text === 'any') return 'default';
  // The importer's one prefix syntax: what passes here, the translator parses again.
  if (!parsePrefix(text, PREFIX_SYNTAX).ok) {
    throw new ImportError(origin, `${what} "${text.slice(0, 50)}" is not an address or prefix`, 'an IP address or CIDR');
  }
  return text;
}

function action(word: string | undefined, origin: Origin): IpRule['action'] {
  switch (word) {
    case 'add':
    case 'a':
    case 'replace':
    case 'append':
    case 'change':
    case 'prepend':
      return 'add';
    case 'del':
    case 'delete':
    case 'd':
      return 'delete';
    case 'flush':
    case 'f':
      return 'flush';
    case undefined:
    case 'show':
    case 'list':
    case 'ls':
    case 'lst':
    case 'l':
    case 's':
    case 'get':
      return 'show';
    default:
      throw new ImportError(origin, `unknown ip command "${word.slice(0, 20)}"`, 'add, del, flush or show');
  }
}

/** `ip rule ARGS` (ARGS after the word `rule`), or a NetworkManager routing-rule value (action 'add'). */
export function parseIpRule(args: readonly string[], origin: Origin, family: 4 | 6 | undefined, withAction = true): IpRule {
  const rule: IpRule = { origin, family, action: withAction ? action(args[0], origin) : 'add', other: [], not: false };
  for (let i = withAction ? 1 : 0; i < args.length; i++) {
    const w = args[i]!;
    switch (w) {
      case 'not':
        rule.not = true;
        break;
      case 'priority':
      case 'pref':
      case 'preference':
      case 'order':
        rule.priority = int(args[++i], w, origin);
        break;
      case 'from':
        rule.from = prefix(args[++i], 'from', origin);
        break;
      case 'to':
        rule.to = prefix(args[++i], 'to', origin);
        break;
      case 'fwmark': {
        const v = args[++i];
        const [m, mask] = (v ?? '').split('/');
        rule.fwmark = {
          mark: int(m === '' ? undefined : m, 'fwmark', origin),
          ...(mask !== undefined ? { mask: int(mask, 'fwmark mask', origin) } : {}),
        };
        break;
      }
      case 'uidrange': {
        const v = args[++i];
        const m = /^(\d+)-(\d+)$/.exec(v ?? '');
        if (!m) throw new ImportError(origin, `uidrange "${(v ?? '').slice(0, 30)}" is not FROM-TO`, 'a uid range such as 1000-1001');
        const from = int(m[1], 'uidrange', origin);
        const to = int(m[2], 'uidrange', origin);
        if (to < from) throw new ImportError(origin, `uidrange ${v} runs backwards`, 'FROM-TO with FROM ≤ TO');
        rule.uidrange = { from, to };
        break;
      }
      case 'table':
      case 'lookup':
        rule.table = table(args[++i], origin);
        break;
      case 'iif':
      case 'oif':
      case 'dev':
      case 'tos':
      case 'dsfield':
      case 'ipproto':
      case 'sport':
      case 'dport':
      case 'realms':
      case 'goto':
      case 'suppress_prefixlength':
      case 'suppress_ifgroup':
      case 'protocol':
      case 'proto':
      case 'l3mdev':
      case 'nat':
      case 'map-to': {
        const v = args[++i];
        if (v === undefined) throw new ImportError(origin, `ip rule ${w} needs a value`, 'a complete ip command');
        rule.other.push(`${w} ${v}`);
        break;
      }
      case 'unreachable':
      case 'blackhole':
      case 'prohibit':
        rule.other.push(w);
        break;
      default:
        throw new ImportError(
          origin,
          `unknown ip rule selector "${w.slice(0, 30)}"`,
          'an ip rule such as "priority 100 uidrange 1000-1001 table 5000"',
        );
    }
  }
  return rule;
}

/** `ip route ARGS` (ARGS after the word `route`). */
export function parseIpRoute(args: readonly string[], origin: Origin, family: 4 | 6 | undefined): IpRoute {
  const route: IpRoute = { origin, family, action: action(args[0], origin), type: 'unicast', other: [] };
  for (let i = 1; i < args.length; i++) {
    const w = args[i]!;
    if (route.destination === undefined && ROUTE_TYPES.has(w)) {
      route.type = w;
      continue;
    }
    switch (w) {
      case 'via': {
        let v = args[++i];
        if (v === 'inet' || v === 'inet6') v = args[++i];
        if (v === undefined || !parseIp(v).ok)
          throw new ImportError(origin, `via "${(v ?? '').slice(0, 50)}" is not an address`, 'an IP address');
        route.via = v;
        break;
      }
      case 'dev':
      case 'oif': {
        const v = args[++i];
        if (v === undefined) throw new ImportError(origin, 'dev needs an interface name', 'a complete ip command');
        route.dev = v;
        break;
      }
      case 'table':
        route.table = table(args[++i], origin);
        break;
      case 'metric':
      case 'priority':
      case 'preference':
        route.metric = int(args[++i], w, origin);
        break;
      case 'to':
        route.destination = prefix(args[++i], 'to', origin);
        break;
      case 'onlink':
      case 'pervasive':
        route.other.push(w);
        break;
      case 'proto':
      case 'protocol':
      case 'scope':
      case 'src':
      case 'mtu':
      case 'advmss':
      case 'realm':
      case 'realms':
      case 'tos':
      case 'dsfield':
      case 'weight':
      case 'nexthop':
      case 'nhid':
      case 'expires':
      case 'pref':
      case 'initcwnd':
      case 'initrwnd': {
        const v = args[++i];
        if (v === undefined) throw new ImportError(origin, `ip route ${w} needs a value`, 'a complete ip command');
        route.other.push(`${w} ${v}`);
        break;
      }
      default:
        if (route.destination === undefined) {
          route.destination = prefix(w, 'the destination', origin);
          break;
        }
        throw new ImportError(
          origin,
          `unexpected word "${w.slice(0, 30)}" in an ip route command`,
          'an ip route such as "default via 10.0.0.1 dev wg0 table 5000"',
        );
    }
  }
  return route;
}

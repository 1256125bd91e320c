/**
 * Route and rule protocol numbers (the "proto" of `ip route`/`ip rule`): the
 * names from linux/rtnetlink.h, those of iproute2's rt_protos files when they
 * exist, and `netfwd` for NETFWD_PROTOCOL.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { ValidationError } from '../errors.js';
import { NETFWD_PROTOCOL } from './constants.js';

/** A protocol number (0-255) or a name such as 'static', 'boot', 'kernel' or 'netfwd'. */
export type RouteProtocol = number | string;

const BUILTIN: ReadonlyArray<[number, string]> = [
  [0, 'unspec'],
  [1, 'redirect'],
  [2, 'kernel'],
  [3, 'boot'],
  [4, 'static'],
  [8, 'gated'],
  [9, 'ra'],
  [10, 'mrt'],
  [11, 'zebra'],
  [12, 'bird'],
  [13, 'dnrouted'],
  [14, 'xorp'],
  [15, 'ntk'],
  [16, 'dhcp'],
  [17, 'mrouted'],
  [18, 'keepalived'],
  [42, 'babel'],
  [99, 'openr'],
  [186, 'bgp'],
  [187, 'isis'],
  [188, 'ospf'],
  [189, 'rip'],
  [192, 'eigrp'],
  [NETFWD_PROTOCOL, 'netfwd'],
];

const FILES = ['/usr/share/iproute2/rt_protos', '/etc/iproute2/rt_protos'];
const DIRS = ['/usr/share/iproute2/rt_protos.d', '/etc/iproute2/rt_protos.d'];

let tables: { byName: Map<string, number>; byNumber: Map<number, string> } | undefined;

/** Parses the `number name` lines of an rt_protos file into `into`. */
export function parseRtProtos(text: string, into: Map<string, number>): void {
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const [num, name] = line.split(/\s+/);
    if (!num || !name) continue;
    const n = /^0x[0-9a-f]+$/i.test(num) ? parseInt(num, 16) : /^[0-9]+$/.test(num) ? Number(num) : NaN;
    if (Number.isInteger(n) && n >= 0 && n <= 255) into.set(name, n);
  }
}

function load() {
  if (tables) return tables;
  const byName = new Map<string, number>();
  for (const [n, name] of BUILTIN) byName.set(name, n);
  const read = (path: string) => {
    try {
      parseRtProtos(readFileSync(path, 'utf8'), byName);
    } catch {
      /* absent: the built-in names still apply */
    }
  };
  for (const f of FILES) read(f);
  for (const d of DIRS) {
    let names: string[] = [];
    try {
      names = readdirSync(d)
        .filter((n) => n.endsWith('.conf'))
        .sort();
    } catch {
      /* absent */
    }
    for (const n of names) read(`${d}/${n}`);
  }
  const byNumber = new Map<number, string>();
  for (const [name, n] of byName) if (!byNumber.has(n)) byNumber.set(n, name);
  for (const [n, name] of BUILTIN) byNumber.set(n, name);
  tables = { byName, byNumber };
  return tables;
}

/** The number of a protocol given as a number or a name; throws a ValidationError naming `field`. */
export function protocolNumber(value: RouteProtocol, field = 'protocol'): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0 && value <= 255) return value;
  } else if (typeof value === 'string') {
    const n = load().byName.get(value);
    if (n !== undefined) return n;
    if (/^[0-9]+$/.test(value) && Number(value) <= 255) return Number(value);
  }
  throw new ValidationError(
    field,
    `unknown protocol ${JSON.stringify(value)}`,
    "0 to 255, or a name from rt_protos such as 'static', 'boot', 'kernel', 'netfwd'",
  );
}

/** The name of a protocol number, or its decimal text when it has none. */
export function protocolName(n: number): string {
  return load().byNumber.get(n) ?? String(n);
}

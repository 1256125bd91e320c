/**
 * A backend's returnPath: the mode (uid, mark, connmark, snat), the fields
 * each mode uses, and the routed modes' table, rule priority, mark, uids,
 * cgroup, leak guard and exclusions.
 */

import { child, didYouMean, fail, item, listWords, show } from '../field.js';
import type { IpFamily, NormalizedReturnPath } from '../normalized-config.js';
import { findOverlap, formatRange, type NumberRange, parseRange } from '../ports.js';
import { DEFAULTS, RETURN_PATH_MODES, type ReturnPathMode } from '../spec.js';
import { prefixList } from './addresses.js';
import { boolean, integer, list, mapping, own, required, string } from './shapes.js';

const U32_MAX = 0xffffffff;
const UID_MAX = 0xfffffffe; // (uid_t)-1 means "no uid"
const RETURN_PATH_KEYS = ['mode', 'uids', 'cgroup', 'mark', 'dscp', 'table', 'priority', 'leakGuard', 'exclude', 'sources'] as const;

const ROUTED = ['mark', 'table', 'priority', 'leakGuard', 'exclude', 'sources'];
const MODE_FIELDS: Record<ReturnPathMode, readonly string[]> = {
  uid: ['uids', ...ROUTED],
  mark: ['uids', 'cgroup', ...ROUTED],
  connmark: ROUTED,
  dscp: ['dscp', ...ROUTED],
  snat: [],
};

const WHY_NOT: Record<string, (mode: ReturnPathMode) => string> = {
  uids: (m) =>
    m === 'connmark' || m === 'dscp'
      ? `${m} selects connections by their arrival through the tunnel, not by user`
      : 'the frontend SNATs; nothing is selected on the backend',
  dscp: () => 'only mode dscp tags the connections it forwards to a LAN host',
  sources: () => 'without policy routing there is no table to send them to',
  cgroup: (m) => (m === 'snat' ? 'the frontend SNATs; nothing is selected on the backend' : `mode ${m} does not select by cgroup`),
  mark: () => 'only the routed modes (uid, mark, connmark, dscp) use a firewall mark',
  table: () => 'the frontend SNATs and the backend needs no policy routing',
  priority: () => 'the frontend SNATs and the backend needs no policy routing',
  leakGuard: () => 'without policy routing there is no table to guard',
  exclude: () => 'without policy routing nothing goes through the tunnel that could be excluded',
};

/** `tunnelCount`: several tunnels (tunnels:) put the egress rules one priority later in every mode. */
export function validateReturnPath(value: unknown, field: string, families: IpFamily[], tunnelCount = 1): NormalizedReturnPath {
  const rp = mapping(value, field, RETURN_PATH_KEYS, `a mapping with mode ${listWords(RETURN_PATH_MODES)}`, {
    uid: 'the list of users is uids',
    fwmark: 'the firewall mark is mark',
    rulePriority: 'the rule priority is priority',
  });
  const modeField = child(field, 'mode');
  const modeValue = required(rp, 'mode', field, listWords(RETURN_PATH_MODES));
  if (!(RETURN_PATH_MODES as readonly unknown[]).includes(modeValue)) {
    fail(modeField, `${show(modeValue)} is not a mode${didYouMean(modeValue, RETURN_PATH_MODES)}`, listWords(RETURN_PATH_MODES));
  }
  const mode = modeValue as ReturnPathMode;
  for (const key of RETURN_PATH_KEYS) {
    if (key === 'mode' || own(rp, key) === undefined || MODE_FIELDS[mode].includes(key)) continue;
    const modes = RETURN_PATH_MODES.filter((m) => MODE_FIELDS[m].includes(key));
    fail(
      child(field, key),
      `is not used in mode ${mode}: ${WHY_NOT[key]!(mode)}`,
      `no ${key} in mode ${mode} (it applies to mode ${listWords(modes)})`,
    );
  }
  if (mode === 'snat') return { mode };

  const tableField = child(field, 'table');
  const tableValue = own(rp, 'table');
  const table = tableValue === undefined ? DEFAULTS.table : routingTable(tableValue, tableField);
  const priorityValue = own(rp, 'priority');
  const priority =
    priorityValue === undefined
      ? DEFAULTS.priority
      : rulePriority(
          priorityValue,
          child(field, 'priority'),
          mode === 'uid' || tunnelCount > 1 ? 32764 : 32765,
          tunnelCount > 1 && mode !== 'uid',
        );
  const leakGuard = boolean(own(rp, 'leakGuard'), child(field, 'leakGuard'), DEFAULTS.leakGuard);
  // Modes uid and mark also route the families the tunnel lacks (into an unreachable table):
  // exclusions of those families apply there.
  const excludeFamilies: IpFamily[] = mode === 'connmark' || mode === 'dscp' ? families : [4, 6];
  const exclude = prefixList(own(rp, 'exclude'), child(field, 'exclude'), excludeFamilies, {
    expected:
      mode === 'connmark' || mode === 'dscp'
        ? 'network CIDRs of the tunnel\'s families, e.g. ["192.168.1.0/24"]'
        : 'network CIDRs, e.g. ["192.168.1.0/24", "fd12:3456::/48"]',
    hosts: false,
    what: 'exclude',
  });
  const sources = prefixList(own(rp, 'sources'), child(field, 'sources'), families, {
    expected: 'source networks of the tunnel\'s families whose own traffic uses the tunnel, e.g. a Docker network ["172.18.0.0/16"]',
    hosts: false,
    what: 'sources',
  });
  const routed = { table, priority, leakGuard, exclude, sources };

  const uidsValue = own(rp, 'uids');
  const uids = uidsValue === undefined ? [] : uidRanges(uidsValue, child(field, 'uids'));
  const markValue = own(rp, 'mark');
  const markExpected = 'a firewall mark 1-4294967295 (0 means "no mark")';
  const mark = markValue === undefined ? undefined : integer(markValue, child(field, 'mark'), 1, U32_MAX, markExpected);

  if (mode === 'uid') {
    if (uidsValue === undefined)
      fail(
        child(field, 'uids'),
        'is required in mode uid',
        'a list of uids or uid ranges whose traffic uses the tunnel, e.g. ["1000-1001"]',
      );
    return { mode, uids, mark: mark ?? table, ...routed };
  }
  if (mode === 'connmark') return { mode, mark: mark ?? table, ...routed };
  if (mode === 'dscp') {
    const dscpValue = own(rp, 'dscp');
    const dscp =
      dscpValue === undefined
        ? DEFAULTS.dscp
        : integer(dscpValue, child(field, 'dscp'), 1, 63, 'a DSCP value 1-63 (0 is the default class, which every packet has), e.g. 42');
    return { mode, mark: mark ?? table, dscp, ...routed };
  }
  const cgroupValue = own(rp, 'cgroup');
  const cgroup = cgroupValue === undefined ? undefined : cgroupPath(cgroupValue, child(field, 'cgroup'));
  if (uidsValue === undefined && cgroup === undefined && mark === undefined) {
    fail(
      field,
      'mode mark needs something that selects the traffic',
      'uids, cgroup, or the mark your application sets on its sockets itself (SO_MARK)',
    );
  }
  return { mode, uids, cgroup, mark: mark ?? table, ...routed };
}

const RESERVED_TABLES: Record<number, string> = {
  0: 'table 0 means "unspecified"',
  252: 'table 252 is reserved ("compat", how the kernel reports tables above 255)',
  253: 'table 253 is the "default" table',
  254: 'table 254 is the "main" table',
  255: 'table 255 is the "local" table',
};
const TABLE_EXPECTED = 'a routing table 1-4294967295 other than 252-255, e.g. 5000';

export function routingTable(value: unknown, field: string): number {
  if (typeof value === 'string' && ['main', 'local', 'default', 'compat'].includes(value))
    fail(field, `${show(value)} is a system table`, TABLE_EXPECTED);
  const n = integer(value, field, 0, U32_MAX, TABLE_EXPECTED);
  const why = RESERVED_TABLES[n];
  if (why) fail(field, `${why}; netfwd needs a table of its own`, TABLE_EXPECTED);
  return n;
}

function rulePriority(value: unknown, field: string, max: number, several = false): number {
  const expected = `a rule priority 1-${max}, e.g. 100 (0 is the local table's rule, 32766 main's, 32767 default's${max < 32765 ? '; mode uid also uses the next priority, for its uid ranges' : ''})`;
  const n = integer(value, field, 0, U32_MAX, expected);
  if (n === 0 || n >= 32766)
    fail(
      field,
      n === 0
        ? 'priority 0 is taken by the rule for the local table'
        : `priority ${n} is ${n === 32766 ? 'taken by the rule for the main table' : n === 32767 ? 'taken by the rule for the default table' : "after the main table's rule, so it would never be reached"}`,
      expected,
    );
  if (n > max)
    fail(
      field,
      `priority ${n} leaves no room for ${several ? 'the egress rules of several tunnels' : "the uid ranges' rule"} at ${n + 1}: 32766 is the main table's rule`,
      expected,
    );
  return n;
}

function uidRanges(value: unknown, field: string): NumberRange[] {
  const expected = 'uids 1-4294967294 or ranges "FROM-TO", e.g. ["1000-1001"]';
  const out: Array<{ range: NumberRange; order: number }> = [];
  list(value, field, expected, 1).forEach((v, i) => {
    const f = item(field, i);
    const range = parseRange(v, f, 0, UID_MAX, 'uid', expected);
    // WireGuard's own UDP packets belong to root (the kernel's socket, or wireguard-go running as root):
    // routing them into the tunnel would loop.
    if (range.from === 0)
      fail(
        f,
        `selects uid 0 (root), whose traffic includes the tunnel's own packets and would loop into the tunnel`,
        `uids of the service users only, e.g. ["1000-1001"]`,
      );
    out.push({ range, order: i });
  });
  const overlap = findOverlap(out);
  if (overlap)
    fail(
      item(field, overlap[1].order),
      `${formatRange(overlap[1].range)} overlaps ${item(field, overlap[0].order)} (${formatRange(overlap[0].range)})`,
      'ranges that do not overlap (one ip rule each)',
    );
  return out.map((o) => o.range);
}

function cgroupPath(value: unknown, field: string): string {
  const expected = 'a cgroup v2 path below the cgroup2 mount, e.g. "system.slice/lnd.service"';
  const text = string(value, field, expected);
  const path = text.replace(/^\/+|\/+$/g, '');
  if (path === '') fail(field, text === '' ? 'is empty' : 'is the root cgroup, which holds every process', expected);
  if (/[\0\n]/.test(path)) fail(field, 'contains a NUL or newline character', expected);
  const parts = path.split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..')) fail(field, 'has an empty, "." or ".." component', expected);
  if (Buffer.byteLength(path) > 4095) fail(field, 'is longer than 4095 bytes', expected);
  return path;
}

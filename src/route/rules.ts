/**
 * Policy routing rules (RTM_NEWRULE/DELRULE/GETRULE), IPv4 and IPv6: uid
 * ranges, fwmark/mask, suppress_prefixlength, selectors on addresses,
 * interfaces, protocol and ports; tables above 255 through FRA_TABLE.
 */
import { ValidationError } from '../errors.js';
import { type BulkReport, runBulk } from '../netlink/bulk.js';
import type { Connection } from '../netlink/connection.js';
import { NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL } from '../netlink/constants.js';
import { dumpDecoded } from '../netlink/dump.js';
import { messageCodec, type NetlinkMessage, type Request } from '../netlink/message.js';
import { LazyRequest } from '../netlink/request.js';
import * as C from './constants.js';
import { prefixBytes } from './prefix.js';
import { protocolNumber, type RouteProtocol } from './protocols.js';
import { fibRuleHdr, ruleAttrs, ruleWireAttrs } from './schemas.js';
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

export type RuleAction = 'lookup' | 'goto' | 'nop' | 'blackhole' | 'unreachable' | 'prohibit';
const ACTIONS: Record<RuleAction, number> = {
  lookup: C.FR_ACT_TO_TBL,
  goto: C.FR_ACT_GOTO,
  nop: C.FR_ACT_NOP,
  blackhole: C.FR_ACT_BLACKHOLE,
  unreachable: C.FR_ACT_UNREACHABLE,
  prohibit: C.FR_ACT_PROHIBIT,
};
const actionName = (n: number): RuleAction | number => (Object.keys(ACTIONS) as RuleAction[]).find((k) => ACTIONS[k] === n) ?? n;

export type RulePortRange = [start: number, end: number];

export interface RuleSpec {
  /** Rule preference; the kernel picks one below the previous rule when left out. */
  priority?: number;
  /** Required for action 'lookup' (the default), not allowed otherwise. */
  table?: TableId;
  /** Default: the family of `from`/`to`, else 4. */
  family?: RouteFamily;
  /** Socket owner uid range, inclusive. */
  uidRange?: [start: number, end: number];
  fwmark?: number;
  /** Needs `fwmark`; the kernel reports 0xffffffff when only a mark was given. */
  fwmask?: number;
  /** Reject lookup results with a prefix this long or shorter (`suppress_prefixlength`). */
  suppressPrefixLength?: number;
  /** Source prefix (CIDR or bare address). */
  from?: string;
  /** Destination prefix. */
  to?: string;
  /** Input interface name. */
  iif?: string;
  /** Output interface name. */
  oif?: string;
  /** A number or a name from rt_protos. The kernel stores 0 when left out. */
  protocol?: RouteProtocol;
  /** Match when the selectors do not (`ip rule add not ...`). */
  invert?: boolean;
  /** Default 'lookup'. */
  action?: RuleAction;
  /** Priority of the rule to jump to, for action 'goto'. */
  goto?: number;
  tos?: number;
  /** IP protocol number (6 tcp, 17 udp). */
  ipProto?: number;
  sourcePorts?: RulePortRange;
  destinationPorts?: RulePortRange;
}

/** A rule as the kernel reports it. Its fields fit `RuleSpec`, so it can be passed to `remove`. */
export interface Rule {
  family: RouteFamily;
  priority: number;
  action: RuleAction;
  /** The table (FRA_TABLE, which the kernel always sends), for every action. */
  table?: number;
  invert: boolean;
  from?: string;
  to?: string;
  iif?: string;
  oif?: string;
  fwmark?: number;
  fwmask?: number;
  uidRange?: [start: number, end: number];
  suppressPrefixLength?: number;
  protocol: number;
  tos: number;
  goto?: number;
  ipProto?: number;
  sourcePorts?: RulePortRange;
  destinationPorts?: RulePortRange;
  /** fib_rule_hdr flags (FIB_RULE_INVERT, FIB_RULE_IIF_DETACHED, ...). */
  flags: number;
}

export interface RuleFilter {
  family?: RouteFamily;
  /** Only rules of this protocol. */
  protocol?: RouteProtocol;
  /** Only rules pointing at this table. */
  table?: TableId;
}

export const ruleCodec = messageCodec(fibRuleHdr, ruleAttrs);
/** Encodes with addresses as bytes (parsed once, in `prepare`). */
const ruleWireCodec = messageCodec(fibRuleHdr, ruleWireAttrs);

interface Prepared {
  header: { family: number; dstLen: number; srcLen: number; tos: number; table: number; action: number; flags: number };
  attrs: Record<string, unknown>;
}

function checkPorts(v: unknown, field: string): { start: number; end: number } {
  if (!Array.isArray(v) || v.length !== 2) throw new ValidationError(field, 'expected [start, end]', 'two port numbers');
  const start = checkUint(v[0], `${field}[0]`, 0xffff);
  const end = checkUint(v[1], `${field}[1]`, 0xffff);
  if (start > end) throw new ValidationError(field, `reversed range ${start}-${end}`, 'start <= end');
  return { start, end };
}

function prepare(input: RuleSpec, op: 'add' | 'remove'): Prepared {
  const spec = checkObject(input, 'rule') as unknown as RuleSpec;
  let family = checkFamily(spec.family, 'family');
  const action = spec.action ?? 'lookup';
  if (!(action in ACTIONS))
    throw new ValidationError('action', `unknown action ${JSON.stringify(action)}`, Object.keys(ACTIONS).join(', '));
  const attrs: Record<string, unknown> = {};
  // On removal an unspecified action matches any.
  const actionNum = spec.action === undefined && op === 'remove' ? C.FR_ACT_UNSPEC : ACTIONS[action];
  const header = { family: 0, dstLen: 0, srcLen: 0, tos: 0, table: 0, action: actionNum, flags: spec.invert ? C.FIB_RULE_INVERT : 0 };
  if (spec.priority !== undefined) attrs.priority = checkUint(spec.priority, 'priority', 0xffffffff);
  if (spec.from !== undefined) {
    const p = prefixBytes(spec.from, 'from', family);
    family = p.family;
    header.srcLen = p.length;
    if (p.length > 0) attrs.src = p.bytes;
  }
  if (spec.to !== undefined) {
    const p = prefixBytes(spec.to, 'to', family);
    family = p.family;
    header.dstLen = p.length;
    if (p.length > 0) attrs.dst = p.bytes;
  }
  family ??= 4;
  header.family = familyNumber(family);
  if (spec.iif !== undefined) attrs.iifname = checkIfname(spec.iif, 'iif');
  if (spec.oif !== undefined) attrs.oifname = checkIfname(spec.oif, 'oif');
  if (spec.fwmark !== undefined) attrs.fwmark = checkUint(spec.fwmark, 'fwmark', 0xffffffff);
  if (spec.fwmask !== undefined) {
    if (spec.fwmark === undefined) throw new ValidationError('fwmask', 'a mask needs a fwmark', 'fwmark together with fwmask');
    attrs.fwmask = checkUint(spec.fwmask, 'fwmask', 0xffffffff);
  }
  if (spec.uidRange !== undefined) {
    const r = spec.uidRange;
    if (!Array.isArray(r) || r.length !== 2) throw new ValidationError('uidRange', 'expected [start, end]', 'two uids');
    const start = checkUint(r[0], 'uidRange[0]', 0xfffffffe);
    const end = checkUint(r[1], 'uidRange[1]', 0xfffffffe);
    if (start > end) throw new ValidationError('uidRange', `reversed uid range ${start}-${end}`, 'start <= end');
    attrs.uidRange = { start, end };
  }
  let table: number | undefined;
  if (action === 'lookup') {
    if (spec.table === undefined) {
      if (op === 'add') throw new ValidationError('table', "a 'lookup' rule needs a table", 'a table id or main/local/default');
    } else table = checkTable(spec.table, 'table');
  } else if (spec.table !== undefined && op === 'add') {
    throw new ValidationError('table', `a '${action}' rule takes no table`, "no table, or action 'lookup'");
  }
  if (table !== undefined) {
    if (table > 255) attrs.table = table;
    else header.table = table;
  }
  if (spec.suppressPrefixLength !== undefined) {
    attrs.suppressPrefixlen = checkUint(spec.suppressPrefixLength, 'suppressPrefixLength', family === 4 ? 32 : 128);
  }
  if (action === 'goto') {
    if (spec.goto === undefined) throw new ValidationError('goto', "a 'goto' rule needs the priority to jump to");
    attrs.goto = checkUint(spec.goto, 'goto', 0xffffffff);
  } else if (spec.goto !== undefined) throw new ValidationError('goto', "only a 'goto' rule has a target", "action 'goto'");
  if (spec.tos !== undefined) header.tos = checkUint(spec.tos, 'tos', 255);
  if (spec.protocol !== undefined) attrs.protocol = protocolNumber(spec.protocol);
  if (spec.ipProto !== undefined) attrs.ipProto = checkUint(spec.ipProto, 'ipProto', 255);
  if (spec.sourcePorts !== undefined) attrs.sportRange = checkPorts(spec.sourcePorts, 'sourcePorts');
  if (spec.destinationPorts !== undefined) attrs.dportRange = checkPorts(spec.destinationPorts, 'destinationPorts');
  return { header, attrs };
}

function describeRule(spec: RuleSpec): string {
  const action = spec.action ?? 'lookup';
  const parts = [
    spec.priority !== undefined ? `priority ${spec.priority}` : '',
    spec.invert ? 'not' : '',
    spec.from ? `from ${spec.from}` : '',
    spec.to ? `to ${spec.to}` : '',
    spec.iif ? `iif ${spec.iif}` : '',
    spec.oif ? `oif ${spec.oif}` : '',
    spec.uidRange ? `uidrange ${spec.uidRange[0]}-${spec.uidRange[1]}` : '',
    spec.fwmark !== undefined ? `fwmark ${spec.fwmark}${spec.fwmask !== undefined ? `/${spec.fwmask}` : ''}` : '',
    action === 'lookup' ? (spec.table !== undefined ? `lookup ${spec.table}` : '') : action,
  ];
  const family = spec.family ?? (/:/.test(`${spec.from ?? ''}${spec.to ?? ''}`) ? 6 : 4);
  return `IPv${family} rule ${parts.filter(Boolean).join(' ')}`;
}
const describeAdd = (spec: RuleSpec) => `add ${describeRule(spec)}`;
const describeRemove = (spec: RuleSpec) => `remove ${describeRule(spec)}`;

/** Validates a rule spec; throws a ValidationError before anything is sent. */
export function validateRuleSpec(spec: RuleSpec, op: 'add' | 'remove' = 'add'): void {
  prepare(spec, op);
}

/** RTM_NEWRULE, validating first. */
export function ruleAddRequest(spec: RuleSpec): Request {
  const p = prepare(spec, 'add');
  return new LazyRequest(ruleWireCodec, C.RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, p.header, p.attrs, spec, describeAdd);
}

/** RTM_DELRULE: every selector given must match; the kernel removes the first rule that does. */
export function ruleRemoveRequest(spec: RuleSpec): Request {
  const p = prepare(spec, 'remove');
  return new LazyRequest(ruleWireCodec, C.RTM_DELRULE, 0, p.header, p.attrs, spec, describeRemove);
}

export function ruleDumpRequest(family?: RouteFamily): Request {
  return ruleCodec.request(
    C.RTM_GETRULE,
    NLM_F_DUMP,
    { family: family === undefined ? C.AF_UNSPEC : familyNumber(family) },
    {},
    'list rules',
    'read',
  );
}

/**
 * Decodes the payload of an RTM_NEWRULE/RTM_DELRULE message; undefined for
 * families other than IPv4 and IPv6 (e.g. multicast routing rules). Throws
 * DecodeError on malformed bytes.
 */
export function decodeRule(payload: Buffer): Rule | undefined {
  const { header: h, attrs: a } = ruleCodec.decode(payload);
  const family = familyOfNumber(h.family);
  if (family === undefined) return undefined;
  const r: Rule = {
    family,
    priority: a.priority ?? 0,
    action: actionName(h.action) as RuleAction,
    invert: (h.flags & C.FIB_RULE_INVERT) !== 0,
    protocol: a.protocol ?? 0,
    tos: h.tos,
    flags: h.flags,
  };
  const table = a.table ?? h.table;
  if (table !== 0) r.table = table;
  const zero = family === 4 ? '0.0.0.0' : '::';
  if (h.srcLen > 0) r.from = `${a.src ?? zero}/${h.srcLen}`;
  if (h.dstLen > 0) r.to = `${a.dst ?? zero}/${h.dstLen}`;
  if (a.iifname !== undefined) r.iif = a.iifname;
  if (a.oifname !== undefined) r.oif = a.oifname;
  if (a.fwmark !== undefined) r.fwmark = a.fwmark;
  if (a.fwmask !== undefined) r.fwmask = a.fwmask;
  if (a.uidRange) r.uidRange = [a.uidRange.start, a.uidRange.end];
  if (a.suppressPrefixlen !== undefined && a.suppressPrefixlen !== 0xffffffff) r.suppressPrefixLength = a.suppressPrefixlen;
  if (a.goto !== undefined) r.goto = a.goto;
  if (a.ipProto !== undefined) r.ipProto = a.ipProto;
  if (a.sportRange) r.sourcePorts = [a.sportRange.start, a.sportRange.end];
  if (a.dportRange) r.destinationPorts = [a.dportRange.start, a.dportRange.end];
  return r;
}

export const ruleKey = (r: Rule): string => JSON.stringify(r);

/** `rt.rules`: policy routing rules of the Route's namespace. */
export class Rules {
  constructor(private readonly conn: Connection) {}

  /** Adds a rule. EEXIST (NetlinkError) when an identical rule exists. */
  async add(spec: RuleSpec): Promise<void> {
    await this.conn.request(ruleAddRequest(spec));
  }

  /**
   * Removes one rule: the first whose every given selector matches. A rule
   * from `list()` identifies exactly itself. ENOENT (NetlinkError) when none does.
   */
  async remove(spec: RuleSpec): Promise<void> {
    await this.conn.request(ruleRemoveRequest(spec));
  }

  /** The rules in the order the kernel evaluates them (by priority), both families unless `family` is given. */
  async list(filter: RuleFilter = {}): Promise<Rule[]> {
    checkObject(filter, 'filter');
    const family = checkFamily(filter.family, 'family');
    const protocol = filter.protocol === undefined ? undefined : protocolNumber(filter.protocol);
    const table = filter.table === undefined ? undefined : checkTable(filter.table, 'table');
    const decode = (m: NetlinkMessage) => (m.type === C.RTM_NEWRULE ? decodeRule(m.data) : undefined);
    const out: Rule[] = [];
    for await (const r of dumpDecoded(this.conn, ruleDumpRequest(family), decode, ruleKey)) {
      if (family !== undefined && r.family !== family) continue;
      if (protocol !== undefined && r.protocol !== protocol) continue;
      if (table !== undefined && r.table !== table) continue;
      out.push(r);
    }
    return out;
  }

  /** Adds many rules pipelined; each failure is reported with its input (see `Routes.addMany`). */
  async addMany(specs: Iterable<RuleSpec>): Promise<BulkReport<RuleSpec>> {
    return runBulk(this.conn, specs, ruleAddRequest);
  }

  /** Removes many rules pipelined; failures (ENOENT for a missing one) are reported with their input. */
  async removeMany(specs: Iterable<RuleSpec>): Promise<BulkReport<RuleSpec>> {
    return runBulk(this.conn, specs, ruleRemoveRequest);
  }
}

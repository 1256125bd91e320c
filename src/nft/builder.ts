/**
 * The expression builder: statements that read close to nft's language and
 * come out in the canonical form `nft.list()` decodes to, e.g.
 *
 *   [nftExpr.ip.daddr.eq('203.0.113.1'), nftExpr.tcp.dport.eq(9735), nftExpr.dnat({ addr: '10.0.0.2', port: 9735 })]
 *   [nftExpr.ct.state.any('established', 'related'), nftExpr.accept()]
 *   [nftExpr.tcp.flags.any('syn'), nftExpr.tcp.option.maxseg.size.set(nftExpr.rt.mtu)]
 *   [nftExpr.ct.mark.eq(42), nftExpr.ip.dscp.set(42)]
 */
import { ValidationError } from '../errors.js';
import { DATATYPES } from './datatype.js';
import { LOG_LEVELS } from './expr/log.js';
import type {
  NftAtom,
  NftCounterStmt,
  NftElement,
  NftInlineSet,
  NftKey,
  NftKeyExpr,
  NftLimitPer,
  NftLimitStmt,
  NftLogFlag,
  NftLogLevel,
  NftLogStmt,
  NftMasqueradeStmt,
  NftMatchOp,
  NftMatchStmt,
  NftNatFlag,
  NftNatStmt,
  NftRange,
  NftRedirectStmt,
  NftRejectStmt,
  NftRejectWith,
  NftSetSource,
  NftSetStmt,
  NftStmt,
  NftValue,
  NftVerdict,
  NftVerdictStmt,
  NftVmapStmt,
} from './model.js';
import { hashKeyText } from './selectors/hash.js';
import type { KeyDef } from './selectors/key.js';
import { keyDef } from './selectors/registry.js';
import { sortElements } from './sets/elements.js';
import { canonicalMatchValue } from './stmt/match.js';
import { canonicalValue, isRange } from './values.js';

/** A set reference or inline elements, as the builder accepts them. */
export type NftSetArg =
  | string // '@name' or 'name'
  | NftSetSource
  | readonly (NftValue | NftElement)[];

/** Map contents: a set reference, elements, or [key, data] pairs. */
export type NftMapArg = string | NftSetSource | readonly (NftElement | readonly [NftValue, NftValue | NftVerdict])[];

/** A map lookup (`meta mark map @marks`), used by set(), dnat(), snat(). */
export interface NftMapLookup {
  readonly kind: 'map';
  readonly key: NftKeyExpr;
  readonly map: NftSetSource;
}

// Key definitions do not depend on the table family for text and values.
const defOf = (k: NftKey, field: string): KeyDef => keyDef(k, 'inet', field);

const isElement = (v: unknown): v is NftElement => typeof v === 'object' && v !== null && !Array.isArray(v) && 'key' in v && !isRange(v);
const isVerdictValue = (v: unknown): v is NftVerdict =>
  typeof v === 'object' && v !== null && typeof (v as NftVerdict).verdict === 'string';

function setSource(defs: readonly KeyDef[], arg: unknown, data: 'none' | 'map', field: string): NftSetSource {
  if (typeof arg === 'string') {
    const name = arg.startsWith('@') ? arg.slice(1) : arg;
    if (!name) throw new ValidationError(field, 'empty set name', 'a set name');
    return { set: name };
  }
  if (arg && typeof arg === 'object' && !Array.isArray(arg)) {
    if ('set' in arg) return { set: String((arg as { set: unknown }).set) };
    if ('elements' in arg) return inline(defs, (arg as NftInlineSet).elements, data, field);
  }
  if (Array.isArray(arg)) return inline(defs, arg, data, field);
  throw new ValidationError(field, 'not a set', "'@name', a list of values, or { elements }");
}

function inline(defs: readonly KeyDef[], items: readonly unknown[], data: 'none' | 'map', field: string): NftInlineSet {
  if (items.length === 0) throw new ValidationError(field, 'an empty set', 'at least one element');
  const types = defs.map((d) => d.type);
  const elements: NftElement[] = items.map((it, i) => {
    const f = `${field}[${i}]`;
    let el: NftElement;
    if (data === 'map' && Array.isArray(it) && it.length === 2 && (defs.length === 1 || Array.isArray(it[0])))
      el = { key: it[0], data: it[1] };
    else if (isElement(it)) el = { ...it };
    else el = { key: it as NftValue };
    const out: NftElement = { key: canonicalValue(types, el.key, `${f}.key`) };
    if (el.data !== undefined) out.data = el.data;
    if (el.timeout !== undefined) out.timeout = el.timeout;
    if (el.comment !== undefined) out.comment = el.comment;
    return out;
  });
  return { elements: sortElements(types, elements) };
}

function keyTexts(keys: readonly NftKeyBuilder[]): { key: NftKeyExpr; defs: KeyDef[] } {
  const defs = keys.map((k, i) => defOf(k.text, `key[${i}]`));
  return { key: defs.length === 1 ? defs[0]!.text : defs.map((d) => d.text), defs };
}

/** Match, set and map operations on one selector or a concatenation. */
export class NftKeyBuilder {
  constructor(
    readonly text: NftKey,
    private readonly parts: readonly NftKey[] = [text],
  ) {}

  private defs(): KeyDef[] {
    return this.parts.map((p, i) => defOf(p, this.parts.length > 1 ? `key[${i}]` : 'key'));
  }

  private keyExpr(): NftKeyExpr {
    const d = this.defs();
    return d.length === 1 ? d[0]!.text : d.map((x) => x.text);
  }

  /** A comparison; `value` may be a prefix (`'10.0.0.0/24'`), a range (`{ range: [a, b] }`) or a set. */
  match(op: NftMatchOp, value: unknown, mask?: NftAtom): NftMatchStmt {
    let defs = this.defs();
    if (defs.length === 1 && defs[0]!.refine) defs = [defs[0]!.refine(value)];
    const s: NftMatchStmt = { type: 'match', key: this.keyExpr(), op, value: undefined as never };
    if (op === 'any' || op === 'none') {
      if (defs.length !== 1) throw new ValidationError('op', `${op} on a concatenation`, 'a single selector');
      const v = Array.isArray(value) ? value.join(',') : value;
      s.value = defs[0]!.type.value(defs[0]!.type.parse(v, 'value'));
      return s;
    }
    if (mask !== undefined) {
      const t = defs[0]!.type;
      s.mask = t.value(t.parse(mask, 'mask'));
      s.value = t.value(t.parse(value, 'value'));
      return s;
    }
    s.value = canonicalMatchValue(defs, value, 'value');
    return s;
  }

  eq(value: NftValue): NftMatchStmt {
    return this.match('eq', value);
  }
  neq(value: NftValue): NftMatchStmt {
    return this.match('neq', value);
  }
  lt(value: NftAtom): NftMatchStmt {
    return this.match('lt', value);
  }
  lte(value: NftAtom): NftMatchStmt {
    return this.match('lte', value);
  }
  gt(value: NftAtom): NftMatchStmt {
    return this.match('gt', value);
  }
  gte(value: NftAtom): NftMatchStmt {
    return this.match('gte', value);
  }
  /** `from-to` */
  range(from: NftAtom, to: NftAtom): NftMatchStmt {
    return this.match('eq', { range: [from, to] });
  }
  /** `!= from-to` */
  notRange(from: NftAtom, to: NftAtom): NftMatchStmt {
    return this.match('neq', { range: [from, to] });
  }
  /** Flag test: any of the flags set (`ct state established,related`). */
  any(...flags: NftAtom[]): NftMatchStmt {
    return this.match('any', flags.length === 1 ? flags[0] : flags.join(','));
  }
  /** None of the flags set (`ct status ! dnat`). */
  none(...flags: NftAtom[]): NftMatchStmt {
    return this.match('none', flags.length === 1 ? flags[0] : flags.join(','));
  }
  /** `key & mask == value` (for flags: `value / mask`). */
  masked(mask: NftAtom): { eq(v: NftAtom): NftMatchStmt; neq(v: NftAtom): NftMatchStmt } {
    return { eq: (v) => this.match('eq', v, mask), neq: (v) => this.match('neq', v, mask) };
  }
  /** Set membership: `'@name'`, or inline values (`[22, 80]`). One inline value is a plain comparison, as in nft. */
  in(set: NftSetArg): NftMatchStmt {
    return this.setMatch('eq', set);
  }
  notIn(set: NftSetArg): NftMatchStmt {
    return this.setMatch('neq', set);
  }
  private setMatch(op: 'eq' | 'neq', set: NftSetArg): NftMatchStmt {
    const defs = this.defs();
    const src = setSource(defs, set, 'none', 'value');
    if ('elements' in src && src.elements.length === 1 && defs.length === 1 && src.elements[0]!.data === undefined) {
      return { type: 'match', key: this.keyExpr(), op, value: canonicalMatchValue(defs, src.elements[0]!.key, 'value') };
    }
    return { type: 'match', key: this.keyExpr(), op, value: src };
  }
  /** A map lookup keyed by this selector, for set(), dnat() and snat(). */
  map(map: NftMapArg): NftMapLookup {
    return { kind: 'map', key: this.keyExpr(), map: setSource(this.defs(), map, 'map', 'map') };
  }
  /** `key vmap { 22 : accept }` */
  vmap(map: NftMapArg): NftVmapStmt {
    return { type: 'vmap', key: this.keyExpr(), map: setSource(this.defs(), map, 'map', 'map') };
  }
  /** `meta mark set 0x2a`, `ct mark set meta mark`, `meta mark set ct mark map @m`. */
  set(value: NftAtom | NftKeyBuilder | NftMapLookup): NftSetStmt {
    const target = this.defs()[0]!;
    if (value instanceof NftKeyBuilder) return { type: 'set', key: target.text, from: defOf(value.text, 'from').text };
    if (typeof value === 'object' && value !== null && (value as NftMapLookup).kind === 'map') {
      const m = value as NftMapLookup;
      return { type: 'set', key: target.text, map: { key: m.key, map: canonicalMapData(m.map, [target.type]) } };
    }
    return { type: 'set', key: target.text, value: target.type.value(target.type.parse(value, 'value')) };
  }
}

function canonicalMapData(src: NftSetSource, dataTypes: readonly import('./datatype.js').NftDatatype[]): NftSetSource {
  if (!('elements' in src)) return src;
  return {
    elements: src.elements.map((el) =>
      el.data === undefined || isVerdictValue(el.data) ? el : { ...el, data: canonicalValue(dataTypes, el.data, 'data') },
    ),
  };
}

const k = (text: string) => new NftKeyBuilder(text);

/** Keys of one protocol header: `nftExpr.ip.saddr`, `nftExpr.tcp.dport`, ... */
function header<const F extends readonly string[]>(proto: string, fields: F): { readonly [K in F[number]]: NftKeyBuilder } {
  const o: Record<string, NftKeyBuilder> = {};
  for (const f of fields) o[f] = k(`${proto} ${f}`);
  return o as { readonly [K in F[number]]: NftKeyBuilder };
}

const ports = ['sport', 'dport'] as const;

function natFlags(flags: readonly NftNatFlag[] | undefined): NftNatFlag[] | undefined {
  if (!flags || flags.length === 0) return undefined;
  const order: NftNatFlag[] = ['random', 'fully-random', 'persistent', 'netmap'];
  return [...new Set(flags)].sort((a, b) => order.indexOf(a) - order.indexOf(b));
}

function canonicalAddr(addr: string | NftRange, family: 'ip' | 'ip6'): string | NftRange {
  const t = family === 'ip6' ? DATATYPES.ipv6_addr : DATATYPES.ipv4_addr;
  if (isRange(addr)) return { range: [t.value(t.parse(addr.range[0], 'addr')), t.value(t.parse(addr.range[1], 'addr'))] };
  return t.value(t.parse(addr, 'addr')) as string;
}

function canonicalPort(port: number | NftRange): number | NftRange {
  const t = DATATYPES.inet_service;
  if (isRange(port)) return { range: [Number(t.value(t.parse(port.range[0], 'port'))), Number(t.value(t.parse(port.range[1], 'port')))] };
  return Number(t.value(t.parse(port, 'port')));
}

export interface NftNatOptions {
  addr?: string | NftRange;
  port?: number | NftRange;
  /** Needed in inet tables unless `addr` tells it. */
  family?: 'ip' | 'ip6';
  /** Address (and port, with `withPort`) from a map: `{ key: [ip.daddr, th.dport], map: '@fwd', withPort: true }`. */
  map?: { key: NftKeyBuilder | readonly NftKeyBuilder[]; map: NftMapArg; withPort?: boolean };
  flags?: NftNatFlag[];
}

function nat(kind: 'snat' | 'dnat', o: NftNatOptions): NftNatStmt {
  const s: NftNatStmt = { type: 'nat', kind };
  const a = isRange(o.addr) ? o.addr.range[0] : o.addr;
  const family = o.family ?? (typeof a === 'string' ? (a.includes(':') ? 'ip6' : 'ip') : undefined);
  if (family) s.family = family;
  if (o.map) {
    const keys = Array.isArray(o.map.key) ? (o.map.key as NftKeyBuilder[]) : [o.map.key as NftKeyBuilder];
    const { key, defs } = keyTexts(keys);
    const addrType = family === 'ip6' ? DATATYPES.ipv6_addr : DATATYPES.ipv4_addr;
    const data = o.map.withPort ? [addrType, DATATYPES.inet_service] : [addrType];
    s.map = { key, map: canonicalMapData(setSource(defs, o.map.map, 'map', 'map.map'), data) };
    if (o.map.withPort) s.map.withPort = true;
  }
  if (o.addr !== undefined) s.addr = canonicalAddr(o.addr, family ?? 'ip');
  if (o.port !== undefined) s.port = canonicalPort(o.port);
  const flags = natFlags(o.flags);
  if (flags) s.flags = flags;
  return s;
}

function ported<T extends NftMasqueradeStmt | NftRedirectStmt>(
  type: T['type'],
  o: { port?: number | NftRange; flags?: NftNatFlag[] } = {},
): T {
  const s = { type } as T;
  if (o.port !== undefined) s.port = canonicalPort(o.port);
  const flags = natFlags(o.flags);
  if (flags) s.flags = flags;
  return s;
}

const verdict = (v: NftVerdictStmt['verdict'], chain?: string): NftVerdictStmt =>
  chain === undefined ? { type: 'verdict', verdict: v } : { type: 'verdict', verdict: v, chain };

const LOG_FLAG_ORDER: NftLogFlag[] = ['tcp sequence', 'tcp options', 'ip options', 'skuid', 'ether'];

/** The statement builder. Every function returns plain statement objects. */
export const nftExpr = {
  ip: header('ip', ['saddr', 'daddr', 'protocol', 'ttl', 'length', 'id', 'checksum', 'dscp'] as const),
  ip6: header('ip6', ['saddr', 'daddr', 'nexthdr', 'hoplimit', 'length', 'dscp'] as const),
  tcp: {
    ...header('tcp', [...ports, 'flags', 'sequence', 'ackseq', 'window', 'checksum', 'urgptr'] as const),
    option: {
      maxseg: header('tcp option maxseg', ['kind', 'length', 'size'] as const),
      window: header('tcp option window', ['kind', 'length', 'count'] as const),
      timestamp: header('tcp option timestamp', ['kind', 'length', 'tsval', 'tsecr'] as const),
    },
  },
  udp: header('udp', [...ports, 'length', 'checksum'] as const),
  th: header('th', ports),
  sctp: header('sctp', ports),
  icmp: header('icmp', ['type', 'code'] as const),
  icmpv6: header('icmpv6', ['type', 'code'] as const),
  meta: {
    ...header('meta', [
      'l4proto',
      'nfproto',
      'mark',
      'skuid',
      'skgid',
      'protocol',
      'priority',
      'pkttype',
      'length',
      'cpu',
      'cgroup',
      'nftrace',
    ] as const),
    iifname: k('iifname'),
    oifname: k('oifname'),
    iif: k('iif'),
    oif: k('oif'),
  },
  iifname: k('iifname'),
  oifname: k('oifname'),
  iif: k('iif'),
  oif: k('oif'),
  ct: {
    ...header('ct', ['state', 'status', 'mark', 'direction', 'l3proto', 'protocol', 'zone', 'expiration'] as const),
    original: header('ct original', ['ip saddr', 'ip daddr', 'ip6 saddr', 'ip6 daddr', 'proto-src', 'proto-dst'] as const),
    reply: header('ct reply', ['ip saddr', 'ip daddr', 'ip6 saddr', 'ip6 daddr', 'proto-src', 'proto-dst'] as const),
  },
  socket: {
    transparent: k('socket transparent'),
    mark: k('socket mark'),
    wildcard: k('socket wildcard'),
    /** `socket cgroupv2 level N` (compare with a path under /sys/fs/cgroup, or an id). */
    cgroupv2: (level: number) => k(`socket cgroupv2 level ${level}`),
  },
  rt: { mtu: k('rt mtu'), classid: k('rt classid'), ip: { nexthop: k('rt ip nexthop') }, ip6: { nexthop: k('rt ip6 nexthop') } },
  /** `fib saddr . iif oif`: lookup parts and result. */
  fib: (lookup: string, result: 'oif' | 'oifname' | 'type') => k(`fib ${lookup} ${result}`),
  /** `jhash ip saddr mod 12 seed 0x4e46`: a hash of another selector, modulo `modulus` (plus `offset`); always with a seed. */
  jhash: (source: NftKeyBuilder, modulus: number, seed: number, offset = 0) => k(hashKeyText(source.text, modulus, seed, offset)),
  /** Any selector by its nft text (`@th,16,16`, `ct original ip saddr`, ...). */
  key: (text: string) => k(text),
  /** A concatenation (`ip daddr . tcp dport`). */
  concat: (...keys: NftKeyBuilder[]) => {
    const { key } = keyTexts(keys);
    const parts = Array.isArray(key) ? (key as string[]) : [key as string];
    return new NftKeyBuilder(parts.join(' . '), parts);
  },

  accept: () => verdict('accept'),
  drop: () => verdict('drop'),
  continue: () => verdict('continue'),
  return: () => verdict('return'),
  queue: () => verdict('queue'),
  jump: (chain: string) => verdict('jump', chain),
  goto: (chain: string) => verdict('goto', chain),

  /** An anonymous counter, or a named counter object (`counter name "x"`). */
  counter: (name?: string | { name: string }): NftCounterStmt =>
    name === undefined ? { type: 'counter', packets: 0, bytes: 0 } : { type: 'counter', name: typeof name === 'string' ? name : name.name },
  log: (o: Omit<NftLogStmt, 'type'> = {}): NftLogStmt => {
    const s: NftLogStmt = { type: 'log' };
    if (o.prefix !== undefined) s.prefix = o.prefix;
    if (o.group !== undefined) s.group = o.group;
    if (o.snaplen !== undefined) s.snaplen = o.snaplen;
    if (o.queueThreshold !== undefined) s.queueThreshold = o.queueThreshold;
    if (o.level !== undefined && o.level !== 'warn') {
      if (!LOG_LEVELS.includes(o.level as NftLogLevel))
        throw new ValidationError('level', `unknown level ${JSON.stringify(o.level)}`, LOG_LEVELS.join(', '));
      s.level = o.level;
    }
    if (o.flags && o.flags.length) {
      const set = new Set(o.flags);
      s.flags =
        set.has('all') || (LOG_FLAG_ORDER.slice(0, 4).every((f) => set.has(f)) && set.has('ether'))
          ? ['all']
          : LOG_FLAG_ORDER.filter((f) => set.has(f));
    }
    return s;
  },
  limit: (o: { rate: number; per: NftLimitPer; burst?: number; bytes?: boolean; over?: boolean }): NftLimitStmt => {
    const s: NftLimitStmt = { type: 'limit', rate: o.rate, per: o.per, burst: o.burst ?? (o.bytes ? 0 : 5) };
    if (o.bytes) s.bytes = true;
    if (o.over) s.over = true;
    return s;
  },
  reject: (w?: NftRejectWith): NftRejectStmt => {
    if (w === undefined) return { type: 'reject' };
    if (w === 'tcp reset') return { type: 'reject', with: w };
    if ('icmpx' in w) return { type: 'reject', with: { icmpx: DATATYPES.icmpx_code.value(DATATYPES.icmpx_code.parse(w.icmpx, 'icmpx')) } };
    if ('icmp' in w) return { type: 'reject', with: { icmp: DATATYPES.icmp_code.value(DATATYPES.icmp_code.parse(w.icmp, 'icmp')) } };
    return { type: 'reject', with: { icmpv6: DATATYPES.icmpv6_code.value(DATATYPES.icmpv6_code.parse(w.icmpv6, 'icmpv6')) } };
  },
  dnat: (o: NftNatOptions) => nat('dnat', o),
  snat: (o: NftNatOptions) => nat('snat', o),
  masquerade: (o?: { port?: number | NftRange; flags?: NftNatFlag[] }) => ported<NftMasqueradeStmt>('masquerade', o),
  redirect: (o?: { port?: number | NftRange; flags?: NftNatFlag[] }) => ported<NftRedirectStmt>('redirect', o),
  notrack: (): NftStmt => ({ type: 'notrack' }),
};

export type NftExprBuilder = typeof nftExpr;

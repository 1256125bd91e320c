/**
 * The typed model of nftables rules, sets and objects as netfwd reads and
 * writes them. Rules are lists of statements close to nft's language; each
 * statement renders to nft text and linearizes to kernel expressions.
 */

import type { NftChainType, NftFamily, NftHook, NftPolicy, NftSetFlag, NftTableFlag } from './constants.js';
import type { NftAtom } from './datatype.js';
import type { NftExpr } from './expr/index.js';

export type { NftAtom } from './datatype.js';

/**
 * What a statement reads, as nft writes it: `ip saddr`, `tcp dport`, `th dport`,
 * `meta l4proto`, `iifname`, `meta mark`, `ct state`, `ct mark`,
 * `socket cgroupv2 level 2`, `rt mtu`, `tcp option maxseg size`, `@nh,96,32`, ...
 */
export type NftKey = string;
/** One key, or several concatenated (`ip daddr . tcp dport`). */
export type NftKeyExpr = NftKey | readonly NftKey[];

/** An inclusive range of values (`1000-2000`, `192.0.2.1-192.0.2.9`). */
export interface NftRange {
  range: readonly [NftAtom, NftAtom];
}
/** One value of one key: an atom (addresses may carry a prefix, `10.0.0.0/24`) or a range. */
export type NftValuePart = NftAtom | NftRange;
/** A value for a key expression: one part per key of a concatenation. */
export type NftValue = NftValuePart | readonly NftValuePart[];

export type NftVerdictCode = 'accept' | 'drop' | 'continue' | 'return' | 'jump' | 'goto' | 'queue';
export interface NftVerdict {
  verdict: NftVerdictCode;
  /** Target of jump and goto. */
  chain?: string;
}

export interface NftCounterValues {
  packets: number;
  bytes: number;
}

/** A set or map element. */
export interface NftElement {
  key: NftValue;
  /** Map data: a value, or a verdict for verdict maps. */
  data?: NftValue | NftVerdict;
  /** Timeout in milliseconds (sets with the timeout flag). */
  timeout?: number;
  /** Milliseconds left before the element expires (read only). */
  expires?: number;
  comment?: string;
  /** Per-element counter (sets declared with `counter`). */
  counter?: NftCounterValues;
}

/** A named set in the same table (`@ports`). */
export interface NftSetRef {
  set: string;
}
/** An anonymous set or map written inline (`{ 22, 80 }`, `{ 80 : 10.0.0.2 }`). */
export interface NftInlineSet {
  elements: readonly NftElement[];
}
export type NftSetSource = NftSetRef | NftInlineSet;

/**
 * Comparison of a match:
 * - `eq`, `neq`, `lt`, `lte`, `gt`, `gte` compare values (with a set or map on the
 *   right `eq` is a lookup and `neq` a negated lookup);
 * - `any` / `none` test flags (`ct state established,related`, `ct status ! dnat`).
 */
export type NftMatchOp = 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'any' | 'none';

export interface NftMatchStmt {
  type: 'match';
  key: NftKeyExpr;
  op: NftMatchOp;
  value: NftValue | NftSetSource;
  /** Compare `key & mask` instead of the key (`meta mark & 0xff == 0x1`, `tcp flags syn / syn,rst`). */
  mask?: NftAtom;
}

export interface NftVerdictStmt extends NftVerdict {
  type: 'verdict';
}

/** `tcp dport vmap { 22 : accept }` */
export interface NftVmapStmt {
  type: 'vmap';
  key: NftKeyExpr;
  map: NftSetSource;
}

/** An anonymous counter (`counter packets 0 bytes 0`) or a named counter object (`counter name "x"`). */
export interface NftCounterStmt {
  type: 'counter';
  packets?: number;
  bytes?: number;
  name?: string;
}

export type NftLogLevel = 'emerg' | 'alert' | 'crit' | 'err' | 'warn' | 'notice' | 'info' | 'debug' | 'audit';
export type NftLogFlag = 'tcp sequence' | 'tcp options' | 'ip options' | 'skuid' | 'ether' | 'all';
export interface NftLogStmt {
  type: 'log';
  prefix?: string;
  level?: NftLogLevel;
  group?: number;
  snaplen?: number;
  queueThreshold?: number;
  flags?: NftLogFlag[];
}

export type NftLimitPer = 'second' | 'minute' | 'hour' | 'day' | 'week';
export interface NftLimitStmt {
  type: 'limit';
  rate: number;
  per: NftLimitPer;
  /** Packets (default 5) or bytes (default 0). */
  burst: number;
  /** Rate and burst in bytes instead of packets. */
  bytes?: boolean;
  /** Match when over the rate (`limit rate over ...`). */
  over?: boolean;
}

export type NftRejectWith = 'tcp reset' | { icmp: NftAtom } | { icmpv6: NftAtom } | { icmpx: NftAtom };
export interface NftRejectStmt {
  type: 'reject';
  /** Omitted: the family's default (ICMP port unreachable). */
  with?: NftRejectWith;
}

export type NftNatFlag = 'random' | 'fully-random' | 'persistent' | 'netmap';

/** Where NAT addresses come from: the map's data is an address, or `address . port`. */
export interface NftNatMap {
  key: NftKeyExpr;
  map: NftSetSource;
  /** The map's data is `address . port` (both are set from it). */
  withPort?: boolean;
}

export interface NftNatStmt {
  type: 'nat';
  kind: 'snat' | 'dnat';
  /** Address family of the translation; required in inet tables. */
  family?: 'ip' | 'ip6';
  addr?: string | NftRange;
  port?: number | NftRange;
  /** Take the address (and port) from a map instead. */
  map?: NftNatMap;
  flags?: NftNatFlag[];
}

export interface NftMasqueradeStmt {
  type: 'masquerade';
  port?: number | NftRange;
  flags?: NftNatFlag[];
}

export interface NftRedirectStmt {
  type: 'redirect';
  port?: number | NftRange;
  flags?: NftNatFlag[];
}

/**
 * `meta mark set 0x2a`, `ct mark set meta mark`, `meta mark set ct mark`,
 * `tcp option maxseg size set rt mtu`, `meta mark set meta mark map @m`,
 * `ip dscp set 0x2a` (a bit field: a value only).
 * Exactly one of value, from, map.
 */
export interface NftSetStmt {
  type: 'set';
  key: NftKey;
  value?: NftAtom;
  from?: NftKey;
  map?: { key: NftKeyExpr; map: NftSetSource };
}

export interface NftNotrackStmt {
  type: 'notrack';
}

/** An iptables-nft compat expression (`xt match conntrack`). */
export interface NftXtStmt {
  type: 'xt';
  kind: 'match' | 'target';
  name: string;
  rev: number;
  info: Buffer;
}

/** Kernel expressions no statement above describes: kept as they are, rendered in nft's debug notation. */
export interface NftRawStmt {
  type: 'raw';
  exprs: NftExpr[];
}

export type NftStmt =
  | NftMatchStmt
  | NftVerdictStmt
  | NftVmapStmt
  | NftCounterStmt
  | NftLogStmt
  | NftLimitStmt
  | NftRejectStmt
  | NftNatStmt
  | NftMasqueradeStmt
  | NftRedirectStmt
  | NftSetStmt
  | NftNotrackStmt
  | NftXtStmt
  | NftRawStmt;

// ---------------------------------------------------------------- objects

export interface NftTableSpec {
  family: NftFamily;
  name: string;
  flags?: readonly NftTableFlag[];
  comment?: string;
}

export interface NftChainSpec {
  family: NftFamily;
  table: string;
  name: string;
  /** Base chains: type, hook and priority together. */
  type?: NftChainType;
  hook?: NftHook;
  /** A number or nft's name with an optional offset: `filter`, `dstnat`, `mangle - 5`. */
  priority?: number | string;
  policy?: NftPolicy;
  /** netdev family: the device. */
  device?: string;
  comment?: string;
}

export interface NftRuleSpec {
  family: NftFamily;
  table: string;
  chain: string;
  expr: readonly NftStmt[];
  comment?: string;
  /** Add after the rule with this handle (nft's `add rule ... position N`). */
  position?: number;
}

/** A set type: nft's type name, or several for a concatenation. */
export type NftSetType = string | readonly string[];

export interface NftSetSpec {
  family: NftFamily;
  table: string;
  name: string;
  keyType: NftSetType;
  /** Makes a map: the data type, or `verdict` for a verdict map. */
  dataType?: NftSetType;
  flags?: readonly NftSetFlag[];
  /** Default element timeout in milliseconds (needs the timeout flag). */
  timeout?: number;
  /** Maximum number of elements. */
  size?: number;
  /** Count packets and bytes per element. */
  counter?: boolean;
  comment?: string;
  elements?: readonly NftElement[];
}

export interface NftCounterSpec {
  family: NftFamily;
  table: string;
  name: string;
  packets?: number;
  bytes?: number;
  comment?: string;
}

// ---------------------------------------------------------------- what list() returns

export interface NftTable {
  family: NftFamily;
  name: string;
  handle: number;
  flags: NftTableFlag[];
  /** Raw flag bits (includes bits netfwd has no name for). */
  flagBits: number;
  comment?: string;
  /** Table userdata as stored (comment TLVs and anything else). */
  userdata?: Buffer;
  /** Number of chains, sets and objects that use the table. */
  use?: number;
  /** Port id of the owning socket (NFT_TABLE_F_OWNER). */
  owner?: number;
}

export interface NftChain {
  family: NftFamily;
  table: string;
  name: string;
  handle: number;
  type?: NftChainType | string;
  hook?: NftHook | string;
  priority?: number;
  policy?: NftPolicy;
  device?: string;
  devices?: string[];
  comment?: string;
  use?: number;
}

export interface NftRule {
  family: NftFamily;
  table: string;
  chain: string;
  handle: number;
  /** Handle of the rule this one follows, when the kernel reports it. */
  position?: number;
  expr: NftStmt[];
  /** The kernel expressions, exactly as listed. */
  exprs: NftExpr[];
  comment?: string;
  userdata?: Buffer;
}

export interface NftSet {
  family: NftFamily;
  table: string;
  name: string;
  handle: number;
  /** nft type names (one per concatenated field). */
  keyType: string[];
  keyLen: number;
  dataType?: string[];
  dataLen?: number;
  /** Raw NFT_SET_* flag bits. */
  flagBits: number;
  flags: NftSetFlag[];
  anonymous: boolean;
  isMap: boolean;
  timeout?: number;
  gcInterval?: number;
  size?: number;
  /** Field lengths of a concatenation, as the kernel stores them. */
  fieldLens?: number[];
  counter?: boolean;
  comment?: string;
  userdata?: Buffer;
  elements: NftElement[];
}

export interface NftCounterObject {
  family: NftFamily;
  table: string;
  name: string;
  handle: number;
  type: 'counter';
  packets: number;
  bytes: number;
  comment?: string;
}

export interface NftRuleset {
  /** The generation this listing was read at (pass it as `genId` to detect changes). */
  generation: number;
  tables: NftTable[];
  chains: NftChain[];
  rules: NftRule[];
  sets: NftSet[];
  counters: NftCounterObject[];
}

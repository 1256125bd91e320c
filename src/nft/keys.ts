/**
 * Selectors ("keys"): what a match reads, named as nft writes it. Each
 * expression file that loads something into a register provides the keys it
 * knows; this module finds a key by its text (for building rules) and by its
 * load expression (for reading them back).
 */
import { ValidationError } from '../errors.js';
import type { NftFamily } from './constants.js';
import type { NftDatatype } from './datatype.js';
import { ctKeys } from './expr/ct.js';
import { exthdrKeys } from './expr/exthdr.js';
import { fibKeys } from './expr/fib.js';
import type { NftExpr } from './expr/index.js';
import { metaKeys } from './expr/meta.js';
import { payloadKeys } from './expr/payload.js';
import { rtKeys } from './expr/rt.js';
import { socketKeys } from './expr/socket.js';
import { type UdataEntry, udataEncode, udataU32 } from './udata.js';

/** Protocol context while reading or writing a rule: what earlier matches established. */
export interface ProtoCtx {
  family: NftFamily;
  /** Layer 4 protocol number known to match (after `meta l4proto tcp`, `tcp dport ...`). */
  l4?: number;
  /** NFPROTO_IPV4/IPV6 known to match (always in ip/ip6 tables). */
  nfproto?: number;
}

export interface KeyDef {
  /** nft's text: `tcp dport`, `meta mark`, `socket cgroupv2 level 2`. */
  readonly text: string;
  readonly type: NftDatatype;
  /** Bytes the load writes. */
  readonly len: number;
  /** Byte order of the loaded value when it differs from the type's (nft's meta keys are host order). */
  readonly byteorder?: 'host' | 'big';
  /** Protocol dependencies: nft adds `meta nfproto` / `meta l4proto` matches for them. */
  readonly nfproto?: number;
  readonly l4?: number;
  /** The load into `dreg`; `len` shorter than the key for byte-aligned prefixes (payload keys). */
  load(dreg: number, len?: number): NftExpr;
  /** Payload keys: a prefix loads fewer bytes instead of masking. */
  readonly truncatable?: boolean;
  /** Keys that can be written (`meta mark set`, `ct mark set`, `tcp option maxseg size set`). */
  set?(sreg: number): NftExpr;
  /** nft's typeof description for anonymous set userdata: [etype, data TLVs]. */
  readonly typeofInfo?: readonly [number, readonly UdataEntry[]];
  /** A variant of the key for a particular value (fib's `missing`/`exists`). */
  refine?(value: unknown): KeyDef;
}

export interface Recognized {
  def: KeyDef;
  /** Bytes actually loaded (less than def.len for a truncated prefix load). */
  len: number;
}

export interface KeyProvider {
  parse(text: string, family: NftFamily): KeyDef | undefined;
  recognize(e: NftExpr, ctx: ProtoCtx): Recognized | undefined;
}

// Built on first use: the expression files import this module too (no evaluation-order trap).
let providers: readonly KeyProvider[] | undefined;
const PROVIDERS = (): readonly KeyProvider[] => (providers ??= [payloadKeys, metaKeys, ctKeys, socketKeys, rtKeys, exthdrKeys, fibKeys]);

const cache = new Map<NftFamily, Map<string, KeyDef | null>>();

/** The key for nft text, or undefined. */
export function findKey(text: string, family: NftFamily): KeyDef | undefined {
  let byText = cache.get(family);
  if (!byText) cache.set(family, (byText = new Map()));
  const hit = byText.get(text);
  if (hit !== undefined) return hit ?? undefined;
  const norm = text.trim().replace(/\s+/g, ' ');
  let def: KeyDef | undefined;
  for (const p of PROVIDERS()) {
    def = p.parse(norm, family);
    if (def) break;
  }
  if (byText.size < 4096) byText.set(text, def ?? null);
  return def;
}

/** The key for nft text; a ValidationError naming `field` when unknown. */
export function keyDef(text: unknown, family: NftFamily, field: string): KeyDef {
  const def = typeof text === 'string' ? findKey(text, family) : undefined;
  if (!def) {
    throw new ValidationError(
      field,
      `unknown selector ${JSON.stringify(text)}`,
      'nft selector text such as "ip saddr", "tcp dport", "meta mark", "ct state", "socket cgroupv2 level 2" or "@th,16,16"',
    );
  }
  return def;
}

/** The key a load expression reads, given what earlier matches established. */
export function recognizeKey(e: NftExpr, ctx: ProtoCtx): Recognized | undefined {
  for (const p of PROVIDERS()) {
    const r = p.recognize(e, ctx);
    if (r) return r;
  }
  return undefined;
}

// ---------------------------------------------------------------- typeof userdata

const EXPR_CONCAT = 13;

function typeofBytes(info: readonly [number, readonly UdataEntry[]]): Buffer {
  return udataEncode([
    [0, udataU32(info[0])],
    [1, udataEncode(info[1])],
  ]);
}

/** The KEY_TYPEOF/DATA_TYPEOF content nft writes for keys of an anonymous set, or undefined. */
export function typeofUdata(defs: readonly KeyDef[], withComponents: boolean): Buffer | undefined {
  if (defs.length === 1) return defs[0]!.typeofInfo ? typeofBytes(defs[0]!.typeofInfo) : undefined;
  if (!withComponents) return udataEncode([[0, udataU32(EXPR_CONCAT)], [1, Buffer.alloc(0)]]);
  const parts: UdataEntry[] = [];
  for (let i = 0; i < defs.length; i++) {
    const info = defs[i]!.typeofInfo;
    if (!info) return undefined;
    parts.push([i, typeofBytes(info)]);
  }
  return udataEncode([[0, udataU32(EXPR_CONCAT)], [1, udataEncode(parts)]]);
}

/** The concat typeof content nft writes for a `type a . b` declaration (no components). */
export const concatTypeofUdata = (): Buffer => udataEncode([[0, udataU32(EXPR_CONCAT)], [1, Buffer.alloc(0)]]);

/** The byte order a key loads in (nft's meta and ct keys are host order even for network types). */
export function keyByteorder(d: KeyDef): 'host' | 'big' {
  return d.byteorder ?? d.type.byteorder;
}

/**
 * Whether a host-order key is converted (byteorder hton) before an interval
 * lookup or an ordering comparison. A one-byte key has no byte order: nft 1.0.6
 * still emits `hton` with size 2 for it (e.g. `meta l4proto` in an interval
 * map), which Linux 6.12.y and 7.x refuse with EOPNOTSUPP; netfwd does not, and
 * reads rules both with and without it.
 */
export function needsHton(d: KeyDef): boolean {
  return keyByteorder(d) === 'host' && d.len > 1;
}

/**
 * What a selector ("key") is: nft's text for what a match reads (`ip saddr`,
 * `meta mark`), its datatype, its load expression and its protocol
 * dependencies. The tables in this folder define them; registry.ts finds them.
 */
import type { NftFamily } from '../constants.js';
import type { NftDatatype } from '../datatype.js';
import type { NftExpr } from '../expr/index.js';
import type { UdataEntry } from '../udata.js';

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
  /** Expressions before the load (a hash key loads its source first, selectors/hash.ts). */
  prepare?(dreg: number): NftExpr[];
  /** Payload keys: a prefix loads fewer bytes instead of masking. */
  readonly truncatable?: boolean;
  /** Keys that can be written (`meta mark set`, `ct mark set`, `tcp option maxseg size set`). */
  set?(sreg: number): NftExpr;
  /** nft's typeof description for anonymous set userdata: [etype, data TLVs]. */
  readonly typeofInfo?: readonly [number, readonly UdataEntry[]];
  /** A variant of the key for a particular value (fib's `missing`/`exists`). */
  refine?(value: unknown): KeyDef;
  /**
   * A header field narrower than the bytes holding it (`ip dscp`): `load`
   * reads those bytes (`len`), a match masks them and compares with the value
   * shifted into place, a write changes only these bits (payload.ts).
   */
  readonly bitfield?: BitField;
}

/** Where a bit field's value sits in the bytes that hold it, and how nft writes it. */
export interface BitField {
  /** The field's bits within the `len` loaded bytes (big endian). */
  readonly mask: Buffer;
  /** How far the value is shifted left within those bytes. */
  readonly shift: number;
  /** The field's width in bits. */
  readonly width: number;
  /**
   * The bytes a write reads, changes and stores back (nft widens them to an
   * even count at an even offset when the header has a checksum, whose
   * incremental update works on 16-bit words), the field's shift within
   * them, and the checksum fix-up (NFT_PAYLOAD_CSUM_*, the checksum's offset).
   */
  readonly write: { base: number; offset: number; len: number; shift: number; csumType: number; csumOffset: number };
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

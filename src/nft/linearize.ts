/**
 * Statements → kernel expressions, the way nft 1.0 linearizes them: the same
 * registers, the same protocol dependencies (`meta l4proto tcp` before
 * `tcp dport`), the same byte-order conversions, so a rule built here is
 * byte-identical to the same rule loaded with `nft -f`.
 */
import { ValidationError } from '../errors.js';
import { FAMILIES, type NftFamily, NFPROTO_IPV4, NFPROTO_IPV6 } from './constants.js';
import type { NftDatatype } from './datatype.js';
import { byteorderSize } from './expr/byteorder.js';
import { regSpan, slotReg } from './expr/common.js';
import type { NftExpr } from './expr/index.js';
import { type KeyDef, type ProtoCtx, keyByteorder, keyDef, needsHton } from './keys.js';
import { STMT_LINEARIZERS, establish } from './statements.js';
import type { NftElement, NftKeyExpr, NftStmt } from './types.js';

/** What rules need to know about a set they use. */
export interface SetShape {
  name: string;
  /** One datatype per concatenated field. */
  keyTypes: readonly NftDatatype[];
  /** Field lengths as declared (concatenations). */
  keyLens: readonly number[];
  /** Map data types (one per concatenated field), or 'verdict'. */
  dataTypes?: readonly NftDatatype[] | 'verdict';
  /** NFT_SET_* bits. */
  flags: number;
  /** NFTA_SET_ID when the set is created in the same batch. */
  id?: number;
}

/** An anonymous set or map a rule writes inline; the transaction creates it before the rule. */
export interface InlineSetRequest {
  keyDefs: readonly KeyDef[];
  keyTypes: readonly NftDatatype[];
  dataTypes?: readonly NftDatatype[] | 'verdict';
  elements: readonly NftElement[];
  /** NFT_SET_* flags (anonymous, constant, interval, map, concat). */
  flags: number;
  field: string;
}

export interface LinearizeOptions {
  family: NftFamily;
  /** A named set of the rule's table. */
  set?: (name: string) => SetShape | undefined;
  /** Creates an anonymous set; returns the name and id the lookup uses. */
  inline?: (req: InlineSetRequest) => { name: string; id: number; shape: SetShape };
  /** Path prefix of validation errors. */
  path?: string;
  /** Protocol context established by statements before these (default: the family's). */
  proto?: { l4?: number; nfproto?: number };
}

/**
 * One-byte comparison values (the nfproto and l4proto dependencies of nearly
 * every rule), made once: Buffer.from([n]) per rule is slow on a cold JIT.
 * Shared, so never to be written into.
 */
const BYTE_VALUES: Buffer[] = [];
function byteValue(n: number): Buffer {
  return (BYTE_VALUES[n] ??= Buffer.from([n]));
}

/** The network protocol a table family implies (none for inet and the others). */
function initialNfproto(family: NftFamily): number | undefined {
  return family === 'ip' ? NFPROTO_IPV4 : family === 'ip6' ? NFPROTO_IPV6 : undefined;
}

export function initialProto(family: NftFamily): { nfproto?: number } {
  const nfproto = initialNfproto(family);
  return nfproto === undefined ? {} : { nfproto };
}

export class LinCtx implements ProtoCtx {
  readonly family: NftFamily;
  l4?: number;
  nfproto?: number;
  readonly out: NftExpr[] = [];
  private base = '';
  /** Index of the statement being linearized. */
  index = 0;
  /** Path of the statement being linearized, for errors (built only when an error needs it). */
  get field(): string {
    return `${this.base}[${this.index}]`;
  }
  set field(path: string) {
    this.base = path;
  }

  constructor(readonly opts: LinearizeOptions) {
    this.family = opts.family;
    if (FAMILIES[opts.family] === undefined) throw new ValidationError('family', `unknown family ${JSON.stringify(opts.family)}`, 'ip, ip6, inet, arp, bridge or netdev');
    // Without initialProto's temporary object: this runs once per rule.
    const nfproto = initialNfproto(opts.family);
    if (nfproto !== undefined) this.nfproto = nfproto;
    if (opts.proto) {
      if (opts.proto.l4 !== undefined) this.l4 = opts.proto.l4;
      if (opts.proto.nfproto !== undefined) this.nfproto = opts.proto.nfproto;
    }
  }

  emit(...e: NftExpr[]): void {
    for (const x of e) this.out.push(x);
  }

  key(text: unknown, field: string): KeyDef {
    return keyDef(text, this.family, field);
  }

  keys(k: NftKeyExpr, field: string): KeyDef[] {
    if (Array.isArray(k)) {
      if (k.length === 0) throw new ValidationError(field, 'empty concatenation', 'one or more selectors');
      return k.map((t, i) => this.key(t, `${field}[${i}]`));
    }
    return [this.key(k, field)];
  }

  /** Emits the protocol matches nft adds before keys that need them, and records what they establish. */
  require(defs: readonly KeyDef[]): void {
    for (const d of defs) {
      if (d.nfproto !== undefined && this.nfproto !== d.nfproto && this.family === 'inet') {
        this.emit({ name: 'meta', key: 15, dreg: 1 }, { name: 'cmp', sreg: 1, op: 'eq', data: byteValue(d.nfproto) });
      }
      if (d.nfproto !== undefined) this.nfproto = d.nfproto;
      if (d.l4 !== undefined && this.l4 !== d.l4) {
        this.emit({ name: 'meta', key: 16, dreg: 1 }, { name: 'cmp', sreg: 1, op: 'eq', data: byteValue(d.l4) });
      }
      if (d.l4 !== undefined) this.l4 = d.l4;
    }
  }

  /**
   * Loads keys into consecutive registers from register 1 (concatenations
   * take 32-bit slots). `hton` converts host-order keys, as nft does before
   * interval lookups and ordering comparisons.
   */
  load(defs: readonly KeyDef[], hton: boolean, truncate?: number): void {
    let slot = 0;
    for (const d of defs) {
      const reg = slotReg(slot);
      this.emit(d.load(reg, truncate));
      if (hton && needsHton(d)) {
        this.emit({ name: 'byteorder', sreg: reg, dreg: reg, op: 'hton', len: d.len, size: byteorderSize(d.len) });
      }
      slot += regSpan(d.len);
    }
  }

  namedSet(name: unknown, field: string): SetShape {
    const shape = typeof name === 'string' && this.opts.set ? this.opts.set(name) : undefined;
    if (!shape) {
      throw new ValidationError(field, `unknown set ${JSON.stringify(name)}`, 'a set of the same table (declared in this transaction or already in the kernel)');
    }
    return shape;
  }

  inline(req: InlineSetRequest): { name: string; id: number; shape: SetShape } {
    if (!this.opts.inline) throw new ValidationError(req.field, 'inline sets need a transaction', 'a named set');
    return this.opts.inline(req);
  }
}


/** Linearizes a rule's statements. */
export function linearize(stmts: readonly NftStmt[], opts: LinearizeOptions, path?: string): NftExpr[] {
  const ctx = new LinCtx(opts);
  linearizeInto(ctx, stmts, path ?? opts.path ?? 'expr');
  return ctx.out;
}

export function linearizeInto(ctx: LinCtx, stmts: readonly NftStmt[], path: string): void {
  if (!Array.isArray(stmts)) throw new ValidationError(path, 'not a list of statements', 'an array of statements (use nftExpr)');
  ctx.field = path;
  for (let i = 0; i < stmts.length; i++) {
    const s = stmts[i]!;
    ctx.index = i;
    const handler = s && typeof s === 'object' ? (STMT_LINEARIZERS as Record<string, unknown>)[s.type as string] : undefined;
    if (!handler) throw new ValidationError(ctx.field, `unknown statement ${JSON.stringify((s as { type?: unknown })?.type)}`, 'a statement made with nftExpr');
    (handler as (s: NftStmt, ctx: LinCtx) => void)(s, ctx);
    establish(s, ctx);
  }
}

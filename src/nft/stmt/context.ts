/**
 * What the statement layer shares: the linearize context (statements →
 * expressions: registers, protocol dependencies, sets), the delinearize
 * context (expressions → statements: what each register holds), the text
 * context, and how a statement establishes protocol context (`establish`).
 */
import { ValidationError } from '../../errors.js';
import { FAMILIES, NFPROTO_IPV4, NFPROTO_IPV6, type NftFamily } from '../constants.js';
import { DATATYPES, type NftDatatype } from '../datatype.js';
import { byteorderSize } from '../expr/byteorder.js';
import { regSlot, regSpan, slotReg } from '../expr/common.js';
import type { LookupExpr, NftExpr } from '../expr/index.js';
import type { NftElement, NftKeyExpr, NftSetSource, NftStmt } from '../model.js';
import { type KeyDef, needsHton, type ProtoCtx } from '../selectors/key.js';
import { findKey, keyDef, recognizeKey } from '../selectors/registry.js';
import { isSetSource } from '../values.js';

// ---------------------------------------------------------------- linearize: statements → expressions

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
    if (FAMILIES[opts.family] === undefined)
      throw new ValidationError('family', `unknown family ${JSON.stringify(opts.family)}`, 'ip, ip6, inet, arp, bridge or netdev');
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
      if (d.prepare) this.emit(...d.prepare(reg));
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
      throw new ValidationError(
        field,
        `unknown set ${JSON.stringify(name)}`,
        'a set of the same table (declared in this transaction or already in the kernel)',
      );
    }
    return shape;
  }

  inline(req: InlineSetRequest): { name: string; id: number; shape: SetShape } {
    if (!this.opts.inline) throw new ValidationError(req.field, 'inline sets need a transaction', 'a named set');
    return this.opts.inline(req);
  }
}

// ---------------------------------------------------------------- delinearize: expressions → statements

/** A set as the decoder sees it: shape, and for anonymous sets the elements to inline. */
export interface SetView extends SetShape {
  anonymous: boolean;
  elements?: readonly NftElement[];
}

export interface DelinearizeOptions {
  family: NftFamily;
  set?: (name: string) => SetView | undefined;
}

export type RegVal =
  | { kind: 'key'; def: KeyDef; len: number; hton?: boolean; mask?: Buffer; xor?: Buffer }
  | { kind: 'imm'; data: Buffer }
  | { kind: 'map'; key: NftKeyExpr; defs: KeyDef[]; map: NftSetSource; shape?: SetView; dataLen?: number };

export type KeyReg = Extract<RegVal, { kind: 'key' }>;

/** What a handler reports: the registers changed, a statement is complete, or the expression is not understood. */
export type DelinResult = 'reg' | 'fail' | NftStmt;

export class DelinCtx implements ProtoCtx {
  readonly family: NftFamily;
  l4?: number;
  nfproto?: number;
  readonly stmts: NftStmt[] = [];
  readonly regs = new Map<number, RegVal>();
  /** Index of the expression being handled; a handler may consume more with take(). */
  i = 0;

  constructor(
    readonly exprs: readonly NftExpr[],
    readonly opts: DelinearizeOptions,
  ) {
    this.family = opts.family;
    Object.assign(this, initialProto(opts.family));
  }

  reg(r: number | undefined): RegVal | undefined {
    return r === undefined ? undefined : this.regs.get(regSlot(r));
  }

  setReg(r: number, v: RegVal): boolean {
    const slot = regSlot(r);
    if (slot < 0) return false;
    this.regs.set(slot, v);
    return true;
  }

  /** The next expression, without consuming it. */
  peek(): NftExpr | undefined {
    return this.exprs[this.i + 1];
  }

  /** Consumes the next expression (part of the current statement). */
  take(): void {
    this.i++;
  }

  /**
   * Key registers from `r` on: one key, or a concatenation filling `total`
   * bytes (fields padded to 4). Undefined when the registers do not hold
   * plain keys.
   */
  keysAt(r: number, total?: number): KeyReg[] | undefined {
    let slot = regSlot(r);
    if (slot < 0) return undefined;
    const out: KeyReg[] = [];
    let bytes = 0;
    for (;;) {
      const v = this.regs.get(slot);
      if (!v || v.kind !== 'key') break;
      out.push(v);
      const span = Math.ceil(v.len / 4);
      bytes += span * 4;
      slot += span;
      if (total === undefined || bytes >= total) break;
    }
    if (out.length === 0) return undefined;
    if (total !== undefined) {
      const exact = out.length === 1 ? out[0]!.len === total || bytes === total : bytes === total;
      if (!exact) return undefined;
    }
    return out;
  }

  /** The set a lookup refers to, as a statement source. */
  source(e: LookupExpr): { map: NftSetSource; shape?: SetView } {
    const shape = this.opts.set?.(e.set);
    if (shape?.anonymous && shape.elements) return { map: { elements: [...shape.elements] }, shape };
    return { map: { set: e.set }, shape };
  }

  recognize(e: NftExpr): ReturnType<typeof recognizeKey> {
    return recognizeKey(e, this);
  }
}

// ---------------------------------------------------------------- text and protocol context

export interface TextCtx {
  family: NftFamily;
}

const L4_KEYS = new Set(['meta l4proto', 'ip protocol', 'ip6 nexthdr']);

/** Records what a statement tells about the packet's protocols (nft's protocol context). */
export function establish(s: NftStmt, ctx: ProtoCtx): void {
  if (s.type !== 'match') return;
  for (const k of Array.isArray(s.key) ? s.key : [s.key]) {
    const d = findKey(k as string, ctx.family);
    if (d?.l4 !== undefined) ctx.l4 = d.l4;
    if (d?.nfproto !== undefined) ctx.nfproto = d.nfproto;
  }
  if (s.op !== 'eq' || Array.isArray(s.key) || s.mask !== undefined || isSetSource(s.value)) return;
  const v = s.value;
  if (typeof v !== 'string' && typeof v !== 'number') return;
  try {
    if (L4_KEYS.has(s.key as string)) ctx.l4 = DATATYPES.inet_proto.parse(v, 'value')[0];
    else if (s.key === 'meta nfproto') ctx.nfproto = DATATYPES.nf_proto.parse(v, 'value')[0];
  } catch {
    /* not a protocol value: nothing established */
  }
}

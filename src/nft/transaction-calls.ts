/**
 * The calls of a transaction (TxCall): what each call on `tx` keeps until the
 * batch is built, how errors name it, and the requests it becomes, with the
 * sets declared in the transaction or read from the kernel (BuildCtx).
 */
import { ValidationError } from '../errors.js';
import { NFT_DATA_VERDICT, NFT_SET_CONCAT, type NftFamily } from './constants.js';
import { concatTypeId } from './datatype.js';
import { type InlineSetRequest, type LinearizeOptions, linearize, type SetShape } from './linearize.js';
import { elementMessages, type NftRequest, newRule, newSet, type SetAttrs } from './messages.js';
import type { NftElement, NftSetSource, NftStmt } from './model.js';
import { ruleText } from './ruleset-text.js';
import { inlineSetUdata, typesLen } from './sets/declaration.js';
import type { ElementMode } from './sets/elements.js';
import { type PreparedElements, prepareElements } from './sets/prepared.js';
import { commentUdata } from './udata.js';

/** What a call on `tx` returns. */
export interface NftOp {
  /** Position of the call in the transaction (0-based). */
  readonly index: number;
  /** How errors name this call: `tx call #3 addRule: inet netfwd fw: ct status dnat accept`. */
  readonly describe: string;
  /** Handle of an added rule, when the transaction ran with `{ echo: true }`. */
  handle?: number;
}

/** A set the transaction knows about: declared in it, or read from the kernel before building. */
export interface KnownSet extends SetShape {
  family: NftFamily;
  table: string;
}

export const setKey = (family: string, table: string, name: string) => `${family}\u0000${table}\u0000${name}`;

export interface BuildCtx {
  nextSetId: number;
  sets: Map<string, KnownSet>;
  echo: boolean;
  /** Anonymous set requests of the rule being built. */
  pending: NftRequest[];
  /** Linearize options per table (made once: rules are the hot path). */
  lin: Map<string, LinearizeOptions>;
}

function linOptions(ctx: BuildCtx, fam: NftFamily, table: string): LinearizeOptions {
  const k = `${fam}\u0000${table}`;
  let o = ctx.lin.get(k);
  if (!o) {
    o = {
      family: fam,
      set: (n) => ctx.sets.get(setKey(fam, table, n)),
      inline: (req) => {
        const built = buildInlineSet(ctx, fam, table, req);
        ctx.pending.push(...built.requests);
        return built;
      },
    };
    ctx.lin.set(k, o);
  }
  return o;
}

/** Names of the named sets statements refer to (undefined: none, as for most rules). */
function setRefs(stmts: readonly NftStmt[]): string[] | undefined {
  let out: string[] | undefined;
  for (let i = 0; i < stmts.length; i++) {
    const s = stmts[i];
    if (!s || typeof s !== 'object') continue;
    let src: NftSetSource | undefined;
    if (s.type === 'match') src = s.value && typeof s.value === 'object' && 'set' in s.value ? (s.value as NftSetSource) : undefined;
    else if (s.type === 'vmap') src = s.map;
    else if (s.type === 'nat') src = s.map?.map;
    else if (s.type === 'set') src = s.map?.map;
    if (src && typeof src === 'object' && 'set' in src && typeof src.set === 'string') (out ??= []).push(src.set);
  }
  return out;
}

/** One call on `tx`. */
export abstract class TxCall implements NftOp {
  handle?: number;
  private text?: string;
  /** Sets this call uses that may exist only in the kernel. */
  uses?: { family: NftFamily; table: string; set: string }[];
  constructor(
    readonly index: number,
    readonly kind: string,
  ) {}
  get describe(): string {
    return (this.text ??= `tx call #${this.index} ${this.kind}: ${this.what()}`);
  }
  protected abstract what(): string;
  abstract build(ctx: BuildCtx): NftRequest[];
  protected own(reqs: NftRequest[]): NftRequest[] {
    for (let i = 0; i < reqs.length; i++) reqs[i]!.owner = this;
    return reqs;
  }
}

export class SimpleCall extends TxCall {
  constructor(
    index: number,
    kind: string,
    private readonly text0: string,
    private readonly make: () => NftRequest | NftRequest[],
  ) {
    super(index, kind);
  }
  protected what(): string {
    return this.text0;
  }
  build(): NftRequest[] {
    const r = this.make();
    return this.own(Array.isArray(r) ? r : [r]);
  }
}

export class RuleCall extends TxCall {
  constructor(
    index: number,
    kind: string,
    private readonly family: NftFamily,
    private readonly table: string,
    private readonly chain: string,
    private readonly stmts: readonly NftStmt[],
    private readonly comment: string | undefined,
    private readonly position: number | undefined,
    private readonly o: { insert?: boolean; replace?: boolean; handle?: number },
  ) {
    super(index, kind);
    const refs = setRefs(stmts);
    if (refs) this.uses = refs.map((set) => ({ family, table, set }));
  }
  protected what(): string {
    let text: string;
    try {
      text = ruleText(this.stmts, this.family, this.comment);
    } catch {
      text = `${this.stmts.length} statements`;
    }
    return `${this.family} ${this.table} ${this.chain}${this.o.handle !== undefined ? ` handle ${this.o.handle}` : ''}: ${text}`;
  }
  build(ctx: BuildCtx): NftRequest[] {
    const { family: fam, table } = this;
    ctx.pending.length = 0;
    const exprs = linearize(this.stmts, linOptions(ctx, fam, table), `${this.kind}#${this.index}.expr`);
    const rule = newRule(
      {
        family: fam,
        table,
        chain: this.chain,
        exprs,
        handle: this.o.handle,
        position: this.position,
        userdata: commentUdata(this.comment),
      },
      '',
      { echo: ctx.echo, replace: this.o.replace, insert: this.o.insert },
    );
    return this.own(ctx.pending.length ? [...ctx.pending, rule] : [rule]);
  }
}

export class SetCall extends TxCall {
  constructor(
    index: number,
    private readonly shape: KnownSet,
    private readonly attrs: SetAttrs,
    private readonly elements: PreparedElements | undefined,
    private readonly exclusive: boolean | undefined,
  ) {
    super(index, 'addSet');
  }
  protected what(): string {
    return `${this.shape.family} ${this.shape.table} ${this.shape.name}`;
  }
  build(ctx: BuildCtx): NftRequest[] {
    const s = this.shape;
    s.id = ctx.nextSetId++;
    ctx.sets.set(setKey(s.family, s.table, s.name), s);
    const reqs = [newSet(s.family, { ...this.attrs, id: s.id }, '', this.exclusive)];
    if (this.elements && this.elements.count)
      reqs.push(...elementMessages('new', { family: s.family, table: s.table, set: s.name, setId: s.id }, this.elements, ''));
    return this.own(reqs);
  }
}

export class ElementsCall extends TxCall {
  private prepared?: PreparedElements;
  constructor(
    index: number,
    kind: string,
    private readonly family: NftFamily,
    private readonly table: string,
    private readonly set: string,
    private readonly elements: readonly NftElement[],
    private readonly mode: ElementMode,
    declared: KnownSet | undefined,
  ) {
    super(index, kind);
    // Sets declared earlier in this transaction: check (and encode) the elements now.
    if (declared) this.prepared = prepareElements(declared, elements, `${kind}.elements`, mode);
    else this.uses = [{ family, table, set }];
  }
  protected what(): string {
    const n = this.elements.length;
    return `${this.family} ${this.table} ${this.set} (${n} element${n === 1 ? '' : 's'})`;
  }
  build(ctx: BuildCtx): NftRequest[] {
    const shape = ctx.sets.get(setKey(this.family, this.table, this.set));
    if (!shape)
      throw new ValidationError(
        `${this.kind}#${this.index}.set`,
        `unknown set ${this.family} ${this.table} ${this.set}`,
        'a set declared in this transaction or existing in the kernel',
      );
    if (this.elements.length === 0) return [];
    const prepared = this.prepared ?? prepareElements(shape, this.elements, `${this.kind}#${this.index}.elements`, this.mode);
    const target = { family: this.family, table: this.table, set: this.set, setId: shape.id };
    return this.own(elementMessages(this.mode === 'delete' ? 'del' : 'new', target, prepared, ''));
  }
}

/** The NEWSET/NEWSETELEM requests of an anonymous set written inline in a rule. */
function buildInlineSet(
  ctx: BuildCtx,
  fam: NftFamily,
  table: string,
  req: InlineSetRequest,
): { name: string; id: number; shape: SetShape; requests: NftRequest[] } {
  const id = ctx.nextSetId++;
  const setName = req.dataTypes ? '__map%d' : '__set%d';
  const shape: SetShape = {
    name: setName,
    keyTypes: req.keyTypes,
    keyLens: req.keyDefs.map((d) => d.len),
    dataTypes: req.dataTypes,
    flags: req.flags,
    id,
  };
  const elements = prepareElements(shape, req.elements, `${req.field}.elements`, 'create');
  const a: SetAttrs = { table, name: setName, flags: req.flags, keyType: concatTypeId(req.keyTypes), keyLen: typesLen(req.keyTypes) };
  if (req.dataTypes) {
    a.dataType = req.dataTypes === 'verdict' ? NFT_DATA_VERDICT : concatTypeId(req.dataTypes);
    a.dataLen = req.dataTypes === 'verdict' ? 0 : typesLen(req.dataTypes);
  }
  a.id = id;
  a.desc = { size: elements.count };
  if (req.flags & NFT_SET_CONCAT) a.desc.concat = req.keyDefs.map((d) => ({ len: d.len }));
  a.userdata = inlineSetUdata(req.keyDefs, req.dataTypes, req.flags);
  const requests = [newSet(fam, a, ''), ...elementMessages('new', { family: fam, table, set: setName, setId: id }, elements, '')];
  return { name: setName, id, shape, requests };
}

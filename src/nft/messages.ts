/**
 * nf_tables requests: one builder per message, with the attribute order and
 * flags nft uses. Rules and element lists are written straight into a
 * buffer (they are the hot path); extended-ACK offsets still map back to a
 * path such as `expressions[3].lookup.set` or `elements[120].key`.
 */
import { walkAttributes } from '../netlink/attributes.js';
import { NLA_F_NESTED, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_ECHO, NLM_F_EXCL, NLM_F_REPLACE } from '../netlink/constants.js';
import type { Request } from '../netlink/message.js';
import { nfgenmsg, nfnlType } from '../netlink/nfnetlink.js';
import { Writer } from '../netlink/writer.js';
import {
  FAMILIES,
  MAX_ELEMENTS_ATTR,
  NFNL_SUBSYS_NFTABLES,
  NFT_MSG_DELCHAIN,
  NFT_MSG_DELOBJ,
  NFT_MSG_DELRULE,
  NFT_MSG_DELSET,
  NFT_MSG_DELSETELEM,
  NFT_MSG_DELTABLE,
  NFT_MSG_GETCHAIN,
  NFT_MSG_GETGEN,
  NFT_MSG_GETOBJ,
  NFT_MSG_GETRULE,
  NFT_MSG_GETSET,
  NFT_MSG_GETSETELEM,
  NFT_MSG_GETTABLE,
  NFT_MSG_NEWCHAIN,
  NFT_MSG_NEWOBJ,
  NFT_MSG_NEWRULE,
  NFT_MSG_NEWSET,
  NFT_MSG_NEWSETELEM,
  NFT_MSG_NEWTABLE,
  type NftFamily,
} from './constants.js';
import { nestBegin, nestEnd, stringAttr } from './expr/common.js';
import { encodeExprs, exprFieldName, type NftExpr } from './expr/index.js';
import type { chainAttrs, objAttrs, setAttrs, tableAttrs } from './message-attrs.js';
import { chainMsg, genMsg, objMsg, setMsg, tableMsg } from './message-attrs.js';
import type { PreparedElements } from './sets/prepared.js';

export const msgType = (m: number): number => nfnlType(NFNL_SUBSYS_NFTABLES, m);
const hdr = (family: NftFamily | 0) => ({ family: family === 0 ? 0 : FAMILIES[family], version: 0, resId: 0 });

/**
 * A request whose description is only put together when an error needs it
 * (rendering 10 000 rules as text up front would cost more than sending them).
 */
export class NftRequest implements Request {
  /** The transaction call this request belongs to. */
  owner?: { readonly describe: string };
  /** Which part of a split element list this is (` [elements 0..1499]`), or ''. */
  part = '';
  constructor(
    readonly type: number,
    readonly flags: number,
    readonly payload: Buffer,
    public label: string,
    private readonly locator?: 'rule' | 'elements' | ((offset: number) => string | undefined),
    private readonly first = 0,
  ) {}

  get describe(): string {
    return (this.owner ? this.owner.describe : this.label) + this.part;
  }

  locate(offset: number): string | undefined {
    if (this.locator === 'rule') return locateInRule(this.payload, offset);
    if (this.locator === 'elements') return locateElement(this.payload, offset, this.first);
    return this.locator?.(offset);
  }
}

const wrapped = (r: Request): NftRequest => new NftRequest(r.type, r.flags, r.payload, r.describe ?? '', r.locate, 0);

export type TableAttrs = NonNullable<(typeof tableAttrs)['_values']>;
export type ChainAttrs = NonNullable<(typeof chainAttrs)['_values']>;
export type SetAttrs = NonNullable<(typeof setAttrs)['_values']>;
export type ObjAttrs = NonNullable<(typeof objAttrs)['_values']>;

export const newTable = (family: NftFamily, a: TableAttrs, describe: string, exclusive = false): NftRequest =>
  wrapped(tableMsg.request(msgType(NFT_MSG_NEWTABLE), NLM_F_CREATE | (exclusive ? NLM_F_EXCL : 0), hdr(family), a, describe));
export const delTable = (family: NftFamily, a: TableAttrs, describe: string): NftRequest =>
  wrapped(tableMsg.request(msgType(NFT_MSG_DELTABLE), 0, hdr(family), a, describe));
export const newChain = (family: NftFamily, a: ChainAttrs, describe: string, exclusive = false): NftRequest =>
  wrapped(chainMsg.request(msgType(NFT_MSG_NEWCHAIN), NLM_F_CREATE | (exclusive ? NLM_F_EXCL : 0), hdr(family), a, describe));
export const delChain = (family: NftFamily, a: ChainAttrs, describe: string): NftRequest =>
  wrapped(chainMsg.request(msgType(NFT_MSG_DELCHAIN), 0, hdr(family), a, describe));
export const newSet = (family: NftFamily, a: SetAttrs, describe: string, exclusive = false): NftRequest =>
  wrapped(setMsg.request(msgType(NFT_MSG_NEWSET), NLM_F_CREATE | (exclusive ? NLM_F_EXCL : 0), hdr(family), a, describe));
export const delSet = (family: NftFamily, a: SetAttrs, describe: string): NftRequest =>
  wrapped(setMsg.request(msgType(NFT_MSG_DELSET), 0, hdr(family), a, describe));
export const newObj = (family: NftFamily, a: ObjAttrs, describe: string): NftRequest =>
  wrapped(objMsg.request(msgType(NFT_MSG_NEWOBJ), NLM_F_CREATE, hdr(family), a, describe));
export const delObj = (family: NftFamily, a: ObjAttrs, describe: string): NftRequest =>
  wrapped(objMsg.request(msgType(NFT_MSG_DELOBJ), 0, hdr(family), a, describe));

const NFTA_RULE = { table: 1, chain: 2, handle: 3, expressions: 4, position: 6, userdata: 7 } as const;
const RULE_NAMES: Record<number, string> = { 1: 'table', 2: 'chain', 3: 'handle', 4: 'expressions', 6: 'position', 7: 'userdata' };

const putString = stringAttr;

function putBe64Attr(w: Writer, type: number, v: bigint): void {
  const a = w.beginAttr(type);
  w.be64(v);
  w.endAttr(a);
}

/**
 * Rule payloads are written straight into shared 256 KiB slabs and handed out
 * as subarrays, instead of one allocation and copy per rule: a large batch
 * builds tens of thousands of them. A rule that outgrows the rest of a slab
 * makes the writer grow (earlier payloads keep the old slab).
 */
const SLAB = 256 * 1024;
const ruleWriter = new Writer(SLAB);

function beginPayload(): number {
  const w = ruleWriter;
  if (w.buf.length - w.pos < 16 * 1024) w.useBuffer(Buffer.allocUnsafe(SLAB));
  return w.pos;
}

function endPayload(start: number): Buffer {
  const w = ruleWriter;
  const out = w.buf.subarray(start, w.pos);
  w.pos = (w.pos + 7) & ~7;
  if (w.pos > w.buf.length) w.pos = w.buf.length;
  return out;
}

export interface RuleMessage {
  family: NftFamily;
  table: string;
  chain: string;
  exprs?: readonly NftExpr[];
  handle?: number;
  position?: number;
  userdata?: Buffer;
}

/** The nfgenmsg, table and chain attributes of the last rule: batches add many rules to one chain. */
let headFor: { family: NftFamily; table: string; chain: string; bytes: Buffer } | undefined;

function ruleHead(r: RuleMessage): Buffer {
  const h = headFor;
  if (h && h.family === r.family && h.table === r.table && h.chain === r.chain) return h.bytes;
  const w = new Writer(64 + 2 * r.table.length + 2 * r.chain.length);
  nfgenmsg.encode(w, hdr(r.family));
  putString(w, NFTA_RULE.table, r.table);
  putString(w, NFTA_RULE.chain, r.chain);
  headFor = { family: r.family, table: r.table, chain: r.chain, bytes: w.finish() };
  return headFor.bytes;
}

function ruleBytes(r: RuleMessage): Buffer {
  const w = ruleWriter;
  const start = beginPayload();
  w.bytes(ruleHead(r));
  if (r.handle !== undefined) putBe64Attr(w, NFTA_RULE.handle, BigInt(r.handle));
  if (r.position !== undefined) putBe64Attr(w, NFTA_RULE.position, BigInt(r.position));
  if (r.exprs) {
    const a = nestBegin(w, NFTA_RULE.expressions | NLA_F_NESTED);
    encodeExprs(w, r.exprs);
    nestEnd(w, a);
  }
  if (r.userdata) {
    const a = w.beginAttr(NFTA_RULE.userdata);
    w.bytes(r.userdata);
    w.endAttr(a);
  }
  return endPayload(start);
}

/** The attribute path at `offset` of a rule payload (after nfgenmsg). */
export function locateInRule(payload: Buffer, offset: number): string | undefined {
  try {
    for (const a of walkAttributes(payload, nfgenmsg.size, payload.length, 'rule')) {
      if (offset < a.offset || offset >= a.at + a.len) continue;
      const name = RULE_NAMES[a.type] ?? `attr ${a.type}`;
      if (a.type !== NFTA_RULE.expressions) return name;
      let i = 0;
      for (const el of walkAttributes(payload, a.at, a.at + a.len, 'expressions')) {
        if (offset >= el.offset && offset < el.at + el.len) {
          let exprName = '';
          for (const x of walkAttributes(payload, el.at, el.at + el.len, 'expr')) {
            if (x.type === 1) exprName = payload.toString('latin1', x.at, x.at + x.len).replace(/\0.*$/, '');
            if (x.type === 2 && offset >= x.at && offset < x.at + x.len) {
              for (const f of walkAttributes(payload, x.at, x.at + x.len, 'data')) {
                if (offset >= f.offset && offset < f.at + f.len)
                  return `expressions[${i}].${exprName}.${exprFieldName(exprName, f.type) ?? f.type}`;
              }
            }
          }
          return `expressions[${i}].${exprName}`;
        }
        i++;
      }
      return name;
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** NEWRULE: appended (or after `position`), or replacing `handle`. */
export function newRule(r: RuleMessage, describe: string, opts: { echo?: boolean; replace?: boolean; insert?: boolean } = {}): NftRequest {
  let flags = opts.replace ? NLM_F_REPLACE : NLM_F_CREATE | (opts.insert ? 0 : NLM_F_APPEND);
  if (opts.echo) flags |= NLM_F_ECHO;
  return new NftRequest(msgType(NFT_MSG_NEWRULE), flags, ruleBytes(r), describe, 'rule');
}

/** DELRULE: one rule by handle, or every rule of the chain (flush). */
export function delRule(r: RuleMessage, describe: string): NftRequest {
  return new NftRequest(msgType(NFT_MSG_DELRULE), 0, ruleBytes(r), describe, 'rule');
}

const NFTA_SET_ELEM_LIST = { table: 1, set: 2, elements: 3, setId: 4 } as const;

export interface ElementsTarget {
  family: NftFamily;
  table: string;
  set: string;
  setId?: number;
}

/**
 * NEWSETELEM/DELSETELEM messages for the records, as few as fit: a netlink
 * attribute holds at most 64 KiB, so long lists go into several messages of
 * the same batch (still one transaction).
 */
export function elementMessages(
  kind: 'new' | 'del',
  t: ElementsTarget,
  elements: PreparedElements,
  describe: string,
  maxBytes = MAX_ELEMENTS_ATTR,
): NftRequest[] {
  const out: NftRequest[] = [];
  const type = msgType(kind === 'new' ? NFT_MSG_NEWSETELEM : NFT_MSG_DELSETELEM);
  const flags = kind === 'new' ? NLM_F_CREATE : 0;
  const { bytes, ends, count } = elements;
  let i = 0;
  const w = elementWriter;
  do {
    w.reset();
    nfgenmsg.encode(w, hdr(t.family));
    putString(w, NFTA_SET_ELEM_LIST.table, t.table);
    putString(w, NFTA_SET_ELEM_LIST.set, t.set);
    if (t.setId !== undefined) {
      const a = w.beginAttr(NFTA_SET_ELEM_LIST.setId);
      w.be32(t.setId);
      w.endAttr(a);
    }
    const first = i;
    if (count > 0) {
      const list = w.beginAttr(NFTA_SET_ELEM_LIST.elements | NLA_F_NESTED);
      // The elements are complete nests already: as many as fit go in with one copy.
      const from = first === 0 ? 0 : ends[first - 1]!;
      while (i < count && (ends[i]! - from <= maxBytes || i === first)) i++;
      const to = ends[i - 1]!;
      const base = w.pos;
      w.ensure(to - from);
      // TypedArray#set is an engine builtin (Buffer#copy is JavaScript until the JIT warms up).
      w.buf.set(bytes.subarray(from, to), base);
      w.pos = base + (to - from);
      // libnftnl numbers the element nests 1, 2, 3, ... within a message (host byte order).
      for (let k = first, start = from; k < i; start = ends[k]!, k++) {
        const type = ((k - first + 1) & 0x3fff) | NLA_F_NESTED;
        const p = base + (start - from);
        w.buf[p + 2] = type & 0xff;
        w.buf[p + 3] = type >>> 8;
      }
      w.endAttr(list);
    }
    const payload = w.finish();
    const r = new NftRequest(type, flags, payload, describe, 'elements', first);
    r.part = ` [elements ${first}..${i - 1}]`;
    out.push(r);
  } while (i < count);
  if (out.length === 1) out[0]!.part = '';
  return out;
}

const elementWriter = new Writer(64 * 1024);

function locateElement(payload: Buffer, offset: number, first: number): string | undefined {
  try {
    for (const a of walkAttributes(payload, nfgenmsg.size, payload.length, 'elements')) {
      if (offset < a.offset || offset >= a.at + a.len) continue;
      if (a.type !== NFTA_SET_ELEM_LIST.elements) return ['', 'table', 'set', 'elements', 'set_id'][a.type];
      let i = first;
      for (const el of walkAttributes(payload, a.at, a.at + a.len, 'elements')) {
        if (offset >= el.offset && offset < el.at + el.len) {
          for (const f of walkAttributes(payload, el.at, el.at + el.len, 'element')) {
            if (offset >= f.offset && offset < f.at + f.len) {
              return `elements[${i}].${['', 'key', 'data', 'flags', 'timeout', 'expiration', 'userdata', 'expr', '', 'objref', 'key_end'][f.type] ?? f.type}`;
            }
          }
          return `elements[${i}]`;
        }
        i++;
      }
      return 'elements';
    }
  } catch {
    return undefined;
  }
  return undefined;
}

// ---------------------------------------------------------------- reads

export const getGen = (): Request => genMsg.request(msgType(NFT_MSG_GETGEN), 0, hdr(0), {}, 'get nftables generation', 'read');

export const dumpTables = (family: NftFamily | 0): Request =>
  tableMsg.request(msgType(NFT_MSG_GETTABLE), NLM_F_DUMP, hdr(family), {}, 'list tables', 'read');
export const dumpChains = (family: NftFamily | 0, table?: string): Request =>
  chainMsg.request(msgType(NFT_MSG_GETCHAIN), NLM_F_DUMP, hdr(family), table === undefined ? {} : { table }, 'list chains', 'read');
export const dumpSets = (family: NftFamily | 0, table?: string): Request =>
  setMsg.request(msgType(NFT_MSG_GETSET), NLM_F_DUMP, hdr(family), table === undefined ? {} : { table }, 'list sets', 'read');
export const getSet = (family: NftFamily, table: string, name: string): Request =>
  setMsg.request(msgType(NFT_MSG_GETSET), 0, hdr(family), { table, name }, `get set ${family} ${table} ${name}`, 'read');
export const dumpObjs = (family: NftFamily | 0, table?: string): Request =>
  objMsg.request(msgType(NFT_MSG_GETOBJ), NLM_F_DUMP, hdr(family), table === undefined ? {} : { table }, 'list objects', 'read');

export function dumpRules(family: NftFamily | 0, table?: string): Request {
  const w = new Writer(256);
  nfgenmsg.encode(w, hdr(family));
  if (table !== undefined) putString(w, NFTA_RULE.table, table);
  return { type: msgType(NFT_MSG_GETRULE), flags: NLM_F_DUMP, payload: w.finish(), describe: 'list rules', access: 'read' };
}

export function dumpElements(family: NftFamily, table: string, set: string): Request {
  const w = new Writer(256);
  nfgenmsg.encode(w, hdr(family));
  putString(w, NFTA_SET_ELEM_LIST.table, table);
  putString(w, NFTA_SET_ELEM_LIST.set, set);
  return {
    type: msgType(NFT_MSG_GETSETELEM),
    flags: NLM_F_DUMP,
    payload: w.finish(),
    describe: `list elements of ${family} ${table} ${set}`,
    access: 'read',
  };
}

/**
 * Listed objects: nf_tables dump messages → tables, chains, sets (with their
 * elements), counters and rules (with typed statements). Works on any
 * ruleset, including tables written by firewalld or iptables-nft.
 */
import { DecodeError } from '../errors.js';
import { walkAttributes } from '../netlink/attributes.js';
import type { NetlinkMessage } from '../netlink/message.js';
import { nfgenmsg } from '../netlink/nfnetlink.js';
import {
  FAMILY_NAMES,
  INET_HOOKS,
  NETDEV_HOOKS,
  NFT_DATA_VERDICT,
  NFT_SET_ANONYMOUS,
  NFT_SET_MAP,
  type NftFamily,
  type NftTableFlag,
  TABLE_FLAGS,
} from './constants.js';
import { delinearize, type SetView } from './delinearize.js';
import { NFT_OBJECT_COUNTER } from './expr/counter.js';
import { decodeExprs } from './expr/index.js';
import { chainAttrs, counterObjAttrs, objAttrs, ruleAttrs, setAttrs, setElemListAttrs, tableAttrs } from './message-attrs.js';
import type { NftChain, NftCounterObject, NftRule, NftSet, NftTable } from './model.js';
import { setComment, setFlagNames, typesFromKernel } from './sets/declaration.js';
import { recordsToElements } from './sets/elements.js';
import { decodeElemRecords, type ElemRecord } from './sets/records.js';
import { readCommentUdata } from './udata.js';

function familyOf(msg: NetlinkMessage): NftFamily {
  const h = nfgenmsg.decode(msg.data, 0);
  const f = FAMILY_NAMES[h.family];
  if (!f) throw new DecodeError(`unknown family ${h.family}`, 'nfgenmsg');
  return f;
}

const num = (v: bigint | undefined): number => Number(v ?? 0n);

export function decodeTable(msg: NetlinkMessage): NftTable {
  const family = familyOf(msg);
  const a = tableAttrs.decode(msg.data, nfgenmsg.size, msg.data.length, 'table');
  if (a.name === undefined) throw new DecodeError('table without a name', 'table');
  const bits = a.flags ?? 0;
  const t: NftTable = {
    family,
    name: a.name,
    handle: num(a.handle),
    flags: (Object.entries(TABLE_FLAGS) as [NftTableFlag, number][]).filter(([, b]) => bits & b).map(([n]) => n),
    flagBits: bits,
  };
  const comment = readCommentUdata(a.userdata);
  if (comment !== undefined) t.comment = comment;
  if (a.userdata) t.userdata = a.userdata;
  if (a.use !== undefined) t.use = a.use;
  if (a.owner !== undefined) t.owner = a.owner;
  return t;
}

function hookName(family: NftFamily, n: number): string {
  const table: Record<string, number> = family === 'netdev' ? NETDEV_HOOKS : family === 'arp' ? { input: 0, output: 1 } : INET_HOOKS;
  return Object.entries(table).find(([, v]) => v === n)?.[0] ?? String(n);
}

export function decodeChain(msg: NetlinkMessage): NftChain {
  const family = familyOf(msg);
  const a = chainAttrs.decode(msg.data, nfgenmsg.size, msg.data.length, 'chain');
  if (a.name === undefined || a.table === undefined) throw new DecodeError('chain without a name or table', 'chain');
  const c: NftChain = { family, table: a.table, name: a.name, handle: num(a.handle) };
  if (a.type !== undefined) c.type = a.type;
  if (a.hook) {
    if (a.hook.hooknum !== undefined) c.hook = hookName(family, a.hook.hooknum);
    if (a.hook.priority !== undefined) c.priority = a.hook.priority;
    if (a.hook.dev !== undefined) c.device = a.hook.dev;
    if (a.hook.devs) {
      const devs: string[] = [];
      for (const d of walkAttributes(a.hook.devs, 0, a.hook.devs.length, 'chain.hook.devs')) {
        devs.push(a.hook.devs.toString('utf8', d.at, d.at + d.len).replace(/\0.*$/, ''));
      }
      c.devices = devs;
    }
  }
  if (a.policy !== undefined && a.hook) c.policy = a.policy === 1 ? 'accept' : 'drop';
  const comment = readCommentUdata(a.userdata);
  if (comment !== undefined) c.comment = comment;
  if (a.use !== undefined) c.use = a.use;
  return c;
}

/** A listed set without its elements, and the shape its elements and rules are read with. */
export function decodeSet(msg: NetlinkMessage): { set: NftSet; view: SetView } {
  const family = familyOf(msg);
  const a = setAttrs.decode(msg.data, nfgenmsg.size, msg.data.length, 'set');
  if (a.name === undefined || a.table === undefined || a.keyLen === undefined)
    throw new DecodeError('set without a name, table or key length', 'set');
  // NFT_DATA_VALUE_MAXLEN: keys and data are at most 64 bytes.
  if (a.keyLen === 0 || a.keyLen > 64 || (a.dataLen !== undefined && a.dataLen > 64))
    throw new DecodeError(`key or data length out of range (${a.keyLen}, ${a.dataLen})`, 'set');
  const flags = a.flags ?? 0;
  const fieldLens = a.desc?.concat?.map((f) => f.len ?? 0);
  if (fieldLens && (fieldLens.length > 16 || fieldLens.some((l) => l === 0 || l > 64)))
    throw new DecodeError('concatenation field lengths out of range', 'set.desc');
  const keyTypes = typesFromKernel(a.keyType, a.keyLen, fieldLens && fieldLens.length > 1 ? fieldLens : undefined);
  const s: NftSet = {
    family,
    table: a.table,
    name: a.name,
    handle: num(a.handle),
    keyType: keyTypes.map((t) => t.name),
    keyLen: a.keyLen,
    flagBits: flags,
    flags: setFlagNames(flags),
    anonymous: (flags & NFT_SET_ANONYMOUS) !== 0,
    isMap: (flags & NFT_SET_MAP) !== 0,
    elements: [],
  };
  const view: SetView = { name: s.name, keyTypes, keyLens: keyTypes.map((t) => t.len), flags, anonymous: s.anonymous };
  if (s.isMap && a.dataType !== undefined) {
    if (a.dataType === NFT_DATA_VERDICT) {
      s.dataType = ['verdict'];
      view.dataTypes = 'verdict';
    } else {
      const dataTypes = typesFromKernel(a.dataType, a.dataLen ?? 0);
      s.dataType = dataTypes.map((t) => t.name);
      view.dataTypes = dataTypes;
    }
    s.dataLen = a.dataLen;
  }
  if (a.timeout !== undefined) s.timeout = Number(a.timeout);
  if (a.gcInterval !== undefined) s.gcInterval = a.gcInterval;
  if (a.desc?.size !== undefined) s.size = a.desc.size;
  if (fieldLens && fieldLens.length) s.fieldLens = fieldLens;
  if (a.expr || a.expressions) s.counter = /counter/.test(((a.expr ?? a.expressions) as Buffer).toString('latin1'));
  const comment = setComment(a.userdata);
  if (comment !== undefined) s.comment = comment;
  if (a.userdata) s.userdata = a.userdata;
  return { set: s, view };
}

/** Element records of one GETSETELEM reply message, and the set they belong to. */
export function decodeElementsMessage(msg: NetlinkMessage): { family: NftFamily; table?: string; set?: string; records: ElemRecord[] } {
  const family = familyOf(msg);
  const a = setElemListAttrs.decode(msg.data, nfgenmsg.size, msg.data.length, 'set_elem_list');
  return { family, table: a.table, set: a.set, records: a.elements ? decodeElemRecords(a.elements) : [] };
}

export function decodeCounterObject(msg: NetlinkMessage): NftCounterObject | undefined {
  const family = familyOf(msg);
  const a = objAttrs.decode(msg.data, nfgenmsg.size, msg.data.length, 'obj');
  if (a.type !== NFT_OBJECT_COUNTER || a.name === undefined || a.table === undefined) return undefined;
  const d = a.data ? counterObjAttrs.decode(a.data, 0, a.data.length, 'obj.data') : {};
  const o: NftCounterObject = {
    family,
    table: a.table,
    name: a.name,
    handle: num(a.handle),
    type: 'counter',
    packets: num(d.packets),
    bytes: num(d.bytes),
  };
  const comment = readCommentUdata(a.userdata);
  if (comment !== undefined) o.comment = comment;
  return o;
}

/** A listed rule; `sets` resolves the sets of its table (anonymous ones are inlined). */
export function decodeRule(msg: NetlinkMessage, sets: (name: string) => SetView | undefined): NftRule {
  const family = familyOf(msg);
  const a = ruleAttrs.decode(msg.data, nfgenmsg.size, msg.data.length, 'rule');
  if (a.table === undefined || a.chain === undefined) throw new DecodeError('rule without a table or chain', 'rule');
  const raw = a.expressions as Buffer | undefined;
  const exprs = raw ? decodeExprs(raw, 0, raw.length, 'rule.expressions') : [];
  const r: NftRule = {
    family,
    table: a.table,
    chain: a.chain,
    handle: num(a.handle),
    expr: delinearize(exprs, { family, set: sets }),
    exprs,
  };
  if (a.position !== undefined) r.position = num(a.position);
  const comment = readCommentUdata(a.userdata);
  if (comment !== undefined) r.comment = comment;
  if (a.userdata) r.userdata = a.userdata;
  return r;
}

/** Fills a set's elements from its element records (and the view's, for inlining anonymous sets). */
export function attachElements(s: { set: NftSet; view: SetView }, records: readonly ElemRecord[]): void {
  s.set.elements = recordsToElements(s.view, records).elements;
  s.view.elements = s.set.elements;
}

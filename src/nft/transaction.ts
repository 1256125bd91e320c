/**
 * A transaction: the calls made on `tx` inside `nft.transaction(tx => ...)`
 * become one nfnetlink batch, committed atomically. Input is checked when a
 * call is made (rules that use sets already in the kernel: after reading
 * them, still before anything is sent); kernel errors name the call.
 */
import { ValidationError } from '../errors.js';
import type { Request } from '../netlink/message.js';
import { Writer } from '../netlink/writer.js';
import {
  BRIDGE_PRIORITIES,
  FAMILIES,
  INET_HOOKS,
  NETDEV_HOOKS,
  NFT_DATA_VERDICT,
  NFT_SET_CONCAT,
  NFT_SET_INTERVAL,
  NFT_SET_MAP,
  NFT_SET_TIMEOUT,
  type NftFamily,
  type NftTableFlag,
  PRIORITIES,
  TABLE_FLAGS,
} from './constants.js';
import { concatTypeId } from './datatype.js';
import { NFT_OBJECT_COUNTER } from './expr/counter.js';
import { encodeExpr } from './expr/index.js';
import { counterObjAttrs } from './message-attrs.js';
import {
  delChain,
  delObj,
  delRule,
  delSet,
  delTable,
  elementMessages,
  type NftRequest,
  newChain,
  newObj,
  newTable,
  type SetAttrs,
} from './messages.js';
import type { NftChainSpec, NftCounterSpec, NftElement, NftRuleSpec, NftSetSpec, NftTableSpec } from './model.js';
import { namedSetUdata, resolveTypes, setFlagBits, typesLen } from './sets/declaration.js';
import type { ElementMode } from './sets/elements.js';
import { type PreparedElements, prepareElements } from './sets/prepared.js';
import {
  type BuildCtx,
  ElementsCall,
  type KnownSet,
  type NftOp,
  RuleCall,
  SetCall,
  SimpleCall,
  setKey,
  type TxCall,
} from './transaction-calls.js';
import { checkComment, commentUdata } from './udata.js';

export type { KnownSet, NftOp } from './transaction-calls.js';

function check(cond: unknown, field: string, problem: string, expected?: string): asserts cond {
  if (!cond) throw new ValidationError(field, problem, expected);
}

function name(v: unknown, field: string): string {
  // Most names are short ASCII: check the cheap conditions first.
  if (typeof v === 'string' && v.length > 0 && v.length < 64 && !v.includes('\u0000')) return v;
  check(
    typeof v === 'string' && v.length > 0 && Buffer.byteLength(v) < 256 && !v.includes('\u0000'),
    field,
    `invalid name ${JSON.stringify(v)}`,
    'a non-empty name',
  );
  return v as string;
}

function family(v: unknown, field: string): NftFamily {
  check(
    typeof v === 'string' && Object.prototype.hasOwnProperty.call(FAMILIES, v),
    field,
    `unknown family ${JSON.stringify(v)}`,
    'ip, ip6, inet, arp, bridge or netdev',
  );
  return v as NftFamily;
}

function handleOf(v: unknown, field: string): number {
  check(
    typeof v === 'number' && Number.isSafeInteger(v) && v > 0,
    field,
    `invalid handle ${JSON.stringify(v)}`,
    'a positive integer (from nft.list())',
  );
  return v as number;
}

/** A priority given as a number or as nft's `name [+|- n]`. */
export function parsePriority(p: number | string, fam: NftFamily, field: string): number {
  if (typeof p === 'number') {
    check(Number.isInteger(p) && p >= -(2 ** 31) && p < 2 ** 31, field, 'invalid priority', 'a 32-bit integer');
    return p;
  }
  const m = typeof p === 'string' ? /^\s*([a-z]+)\s*(?:([+-])\s*(\d+))?\s*$/.exec(p) : null;
  const table = fam === 'bridge' ? BRIDGE_PRIORITIES : PRIORITIES;
  const base = m ? table[m[1]!] : undefined;
  check(
    base !== undefined && m,
    field,
    `invalid priority ${JSON.stringify(p)}`,
    `a number or ${Object.keys(table).join(', ')} with an optional + or - offset`,
  );
  return base + (m[2] ? (m[2] === '-' ? -1 : 1) * Number(m[3]) : 0);
}

function hookNumber(hook: unknown, fam: NftFamily, field: string): number {
  const table: Record<string, number> =
    fam === 'netdev'
      ? NETDEV_HOOKS
      : fam === 'arp'
        ? { input: 0, output: 1 }
        : fam === 'inet'
          ? INET_HOOKS
          : { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 };
  const n = typeof hook === 'string' && Object.prototype.hasOwnProperty.call(table, hook) ? table[hook] : undefined;
  check(n !== undefined, field, `unknown hook ${JSON.stringify(hook)} for the ${fam} family`, Object.keys(table).join(', '));
  return n;
}

function counterExprBytes(): Buffer {
  const w = new Writer(32);
  encodeExpr(w, { name: 'counter' });
  // NFTA_SET_EXPR holds the expression itself (NAME, DATA), not a list element.
  return w.finish().subarray(4);
}

export class NftTransaction {
  /** @internal */
  readonly ops: TxCall[] = [];
  /** @internal Sets declared in this transaction. */
  readonly declared = new Map<string, KnownSet>();

  private push<T extends TxCall>(op: T): T {
    this.ops.push(op);
    return op;
  }

  private simple(kind: string, text: string, make: () => NftRequest | NftRequest[]): NftOp {
    return this.push(new SimpleCall(this.ops.length, kind, text, make));
  }

  // ---------------------------------------------------------------- tables

  /** `add table`: creates the table (or, when it exists, updates its flags). */
  addTable(spec: NftTableSpec & { exclusive?: boolean }): NftOp {
    const fam = family(spec?.family, 'addTable.family');
    const n = name(spec.name, 'addTable.name');
    checkComment(spec.comment, 'addTable.comment');
    let flags = 0;
    (spec.flags ?? []).forEach((f, i) => {
      const b = TABLE_FLAGS[f as NftTableFlag];
      check(b !== undefined, `addTable.flags[${i}]`, `unknown flag ${JSON.stringify(f)}`, Object.keys(TABLE_FLAGS).join(', '));
      flags |= b;
    });
    const userdata = commentUdata(spec.comment);
    // Kernels before 6.9 refuse the flag with a bare EOPNOTSUPP: name it in the error.
    const text = flags & TABLE_FLAGS.persist ? `${fam} ${n} flags persist (NFT_TABLE_F_PERSIST needs Linux 6.9 or later)` : `${fam} ${n}`;
    return this.simple('addTable', text, () => newTable(fam, { name: n, flags, userdata }, '', spec.exclusive));
  }

  deleteTable(spec: { family: NftFamily; name?: string; handle?: number }): NftOp {
    const fam = family(spec?.family, 'deleteTable.family');
    const attrs =
      spec.handle !== undefined
        ? { handle: BigInt(handleOf(spec.handle, 'deleteTable.handle')) }
        : { name: name(spec.name, 'deleteTable.name') };
    return this.simple('deleteTable', `${fam} ${spec.name ?? `handle ${spec.handle}`}`, () => delTable(fam, attrs, ''));
  }

  // ---------------------------------------------------------------- chains

  /** `add chain`; a base chain when type, hook and priority are given. */
  addChain(spec: NftChainSpec & { exclusive?: boolean }): NftOp {
    const f = 'addChain';
    const fam = family(spec?.family, `${f}.family`);
    const table = name(spec.table, `${f}.table`);
    const n = name(spec.name, `${f}.name`);
    checkComment(spec.comment, `${f}.comment`);
    const base = spec.type !== undefined || spec.hook !== undefined || spec.priority !== undefined;
    const a: Parameters<typeof newChain>[1] = { table, name: n };
    if (base) {
      check(
        spec.type === 'filter' || spec.type === 'nat' || spec.type === 'route',
        `${f}.type`,
        `invalid chain type ${JSON.stringify(spec.type)}`,
        "'filter', 'nat' or 'route'",
      );
      const hooknum = hookNumber(spec.hook, fam, `${f}.hook`);
      check(
        spec.priority !== undefined,
        `${f}.priority`,
        'a base chain needs a priority',
        "a number or a name such as 'filter' or 'dstnat'",
      );
      const priority = parsePriority(spec.priority, fam, `${f}.priority`);
      a.type = spec.type;
      if (spec.policy !== undefined) {
        check(
          spec.policy === 'accept' || spec.policy === 'drop',
          `${f}.policy`,
          `invalid policy ${JSON.stringify(spec.policy)}`,
          "'accept' or 'drop'",
        );
        a.policy = spec.policy === 'accept' ? 1 : 0;
      }
      a.hook = { hooknum, priority };
      if (spec.device !== undefined) a.hook.dev = name(spec.device, `${f}.device`);
      else check(fam !== 'netdev', `${f}.device`, 'a netdev base chain needs a device', 'an interface name');
    } else {
      check(
        spec.policy === undefined && spec.device === undefined,
        `${f}.policy`,
        'policy and device need a base chain',
        'type, hook and priority as well',
      );
    }
    if (spec.comment !== undefined) a.userdata = commentUdata(spec.comment);
    return this.simple(f, `${fam} ${table} ${n}`, () => newChain(fam, a, '', spec.exclusive));
  }

  deleteChain(spec: { family: NftFamily; table: string; name: string }): NftOp {
    const fam = family(spec?.family, 'deleteChain.family');
    const table = name(spec.table, 'deleteChain.table');
    const n = name(spec.name, 'deleteChain.name');
    return this.simple('deleteChain', `${fam} ${table} ${n}`, () => delChain(fam, { table, name: n }, ''));
  }

  /** Deletes every rule of a chain. */
  flushChain(spec: { family: NftFamily; table: string; name: string }): NftOp {
    const fam = family(spec?.family, 'flushChain.family');
    const table = name(spec.table, 'flushChain.table');
    const chain = name(spec.name, 'flushChain.name');
    return this.simple('flushChain', `${fam} ${table} ${chain}`, () => delRule({ family: fam, table, chain }, ''));
  }

  // ---------------------------------------------------------------- rules

  /** Appends a rule (after the rule with handle `position`, when given). */
  addRule(spec: NftRuleSpec): NftOp {
    return this.rule('addRule', spec, {});
  }

  /** Prepends a rule (before the rule with handle `position`, when given). */
  insertRule(spec: NftRuleSpec): NftOp {
    return this.rule('insertRule', spec, { insert: true });
  }

  /** Replaces the rule with `handle`. */
  replaceRule(spec: NftRuleSpec & { handle: number }): NftOp {
    return this.rule('replaceRule', spec, { replace: true, handle: handleOf(spec?.handle, 'replaceRule.handle') });
  }

  deleteRule(spec: { family: NftFamily; table: string; chain: string; handle: number }): NftOp {
    const fam = family(spec?.family, 'deleteRule.family');
    const table = name(spec.table, 'deleteRule.table');
    const chain = name(spec.chain, 'deleteRule.chain');
    const handle = handleOf(spec.handle, 'deleteRule.handle');
    return this.simple('deleteRule', `${fam} ${table} ${chain} handle ${handle}`, () => delRule({ family: fam, table, chain, handle }, ''));
  }

  private rule(kind: string, spec: NftRuleSpec, o: { insert?: boolean; replace?: boolean; handle?: number }): NftOp {
    const fam = family(spec?.family, `${kind}.family`);
    const table = name(spec.table, `${kind}.table`);
    const chain = name(spec.chain, `${kind}.chain`);
    check(Array.isArray(spec.expr), `${kind}.expr`, 'not a list of statements', 'an array of statements made with nftExpr');
    checkComment(spec.comment, `${kind}.comment`);
    const position = spec.position === undefined ? undefined : handleOf(spec.position, `${kind}.position`);
    return this.push(new RuleCall(this.ops.length, kind, fam, table, chain, spec.expr, spec.comment, position, o));
  }

  // ---------------------------------------------------------------- sets

  /** `add set` / `add map`, optionally with elements. */
  addSet(spec: NftSetSpec & { exclusive?: boolean }): NftOp {
    const f = 'addSet';
    const fam = family(spec?.family, `${f}.family`);
    const table = name(spec.table, `${f}.table`);
    const n = name(spec.name, `${f}.name`);
    checkComment(spec.comment, `${f}.comment`);
    const keyTypes = resolveTypes(spec.keyType, `${f}.keyType`);
    const dataTypes =
      spec.dataType === undefined
        ? undefined
        : spec.dataType === 'verdict'
          ? ('verdict' as const)
          : resolveTypes(spec.dataType, `${f}.dataType`);
    let flags = setFlagBits(spec.flags, `${f}.flags`);
    if (dataTypes) flags |= NFT_SET_MAP;
    const interval = (flags & NFT_SET_INTERVAL) !== 0;
    if (interval && keyTypes.length > 1) flags |= NFT_SET_CONCAT;
    if (spec.timeout !== undefined) {
      check(
        Number.isSafeInteger(spec.timeout) && spec.timeout > 0,
        `${f}.timeout`,
        'invalid timeout',
        'milliseconds as a positive integer',
      );
      flags |= NFT_SET_TIMEOUT;
    }
    if (spec.size !== undefined)
      check(Number.isInteger(spec.size) && spec.size > 0 && spec.size < 2 ** 32, `${f}.size`, 'invalid size', 'a positive integer');
    check(keyTypes.length <= 16 && typesLen(keyTypes) <= 64, `${f}.keyType`, 'key too long', 'at most 64 bytes');
    const shape: KnownSet = { family: fam, table, name: n, keyTypes, keyLens: keyTypes.map((t) => t.len), dataTypes, flags };
    const elements = spec.elements && spec.elements.length ? prepareElements(shape, spec.elements, `${f}.elements`, 'create') : undefined;
    this.declared.set(setKey(fam, table, n), shape);
    const a: SetAttrs = { table, name: n, flags, keyType: concatTypeId(keyTypes), keyLen: typesLen(keyTypes) };
    if (dataTypes) {
      a.dataType = dataTypes === 'verdict' ? NFT_DATA_VERDICT : concatTypeId(dataTypes);
      a.dataLen = dataTypes === 'verdict' ? 0 : typesLen(dataTypes);
    }
    if (spec.size !== undefined || (interval && keyTypes.length > 1)) {
      a.desc = {};
      if (spec.size !== undefined) a.desc.size = spec.size;
      if (interval && keyTypes.length > 1) a.desc.concat = keyTypes.map((t) => ({ len: t.len }));
    }
    if (spec.timeout !== undefined) a.timeout = BigInt(spec.timeout);
    a.userdata = namedSetUdata(keyTypes, dataTypes, spec.comment);
    if (spec.counter) a.expr = counterExprBytes();
    return this.push(new SetCall(this.ops.length, shape, a, elements, spec.exclusive));
  }

  deleteSet(spec: { family: NftFamily; table: string; name: string }): NftOp {
    const fam = family(spec?.family, 'deleteSet.family');
    const table = name(spec.table, 'deleteSet.table');
    const n = name(spec.name, 'deleteSet.name');
    return this.simple('deleteSet', `${fam} ${table} ${n}`, () => delSet(fam, { table, name: n }, ''));
  }

  /** Removes every element of a set. */
  flushSet(spec: { family: NftFamily; table: string; name: string }): NftOp {
    const fam = family(spec?.family, 'flushSet.family');
    const table = name(spec.table, 'flushSet.table');
    const n = name(spec.name, 'flushSet.name');
    const none: PreparedElements = { count: 0, bytes: Buffer.alloc(0), ends: new Uint32Array(0) };
    return this.simple('flushSet', `${fam} ${table} ${n}`, () => elementMessages('del', { family: fam, table, set: n }, none, ''));
  }

  /** Adds elements (NEWSETELEM; long lists are split over several messages of the batch). */
  addElements(spec: { family: NftFamily; table: string; set: string; elements: readonly NftElement[] }): NftOp {
    return this.elements('addElements', spec, 'add');
  }

  deleteElements(spec: { family: NftFamily; table: string; set: string; elements: readonly NftElement[] }): NftOp {
    return this.elements('deleteElements', spec, 'delete');
  }

  private elements(
    kind: string,
    spec: { family: NftFamily; table: string; set: string; elements: readonly NftElement[] },
    mode: ElementMode,
  ): NftOp {
    const fam = family(spec?.family, `${kind}.family`);
    const table = name(spec.table, `${kind}.table`);
    const set = name(spec.set, `${kind}.set`);
    check(Array.isArray(spec.elements), `${kind}.elements`, 'not a list', 'an array of elements');
    const declared = this.declared.get(setKey(fam, table, set));
    return this.push(new ElementsCall(this.ops.length, kind, fam, table, set, spec.elements, mode, declared));
  }

  // ---------------------------------------------------------------- counters

  /** A named counter object (`counter name "x"` in rules; list() reads its values). */
  addCounter(spec: NftCounterSpec): NftOp {
    const fam = family(spec?.family, 'addCounter.family');
    const table = name(spec.table, 'addCounter.table');
    const n = name(spec.name, 'addCounter.name');
    checkComment(spec.comment, 'addCounter.comment');
    for (const k of ['packets', 'bytes'] as const) {
      const v = spec[k];
      check(v === undefined || (Number.isSafeInteger(v) && v >= 0), `addCounter.${k}`, 'invalid count', 'a non-negative integer');
    }
    const w = new Writer(64);
    counterObjAttrs.encode(w, { bytes: BigInt(spec.bytes ?? 0), packets: BigInt(spec.packets ?? 0) });
    const data = w.finish();
    return this.simple('addCounter', `${fam} ${table} ${n}`, () =>
      newObj(fam, { table, name: n, type: NFT_OBJECT_COUNTER, data, userdata: commentUdata(spec.comment) }, ''),
    );
  }

  deleteCounter(spec: { family: NftFamily; table: string; name: string }): NftOp {
    const fam = family(spec?.family, 'deleteCounter.family');
    const table = name(spec.table, 'deleteCounter.table');
    const n = name(spec.name, 'deleteCounter.name');
    return this.simple('deleteCounter', `${fam} ${table} ${n}`, () => delObj(fam, { table, name: n, type: NFT_OBJECT_COUNTER }, ''));
  }

  // ---------------------------------------------------------------- building

  /** @internal Sets the calls use that this transaction does not declare. */
  externalSets(): { family: NftFamily; table: string; set: string }[] {
    const seen = new Map<string, { family: NftFamily; table: string; set: string }>();
    for (const o of this.ops) {
      for (const u of o.uses ?? []) {
        const k = setKey(u.family, u.table, u.set);
        if (!this.declared.has(k)) seen.set(k, u);
      }
    }
    return [...seen.values()];
  }

  /** @internal Builds the batch. `known` holds the external sets read from the kernel. */
  build(known: readonly KnownSet[], echo = false): { requests: Request[]; owners: number[] } {
    const ctx: BuildCtx = { nextSetId: 1, sets: new Map(), echo, pending: [], lin: new Map() };
    for (const s of known) ctx.sets.set(setKey(s.family, s.table, s.name), s);
    const requests: Request[] = [];
    const owners: number[] = [];
    const ops = this.ops;
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      const built = o.build(ctx);
      for (let k = 0; k < built.length; k++) {
        requests.push(built[k]!);
        owners.push(o.index);
      }
    }
    return { requests, owners };
  }
}

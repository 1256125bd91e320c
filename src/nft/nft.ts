/**
 * Nft: nftables over nfnetlink in one namespace. Transactions are single
 * batches (atomic, optionally guarded by a generation id); listing reads a
 * consistent snapshot (retried when the generation moves underneath).
 */
import { DumpInterruptedError, NetlinkError } from '../errors.js';
import { Connection } from '../netlink/connection.js';
import type { NetlinkMessage, Request } from '../netlink/message.js';
import { nfgenmsg } from '../netlink/nfnetlink.js';
import { transaction } from './batch.js'; // loading it also installs the batch behind Connection.transaction()
import { FAMILIES, NFT_MSG_NEWCHAIN, NFT_MSG_NEWRULE, NFT_MSG_NEWSET, NFT_MSG_NEWTABLE, type NftFamily } from './constants.js';
import { attachElements, decodeChain, decodeCounterObject, decodeElementsMessage, decodeRule, decodeSet, decodeTable } from './decode.js';
import type { SetView } from './delinearize.js';
import { chainAttrs, genAttrs, ruleAttrs, setAttrs, tableAttrs } from './message-attrs.js';
import { dumpChains, dumpElements, dumpObjs, dumpRules, dumpSets, dumpTables, getGen, getSet, msgType } from './messages.js';
import type { NftRuleset, NftSet } from './model.js';
import { type KnownSet, type NftOp, NftTransaction } from './transaction.js';

export interface NftOpenOptions {
  /** Namespace name under /run/netns, or a path. Default: the caller's. */
  netns?: string;
}

export interface NftTransactionOptions {
  /** Commit only if the ruleset is still at this generation (ConflictError otherwise). */
  genId?: number;
  /** Ask the kernel to echo what was added, to learn handles (`op.handle`). */
  echo?: boolean;
}

export interface NftTransactionResult {
  /** One entry per call made on `tx`, in order. */
  ops: NftOp[];
  /** Messages sent (batch markers excluded). */
  messages: number;
}

export interface NftListFilter {
  family?: NftFamily;
  table?: string;
}

export class Nft {
  private constructor(readonly connection: Connection) {}

  /** Opens an nfnetlink socket (in `netns` when given). */
  static async open(options: NftOpenOptions = {}): Promise<Nft> {
    return new Nft(await Connection.open('netfilter', { netns: options.netns }));
  }

  close(): void {
    this.connection.close();
  }

  /** The current ruleset generation. */
  async generation(): Promise<number> {
    const replies = await this.connection.request(getGen());
    for (const m of replies) {
      const a = genAttrs.decode(m.data, nfgenmsg.size, m.data.length, 'gen');
      if (a.id !== undefined) return a.id;
    }
    throw new NetlinkError(61 /* ENODATA */, { operation: 'get nftables generation: no NFTA_GEN_ID in the reply' });
  }

  /**
   * Runs `fn` to collect changes, then commits them as one batch. Nothing is
   * sent when `fn` throws or input is invalid; a kernel error aborts the whole
   * batch and names the call (`error.operation`, `error.index`).
   */
  async transaction(fn: (tx: NftTransaction) => unknown, options: NftTransactionOptions = {}): Promise<NftTransactionResult> {
    const tx = new NftTransaction();
    await fn(tx);
    const known: KnownSet[] = [];
    for (const u of tx.externalSets()) {
      const s = await this.readSetShape(u.family, u.table, u.set);
      if (s) known.push(s);
    }
    const { requests, owners } = tx.build(known, options.echo);
    const ops: NftOp[] = tx.ops;
    if (requests.length === 0) return { ops, messages: 0 };
    const res = await transaction(this.connection, requests, { genId: options.genId });
    if (options.echo) {
      res.replies.forEach((msgs, i) => {
        const req = requests[i]!;
        const op = ops[owners[i]!]!;
        const h = echoedHandle(req.type, msgs);
        if (h !== undefined) op.handle = h;
      });
    }
    return { ops, messages: requests.length };
  }

  private async readSetShape(family: NftFamily, table: string, name: string): Promise<KnownSet | undefined> {
    let replies: NetlinkMessage[];
    try {
      replies = await this.connection.request(getSet(family, table, name));
    } catch (err) {
      if (err instanceof NetlinkError && (err.code === 'ENOENT' || err.code === 'EAFNOSUPPORT')) return undefined;
      throw err;
    }
    for (const m of replies) {
      const { view } = decodeSet(m);
      return { ...view, family, table };
    }
    return undefined;
  }

  /**
   * Reads tables, chains, sets (with elements), counters and rules (decoded
   * into statements). The result is one generation: when the ruleset changes
   * while reading, it is read again.
   */
  async list(filter: NftListFilter = {}): Promise<NftRuleset> {
    const fam = filter.family ?? 0;
    if (filter.family !== undefined && FAMILIES[filter.family] === undefined) {
      throw new NetlinkError(97 /* EAFNOSUPPORT */, { operation: `list: unknown family ${filter.family}` });
    }
    // The kernel filters dumps by table only within one family.
    const tableFilter = filter.family !== undefined ? filter.table : undefined;
    const dump = async (req: Request) => {
      try {
        return await this.connection.dumpAll(req);
      } catch (err) {
        // A filtered dump of a table that does not exist: nothing to list.
        if (tableFilter !== undefined && err instanceof NetlinkError && err.code === 'ENOENT') return [];
        throw err;
      }
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      const generation = await this.generation();
      const keep = (o: { family: NftFamily; table: string }) =>
        (filter.family === undefined || o.family === filter.family) && (filter.table === undefined || o.table === filter.table);
      const tables = (await dump(dumpTables(fam)))
        .map(decodeTable)
        .filter(
          (t) => (filter.family === undefined || t.family === filter.family) && (filter.table === undefined || t.name === filter.table),
        );
      const chains = (await dump(dumpChains(fam, tableFilter))).map(decodeChain).filter(keep);
      const sets = (await dump(dumpSets(fam, tableFilter))).map(decodeSet).filter((s) => keep(s.set));
      for (const s of sets) {
        const msgs = await dump(dumpElements(s.set.family, s.set.table, s.set.name));
        attachElements(
          s,
          msgs.flatMap((m) => decodeElementsMessage(m).records),
        );
      }
      const counters = (await dump(dumpObjs(fam, tableFilter)))
        .map(decodeCounterObject)
        .filter((c): c is NonNullable<typeof c> => c !== undefined && keep(c));
      const views = new Map<string, SetView>();
      for (const s of sets) views.set(`${s.set.family}\u0000${s.set.table}\u0000${s.set.name}`, s.view);
      const rules = (await dump(dumpRules(fam, tableFilter)))
        .map((m) => {
          const f = nfgenmsg.decode(m.data, 0).family;
          const famName = Object.entries(FAMILIES).find(([, v]) => v === f)?.[0] ?? '';
          const table = ruleAttrs.decode(m.data, nfgenmsg.size, m.data.length, 'rule').table ?? '';
          return decodeRule(m, (name) => views.get(`${famName}\u0000${table}\u0000${name}`));
        })
        .filter(keep);
      if ((await this.generation()) !== generation) continue;
      const out: NftRuleset = { generation, tables, chains, rules, sets: sets.map((s) => s.set), counters };
      return out;
    }
    throw new DumpInterruptedError('nftables ruleset kept changing while it was listed (5 attempts); try again');
  }

  /** One set with its elements, or undefined. */
  async getSet(family: NftFamily, table: string, name: string): Promise<NftSet | undefined> {
    let replies: NetlinkMessage[];
    try {
      replies = await this.connection.request(getSet(family, table, name));
    } catch (err) {
      if (err instanceof NetlinkError && err.code === 'ENOENT') return undefined;
      throw err;
    }
    const m = replies[0];
    if (!m) return undefined;
    const s = decodeSet(m);
    const msgs = await this.connection.dumpAll(dumpElements(family, table, name));
    attachElements(
      s,
      msgs.flatMap((m) => decodeElementsMessage(m).records),
    );
    return s.set;
  }
}

/** The handle in an echoed NEW* message. */
function echoedHandle(type: number, msgs: readonly NetlinkMessage[]): number | undefined {
  for (const m of msgs) {
    if (m.type !== type) continue;
    switch (type) {
      case msgType(NFT_MSG_NEWRULE):
        return Number(ruleAttrs.decode(m.data, nfgenmsg.size, m.data.length, 'rule').handle ?? 0n) || undefined;
      case msgType(NFT_MSG_NEWCHAIN):
        return Number(chainAttrs.decode(m.data, nfgenmsg.size, m.data.length, 'chain').handle ?? 0n) || undefined;
      case msgType(NFT_MSG_NEWSET):
        return Number(setAttrs.decode(m.data, nfgenmsg.size, m.data.length, 'set').handle ?? 0n) || undefined;
      case msgType(NFT_MSG_NEWTABLE):
        return Number(tableAttrs.decode(m.data, nfgenmsg.size, m.data.length, 'table').handle ?? 0n) || undefined;
    }
  }
  return undefined;
}

/**
 * netfwd's nftables table in the kernel: read (with the facts the desired
 * table depends on), compared with the desired one (nftables-desired.ts) and
 * changed by the smallest step — element updates when only elements differ,
 * one transaction that rebuilds the table when its shape changed — each step
 * with its undo, which puts the table back as it was listed.
 */
import { NetlinkError } from '../../errors.js';
import { type NftChainSpec, type NftElement, type NftRuleset, type NftTransaction, nftStmtsText } from '../../nft/index.js';
import type { NormalizedConfig } from '../spec/normalized-config.js';
import type { Kernel } from './context.js';
import { type DesiredNftables, desiredNftables, FAMILY, type NftablesFacts } from './nftables-desired.js';
import { NFT_TABLE_COMMENT, nftTableName, OwnershipError } from './ownership.js';
import type { Step } from './plan.js';
import type { PlanHealth } from './plan-health.js';
import { readUplinkFacts } from './uplink.js';

export interface NftablesState {
  ruleset: NftRuleset | null;
  facts: NftablesFacts;
}

export async function readNftables(k: Kernel, config: NormalizedConfig): Promise<NftablesState> {
  const table = nftTableName(config.tunnel.interface);
  const facts = config.role === 'frontend' ? await readUplinkFacts(k, config) : undefined;
  let ruleset: NftRuleset;
  try {
    ruleset = await k.nft.list({ family: FAMILY, table });
  } catch (err) {
    if (err instanceof NetlinkError && err.code === 'ENOENT') return { ruleset: null, facts };
    throw err;
  }
  if (!ruleset.tables.some((t) => t.name === table && t.family === FAMILY)) return { ruleset: null, facts };
  return { ruleset, facts };
}

const elementKey = (el: NftElement) => JSON.stringify([el.key, el.data ?? null]);

function structureOf(d: DesiredNftables): string {
  return JSON.stringify({
    sets: d.sets.map((s) => [s.name, s.keyType, s.dataType ?? null, [...(s.flags ?? [])].sort(), !!s.counter]).sort(),
    chains: d.chains
      .map((c) => [c.spec.name, c.spec.type, c.spec.hook, c.spec.policy ?? 'accept', c.rules.map((r) => nftStmtsText(r, FAMILY))])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  });
}

function structureOfListed(r: NftRuleset, table: string, desired: DesiredNftables): string {
  const prio = new Map(desired.chains.map((c) => [c.spec.name, c.spec.priority]));
  void prio;
  return JSON.stringify({
    sets: r.sets
      .filter((s) => s.table === table && !s.anonymous)
      .map((s) => [s.name, s.keyType, s.isMap ? (s.dataType ?? null) : null, [...s.flags].sort(), !!s.counter])
      .sort(),
    chains: r.chains
      .filter((c) => c.table === table)
      .map((c) => [
        c.name,
        c.type,
        c.hook,
        c.policy ?? 'accept',
        r.rules.filter((x) => x.table === table && x.chain === c.name).map((x) => nftStmtsText(x.expr, FAMILY)),
      ])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  });
}

function addAll(tx: NftTransaction, d: DesiredNftables): void {
  tx.addTable({ family: FAMILY, name: d.table, comment: NFT_TABLE_COMMENT });
  for (const s of d.sets) {
    const elements = d.elements.get(s.name) ?? [];
    tx.addSet({ ...s, ...(elements.length ? { elements } : {}) });
  }
  for (const c of d.chains) {
    tx.addChain(c.spec);
    for (const expr of c.rules) tx.addRule({ family: FAMILY, table: d.table, chain: c.spec.name, expr });
  }
}

/**
 * Adds netfwd's table again as it was listed (sets with their elements,
 * chains, rules): the undo of a rebuild or a removal. Element counters start
 * from zero again; everything else is as before.
 */
function addListed(tx: NftTransaction, r: NftRuleset, table: string): void {
  const t = r.tables.find((x) => x.name === table && x.family === FAMILY);
  if (!t) return;
  tx.addTable({ family: FAMILY, name: table, ...(t.comment !== undefined ? { comment: t.comment } : {}) });
  for (const s of r.sets.filter((x) => x.table === table && !x.anonymous)) {
    const elements = s.elements.map((el) => ({ key: el.key, ...(el.data !== undefined ? { data: el.data } : {}) }));
    tx.addSet({
      family: FAMILY,
      table,
      name: s.name,
      keyType: s.keyType,
      ...(s.isMap && s.dataType ? { dataType: s.dataType } : {}),
      flags: s.flags,
      ...(s.counter ? { counter: true } : {}),
      ...(elements.length ? { elements } : {}),
    });
  }
  for (const c of r.chains.filter((x) => x.table === table)) {
    tx.addChain({
      family: FAMILY,
      table,
      name: c.name,
      ...(c.hook !== undefined
        ? { type: c.type as NftChainSpec['type'], hook: c.hook as NftChainSpec['hook'], priority: c.priority, policy: c.policy ?? 'accept' }
        : {}),
    });
    for (const rule of r.rules.filter((x) => x.table === table && x.chain === c.name)) {
      tx.addRule({
        family: FAMILY,
        table,
        chain: c.name,
        expr: rule.expr,
        ...(rule.comment !== undefined ? { comment: rule.comment } : {}),
      });
    }
  }
}

function countElements(d: DesiredNftables): number {
  let n = 0;
  for (const l of d.elements.values()) n += l.length;
  return n;
}

/** `health`: what `netfwd run` measured (a frontend's targets); without it the targets the table points at stay. */
export function planNftables(k: Kernel, config: NormalizedConfig, state: NftablesState, health: PlanHealth = {}): Step[] {
  const d = desiredNftables(config, state.facts, { health, listed: state.ruleset });
  const r = state.ruleset;
  if (!r) {
    return [
      {
        action: 'create',
        kind: 'nftables',
        target: `nftables table inet ${d.table}`,
        detail: `${d.chains.length} chains, ${d.sets.length} sets and maps, ${countElements(d)} elements`,
        async apply() {
          await k.nft.transaction((tx) => addAll(tx, d));
          return {
            description: `delete nftables table inet ${d.table}`,
            run: async () => {
              await k.nft.transaction((tx) => {
                tx.deleteTable({ family: FAMILY, name: d.table });
              });
            },
          };
        },
      },
    ];
  }
  const table = r.tables.find((t) => t.name === d.table)!;
  if (table.comment !== NFT_TABLE_COMMENT) {
    throw new OwnershipError(
      `nftables table inet ${d.table} exists but was not made by netfwd (its comment is ${table.comment ? JSON.stringify(table.comment) : 'empty'}); ` +
        `delete it (nft delete table inet ${d.table}) or choose another tunnel.interface`,
    );
  }
  const generation = r.generation;
  if (structureOf(d) !== structureOfListed(r, d.table, d)) {
    // The shape changed (another mode or option): replace the whole table in one transaction.
    return [
      {
        action: 'update',
        kind: 'nftables',
        target: `nftables table inet ${d.table}`,
        detail: `rebuilt: ${d.chains.length} chains, ${d.sets.length} sets and maps, ${countElements(d)} elements`,
        async apply() {
          await k.nft.transaction(
            (tx) => {
              tx.deleteTable({ family: FAMILY, name: d.table });
              addAll(tx, d);
            },
            { genId: generation },
          );
          return {
            description: `restore nftables table inet ${d.table} as it was`,
            run: async () => {
              await k.nft.transaction((tx) => {
                tx.deleteTable({ family: FAMILY, name: d.table });
                addListed(tx, r, d.table);
              });
            },
          };
        },
      },
    ];
  }
  // Same shape: only elements change, as single element messages.
  const adds: Array<{ set: string; elements: NftElement[] }> = [];
  const dels: Array<{ set: string; elements: NftElement[] }> = [];
  for (const s of d.sets) {
    const listed = r.sets.find((x) => x.table === d.table && x.name === s.name);
    const have = new Map((listed?.elements ?? []).map((el) => [elementKey(el), el]));
    const want = d.elements.get(s.name) ?? [];
    const wantKeys = new Set(want.map(elementKey));
    const add = want.filter((el) => !have.has(elementKey(el)));
    const del = [...have.entries()]
      .filter(([key]) => !wantKeys.has(key))
      .map(([, el]) => ({ key: el.key, ...(el.data !== undefined ? { data: el.data } : {}) }));
    if (add.length) adds.push({ set: s.name, elements: add });
    if (del.length) dels.push({ set: s.name, elements: del });
  }
  if (!adds.length && !dels.length) return [];
  const nAdd = adds.reduce((n, a) => n + a.elements.length, 0);
  const nDel = dels.reduce((n, a) => n + a.elements.length, 0);
  return [
    {
      action: 'update',
      kind: 'nftables',
      target: `nftables table inet ${d.table}`,
      detail: `elements ${[nAdd ? `+${nAdd}` : '', nDel ? `-${nDel}` : ''].filter(Boolean).join(' ')} (${[...new Set([...adds, ...dels].map((x) => x.set))].join(', ')})`,
      async apply() {
        await k.nft.transaction(
          (tx) => {
            for (const x of dels) tx.deleteElements({ family: FAMILY, table: d.table, set: x.set, elements: x.elements });
            for (const x of adds) tx.addElements({ family: FAMILY, table: d.table, set: x.set, elements: x.elements });
          },
          { genId: generation },
        );
        return {
          description: `restore the elements of nftables table inet ${d.table}`,
          run: async () => {
            await k.nft.transaction((tx) => {
              for (const x of adds) tx.deleteElements({ family: FAMILY, table: d.table, set: x.set, elements: x.elements });
              for (const x of dels) tx.addElements({ family: FAMILY, table: d.table, set: x.set, elements: x.elements });
            });
          },
        };
      },
    },
  ];
}

export function planNftablesRemoval(k: Kernel, config: NormalizedConfig, state: NftablesState): Step[] {
  const table = nftTableName(config.tunnel.interface);
  const ruleset = state.ruleset;
  const t = ruleset?.tables.find((x) => x.name === table);
  if (!ruleset || !t || t.comment !== NFT_TABLE_COMMENT) return [];
  return [
    {
      action: 'delete',
      kind: 'nftables',
      target: `nftables table inet ${table}`,
      async apply() {
        await k.nft.transaction((tx) => {
          tx.deleteTable({ family: FAMILY, name: table });
        });
        return {
          description: `restore nftables table inet ${table}`,
          run: async () => {
            await k.nft.transaction((tx) => addListed(tx, ruleset, table));
          },
        };
      },
    },
  ];
}

/**
 * A LAN role's nftables table in the kernel: read, compared with the desired
 * one, and replaced in one transaction when it differs (it has a handful of
 * rules and no sets, so there is no smaller step worth making). Counters are
 * left out of the comparison, so traffic is never taken for drift. Each step
 * has its undo, which puts the table back as it was listed.
 */
import { NetlinkError } from '../../errors.js';
import { type NftChainSpec, type NftRuleset, type NftStmt, type NftTransaction, nftStmtsText } from '../../nft/index.js';
import type { Kernel } from '../plan/context.js';
import { OwnershipError } from '../plan/ownership.js';
import type { Step } from '../plan/plan.js';
import { type DesiredLanTable, LAN_FAMILY } from './desired.js';

/** netfwd's table of this name, or null when there is none. */
export async function readLanTable(k: Kernel, name: string): Promise<NftRuleset | null> {
  let ruleset: NftRuleset;
  try {
    ruleset = await k.nft.list({ family: LAN_FAMILY, table: name });
  } catch (err) {
    if (err instanceof NetlinkError && err.code === 'ENOENT') return null;
    throw err;
  }
  return ruleset.tables.some((t) => t.name === name && t.family === LAN_FAMILY) ? ruleset : null;
}

/** A rule's statements with its counters at zero: what it is, not what it has counted. */
const withoutCounts = (stmts: readonly NftStmt[]): NftStmt[] =>
  stmts.map((s) => (s.type === 'counter' && s.name === undefined ? { type: 'counter', packets: 0, bytes: 0 } : s));

const ruleTexts = (rules: readonly (readonly NftStmt[])[]) => rules.map((r) => nftStmtsText(withoutCounts(r), LAN_FAMILY));

function desiredShape(d: DesiredLanTable): string {
  return JSON.stringify(
    d.chains
      .map((c) => [c.spec.name, c.spec.type, c.spec.hook, c.spec.priority, c.spec.policy ?? 'accept', ruleTexts(c.rules)])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
}

function listedShape(r: NftRuleset, name: string): string {
  return (
    JSON.stringify(
      r.chains
        .filter((c) => c.table === name && c.family === LAN_FAMILY)
        .map((c) => [
          c.name,
          c.type,
          c.hook,
          c.priority,
          c.policy ?? 'accept',
          ruleTexts(r.rules.filter((x) => x.table === name && x.chain === c.name).map((x) => x.expr)),
        ])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    ) + (r.sets.some((s) => s.table === name) ? ' (with sets)' : '')
  );
}

function addDesired(tx: NftTransaction, d: DesiredLanTable): void {
  tx.addTable({ family: LAN_FAMILY, name: d.name, comment: d.comment });
  for (const c of d.chains) {
    tx.addChain(c.spec);
    for (const expr of c.rules) tx.addRule({ family: LAN_FAMILY, table: d.name, chain: c.spec.name, expr });
  }
}

/** The table again as it was listed (chains and rules; a LAN role's table has no sets): the undo of a change or a removal. */
function addListed(tx: NftTransaction, r: NftRuleset, name: string): void {
  const t = r.tables.find((x) => x.name === name && x.family === LAN_FAMILY);
  if (!t) return;
  tx.addTable({ family: LAN_FAMILY, name, ...(t.comment !== undefined ? { comment: t.comment } : {}) });
  for (const c of r.chains.filter((x) => x.table === name)) {
    tx.addChain({
      family: LAN_FAMILY,
      table: name,
      name: c.name,
      ...(c.hook !== undefined
        ? { type: c.type as NftChainSpec['type'], hook: c.hook as NftChainSpec['hook'], priority: c.priority, policy: c.policy ?? 'accept' }
        : {}),
    });
    for (const rule of r.rules.filter((x) => x.table === name && x.chain === c.name))
      tx.addRule({
        family: LAN_FAMILY,
        table: name,
        chain: c.name,
        expr: rule.expr,
        ...(rule.comment !== undefined ? { comment: rule.comment } : {}),
      });
  }
}

/** Refuses a table of netfwd's name that this role did not make (another role's, a tunnel's, someone else's). */
function checkOwner(r: NftRuleset, d: DesiredLanTable): void {
  const t = r.tables.find((x) => x.name === d.name && x.family === LAN_FAMILY)!;
  if (t.comment === d.comment) return;
  throw new OwnershipError(
    `nftables table inet ${d.name} exists but is not this configuration's (its comment is ${t.comment ? JSON.stringify(t.comment) : 'empty'}); ` +
      `delete it (nft delete table inet ${d.name}) or choose another interface`,
  );
}

const rulesCount = (d: DesiredLanTable) => d.chains.reduce((n, c) => n + c.rules.length, 0);

/** The step that makes the table what `d` describes, or none when it already is. */
export function planLanTable(k: Kernel, d: DesiredLanTable, listed: NftRuleset | null): Step[] {
  const target = `nftables table inet ${d.name}`;
  const detail = `${d.chains.length} chains, ${rulesCount(d)} rules`;
  if (!listed) {
    return [
      {
        action: 'create',
        kind: 'nftables',
        target,
        detail,
        async apply() {
          await k.nft.transaction((tx) => addDesired(tx, d));
          return {
            description: `delete ${target}`,
            run: async () => {
              await k.nft.transaction((tx) => {
                tx.deleteTable({ family: LAN_FAMILY, name: d.name });
              });
            },
          };
        },
      },
    ];
  }
  checkOwner(listed, d);
  if (desiredShape(d) === listedShape(listed, d.name)) return [];
  const generation = listed.generation;
  return [
    {
      action: 'update',
      kind: 'nftables',
      target,
      detail: `rebuilt: ${detail}`,
      async apply() {
        // One transaction, refused by the kernel if the ruleset changed since it was read.
        await k.nft.transaction(
          (tx) => {
            tx.deleteTable({ family: LAN_FAMILY, name: d.name });
            addDesired(tx, d);
          },
          { genId: generation },
        );
        return {
          description: `restore ${target} as it was`,
          run: async () => {
            await k.nft.transaction((tx) => {
              tx.deleteTable({ family: LAN_FAMILY, name: d.name });
              addListed(tx, listed, d.name);
            });
          },
        };
      },
    },
  ];
}

/** The step that removes the table (only when it carries this role's comment). */
export function planLanTableRemoval(k: Kernel, name: string, comment: string, listed: NftRuleset | null): Step[] {
  const t = listed?.tables.find((x) => x.name === name && x.family === LAN_FAMILY);
  if (!listed || !t || t.comment !== comment) return [];
  const target = `nftables table inet ${name}`;
  return [
    {
      action: 'delete',
      kind: 'nftables',
      target,
      async apply() {
        await k.nft.transaction((tx) => {
          tx.deleteTable({ family: LAN_FAMILY, name });
        });
        return { description: `restore ${target}`, run: async () => void (await k.nft.transaction((tx) => addListed(tx, listed, name))) };
      },
    },
  ];
}

/**
 * Statements → nft text, as `nft list ruleset` prints them (for plans,
 * status and diffs). Each statement type renders in its file under stmt/;
 * this module holds the rule, chain, set and ruleset level.
 */
import { BRIDGE_PRIORITIES, type NftFamily, PRIORITIES } from './constants.js';
import { DATATYPES, datatypeByName } from './datatype.js';
import { durationText, setSourceText } from './element-text.js';
import type { NftChain, NftRule, NftRuleset, NftSet, NftStmt } from './model.js';
import type { TextCtx } from './stmt/context.js';
import { STMT_TEXT } from './stmt/registry.js';

/** The text of one statement. */
export function stmtText(s: NftStmt, ctx: TextCtx): string {
  const f = STMT_TEXT[s.type] as ((s: NftStmt, ctx: TextCtx) => string) | undefined;
  if (!f) return `# unknown statement ${String((s as { type?: unknown }).type)}`;
  try {
    return f(s, ctx);
  } catch (err) {
    // Never let rendering fail a listing: say what could not be printed.
    return `# ${s.type}: ${(err as Error).message}`;
  }
}

/** The text of a rule's statements, as nft prints the rule (without handle). */
export function ruleText(stmts: readonly NftStmt[], family: NftFamily, comment?: string): string {
  const ctx = { family };
  const parts = stmts.map((s) => stmtText(s, ctx));
  if (comment !== undefined) parts.push(`comment ${JSON.stringify(comment)}`);
  return parts.join(' ');
}

/** nft's priority text: `filter`, `dstnat - 5`, `filter + 10`, or the number. */
export function priorityText(priority: number, family: NftFamily, hook?: string): string {
  const names = family === 'bridge' ? BRIDGE_PRIORITIES : PRIORITIES;
  // nft names priorities by the hooks they are standard for.
  const candidates = Object.entries(names).filter(([n]) => {
    if (family === 'bridge') return true;
    if (n === 'dstnat') return hook === 'prerouting' || hook === 'output';
    if (n === 'srcnat') return hook === 'postrouting' || hook === 'input';
    return true;
  });
  let best: [string, number] | undefined;
  for (const [n, v] of candidates) {
    if (Math.abs(priority - v) <= 10 && (!best || Math.abs(priority - v) < Math.abs(priority - best[1]))) best = [n, v];
  }
  if (!best) return String(priority);
  const d = priority - best[1];
  return d === 0 ? best[0] : `${best[0]} ${d > 0 ? '+' : '-'} ${Math.abs(d)}`;
}

/** The text of a listed rule (statements and comment). */
export function nftRuleText(rule: Pick<NftRule, 'expr' | 'family' | 'comment'>): string {
  return ruleText(rule.expr, rule.family, rule.comment);
}

export function chainHeaderText(c: NftChain): string | undefined {
  if (c.type === undefined || c.hook === undefined) return undefined;
  const dev = c.device !== undefined ? ` device ${JSON.stringify(c.device)}` : '';
  return `type ${c.type} hook ${c.hook}${dev} priority ${priorityText(c.priority ?? 0, c.family, c.hook)}; policy ${c.policy ?? 'accept'};`;
}

export function setText(s: NftSet, indent = '\t'): string {
  const lines: string[] = [`${indent}${s.isMap ? 'map' : 'set'} ${s.name} {`];
  const t = `${s.keyType.join(' . ')}${s.isMap ? ` : ${(s.dataType ?? []).join(' . ')}` : ''}`;
  lines.push(`${indent}\ttype ${t}`);
  if (s.flags.length) lines.push(`${indent}\tflags ${s.flags.join(',')}`);
  if (s.timeout !== undefined) lines.push(`${indent}\ttimeout ${durationText(s.timeout)}`);
  if (s.size !== undefined) lines.push(`${indent}\tsize ${s.size}`);
  if (s.counter) lines.push(`${indent}\tcounter`);
  if (s.comment !== undefined) lines.push(`${indent}\tcomment ${JSON.stringify(s.comment)}`);
  if (s.elements.length) {
    const kt = s.keyType.map((n) => datatypeByName(n) ?? DATATYPES.integer);
    const dt =
      s.isMap && s.dataType && s.dataType[0] !== 'verdict' ? s.dataType.map((n) => datatypeByName(n) ?? DATATYPES.integer) : undefined;
    lines.push(`${indent}\telements = ${setSourceText({ elements: s.elements }, kt, dt)}`);
  }
  lines.push(`${indent}}`);
  return lines.join('\n');
}

/** The ruleset as `nft list ruleset` shows it (anonymous sets inlined, handles omitted). */
export function nftRulesetText(r: Pick<NftRuleset, 'tables' | 'chains' | 'rules' | 'sets' | 'counters'>): string {
  const out: string[] = [];
  for (const t of r.tables) {
    const blocks: string[] = [];
    const same = (o: { family: NftFamily; table: string }) => o.family === t.family && o.table === t.name;
    for (const c of r.counters.filter(same)) blocks.push(`\tcounter ${c.name} {\n\t\tpackets ${c.packets} bytes ${c.bytes}\n\t}`);
    for (const s of r.sets.filter((s) => same(s) && !s.anonymous)) blocks.push(setText(s));
    for (const c of r.chains.filter(same)) {
      const lines = [`\tchain ${c.name} {`];
      const h = chainHeaderText(c);
      if (h) lines.push(`\t\t${h}`);
      if (c.comment !== undefined) lines.push(`\t\tcomment ${JSON.stringify(c.comment)}`);
      for (const rule of r.rules.filter((x) => same(x) && x.chain === c.name)) lines.push(`\t\t${nftRuleText(rule)}`);
      lines.push('\t}');
      blocks.push(lines.join('\n'));
    }
    const head = [
      t.flags.length ? `\tflags ${t.flags.join(',')}` : '',
      t.comment !== undefined ? `\tcomment ${JSON.stringify(t.comment)}` : '',
    ].filter(Boolean);
    out.push(`table ${t.family} ${t.name} {\n${[...head, blocks.join('\n\n')].filter(Boolean).join('\n')}\n}`);
  }
  return out.join('\n') + (out.length ? '\n' : '');
}

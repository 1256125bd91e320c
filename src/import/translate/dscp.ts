/**
 * The DSCP tag of the tagged-routing recipe: the values iptables sets
 * (`-j DSCP --set-dscp N`, `--set-dscp-class C`) and matches (`-m dscp
 * --dscp N`, `--dscp-class C`), and the check that every machine uses the
 * value the VPN client tags with.
 */
import type { IptRule } from '../iptables.js';
import { ImportError, type Origin } from '../source.js';
import { type Machine, where } from './context.js';

/** The DiffServ class names iptables' dscp match and DSCP target take. */
const CLASSES: Record<string, number> = { BE: 0, EF: 46 };
for (let i = 0; i <= 7; i++) CLASSES[`CS${i}`] = i * 8;
for (let x = 1; x <= 4; x++) for (let y = 1; y <= 3; y++) CLASSES[`AF${x}${y}`] = 8 * x + 2 * y;

function value(text: string, origin: Origin, what: string): number {
  const n = /^0x[0-9a-f]+$/i.test(text) ? Number.parseInt(text, 16) : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isInteger(n) || n < 0 || n > 63)
    throw new ImportError(origin, `${what} "${text.slice(0, 20)}" is not a DSCP value`, 'a number from 0 to 63 (or 0x00-0x3f)');
  return n;
}

function classValue(text: string, origin: Origin, what: string): number {
  const v = CLASSES[text.toUpperCase()];
  if (v === undefined)
    throw new ImportError(origin, `${what} "${text.slice(0, 20)}" is not a DiffServ class`, 'BE, EF, CS0-CS7 or AF11-AF43');
  return v;
}

/** The value a `-j DSCP` rule sets. */
export function setDscp(r: IptRule): number | undefined {
  if (r.target !== 'DSCP') return undefined;
  const n = r.targetOptions.get('--set-dscp');
  if (n !== undefined) return value(n, r.origin, '--set-dscp');
  const c = r.targetOptions.get('--set-dscp-class');
  if (c !== undefined) return classValue(c, r.origin, '--set-dscp-class');
  throw new ImportError(r.origin, '-j DSCP without --set-dscp or --set-dscp-class', 'a valid iptables rule');
}

/** The value a `-m dscp` match selects (a negated match selects none). */
export function matchDscp(r: IptRule): number | undefined {
  if (r.dscp) return r.dscp.negated ? undefined : value(r.dscp.value, r.origin, '--dscp');
  const c = r.other.find((o) => o.startsWith('--dscp-class '));
  return c === undefined ? undefined : classValue(c.slice('--dscp-class '.length), r.origin, '--dscp-class');
}

/** One use of the tag: a rule setting or matching a DSCP value other than 0. */
export interface TagUse {
  machine: Machine;
  value: number;
  origin: Origin;
  /** "sets" or "matches". */
  how: 'sets' | 'matches';
}

/** The tag uses in a machine's mangle rules (a DSCP set to 0 clears the tag and is not one). */
export function tagUses(machine: Machine, rules: IptRule[]): TagUse[] {
  const out: TagUse[] = [];
  for (const r of rules) {
    if (r.table !== 'mangle' || (r.op !== 'append' && r.op !== 'insert')) continue;
    const set = setDscp(r);
    if (set !== undefined && set !== 0) out.push({ machine, value: set, origin: r.origin, how: 'sets' });
    const match = matchDscp(r);
    if (match !== undefined && match !== 0) out.push({ machine, value: match, origin: r.origin, how: 'matches' });
  }
  return out;
}

/**
 * The tag every machine must use: what the VPN client sets on the connections
 * it forwards (`reference`), else the first use found. `conflicts` says, per
 * machine, the first use of another value.
 */
export function checkTags(uses: TagUse[], reference: TagUse | undefined): { tag?: TagUse; conflicts: Map<Machine, string> } {
  const tag = reference ?? uses[0];
  const conflicts = new Map<Machine, string>();
  if (!tag) return { conflicts };
  for (const u of uses) {
    if (u.value === tag.value || conflicts.has(u.machine)) continue;
    conflicts.set(
      u.machine,
      `DSCP ${u.value} (${where(u.origin)}, which ${u.how} it) is not the tag ${tag.value} that ${tag.machine === 'backend' ? 'the VPN client sets on what it forwards to the LAN' : 'the other rules use'} (${where(tag.origin)}): the machines of one setup must use one DSCP value`,
    );
  }
  return { tag, conflicts };
}

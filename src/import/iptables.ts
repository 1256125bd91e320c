/**
 * iptables rules, as `iptables-save` writes them (`*nat`, `:CHAIN POLICY`,
 * `-A CHAIN …`, `COMMIT`) and as `iptables`/`ip6tables` command arguments.
 * A rule is read into its table, chain, the matches netfwd can reason about
 * and its target with the target's options. Anything iptables itself would
 * refuse (an option without its value, a stray word, an unknown table) is an
 * ImportError; options that are valid but not understood here are kept in
 * `other`, so the translator can say it did not translate the rule.
 */
import { ImportError, type Origin } from './source.js';

export const IPT_TABLES = ['filter', 'nat', 'mangle', 'raw', 'security'] as const;
export type IptTable = (typeof IPT_TABLES)[number];

/** A match value and whether it was negated with `!`. */
export interface Match {
  value: string;
  negated: boolean;
}

export interface IptRule {
  origin: Origin;
  /** 4 for iptables, 6 for ip6tables, undefined for a save file (told by the addresses). */
  family: 4 | 6 | undefined;
  table: IptTable;
  /** -A/-I add a rule, -D deletes one, -P sets a policy, -N/-X/-F/-Z manage chains. */
  op: 'append' | 'insert' | 'delete' | 'policy' | 'new-chain' | 'delete-chain' | 'flush' | 'zero';
  chain: string;
  /** For op 'policy': ACCEPT or DROP. */
  policy?: string;
  protocol?: Match;
  source?: Match;
  destination?: Match;
  inInterface?: Match;
  outInterface?: Match;
  dport?: Match;
  sport?: Match;
  /** multiport --dports, comma separated as written. */
  dports?: Match;
  /** --state / --ctstate, e.g. 'NEW,ESTABLISHED'. */
  state?: Match;
  uidOwner?: Match;
  gidOwner?: Match;
  /** -m mark --mark */
  mark?: Match;
  /** -m connmark --mark */
  connmark?: Match;
  dscp?: Match;
  /** -m NAME modules in order. */
  modules: string[];
  target?: string;
  /** --option → value ('' for flags) of the target. */
  targetOptions: Map<string, string>;
  /** Valid-looking options this reader does not interpret (e.g. `--limit 5/s`). */
  other: string[];
}

const VALUE_OPTIONS: Record<string, keyof IptRule> = {
  '-p': 'protocol',
  '--protocol': 'protocol',
  '-s': 'source',
  '--source': 'source',
  '--src': 'source',
  '-d': 'destination',
  '--destination': 'destination',
  '--dst': 'destination',
  '-i': 'inInterface',
  '--in-interface': 'inInterface',
  '-o': 'outInterface',
  '--out-interface': 'outInterface',
  '--dport': 'dport',
  '--destination-port': 'dport',
  '--sport': 'sport',
  '--source-port': 'sport',
  '--dports': 'dports',
  '--destination-ports': 'dports',
  '--state': 'state',
  '--ctstate': 'state',
  '--uid-owner': 'uidOwner',
  '--gid-owner': 'gidOwner',
  '--dscp': 'dscp',
};

/** Target options that take no value. */
const TARGET_FLAGS = new Set([
  '--restore-mark',
  '--save-mark',
  '--checksum-fill',
  '--clamp-mss-to-pmtu',
  '--random',
  '--random-fully',
  '--persistent',
  '--log-uid',
  '--log-tcp-sequence',
  '--log-tcp-options',
  '--log-ip-options',
]);
/** Options that take no value anywhere (counters, verbosity). */
const GLOBAL_FLAGS = new Set(['-v', '--verbose', '-n', '--numeric', '-x', '--exact', '--line-numbers', '-4', '-6', '--ipv4', '--ipv6']);

const expected = 'a valid iptables rule';

/**
 * Reads the arguments of one iptables command (without the program name), or
 * one rule line of a save file (with `table` the current `*table`).
 */
export function parseIptablesArgs(args: readonly string[], origin: Origin, family: 4 | 6 | undefined, table: IptTable = 'filter'): IptRule {
  const rule: IptRule = { origin, family, table, op: 'append', chain: '', modules: [], targetOptions: new Map(), other: [] };
  let sawOp = false;
  let negate = false;
  let i = 0;
  const value = (opt: string): string => {
    const v = args[++i];
    if (v === undefined || (v.startsWith('-') && !/^-?\d/.test(v) && v !== '-'))
      throw new ImportError(origin, `iptables option ${opt} needs a value`, expected);
    return v;
  };
  const setOp = (op: IptRule['op'], opt: string) => {
    if (sawOp) throw new ImportError(origin, `iptables takes one command (-A, -I, -D, -P, …); ${opt} is a second one`, expected);
    sawOp = true;
    rule.op = op;
    rule.chain = value(opt);
  };
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '!') {
      negate = true;
      continue;
    }
    if (rule.target !== undefined && a.startsWith('--') && !(a in VALUE_OPTIONS) && a !== '--match' && a !== '--jump') {
      // An option of the target (-j DNAT --to-destination …).
      if (TARGET_FLAGS.has(a)) rule.targetOptions.set(a, '');
      else rule.targetOptions.set(a, value(a));
      continue;
    }
    switch (a) {
      case '-t':
      case '--table': {
        const t = value(a);
        if (!(IPT_TABLES as readonly string[]).includes(t))
          throw new ImportError(origin, `unknown iptables table "${t}"`, `one of ${IPT_TABLES.join(', ')}`);
        rule.table = t as IptTable;
        break;
      }
      case '-A':
      case '--append':
        setOp('append', a);
        break;
      case '-I':
      case '--insert':
        setOp('insert', a);
        if (args[i + 1] !== undefined && /^\d+$/.test(args[i + 1]!)) i++;
        break;
      case '-D':
      case '--delete':
        setOp('delete', a);
        if (args[i + 1] !== undefined && /^\d+$/.test(args[i + 1]!)) i++;
        break;
      case '-P':
      case '--policy':
        setOp('policy', a);
        rule.policy = value(a);
        break;
      case '-N':
      case '--new-chain':
        setOp('new-chain', a);
        break;
      case '-X':
      case '--delete-chain':
      case '-F':
      case '--flush':
      case '-Z':
      case '--zero': {
        if (sawOp) throw new ImportError(origin, `iptables takes one command; ${a} is a second one`, expected);
        sawOp = true;
        rule.op = a === '-X' || a === '--delete-chain' ? 'delete-chain' : a === '-F' || a === '--flush' ? 'flush' : 'zero';
        if (args[i + 1] !== undefined && !args[i + 1]!.startsWith('-')) rule.chain = args[++i]!;
        break;
      }
      case '-m':
      case '--match': {
        const m = value(a);
        rule.modules.push(m);
        break;
      }
      case '-j':
      case '--jump':
      case '-g':
      case '--goto':
        rule.target = value(a);
        break;
      case '-w':
      case '--wait':
        if (args[i + 1] !== undefined && /^\d+(\.\d+)?$/.test(args[i + 1]!)) i++;
        break;
      case '-W':
      case '--wait-interval':
        value(a);
        break;
      case '--mark': {
        const m = { value: value(a), negated: negate };
        if (rule.modules.includes('connmark') && rule.modules.lastIndexOf('connmark') >= rule.modules.lastIndexOf('mark'))
          rule.connmark = m;
        else rule.mark = m;
        break;
      }
      default: {
        if (GLOBAL_FLAGS.has(a)) break;
        const field = VALUE_OPTIONS[a];
        if (field) {
          const v = value(a);
          // The old spelling `--dport ! 22` puts the `!` after the option.
          if (v === '!') (rule as unknown as Record<string, Match>)[field] = { value: value(a), negated: true };
          else (rule as unknown as Record<string, Match>)[field] = { value: v, negated: negate };
          break;
        }
        if (a.startsWith('--')) {
          // A match option of a module this reader does not interpret: keep it whole.
          const v = args[i + 1] !== undefined && !args[i + 1]!.startsWith('-') ? args[++i] : undefined;
          rule.other.push(v === undefined ? `${negate ? '! ' : ''}${a}` : `${negate ? '! ' : ''}${a} ${v}`);
          break;
        }
        throw new ImportError(origin, `unexpected word "${a.length > 40 ? `${a.slice(0, 40)}…` : a}" in an iptables rule`, expected);
      }
    }
    negate = false;
  }
  if (negate) throw new ImportError(origin, 'a "!" at the end of an iptables rule', expected);
  if (!sawOp) throw new ImportError(origin, 'an iptables rule without a command (-A, -I, -D, -P, -N, …)', expected);
  if (rule.op === 'policy' && !['ACCEPT', 'DROP'].includes(rule.policy ?? ''))
    throw new ImportError(origin, `policy "${rule.policy}" is not ACCEPT or DROP`, 'ACCEPT or DROP');
  return rule;
}

/** The text of a rule's matches and target, for notes ("-A FORWARD -i wg0 -j ACCEPT"). */
export function ruleText(r: IptRule): string {
  const parts: string[] = [];
  if (r.table !== 'filter') parts.push(`-t ${r.table}`);
  const op = { append: '-A', insert: '-I', delete: '-D', policy: '-P', 'new-chain': '-N', 'delete-chain': '-X', flush: '-F', zero: '-Z' }[
    r.op
  ];
  parts.push(`${op} ${r.chain}`.trim());
  if (r.policy) parts.push(r.policy);
  const m = (flag: string, x: Match | undefined) => x && parts.push(`${x.negated ? '! ' : ''}${flag} ${x.value}`);
  m('-p', r.protocol);
  m('-s', r.source);
  m('-d', r.destination);
  m('-i', r.inInterface);
  m('-o', r.outInterface);
  m('--sport', r.sport);
  m('--dport', r.dport);
  m('--dports', r.dports);
  m('--state', r.state);
  m('--uid-owner', r.uidOwner);
  m('--mark', r.mark ?? r.connmark);
  m('--dscp', r.dscp);
  parts.push(...r.other);
  if (r.target) parts.push(`-j ${r.target}`);
  for (const [k, v] of r.targetOptions) parts.push(v === '' ? k : `${k} ${v}`);
  return parts.join(' ');
}

/** iptables writes port ranges as FROM:TO; netfwd as FROM-TO. */
export function portOf(text: string, origin: Origin): string {
  const m = /^(\d{1,5})(?:[:-](\d{1,5}))?$/.exec(text);
  const check = (n: string) => {
    const v = Number(n);
    if (v < 1 || v > 65535) throw new ImportError(origin, `port ${n} is out of range`, 'a port from 1 to 65535');
    return v;
  };
  if (!m)
    throw new ImportError(
      origin,
      `"${text.slice(0, 20)}" is not a port or a port range`,
      'a port such as 8080 or a range such as 8000:8009',
    );
  const from = check(m[1]!);
  if (m[2] === undefined) return String(from);
  const to = check(m[2]);
  if (to < from) throw new ImportError(origin, `port range ${text} runs backwards`, 'FROM:TO with FROM ≤ TO');
  return from === to ? String(from) : `${from}-${to}`;
}

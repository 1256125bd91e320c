/**
 * Commands as they appear in wg-quick's PreUp/PostUp/PreDown/PostDown and in
 * small setup scripts (`iptables …`, `ip rule add …`, `ip route add …`,
 * `wg set … private-key FILE`, `sysctl -w net.ipv4.ip_forward=1`), and files
 * in `iptables-save` format (`/etc/sysconfig/iptables`, `iptables-save`
 * output), which may mix in `-t nat -A …` lines. Every command goes into the
 * facts or into a note; nothing is run.
 */
import type { Facts, KeyRef } from './facts.js';
import { parseIpRoute, parseIpRule } from './iproute.js';
import { IPT_TABLES, type IptTable, parseIptablesArgs } from './iptables.js';
import { logicalLines, parseCommandLine, type ShellCommand } from './shell.js';
import { ImportError, type Origin } from './source.js';

export interface CommandContext {
  /** Where the commands run: at interface up, at interface down, or a script of its own. */
  phase: 'up' | 'down' | 'script';
  /** wg-quick's %i: the interface name. */
  iface?: string;
  /** A `wg set IFACE private-key FILE` found: the key file. */
  onPrivateKeyFile?: (key: KeyRef) => void;
  /** Inside an ifupdown hook's `case "$IFACE" in`: its subject as a pattern that takes the interface out of a branch's pattern. */
  hook?: RegExp;
}

const IPTABLES = /^(ip6?tables)(-legacy|-nft)?$/;
const FORWARDING = new Set([
  'net.ipv4.ip_forward',
  'net/ipv4/ip_forward',
  'net.ipv4.conf.all.forwarding',
  'net.ipv6.conf.all.forwarding',
  'net/ipv6/conf/all/forwarding',
]);

/** The program name without a directory (/usr/sbin/iptables → iptables). */
const base = (w: string) => w.slice(w.lastIndexOf('/') + 1);

/** Reads one command line (already known not to be empty or a comment). */
export function readCommandLine(text: string, origin: Origin, facts: Facts, ctx: CommandContext): void {
  const substituted = ctx.iface === undefined ? text : text.replace(/%i/g, ctx.iface);
  for (const cmd of parseCommandLine(substituted, origin)) readCommand(cmd, substituted, origin, facts, ctx);
}

function readCommand(cmd: ShellCommand, line: string, origin: Origin, facts: Facts, ctx: CommandContext): void {
  const notes = facts.notes;
  let words = cmd.words;
  while (words.length > 0 && /^[A-Za-z_][A-Za-z0-9_]*=/.test(words[0]!)) words = words.slice(1); // VAR=value cmd
  if (words[0] === 'sudo' || words[0] === 'exec' || words[0] === 'command')
    words = words.slice(1).filter((w, i) => !(i === 0 && w.startsWith('-')));
  if (words.length === 0) {
    if (cmd.redirections.length) notes.notTranslated(origin, line, 'a redirection without a command');
    return;
  }
  const text = words.join(' ');
  const prog = base(words[0]!);
  if (prog === 'case' && words.length === 3 && words[2] === 'in' && /\$\{?IFACE\b/.test(words[1]!)) {
    ctx.hook = hookSubject(words[1]!);
    notes.changed(
      origin,
      text,
      'an ifupdown hook: its commands are read as those of the interface a branch names; netfwd sets them up itself, whenever it is run',
    );
    return;
  }
  if (ctx.hook && /^[^\s()]+\)$/.test(words[0]!)) {
    for (const alt of words[0]!.slice(0, -1).split('|')) {
      const iface = ctx.hook.exec(alt)?.[1];
      if (iface && /^[A-Za-z0-9_.@:-]+$/.test(iface)) facts.ifupHooks.push({ value: iface, origin });
    }
    if (words.length > 1) readCommand({ ...cmd, words: words.slice(1) }, line, origin, facts, ctx);
    return;
  }
  if (ctx.hook && prog === 'esac') {
    ctx.hook = undefined;
    return; // the end of the hook's case, noted at its start
  }
  if (cmd.expands) {
    notes.notTranslated(origin, text, 'uses shell variables or command substitution; netfwd cannot know their values');
    return;
  }
  if (cmd.joinedBy === '|' && /^[ef]?grep$/.test(prog) && words.some((w) => /^-[a-zA-Z]*q/.test(w) || w === '--quiet')) {
    notes.changed(
      origin,
      text,
      'a test whether the route or rule is there already (… | grep -q … || add it): netfwd compares with the kernel itself and adds only what is missing',
    );
    return;
  }
  if (cmd.joinedBy === '|') {
    notes.notTranslated(origin, text, 'the receiving end of a pipe; only plain commands are read');
    return;
  }
  const ipt = IPTABLES.exec(prog);
  if (ipt) {
    const family = ipt[1] === 'ip6tables' ? 6 : 4;
    const rule = parseIptablesArgs(words.slice(1), origin, family);
    if (ctx.phase === 'down' && rule.op !== 'delete' && rule.op !== 'flush' && rule.op !== 'delete-chain') {
      notes.notTranslated(origin, text, 'a PostDown/PreDown command that adds to the ruleset; netfwd down only removes what up set');
      return;
    }
    if (rule.op === 'delete' || rule.op === 'flush' || rule.op === 'delete-chain' || rule.op === 'zero') {
      if (ctx.phase !== 'down')
        notes.notTranslated(origin, text, 'removes rules; netfwd sets up its own ruleset and leaves other rules alone');
      return; // at interface down: what `netfwd down` does for netfwd's own objects
    }
    facts.iptables.push(rule);
    return;
  }
  if (prog === 'ip') {
    readIp(words.slice(1), text, origin, facts, ctx);
    return;
  }
  if (prog === 'wg' && words[1] === 'set') {
    readWgSet(words, origin, facts, ctx);
    return;
  }
  if (prog === 'sysctl') {
    const assignments = words.slice(1).filter((w) => !w.startsWith('-'));
    for (const a of assignments) {
      const [key, value] = a.split('=');
      if (value !== undefined && FORWARDING.has(key!) && value.trim() === '1') facts.forwarding.push(origin);
      else notes.notTranslated(origin, `sysctl ${a}`, 'a kernel setting netfwd does not manage');
    }
    return;
  }
  if (prog === 'echo' && cmd.redirections.length === 1 && /^>\s*\/proc\/sys\//.test(cmd.redirections[0]!)) {
    const path = cmd.redirections[0]!.replace(/^>\s*\/proc\/sys\//, '');
    const value = words.slice(1).join(' ');
    const rp = /^net\/ipv4\/conf\/([^/]+)\/rp_filter$/.exec(path);
    if (FORWARDING.has(path) && value === '1') facts.forwarding.push(origin);
    else if (rp) facts.rpFilter.push({ value: { iface: rp[1]!, value }, origin });
    else notes.notTranslated(origin, `echo ${value} > /proc/sys/${path}`, 'a kernel setting netfwd does not manage');
    return;
  }
  if (prog === 'echo' && cmd.redirections.length === 1 && /^>>?\s*\/etc\/sysctl/.test(cmd.redirections[0]!)) {
    const [key, value] = words
      .slice(1)
      .join(' ')
      .split('=')
      .map((x) => x.trim());
    if (FORWARDING.has(key!) && value === '1') facts.forwarding.push(origin);
    else notes.notTranslated(origin, text, 'a kernel setting netfwd does not manage');
    return;
  }
  if (prog === 'exit' || prog === 'true' || prog === ':') return; // no effect on the network
  if (['case', 'esac', 'if', 'then', 'else', 'elif', 'fi', 'for', 'while', 'do', 'done'].includes(prog) || /^[^\s()]*\)$/.test(prog)) {
    notes.notTranslated(origin, text, 'shell control structure: the commands inside it were read as if they always ran');
    return;
  }
  notes.notTranslated(origin, text, `netfwd has no equivalent of the ${prog} command`);
}

function readIp(args: string[], text: string, origin: Origin, facts: Facts, ctx: CommandContext): void {
  let family: 4 | 6 | undefined;
  let i = 0;
  for (; i < args.length && args[i]!.startsWith('-'); i++) {
    const o = args[i]!;
    if (o === '-4') family = 4;
    else if (o === '-6') family = 6;
    else if (o === '-f' || o === '-family') {
      const f = args[++i];
      family = f === 'inet6' ? 6 : f === 'inet' ? 4 : family;
    } else if (o === '-n' || o === '-netns') {
      facts.notes.notTranslated(origin, text, 'runs in another network namespace; netfwd configures one namespace per file (netns:)');
      return;
    }
  }
  const object = args[i];
  const rest = args.slice(i + 1);
  if (object === 'rule' || object === 'ru') {
    const rule = parseIpRule(rest, origin, family);
    if (rule.action === 'show') return;
    if (rule.action === 'delete' || rule.action === 'flush') {
      if (ctx.phase !== 'down')
        facts.notes.notTranslated(origin, text, 'removes rules; netfwd removes only its own rules (at netfwd down)');
      return;
    }
    if (ctx.phase === 'down') {
      facts.notes.notTranslated(origin, text, 'adds a rule at interface down; netfwd down only removes');
      return;
    }
    facts.ipRules.push(rule);
    return;
  }
  if (object === 'route' || object === 'r' || object === 'ro' || object === 'rou' || object === 'rout') {
    const route = parseIpRoute(rest, origin, family);
    if (route.action === 'show') return;
    if (route.action === 'delete' || route.action === 'flush') {
      if (ctx.phase !== 'down' && !(route.action === 'flush' && route.table !== undefined))
        facts.notes.notTranslated(origin, text, 'removes routes; netfwd removes only its own routes (at netfwd down)');
      return;
    }
    if (ctx.phase === 'down') {
      facts.notes.notTranslated(origin, text, 'adds a route at interface down; netfwd down only removes');
      return;
    }
    facts.ipRoutes.push(route);
    return;
  }
  facts.notes.notTranslated(origin, text, `netfwd does not import "ip ${object ?? ''}" commands`);
}

function readWgSet(words: string[], origin: Origin, facts: Facts, ctx: CommandContext): void {
  const args = words.slice(3);
  for (let i = 0; i < args.length; i++) {
    if (args[i] === 'private-key' && args[i + 1] !== undefined) {
      const path = args[++i]!;
      if (path.startsWith('/dev/') || path === '-') {
        facts.notes.notTranslated(
          origin,
          `wg set ${words[2]} private-key ${path}`,
          'the key comes from a pipe or device; netfwd needs a key file or the key',
        );
        continue;
      }
      if (ctx.phase === 'down') continue;
      ctx.onPrivateKeyFile?.({ kind: 'file', path, origin });
      continue;
    }
    facts.notes.notTranslated(
      origin,
      `wg set … ${args.slice(i, i + 2).join(' ')}`,
      'only "wg set … private-key FILE" is imported; put WireGuard settings in the interface and peer sections',
    );
    break;
  }
}

/** `${ADDRFAM}-${IFACE}` as a pattern: the address family's words, the interface captured. */
function hookSubject(subject: string): RegExp {
  const parts = subject.split(/(\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)/);
  const source = parts
    .map((p) => {
      const v = /^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$/.exec(p)?.[1];
      if (v === 'IFACE') return '(.+?)';
      if (v === 'ADDRFAM') return '(?:inet6?|\\*)';
      if (v !== undefined) return '.*';
      return p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    })
    .join('');
  return new RegExp(`^${source}$`);
}

/**
 * A file of rules and commands: `iptables-save` format, iptables command
 * lines, ip commands, shell script lines. Each line goes into the facts or a
 * note. Throws ImportError for a line iptables or ip would refuse.
 */
export function readRulesFile(text: string, file: string, facts: Facts, phase: CommandContext['phase'] = 'script'): void {
  const script: CommandContext = { phase };
  let table: IptTable = 'filter';
  let inTable = false;
  for (const { text: raw, line } of logicalLines(text)) {
    const origin = { file, line };
    let s = raw.trim();
    if (s === '' || s.startsWith('#')) continue;
    const counters = /^\[\d+:\d+\]\s+/.exec(s); // iptables-save -c
    if (counters) s = s.slice(counters[0].length);
    if (s.startsWith('*')) {
      const t = s.slice(1).trim();
      if (!(IPT_TABLES as readonly string[]).includes(t))
        throw new ImportError(origin, `unknown iptables table "*${t.slice(0, 20)}"`, `one of ${IPT_TABLES.map((x) => `*${x}`).join(', ')}`);
      table = t as IptTable;
      inTable = true;
      continue;
    }
    if (s === 'COMMIT') {
      if (!inTable) throw new ImportError(origin, 'COMMIT without a *table line before it', 'iptables-save format');
      inTable = false;
      table = 'filter';
      continue;
    }
    if (s.startsWith(':')) {
      const m = /^:(\S+)\s+(\S+)(\s+\[\d+:\d+\])?$/.exec(s);
      if (!m) throw new ImportError(origin, 'a chain line is not ":CHAIN POLICY [packets:bytes]"', 'iptables-save format');
      const policy = m[2]!;
      if (policy === '-') continue; // a user chain; its rules say what it does
      if (policy !== 'ACCEPT' && policy !== 'DROP')
        throw new ImportError(origin, `policy "${policy}" is not ACCEPT, DROP or -`, 'iptables-save format');
      if (policy === 'DROP') facts.iptables.push(parseIptablesArgs(['-t', table, '-P', m[1]!, policy], origin, undefined, table));
      continue;
    }
    if (s.startsWith('-')) {
      const cmds = parseCommandLine(s, origin);
      if (cmds.length !== 1) throw new ImportError(origin, 'a rule line holds more than one command', 'one rule per line');
      const rule = parseIptablesArgs(cmds[0]!.words, origin, undefined, table);
      if (rule.op === 'delete' || rule.op === 'flush' || rule.op === 'delete-chain' || rule.op === 'zero') {
        facts.notes.notTranslated(origin, s, 'removes rules; netfwd sets up its own ruleset and leaves other rules alone');
        continue;
      }
      facts.iptables.push(rule);
      continue;
    }
    if (/^[a-z0-9_.]+\s*=\s*\S+$/i.test(s) && s.includes('.') && !s.includes(' -')) {
      // sysctl.conf syntax: net.ipv4.ip_forward = 1
      const [key, value] = s.split('=').map((x) => x.trim());
      if (FORWARDING.has(key!) && value === '1') facts.forwarding.push(origin);
      else facts.notes.notTranslated(origin, s, 'a kernel setting netfwd does not manage');
      continue;
    }
    readCommandLine(s, origin, facts, script);
  }
  if (inTable)
    throw new ImportError(
      { file, line: text.split('\n').length },
      'the last *table has no COMMIT',
      'iptables-save format: each *table ends with COMMIT',
    );
}

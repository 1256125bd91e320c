/**
 * A backend's return path, from its routing rules (uidrange or fwmark into a
 * table), the marks its mangle table sets and the routes of that table: mode
 * uid, mark, connmark, dscp (when the VPN client tags what it forwards to the
 * LAN with a DSCP value) or, without any such rule, snat.
 */
import { contains, isDefault, networkText, parseCidr } from '../cidr.js';
import type { IpRule } from '../iproute.js';
import { type IptRule, ruleText } from '../iptables.js';
import { ImportError, type Located, type Origin } from '../source.js';
import { RESERVED_TABLES, type RuleCtx } from './context.js';
import { ipRouteText, ipRuleText } from './leftovers.js';

export interface ReturnPathOptions {
  /** Where notes about the whole return path go (the tunnel's file). */
  origin: Origin;
  /** wg-quick's Table = N. */
  wgTable?: Located<number | 'off' | 'auto'>;
  /** The tunnel allows every address (wg-quick would route everything into it). */
  allowsDefault: boolean;
  /** The VPN client tags what it forwards to the LAN with this DSCP value: mode dscp. */
  tagged?: { dscp: number };
}

export function returnPathOf(ctx: RuleCtx, o: ReturnPathOptions): Record<string, unknown> {
  const { facts } = ctx;
  const notes = facts.notes;
  const candidates = facts.ipRules.filter((r) => r.table !== undefined && !RESERVED_TABLES.has(r.table) && (r.uidrange || r.fwmark));
  if (candidates.length === 0 && o.tagged) {
    notes.changed(
      o.origin,
      'return path',
      `no fwmark routing rule in the sources: returnPath mode dscp with netfwd's own mark and table (${DEFAULT_TABLE})`,
    );
    return { mode: 'dscp', dscp: o.tagged.dscp };
  }
  if (candidates.length === 0) {
    notes.changed(
      o.origin,
      'return path',
      'no uidrange or fwmark routing rule in the sources: returnPath mode snat (the frontend must have sourceNat: true, as a frontend that SNATs into the tunnel does)',
    );
    if (o.allowsDefault && o.wgTable?.value !== 'off') {
      notes.changed(
        o.wgTable?.origin ?? o.origin,
        'AllowedIPs 0.0.0.0/0',
        'wg-quick would route all traffic through the tunnel; netfwd routes nothing into it in mode snat',
      );
    }
    return { mode: 'snat' };
  }
  const table = candidates[0]!.table!;
  const rules = candidates.filter((r) => r.table === table);
  let refused: string | undefined;
  const usable = rules.filter((r) => {
    const problem = r.not
      ? 'a negated rule ("not")'
      : r.to && !isDefaultSelector(r.to)
        ? `a destination selector (to ${r.to})`
        : r.from && !isDefaultSelector(r.from)
          ? `a source selector (from ${r.from})`
          : r.other.length
            ? r.other.join(' ')
            : undefined;
    if (problem) {
      notes.notTranslated(r.origin, ipRuleText(r), `${problem}: netfwd's rules select by uid or mark only`);
      ctx.used.add(r);
      refused ??= problem;
      return false;
    }
    return true;
  });
  if (usable.length === 0) {
    throw new ImportError(
      rules[0]!.origin,
      `no routing rule into table ${table} netfwd can translate (${refused})`,
      "a rule that selects by uidrange or fwmark only, as netfwd's return path does",
    );
  }
  const uidRules = usable.filter((r) => r.uidrange);
  const markRules = usable.filter((r) => r.fwmark);
  const mark = markRules[0]?.fwmark?.mark;
  const mangle = facts.iptables.filter((r) => r.table === 'mangle' && (r.op === 'append' || r.op === 'insert'));
  const setsMark = (r: IptRule) => {
    const v = r.targetOptions.get('--set-mark') ?? r.targetOptions.get('--set-xmark');
    return v === undefined ? undefined : Number(v.split('/')[0]);
  };
  const connmarkSetters = mangle.filter((r) => r.target === 'CONNMARK' && mark !== undefined && setsMark(r) === mark);
  const markSetters = mangle.filter((r) => r.target === 'MARK' && mark !== undefined && setsMark(r) === mark);
  const out: Record<string, unknown> = {};
  let chosen: IpRule[] = [];
  if (o.tagged && markRules.length > 0) {
    out.mode = 'dscp';
    out.dscp = o.tagged.dscp;
    out.mark = mark;
    chosen = markRules;
    for (const r of [...markSetters, ...connmarkSetters]) {
      ctx.used.add(r);
      const by = [r.dscp ? `-m dscp --dscp ${r.dscp.value}` : '', ...r.other, r.inInterface ? `-i ${r.inInterface.value}` : '']
        .filter((x) => x !== '')
        .join(' ');
      notes.changed(
        r.origin,
        ruleText(r),
        `netfwd marks the connections that arrive on the tunnel (${ctx.iface}) and routes their replies by that mark${by ? `, not by ${by}` : ''}`,
      );
    }
    for (const r of mangle) if (r.target === 'CONNMARK' && r.targetOptions.has('--restore-mark')) ctx.used.add(r);
  } else if (markRules.length > 0 && connmarkSetters.length > 0) {
    out.mode = 'connmark';
    out.mark = mark;
    chosen = markRules;
    for (const r of connmarkSetters) {
      ctx.used.add(r);
      const selector = [
        r.dscp ? `-m dscp --dscp ${r.dscp.value}` : '',
        ...r.other,
        r.inInterface && r.inInterface.value !== ctx.iface ? `-i ${r.inInterface.value}` : '',
      ]
        .filter((x) => x !== '')
        .join(' ');
      if (selector)
        notes.changed(r.origin, ruleText(r), `netfwd marks the connections that arrive on the tunnel (${ctx.iface}), not by ${selector}`);
    }
    for (const r of mangle) if (r.target === 'CONNMARK' && r.targetOptions.has('--restore-mark')) ctx.used.add(r);
  } else if (markRules.length > 0) {
    out.mode = 'mark';
    const uids: string[] = [];
    for (const r of markSetters) {
      if (r.uidOwner && !r.uidOwner.negated && /^\d+(-\d+)?$/.test(r.uidOwner.value)) {
        uids.push(r.uidOwner.value);
        ctx.used.add(r);
      } else
        notes.notTranslated(
          r.origin,
          ruleText(r),
          "marks by something other than the socket's uid; netfwd's mark mode selects by uid, cgroup or the application's own SO_MARK",
        );
    }
    if (uids.length) out.uids = uids;
    out.mark = mark;
    chosen = markRules;
  } else {
    out.mode = 'uid';
    const uids: string[] = [];
    for (const r of uidRules) {
      const { from, to } = r.uidrange!;
      if (from === 0) {
        notes.notTranslated(r.origin, ipRuleText(r), "includes uid 0 (root), whose packets include the tunnel's own: netfwd refuses it");
        ctx.used.add(r);
        continue;
      }
      uids.push(from === to ? String(from) : `${from}-${to}`);
    }
    if (uids.length === 0) throw new ImportError(uidRules[0]!.origin, 'no usable uid range', 'a uidrange without uid 0');
    out.uids = [...new Set(uids)];
    chosen = uidRules.filter((r) => !ctx.used.has(r));
  }
  for (const r of chosen) ctx.used.add(r);
  out.table = table;
  const priority = chosen.find((r) => r.priority !== undefined)?.priority;
  // Mode uid puts the uid ranges one priority after the rule for the connections that arrived through the tunnel.
  const maxPriority = out.mode === 'uid' ? 32764 : 32765;
  if (priority !== undefined && priority >= 1 && priority <= maxPriority) {
    out.priority = priority;
    if (out.mode === 'uid') {
      notes.changed(
        chosen[0]!.origin,
        ipRuleText(chosen[0]!),
        `netfwd's rule for the connections that arrive through the tunnel (fwmark ${out.mark ?? table}) takes priority ${priority}, and the uid ranges follow at ${priority + 1}`,
      );
    }
  } else {
    const used = priority !== undefined && priority === 32765 && out.mode === 'uid' ? 32764 : 100;
    if (used !== 100) out.priority = used;
    notes.changed(
      chosen[0]!.origin,
      ipRuleText(chosen[0]!),
      `${priority === undefined ? 'no priority given' : used !== 100 ? `priority ${priority} leaves no room for the uid ranges' rule before the main table's (32766)` : `priority ${priority} is outside 1-${maxPriority}`}: netfwd uses priority ${used}${out.mode === 'uid' ? ` (the uid ranges at ${used + 1})` : ''}`,
    );
  }

  // Table T's routes: the default into the tunnel, exclusions, the leak guard.
  const exclude: string[] = [];
  let intoTunnel = o.wgTable?.value === table && o.allowsDefault;
  if (intoTunnel) ctx.used.add(o.wgTable!);
  for (const r of facts.ipRoutes.filter((x) => x.table === table)) {
    ctx.used.add(r);
    const dest = r.destination === undefined || r.destination === 'default' ? undefined : parseCidr(r.destination);
    if (r.destination !== undefined && r.destination !== 'default' && dest === undefined) {
      // The readers check destinations with the same syntax; should one slip through, it is not a default route.
      notes.notTranslated(r.origin, ipRouteText(r), `a destination netfwd cannot read (${r.destination.slice(0, 50)})`);
      continue;
    }
    const isDefaultRoute = dest === undefined || isDefault(dest);
    const viaTunnel = r.dev === ctx.iface || (r.via !== undefined && ctx.own.some((c) => contains({ ...c }, parseCidr(r.via!)!)));
    if (['unreachable', 'blackhole', 'prohibit'].includes(r.type) && isDefaultRoute) continue; // the leak guard (leakGuard: true)
    if (r.type === 'throw' && dest && !isDefaultRoute) {
      exclude.push(networkText(dest));
      continue;
    }
    if (isDefaultRoute && r.type === 'unicast') {
      if (viaTunnel) intoTunnel = true;
      else
        notes.changed(
          r.origin,
          ipRouteText(r),
          `netfwd routes table ${table} into the tunnel (default dev ${ctx.iface}), not ${r.via ? `via ${r.via}` : `dev ${r.dev}`}`,
        );
      continue;
    }
    if (dest && viaTunnel) continue; // the route to the frontend's tunnel address: the tunnel's own subnet route
    if (dest && r.type === 'unicast') {
      exclude.push(networkText(dest));
      notes.changed(
        r.origin,
        ipRouteText(r),
        `an exclusion: netfwd writes a throw route, so ${networkText(dest)} is looked up in the main table`,
      );
      continue;
    }
    notes.notTranslated(r.origin, ipRouteText(r), `a ${r.type} route netfwd does not set up`);
  }
  if (!intoTunnel)
    notes.changed(
      chosen[0]!.origin,
      `table ${table}`,
      `netfwd's table ${table} sends the selected traffic into the tunnel (the source had no default route through ${ctx.iface} there)`,
    );
  if (exclude.length) out.exclude = [...new Set(exclude)];
  return out;
}

const DEFAULT_TABLE = 5000;

/** Whether an ip rule's `to`/`from` selects everything ("default", a /0); anything else, even text the importer cannot read, is a selector netfwd does not translate. */
function isDefaultSelector(text: string): boolean {
  if (text === 'default') return true;
  const c = parseCidr(text);
  return c !== undefined && isDefault(c);
}

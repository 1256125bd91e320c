/**
 * The notes about what no part of the translation used: each iptables rule,
 * ip rule and route left over, with the reason netfwd does not do it.
 */

import type { Facts } from '../facts.js';
import type { IpRoute, IpRule } from '../iproute.js';
import { type IptRule, ruleText } from '../iptables.js';
import type { Notes } from '../source.js';
import { type Machine, type RuleCtx, USER_CHAIN_TARGET } from './context.js';
import { setDscp } from './dscp.js';

const LAN = (m: Machine) => m === 'lan-router' || m === 'service-host';

/** Notes every iptables rule, ip rule and route no part of the translation used. */
export function noteUnused(ctx: RuleCtx, role: Machine): void {
  const notes = ctx.facts.notes;
  for (const r of ctx.facts.iptables) if (!ctx.used.has(r)) noteRule(ctx, r, role);
  for (const r of ctx.facts.ipRules)
    if (!ctx.used.has(r))
      notes.notTranslated(
        r.origin,
        ipRuleText(r),
        role === 'frontend'
          ? 'policy routing on the frontend: netfwd routes nothing by rule there'
          : role === 'backend'
            ? 'a routing rule netfwd does not set up (see the return path above)'
            : role === 'lan-router'
              ? "a routing rule netfwd's LAN router does not set up (it routes the tagged replies by its own rule)"
              : 'policy routing on the service host: netfwd routes nothing there (the LAN router sends the tagged replies to the VPN client)',
      );
  for (const r of ctx.facts.ipRoutes)
    if (!ctx.used.has(r))
      notes.notTranslated(
        r.origin,
        ipRouteText(r),
        r.table === undefined || r.table === 254
          ? `a route in the main table; netfwd adds routes only to ${LAN(role) ? "the LAN router's table" : "the return path's table"}`
          : 'a route netfwd does not set up',
      );
}

export function noteRule(ctx: RuleCtx, r: IptRule, role: Machine): void {
  const notes = ctx.facts.notes;
  const text = ruleText(r);
  if (r.op === 'new-chain') return;
  if (r.op === 'policy') {
    notes.notTranslated(
      r.origin,
      text,
      'a chain policy: netfwd does not change policies (netfwd plan and status warn when a drop policy would drop the forwarded traffic)',
    );
    return;
  }
  if (USER_CHAIN_TARGET(r, ctx.facts.iptables)) return; // structure: the user chain's rules are judged one by one
  const chain = ctx.chains(r) ?? r.chain;
  if (r.target === 'RETURN') {
    notes.notTranslated(r.origin, text, "an exception inside a user chain; netfwd's own rules have no such exceptions");
    return;
  }
  if (r.table === 'filter' && LAN(role)) {
    notes.notTranslated(
      r.origin,
      text,
      `netfwd does not filter on the ${role === 'lan-router' ? 'LAN router' : 'service host'}; keep this rule in your firewall if you need it`,
    );
    return;
  }
  if (r.table === 'filter' && (chain === 'INPUT' || chain === 'OUTPUT')) {
    notes.notTranslated(
      r.origin,
      text,
      `netfwd filters only what it opens (${chain === 'INPUT' ? (role === 'backend' ? 'from the tunnel only the services and tunnelPorts; the services on no other interface' : 'from the tunnel only tunnelPorts on the tunnel addresses') : "nothing of this machine's own outgoing traffic"}), not the rest of ${chain === 'INPUT' ? 'the traffic to' : 'the traffic from'} this machine; keep this rule in your firewall if you need it`,
    );
    return;
  }
  if (r.table === 'filter' && chain === 'FORWARD') {
    const peerToPeer = r.inInterface?.value === ctx.iface && r.outInterface?.value === ctx.iface;
    notes.notTranslated(
      r.origin,
      text,
      peerToPeer
        ? 'traffic between peers of the tunnel: netfwd forwards only the configured ports'
        : r.target === 'ACCEPT'
          ? "forwarding that is not one of netfwd's forwards"
          : 'filtering of forwarded traffic; netfwd only accepts its own forwards',
    );
    return;
  }
  if (r.table === 'nat') {
    notes.notTranslated(
      r.origin,
      text,
      role !== 'frontend'
        ? `NAT on ${role === 'backend' ? 'a backend' : `the ${role === 'lan-router' ? 'LAN router' : 'service host'}`}: netfwd sets up none there`
        : 'a NAT rule that is neither a DNAT to a peer nor masquerading of the tunnel',
    );
    return;
  }
  if (r.table === 'mangle') {
    const reason =
      r.target === 'CHECKSUM'
        ? 'CHECKSUM fills in checksums for old DHCP clients; netfwd runs no DHCP'
        : r.target === 'DSCP' && setDscp(r) === 0
          ? `clears the DSCP tag; that is not part of netfwd's configuration: keep this rule in your firewall if the tag must not leave by ${r.outInterface?.value ?? 'this path'}`
          : r.target === 'DSCP' && (LAN(role) || ctx.facts.iptables.some((x) => x.target === 'DSCP' && ctx.used.has(x)))
            ? "a DSCP tag netfwd's dscp tagging does not set (it tags what the VPN client forwards to the LAN, and the service host's replies)"
            : r.target === 'DSCP'
              ? 'netfwd does not tag packets with DSCP; its connmark mode remembers the connection instead'
              : r.target === 'CONNMARK' || r.target === 'MARK'
                ? 'a mark no routing rule of the return path uses'
                : `${r.target ?? 'a rule without target'} in the mangle table: netfwd has no equivalent`;
    notes.notTranslated(r.origin, text, reason);
    return;
  }
  notes.notTranslated(r.origin, text, `netfwd has no equivalent of this ${r.table} rule`);
}

export function ipRuleText(r: IpRule): string {
  return [
    'ip rule add',
    r.priority !== undefined ? `priority ${r.priority}` : '',
    r.not ? 'not' : '',
    r.from ? `from ${r.from}` : '',
    r.to ? `to ${r.to}` : '',
    r.fwmark ? `fwmark ${r.fwmark.mark}` : '',
    r.uidrange ? `uidrange ${r.uidrange.from}-${r.uidrange.to}` : '',
    ...r.other,
    r.table !== undefined ? `table ${r.table}` : '',
  ]
    .filter((x) => x !== '')
    .join(' ');
}

export function ipRouteText(r: IpRoute): string {
  return [
    'ip route add',
    r.type !== 'unicast' ? r.type : '',
    r.destination ?? '',
    r.via ? `via ${r.via}` : '',
    r.dev ? `dev ${r.dev}` : '',
    r.table !== undefined ? `table ${r.table}` : '',
  ]
    .filter((x) => x !== '')
    .join(' ');
}

/** rp_filter settings: the tunnel's is what netfwd sets itself on a backend in a routed mode; any other is not translated. */
export function noteRpFilter(notes: Notes, rpFilter: Facts['rpFilter'], tunnel: string, isBackend: boolean): void {
  for (const r of rpFilter) {
    if (r.value.iface === tunnel && isBackend)
      notes.changed(
        r.origin,
        `rp_filter ${r.value.iface}=${r.value.value}`,
        'netfwd sets loose reverse-path filtering (2) on the tunnel in the routed return-path modes',
      );
    else
      notes.notTranslated(
        r.origin,
        `rp_filter ${r.value.iface}=${r.value.value}`,
        "reverse-path filtering of another interface; netfwd only sets the tunnel's",
      );
  }
}

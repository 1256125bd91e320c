/**
 * The two LAN machines of the tagged-routing recipe. The LAN router
 * (`role: lan-router`) sends the packets tagged with the DSCP value to the
 * VPN client: its `ip route add default via VPN-CLIENT table T` and
 * `ip rule add fwmark M table T`. The service host (`role: service-host`)
 * tags its replies as their connections arrived: `-m dscp --dscp N -j
 * CONNMARK --set-mark M` on input, `-m connmark --mark M -j DSCP --set-dscp
 * N` on output.
 */
import { isDefault, parseCidr } from '../cidr.js';
import type { IptRule } from '../iptables.js';
import { ImportError, type Located } from '../source.js';
import { chainResolver, RESERVED_TABLES, type RuleCtx } from './context.js';
import { matchDscp, setDscp } from './dscp.js';
import { ipRouteText, ipRuleText, noteUnused } from './leftovers.js';
import type { SetupCtx } from './setup-context.js';

const ruleCtx = (m: SetupCtx): RuleCtx => ({
  facts: m.facts,
  iface: '',
  own: [],
  chains: chainResolver(m.facts.iptables),
  used: new Set(),
});

/** The one interface the ifupdown hooks name, with where. */
function hookInterface(hooks: Array<Located<string>>): Located<string> | undefined {
  const names = [...new Set(hooks.map((h) => h.value))];
  return names.length === 1 ? hooks[0] : undefined;
}

function kernelSettings(m: SetupCtx, who: string): void {
  for (const r of m.facts.rpFilter)
    m.facts.notes.notTranslated(
      r.origin,
      `rp_filter ${r.value.iface}=${r.value.value}`,
      `reverse-path filtering on the ${who}: netfwd leaves it as it is`,
    );
  for (const f of m.facts.forwarding)
    m.facts.notes.notTranslated(f, 'ip_forward=1', `a kernel setting netfwd does not manage on the ${who}`);
}

export function lanRouter(m: SetupCtx, o: { tag?: number; hooks: Array<Located<string>> }): Record<string, unknown> {
  const notes = m.facts.notes;
  const ctx = ruleCtx(m);
  const isDefaultRoute = (d: string | undefined) => d === undefined || d === 'default' || isDefault(parseCidr(d)!);
  const candidates = m.facts.ipRoutes.filter(
    (r) =>
      r.table !== undefined &&
      !RESERVED_TABLES.has(r.table) &&
      r.type === 'unicast' &&
      r.via !== undefined &&
      isDefaultRoute(r.destination),
  );
  if (candidates.length === 0)
    throw new ImportError(
      undefined,
      'no route via the VPN client in a table of its own',
      'ip route add default via VPN-CLIENT-ADDRESS table T (with ip rule add fwmark M table T)',
    );
  const table = candidates[0]!.table!;
  const routes = candidates.filter((r) => r.table === table);
  for (const r of routes) ctx.used.add(r);
  const via = [...new Set(routes.map((r) => r.via!))];
  const spec: Record<string, unknown> = { role: 'lan-router' };

  // The interface the tagged packets arrive on and leave by.
  const devs = [...new Set(routes.flatMap((r) => (r.dev ? [r.dev] : [])))];
  const hook = hookInterface([...m.facts.ifupHooks, ...o.hooks]);
  if (devs.length === 1) spec.interface = devs[0];
  else if (devs.length === 0 && hook) {
    spec.interface = hook.value;
    notes.changed(
      hook.origin,
      `interface ${hook.value}`,
      `the LAN interface: the ifupdown hook runs the commands for ${hook.value}, and the route via ${via.join(', ')} names no dev`,
    );
  } else
    throw new ImportError(
      routes[0]!.origin,
      devs.length > 1
        ? `the routes via the VPN client leave by ${devs.join(' and ')}; the LAN router has one LAN interface`
        : `the LAN interface is not in the sources: the route via ${via.join(', ')} names no dev, and no ifupdown hook names an interface`,
      `ip route add default via ${via[0]} dev IF table ${table}`,
    );
  spec.via = via;
  if (o.tag === undefined)
    throw new ImportError(
      undefined,
      'no DSCP value among the inputs: the LAN router sends the packets tagged with it to the VPN client',
      "the VPN client's -j DSCP --set-dscp N rule or the service host's -m dscp --dscp N rule among the inputs",
    );
  spec.dscp = o.tag;

  const rules = m.facts.ipRules.filter((r) => r.table === table && r.fwmark && !r.not && !r.from && !r.to && r.other.length === 0);
  const rule = rules[0];
  if (rule) {
    for (const r of rules.filter((x) => x.fwmark!.mark === rule.fwmark!.mark)) ctx.used.add(r);
    spec.mark = rule.fwmark!.mark;
    const p = rule.priority;
    if (p !== undefined && p >= 1 && p <= 32765) spec.priority = p;
    notes.changed(
      rule.origin,
      ipRuleText(rule),
      `netfwd's LAN router gives the packets tagged with DSCP ${o.tag} that arrive on ${String(spec.interface)} the mark ${rule.fwmark!.mark}${rule.fwmark!.mask !== undefined ? ' (without the mask)' : ''} and routes them by this rule${p === undefined ? ' (no priority given: netfwd uses 100)' : p > 32765 || p < 1 ? ` (priority ${p} is outside 1-32765: netfwd uses 100)` : ''}`,
    );
  } else
    notes.changed(
      routes[0]!.origin,
      ipRouteText(routes[0]!),
      `no fwmark rule into table ${table}: netfwd's LAN router marks the packets tagged with DSCP ${o.tag} and adds its own rule (mark ${table})`,
    );
  spec.table = table;
  kernelSettings(m, 'LAN router');
  noteUnused(ctx, 'lan-router');
  return spec;
}

const setMark = (r: IptRule) => {
  const v = r.targetOptions.get('--set-mark') ?? r.targetOptions.get('--set-xmark');
  return v === undefined ? undefined : Number(v.split('/')[0]);
};

export function serviceHost(m: SetupCtx, o: { hooks: Array<Located<string>> }): Record<string, unknown> {
  const notes = m.facts.notes;
  const ctx = ruleCtx(m);
  const mangle = m.facts.iptables.filter((r) => r.table === 'mangle' && (r.op === 'append' || r.op === 'insert'));
  const marker = mangle.find(
    (r) =>
      (r.chain === 'INPUT' || r.chain === 'PREROUTING') &&
      r.target === 'CONNMARK' &&
      setMark(r) !== undefined &&
      matchDscp(r) !== undefined,
  );
  if (!marker)
    throw new ImportError(
      undefined,
      'no rule marks the connections that arrive tagged',
      '-t mangle -A INPUT -m dscp --dscp N -j CONNMARK --set-mark M',
    );
  const dscp = matchDscp(marker)!;
  const mark = setMark(marker)!;
  ctx.used.add(marker);
  const marks = (r: IptRule) => [r.connmark, r.mark].some((x) => x && !x.negated && Number(x.value.split('/')[0]) === mark);
  const tagger = mangle.find((r) => (r.chain === 'OUTPUT' || r.chain === 'POSTROUTING') && r.target === 'DSCP' && marks(r));
  if (!tagger)
    throw new ImportError(
      marker.origin,
      `nothing tags the replies of the connections marked ${mark} with DSCP ${dscp}`,
      `-t mangle -A OUTPUT -m connmark --mark ${mark} -j DSCP --set-dscp ${dscp}`,
    );
  const value = setDscp(tagger)!;
  if (value !== dscp)
    throw new ImportError(
      tagger.origin,
      `tags the replies with DSCP ${value}, but their connections arrive with DSCP ${dscp} (${marker.origin.file}:${marker.origin.line})`,
      'the replies tagged with the DSCP value the VPN client tags their connections with',
    );
  ctx.used.add(tagger);
  for (const r of mangle) if (r.target === 'CONNMARK' && r.targetOptions.has('--restore-mark') && r.chain === 'OUTPUT') ctx.used.add(r);
  if (tagger.mark && !mangle.some((r) => ctx.used.has(r) && r.targetOptions.has('--restore-mark')))
    notes.changed(tagger.origin, `-m mark --mark ${mark}`, 'netfwd tags the replies by the connection mark itself');

  const spec: Record<string, unknown> = { role: 'service-host' };
  const iface =
    marker.inInterface && !marker.inInterface.negated
      ? marker.inInterface.value
      : tagger.outInterface?.negated
        ? undefined
        : tagger.outInterface?.value;
  const hook = hookInterface([...m.facts.ifupHooks, ...o.hooks]);
  if (iface) spec.interface = iface;
  else if (hook) {
    spec.interface = hook.value;
    notes.changed(
      hook.origin,
      `interface ${hook.value}`,
      `the service host's LAN interface: the ifupdown hook of ${hook.origin.file} names it (the tagging rules name none)`,
    );
  } else
    throw new ImportError(
      marker.origin,
      "the service host's LAN interface is not in the sources: the tagging rules name none, and no ifupdown hook names one",
      `-i IF on the rule that marks the tagged connections (-t mangle -A INPUT -i IF -m dscp --dscp ${dscp} …)`,
    );
  spec.dscp = dscp;
  spec.mark = mark;
  kernelSettings(m, 'service host');
  noteUnused(ctx, 'service-host');
  return spec;
}

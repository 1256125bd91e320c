/**
 * A backend's services: the ports its INPUT chain accepts on the tunnel (on
 * the backend itself), and the ports its FORWARD chain lets through from the
 * tunnel to one host of the LAN (`services[].host`, the tagged-routing
 * recipe's service host).
 */
import { isHost, parseCidr } from '../cidr.js';
import { type IptRule, portOf, ruleText } from '../iptables.js';
import type { Origin } from '../source.js';
import type { RuleCtx } from './context.js';

const portsOf = (r: IptRule) =>
  r.dports && !r.dports.negated ? r.dports.value.split(',') : r.dport && !r.dport.negated ? [r.dport.value] : undefined;

/** The INPUT accepts on the tunnel, as services on this machine. `origin`: where "services is empty" is noted. */
export function servicesOf(ctx: RuleCtx, origin: Origin, o: { forwarded?: boolean } = {}): Array<Record<string, unknown>> {
  const services: Array<Record<string, unknown>> = [];
  const seen = new Set<string>();
  for (const r of ctx.facts.iptables) {
    if (r.table !== 'filter' || ctx.chains(r) !== 'INPUT' || r.target !== 'ACCEPT' || r.op === 'policy') continue;
    if (r.inInterface?.value !== ctx.iface || r.inInterface.negated) continue;
    const proto = r.protocol;
    const ports = portsOf(r);
    if (!proto || proto.negated || !['tcp', 'udp'].includes(proto.value) || !ports || r.source || r.destination) continue;
    for (const p of ports) {
      const port = portOf(p.trim(), r.origin);
      if (seen.has(`${proto.value} ${port}`)) continue;
      seen.add(`${proto.value} ${port}`);
      services.push({ protocol: proto.value, port: /^\d+$/.test(port) ? Number(port) : port });
    }
    ctx.used.add(r);
  }
  if (o.forwarded) services.push(...forwardedServices(ctx));
  if (services.length === 0) {
    ctx.facts.notes.changed(
      origin,
      'services',
      o.forwarded
        ? `no INPUT or FORWARD rule accepts a port from ${ctx.iface}: services is empty; list the ports the frontend forwards to`
        : `no INPUT rule accepts a port on ${ctx.iface}: services is empty; list the ports the frontend forwards to`,
    );
  }
  return services;
}

/** `-A FORWARD -i TUNNEL [-o LAN] -d HOST -p tcp|udp --dport N -j ACCEPT`: a service on HOST. */
function forwardedServices(ctx: RuleCtx): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const seen = new Set<string>();
  for (const r of ctx.facts.iptables) {
    if (r.table !== 'filter' || ctx.chains(r) !== 'FORWARD' || r.target !== 'ACCEPT' || r.op === 'policy') continue;
    if (r.inInterface?.value !== ctx.iface || r.inInterface.negated) continue;
    const proto = r.protocol;
    const ports = portsOf(r);
    const host = r.destination && !r.destination.negated ? parseCidr(r.destination.value) : undefined;
    if (!proto || proto.negated || !['tcp', 'udp'].includes(proto.value) || !ports || !host || !isHost(host)) continue;
    if (r.source) ctx.facts.notes.changed(r.origin, `-s ${r.source.value}`, 'netfwd lets the forwarded connections in from any source');
    if (r.outInterface && r.outInterface.value !== ctx.iface)
      ctx.facts.notes.changed(
        r.origin,
        ruleText(r),
        `netfwd forwards to the service's host by the route to it, whatever the interface (here -o ${r.outInterface.value})`,
      );
    for (const p of ports) {
      const port = portOf(p.trim(), r.origin);
      const key = `${proto.value} ${port} ${host.address}`;
      if (seen.has(key)) continue;
      seen.add(key);
      out.push({ protocol: proto.value, port: /^\d+$/.test(port) ? Number(port) : port, host: host.address });
    }
    ctx.used.add(r);
  }
  return out;
}

/**
 * The backend of an OpenVPN setup (the VPN client): its tunnel is OpenVPN's
 * (`external: true`; its address is the one the server pushes to it), its
 * return path the fwmark rule and table of its up script — mode dscp when it
 * tags what it forwards to the LAN with a DSCP value — and its services the
 * ports it lets through from the tunnel, to a LAN host (`host`) or to itself.
 */
import { type Cidr, parseCidr } from '../cidr.js';
import { ImportError } from '../source.js';
import { chainResolver, type RuleCtx } from './context.js';
import { setDscp } from './dscp.js';
import { noteRpFilter, noteUnused } from './leftovers.js';
import { ccdOf, clientEnds, type End, interfaceOf, serverEnds, subnetLength, written } from './openvpn-tunnel.js';
import { returnPathOf } from './return-path.js';
import { servicesOf } from './services.js';
import { noteScripts, type SetupCtx, tunnelNames } from './setup-context.js';

export interface BackendOptions {
  /** What the frontend forwards to hosts behind this client: each needs a service. */
  forwarded: Array<{ protocol: string; port: unknown; host: string }>;
  /** The tag every machine uses (the orchestrator checked that this one's rules agree). */
  tag?: number;
}

export function openVpnBackend(m: SetupCtx, o: BackendOptions): Record<string, unknown> {
  const notes = m.facts.notes;
  const all = m.all.flatMap((f) => (f.vpn ? [f.vpn] : []));
  const clients = m.vpn.filter((v) => v.kind === 'client' || v.kind === 'p2p');
  if (clients.length > 1)
    throw new ImportError(
      clients[1]!.file,
      `a second OpenVPN client configuration (the first is ${clients[0]!.file})`,
      'one OpenVPN client per backend',
    );
  const client = clients[0];
  const origin = { file: client?.file ?? m.files[0]!.path, line: 0 };
  const iface = interfaceOf(client, tunnelNames(m.facts), notes, origin);

  // ---- its address: its own ifconfig (point-to-point), else what the server pushes to it
  let ends: End[] = client?.kind === 'p2p' ? clientEnds(client) : [];
  if (ends.length === 0) {
    const ccd = ccdOf(
      all.filter((v) => v.kind === 'ccd'),
      client,
      origin,
    );
    ends = ccd ? clientEnds(ccd) : [];
  }
  if (ends.length === 0)
    throw new ImportError(
      origin,
      "the VPN client's tunnel address is not among the inputs (the OpenVPN server gives it)",
      "the server's client-config-dir file for this client (ifconfig-push ADDRESS PEER-ADDRESS), or ifconfig in a point-to-point configuration",
    );
  const server = all.find((v) => v.kind === 'server' || (v.kind === 'p2p' && v !== client));
  const serverSide = server ? serverEnds(server) : [];
  const clientHosts = all.filter((v) => v.kind === 'ccd').flatMap((v) => clientEnds(v).map((e) => e.address));
  const own: Cidr[] = [];
  const addresses = ends.map((e) => {
    const s = serverSide.find((x) => x.address.family === e.address.family);
    const length = s
      ? subnetLength(s, clientHosts.length ? clientHosts : [e.address])
      : (e.length ?? subnetLength({ ...e, length: undefined }, e.pair ? [parseCidr(e.pair)!] : []));
    own.push({ ...e.address, length, explicit: true });
    return written(
      e,
      length,
      notes,
      s ? `the tunnel subnet of the frontend's configuration (${s.address.address}/${length})` : 'the subnet that holds both ends',
    );
  });

  // ---- the tag, the return path and the services
  const ctx: RuleCtx = { facts: m.facts, iface, own, chains: chainResolver(m.facts.iptables), used: new Set() };
  let tagged: number | undefined;
  for (const r of m.facts.iptables) {
    const v = r.table === 'mangle' && (r.op === 'append' || r.op === 'insert') ? setDscp(r) : undefined;
    if (v === undefined || v === 0 || r.chain === 'OUTPUT') continue;
    tagged ??= o.tag ?? v;
    ctx.used.add(r);
    if (r.inInterface?.value !== iface)
      notes.changed(
        r.origin,
        `-j DSCP --set-dscp ${v}`,
        `netfwd tags the connections it forwards from the tunnel (${iface}) to the services' hosts`,
      );
  }
  const returnPath = returnPathOf(ctx, { origin, allowsDefault: false, ...(tagged !== undefined ? { tagged: { dscp: tagged } } : {}) });
  const services = servicesOf(ctx, origin, { forwarded: true });
  for (const f of o.forwarded) {
    const has = services.some((s) => s.host === f.host && String(s.port) === String(f.port) && s.protocol === f.protocol);
    if (has) continue;
    services.push({ protocol: f.protocol, port: f.port, host: f.host });
    notes.changed(
      origin,
      `services: ${f.protocol} ${String(f.port)} on ${f.host}`,
      "the frontend forwards it to this VPN client, whose files let nothing through for it: added, as netfwd's backend passes only its services",
    );
  }
  const toHosts = services.some((s) => s.host !== undefined);
  if (toHosts && (returnPath.mode === 'uid' || returnPath.mode === 'mark'))
    notes.changed(
      origin,
      `returnPath mode ${String(returnPath.mode)}`,
      "the replies of services on other hosts come back through this machine only when it is their gateway (mode connmark), or in mode dscp on the tagged-routing recipe's LAN",
    );

  // ---- kernel settings and what is left
  noteRpFilter(notes, m.facts.rpFilter, iface, true);
  for (const f of m.facts.forwarding) {
    if (toHosts)
      notes.changed(
        f,
        'ip_forward=1',
        "the VPN client forwards to the services' hosts (services[].host): netfwd's backend forwards them itself",
      );
    else notes.notTranslated(f, 'ip_forward=1', 'a backend whose services are its own does not forward');
  }
  if (client) noteScripts(m, client);
  noteUnused(ctx, 'backend');
  return { tunnel: { interface: iface, external: true, addresses }, returnPath, services };
}

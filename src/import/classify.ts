/**
 * Which machine of a setup each input file belongs to, told by its content:
 * an OpenVPN server's configuration and its client-config-dir files are the
 * frontend's, a client's configuration the backend's (the VPN client's), and
 * a script is the machine's whose kind of rule it holds — a DNAT (frontend),
 * rules and routes on the tunnel interface or an up/down script a client's
 * configuration names (backend), DSCP and CONNMARK on the INPUT/OUTPUT chains
 * (service host), a route via a LAN address in a table of its own (LAN
 * router). A file with none of these goes with the other files of its
 * directory; a file with those of two machines is an error.
 */
import { basename, dirname } from 'node:path';
import { type Cidr, parseCidr } from './cidr.js';
import type { Facts } from './facts.js';
import type { OpenVpnFacts } from './openvpn.js';
import { ImportError, type Origin } from './source.js';
import { type Machine, RESERVED_TABLES, where } from './translate/context.js';

export interface SetupFile {
  /** The path as given (and as notes name it). */
  path: string;
  format: 'openvpn' | 'rules';
  /** What the file says (rules, routes, notes); an OpenVPN file's notes are here too. */
  facts: Facts;
  vpn?: OpenVpnFacts;
}

export interface Placement {
  machine: Machine;
  /** Why: the fact that decided it. */
  reason: string;
  /** How telling the reason is for the machine as a whole: 0 an OpenVPN configuration, 1 a rule or a client-config-dir file, 2 a script a configuration names, 3 the directory. */
  rank: 0 | 1 | 2 | 3;
}

/** The up/down script an OpenVPN configuration names: the same file name, or its last part after a '-' (server.vpn.example.net-up.sh ← up.sh). */
export function namedScript(
  files: readonly SetupFile[],
  f: SetupFile,
): { vpn: OpenVpnFacts; hook: 'up' | 'down'; origin: Origin } | undefined {
  for (const c of files)
    for (const s of c.vpn?.scripts ?? []) if (isScript(s.value.path, f.path)) return { vpn: c.vpn!, hook: s.value.hook, origin: s.origin };
  return undefined;
}

/** Whether the input at `path` is the script a directive names (`up /etc/openvpn/up.sh --arg`). */
export function isScript(directive: string, path: string): boolean {
  const named = basename(directive.split(/\s+/)[0]!);
  const name = basename(path);
  return named === name || named.endsWith(`-${name}`);
}

const isTunnelName = (names: Set<string>) => (n: string | undefined) => n !== undefined && (names.has(n) || /^(tun|tap)\d+$/.test(n));

/** Each file's machine, or undefined when nothing tells it. */
export function classify(files: readonly SetupFile[]): Map<SetupFile, Placement | undefined> {
  const names = new Set(files.flatMap((f) => (f.vpn?.dev ? [f.vpn.dev.value] : [])));
  const tunnel = isTunnelName(names);
  const vpnNetworks = files.flatMap((f) => [...(f.vpn?.routes ?? []), ...(f.vpn?.iroutes ?? [])].map((r) => parseCidr(r.value)!));
  const out = new Map<SetupFile, Placement | undefined>();
  for (const f of files) {
    if (f.vpn) {
      const v = f.vpn;
      const machine: Machine = v.kind === 'client' || (v.kind === 'p2p' && v.remotes.length > 0) ? 'backend' : 'frontend';
      const what = {
        server: "an OpenVPN server's configuration",
        ccd: "a file of an OpenVPN server's client-config-dir",
        client: "an OpenVPN client's configuration",
        p2p: `an OpenVPN point-to-point configuration ${v.remotes.length ? 'that dials its peer' : 'that waits for its peer'}`,
      }[v.kind];
      out.set(f, { machine, reason: `${f.path} is ${what}`, rank: v.kind === 'ccd' ? 1 : 0 });
      continue;
    }
    const script = namedScript(files, f);
    if (script) {
      const machine: Machine =
        script.vpn.kind === 'client' || (script.vpn.kind === 'p2p' && script.vpn.remotes.length > 0) ? 'backend' : 'frontend';
      out.set(f, { machine, reason: `${f.path} is the ${script.hook} script of ${where(script.origin)}`, rank: 2 });
      continue;
    }
    const found = signals(f.facts, tunnel, vpnNetworks);
    const machines = [...new Set(found.map((s) => s.machine))];
    if (machines.length > 1) {
      const [a, b] = machines.map((m) => found.find((s) => s.machine === m)!);
      throw new ImportError(
        f.path,
        `holds the setup of two machines: ${a!.why} (the ${a!.machine}'s) and ${b!.why} (the ${b!.machine}'s)`,
        "each machine's commands in files of their own",
      );
    }
    const first = found[0];
    out.set(f, first ? { machine: first.machine, reason: first.why, rank: 1 } : undefined);
  }
  // A file that says nothing of its machine goes with the other files of its directory.
  for (const f of files) {
    if (out.get(f)) continue;
    const dir = dirname(f.path);
    const siblings = files.filter((g) => g !== f && dirname(g.path) === dir && out.get(g));
    const machines = new Set(siblings.map((g) => out.get(g)!.machine));
    if (machines.size === 1)
      out.set(f, { machine: [...machines][0]!, reason: `${f.path} is with ${siblings.map((g) => g.path).join(', ')} in ${dir}`, rank: 3 });
  }
  return out;
}

function signals(facts: Facts, tunnel: (n: string | undefined) => boolean, vpnNetworks: Cidr[]): Array<{ machine: Machine; why: string }> {
  const out: Array<{ machine: Machine; why: string }> = [];
  for (const r of facts.iptables) {
    if (r.op !== 'append' && r.op !== 'insert') continue;
    if (r.table === 'nat' && r.target === 'DNAT') out.push({ machine: 'frontend', why: `a DNAT at ${where(r.origin)}` });
    const onTunnel = tunnel(r.inInterface?.value) || tunnel(r.outInterface?.value);
    if (r.table === 'mangle' && onTunnel && r.target !== 'TCPMSS')
      out.push({ machine: 'backend', why: `a mangle rule on the tunnel at ${where(r.origin)}` });
    if (r.table === 'filter' && r.chain === 'FORWARD' && tunnel(r.inInterface?.value) && (r.dport || r.dports) && r.destination)
      out.push({ machine: 'backend', why: `a forward from the tunnel to a host at ${where(r.origin)}` });
    const tags = r.dscp || r.target === 'DSCP' || r.target === 'CONNMARK' || r.other.some((o) => o.startsWith('--dscp-class'));
    if (r.table === 'mangle' && (r.chain === 'INPUT' || r.chain === 'OUTPUT') && tags)
      out.push({ machine: 'service-host', why: `DSCP/CONNMARK tagging of this host's own connections at ${where(r.origin)}` });
  }
  for (const r of facts.ipRoutes) {
    const ownTable = r.table !== undefined && !RESERVED_TABLES.has(r.table);
    if (ownTable && tunnel(r.dev))
      out.push({ machine: 'backend', why: `a route into the tunnel in table ${r.table} at ${where(r.origin)}` });
    else if (ownTable && r.via !== undefined && r.type === 'unicast')
      out.push({ machine: 'lan-router', why: `a route via ${r.via} in table ${r.table} at ${where(r.origin)}` });
    const dest = r.destination && r.destination !== 'default' ? parseCidr(r.destination) : undefined;
    if (!ownTable && dest && vpnNetworks.some((n) => n.family === dest.family && n.value === dest.value && n.length === dest.length))
      out.push({ machine: 'frontend', why: `a route to ${r.destination}, the network behind the VPN client, at ${where(r.origin)}` });
  }
  for (const r of facts.rpFilter)
    if (tunnel(r.value.iface)) out.push({ machine: 'backend', why: `rp_filter of the tunnel at ${where(r.origin)}` });
  return out;
}

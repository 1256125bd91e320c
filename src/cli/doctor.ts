/**
 * `netfwd doctor -c FILE`: what the spec needs from this machine. Kernel
 * features are tried for real in a scratch namespace (never in the host's),
 * then the spec's own namespace is inspected read-only.
 */
import { randomBytes } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { NetlinkError } from '../errors.js';
import { ServiceForward } from '../forward/index.js';
import { readSysctl } from '../forward/plan/sysctl-access.js';
import type { NormalizedConfig } from '../forward/spec/normalized-config.js';
import { describeFile, type FileKind, fileProblems, formatMode } from '../forward/spec/private-file.js';
import { Connection } from '../netlink/connection.js';
import { resolveFamily } from '../netlink/genl.js';
import { netns } from '../netns/index.js';
import { nftExpr as e, Nft } from '../nft/index.js';
import { Route } from '../route/index.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** Problems that do not stop netfwd but deserve a look. */
  warning?: boolean;
}

function onPath(command: string): string | undefined {
  if (command.includes('/')) return command;
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    const p = join(dir, command);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  return undefined;
}

async function inScratchNamespace<T>(fn: (ns: string) => Promise<T>): Promise<T> {
  const ns = `netfwd-doctor-${process.pid}-${randomBytes(2).toString('hex')}`;
  netns.create(ns);
  try {
    return await fn(ns);
  } finally {
    netns.remove(ns);
  }
}

export async function runDoctor(
  config: NormalizedConfig,
  files: { config: string; keys: string[] },
  userspaceCommand = 'wireguard-go',
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const add = (name: string, ok: boolean, detail: string, warning = false) =>
    checks.push({ name, ok, detail, ...(warning ? { warning } : {}) });

  const root = process.getuid?.() === 0;
  add('privileges', root, root ? 'running as root' : 'netfwd needs root (CAP_NET_ADMIN) to change the network configuration');

  // Who may change the files decides what root applies; a configuration that only names key files
  // may be readable by others (config reference, "Permissions").
  const inlineSecrets =
    config.role === 'frontend'
      ? (!config.tunnel.external && config.tunnel.privateKeyFile === undefined) ||
        config.tunnel.peers.some((p) => p.presharedKey && !p.presharedKeyFile)
      : config.tunnels.some((t) => (!t.external && t.privateKeyFile === undefined) || (!!t.peer?.presharedKey && !t.peer.presharedKeyFile));
  for (const f of [files.config, ...files.keys]) {
    const kind: FileKind = f !== files.config ? 'key' : inlineSecrets ? 'config-with-key' : 'config';
    try {
      const info = describeFile(f);
      const problems = fileProblems(f, info, kind);
      const mode = `mode ${formatMode(info.mode)}`;
      if (problems.length > 0) {
        add(
          `permissions of ${f}`,
          false,
          `${mode}: ${problems.map((p) => p.fix).join(' and ')} — it ${problems.map((p) => p.problem).join('; it ')}`,
        );
      } else {
        add(
          `permissions of ${f}`,
          true,
          `${mode}, owned by ${info.uid === 0 ? 'root' : `uid ${info.uid}`}${kind === 'config' ? ' (it names key files and holds no key itself)' : ''}`,
        );
      }
    } catch (err) {
      add(`permissions of ${f}`, false, (err as Error).message);
    }
  }
  if (!root) return checks;

  // Kernel features, tried in a namespace of our own.
  await inScratchNamespace(async (ns) => {
    const nft = await Nft.open({ netns: ns });
    try {
      await nft.transaction((tx) => {
        tx.addTable({ family: 'inet', name: 'probe' });
        tx.addSet({
          family: 'inet',
          table: 'probe',
          name: 'm',
          keyType: ['ipv4_addr', 'inet_proto', 'inet_service'],
          dataType: ['ipv4_addr'],
          flags: ['interval'],
          counter: true,
        });
        tx.addChain({ family: 'inet', table: 'probe', name: 'pre', type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' });
        tx.addRule({
          family: 'inet',
          table: 'probe',
          chain: 'pre',
          expr: [
            e.fib('daddr', 'type').eq('local'),
            e.dnat({ family: 'ip', map: { key: [e.ip.daddr, e.meta.l4proto, e.th.dport], map: '@m' } }),
          ],
        });
        tx.addChain({ family: 'inet', table: 'probe', name: 'fwd', type: 'filter', hook: 'forward', priority: 'mangle', policy: 'accept' });
        tx.addRule({
          family: 'inet',
          table: 'probe',
          chain: 'fwd',
          expr: [e.tcp.flags.any('syn'), e.tcp.option.maxseg.size.set(e.rt.mtu)],
        });
        tx.addChain({ family: 'inet', table: 'probe', name: 'out', type: 'route', hook: 'output', priority: 'mangle', policy: 'accept' });
        tx.addRule({ family: 'inet', table: 'probe', chain: 'out', expr: [e.ct.mark.eq(1), e.meta.mark.set(e.ct.mark)] });
      });
      add('nftables', true, 'nf_tables with NAT maps (concatenations, intervals, per-element counters), fib, MSS clamping, route chains');
    } catch (err) {
      add('nftables', false, `the kernel refused what netfwd needs: ${(err as Error).message}`);
    } finally {
      nft.close();
    }
    const rt = await Route.open({ netns: ns });
    try {
      await rt.rules.add({ priority: 100, uidRange: [1000, 1000], table: 5000 });
      add('policy routing', true, 'uid-range rules and tables above 255');
    } catch (err) {
      add('policy routing', false, (err as Error).message);
    } finally {
      rt.close();
    }
    const genl = await Connection.open('generic', { netns: ns });
    let kernelWg = false;
    try {
      await resolveFamily(genl, 'wireguard');
      kernelWg = true;
    } catch (err) {
      if (!(err instanceof NetlinkError && err.code === 'ENOENT')) throw err;
    } finally {
      genl.close();
    }
    const userspace = onPath(userspaceCommand);
    add(
      'WireGuard',
      kernelWg || userspace !== undefined,
      kernelWg
        ? `the kernel has WireGuard${userspace ? ` (${userspace} is also available)` : ''}`
        : userspace
          ? `the kernel has no WireGuard: the userspace implementation ${userspace} will run the tunnel`
          : `neither the kernel's WireGuard nor ${userspaceCommand}: install the wireguard module, or wireguard-go (apt-get install wireguard-go)`,
    );
  });

  // The spec's own namespace, read only.
  if (config.netns !== undefined && !netns.exists(config.netns)) {
    add('namespace', false, `network namespace ${config.netns} does not exist`);
    return checks;
  }
  if (config.role === 'frontend' && config.families.includes(6)) add(...(await routerAdvertisements(config)));
  const status = await new ServiceForward(config).status();
  for (const w of status.warnings) add('ruleset and settings', false, w, true);
  add(
    'state',
    true,
    status.drift.length === 0
      ? 'the kernel matches the configuration'
      : `${status.drift.length} change(s) pending: run \`netfwd plan\` to see them`,
  );
  return checks;
}

/**
 * IPv6 forwarding (which a frontend turns on) makes the kernel ignore router
 * advertisements on interfaces with accept_ra=1; with 2 it keeps accepting
 * them. A VPS that gets its IPv6 address or default route that way would lose
 * them when they expire.
 */
async function routerAdvertisements(config: NormalizedConfig): Promise<[string, boolean, string, boolean]> {
  const rt = await Route.open({ netns: config.netns });
  let names: string[];
  try {
    const tunnels = new Set(config.role === 'backend' ? config.tunnels.map((t) => t.interface) : [config.tunnel.interface]);
    names = (await rt.links.list()).map((l) => l.name).filter((n) => n !== 'lo' && !tunnels.has(n));
  } finally {
    rt.close();
  }
  const affected = names.filter((n) => {
    try {
      return readSysctl(config.netns, `net/ipv6/conf/${n}/accept_ra`) === '1';
    } catch {
      return false; // no IPv6 on it
    }
  });
  if (affected.length === 0) return ['router advertisements', true, 'no interface depends on accept_ra=1', false];
  const list = affected.join(', ');
  return [
    'router advertisements',
    false,
    `accept_ra=1 on ${list}: with IPv6 forwarding on (netfwd up turns it on) the kernel ignores router advertisements there; ` +
      `if this machine gets its IPv6 address or default route from them, set ${affected.map((n) => `net.ipv6.conf.${n}.accept_ra=2`).join(', ')}`,
    true,
  ];
}

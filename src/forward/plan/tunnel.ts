/**
 * The tunnel: the WireGuard link (created by netfwd, tagged with its alias)
 * and its configuration (key, port, peers), planned as the smallest change.
 */
import { NetfwdError } from '../../errors.js';
import type { Link } from '../../route/index.js';
import { normalizeAllowedIp, type WireGuardDevice, type WireGuardPeerConfig } from '../../wireguard/index.js';
import type { NormalizedConfig } from '../spec/normalized-config.js';
import type { Kernel } from './context.js';
import { isOwnedAlias, linkAlias, OwnershipError } from './ownership.js';
import type { Step } from './plan.js';
import { clearLinkCreation, linkCreationPending, recordLinkCreation } from './state-file.js';

export interface DesiredPeer {
  label: string;
  publicKey: string;
  presharedKey?: string;
  endpoint?: string;
  persistentKeepalive: number;
  allowedIps: string[];
}

export interface TunnelState {
  link: Link | null;
  device: WireGuardDevice | null;
  /**
   * The link is a WireGuard link without any alias that netfwd recorded
   * creating in this namespace (state file) and never tagged: a process
   * killed between the two. It is netfwd's, and `up` tags it, `down` removes it.
   */
  unfinished: boolean;
}

/** An external tunnel (tunnel.external) that is not there: netfwd does not make it, and `netfwd run` waits for it. */
export class TunnelAbsentError extends NetfwdError {
  override name = 'TunnelAbsentError';
  constructor(readonly interfaceName: string) {
    super(
      `interface ${interfaceName} does not exist: tunnel.external says another program makes it (start it first; \`netfwd run\` waits for it)`,
    );
  }
}

export async function readTunnel(k: Kernel, name: string): Promise<TunnelState> {
  const link = await k.rt.links.get(name);
  if (!link) return { link: null, device: null, unfinished: false };
  const implementation = await k.wg.implementationOf(name);
  if (!implementation) return { link, device: null, unfinished: false };
  const device = await k.wg.get(name, { secrets: true });
  const unfinished = !link.alias && linkCreationPending(k.netns, name);
  return { link, device, unfinished };
}

/** The link is netfwd's: tagged with its alias, or created by a netfwd that died before tagging it. */
export function ownsTunnel(state: TunnelState): boolean {
  return state.link !== null && state.device !== null && (isOwnedAlias(state.link.alias) || state.unfinished);
}

export function desiredPeers(config: NormalizedConfig): DesiredPeer[] {
  if (config.tunnel.external) return [];
  if (config.role === 'frontend') {
    return config.tunnel.peers.map((p) => ({
      label: p.name,
      publicKey: p.publicKey!,
      presharedKey: p.presharedKey?.reveal(),
      persistentKeepalive: 0,
      allowedIps: p.allowedIps.map((a) => normalizeAllowedIp(a)),
    }));
  }
  const p = config.tunnel.peer!;
  return [
    {
      label: 'frontend',
      publicKey: p.publicKey,
      presharedKey: p.presharedKey?.reveal(),
      endpoint: p.endpoint.text,
      persistentKeepalive: p.persistentKeepalive,
      allowedIps: p.allowedIps.map((a) => normalizeAllowedIp(a)),
    },
  ];
}

const short = (key: string) => `${key.slice(0, 8)}…`;
const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');

/** The link step: create it (and tag it), or check that the existing one is ours; bring it up. */
export function planLink(k: Kernel, config: NormalizedConfig, state: TunnelState): Step[] {
  const name = config.tunnel.interface;
  const alias = linkAlias(config.role);
  if (!state.link) {
    return [
      {
        action: 'create',
        kind: 'link',
        target: `link ${name}`,
        detail: 'wireguard, up',
        async apply() {
          // Creating and tagging are two operations: remember the intent, so a
          // process killed in between leaves a link the next run recognises.
          recordLinkCreation(k.netns, name);
          try {
            await k.wg.create(name);
          } catch (err) {
            clearLinkCreation(k.netns, name);
            throw err;
          }
          try {
            await k.rt.links.set(name, { alias, up: true });
          } catch (err) {
            await k.wg.remove(name).catch(() => undefined);
            clearLinkCreation(k.netns, name);
            throw err;
          }
          clearLinkCreation(k.netns, name);
          return { description: `remove link ${name}`, run: () => k.wg.remove(name) };
        },
      },
    ];
  }
  if (!state.device) {
    throw new OwnershipError(`interface ${name} exists and is not a WireGuard interface; choose another tunnel.interface or remove it`);
  }
  if (state.unfinished) {
    // netfwd created it and was stopped before tagging it: finish the job.
    const before = { up: state.link.up, alias: null };
    return [
      {
        action: 'update',
        kind: 'link',
        target: `link ${name}`,
        detail: `alias ${alias}${state.link.up ? '' : ', up'} (created by an earlier run that was interrupted)`,
        async apply() {
          await k.rt.links.set(name, { up: true, alias });
          clearLinkCreation(k.netns, name);
          return {
            description: `restore link ${name}`,
            run: async () => {
              recordLinkCreation(k.netns, name);
              await k.rt.links.set(name, before);
            },
          };
        },
      },
    ];
  }
  if (!isOwnedAlias(state.link.alias)) {
    throw new OwnershipError(
      `WireGuard interface ${name} exists but was not created by netfwd (its alias is ${state.link.alias ? JSON.stringify(state.link.alias) : 'empty'}); ` +
        `remove it (ip link del ${name}) or choose another tunnel.interface`,
    );
  }
  if (state.link.up && state.link.alias === alias) return [];
  const before = { up: state.link.up, alias: state.link.alias ?? null };
  return [
    {
      action: 'update',
      kind: 'link',
      target: `link ${name}`,
      detail: [!state.link.up ? 'up' : '', state.link.alias !== alias ? `alias ${alias}` : ''].filter(Boolean).join(', '),
      async apply() {
        await k.rt.links.set(name, { up: true, alias });
        return { description: `restore link ${name}`, run: () => k.rt.links.set(name, before) };
      },
    },
  ];
}

/** wg-quick's mark for a tunnel's own encrypted packets; netfwd uses it the same way. */
export const WIREGUARD_FWMARK = 51820;

/**
 * The firewall mark the tunnel's WireGuard puts on its own encrypted packets
 * (and routes them with). Mode mark needs one: the kernel's WireGuard sends
 * each encrypted packet with the socket of the packet inside, so `meta skuid`
 * and `socket cgroupv2` select the encrypted packet too, and marked it would
 * be routed into the tunnel again, and again. The mark chain leaves packets
 * carrying this mark alone. 51820, or the next number that is none of the
 * return path's own marks (51821 when that is 51820); no mark (0) in the
 * other modes.
 */
export function tunnelFwmark(config: NormalizedConfig): number {
  if (config.role !== 'backend' || config.returnPath.mode !== 'mark') return 0;
  const used = new Set([config.returnPath.mark, ...config.tunnels.map((t) => t.mark)]);
  let mark = WIREGUARD_FWMARK;
  while (used.has(mark)) mark++;
  return mark;
}

/** The WireGuard configuration step: only what differs, peers by public key. */
export function planWireGuard(k: Kernel, config: NormalizedConfig, state: TunnelState): Step[] {
  const name = config.tunnel.interface;
  const device = state.device;
  const wantPort = config.tunnel.listenPort;
  const changes: string[] = [];
  const wantMark = tunnelFwmark(config);
  const update: { privateKey?: string; listenPort?: number; fwmark?: number; peers: WireGuardPeerConfig[] } = { peers: [] };

  if (!device || device.publicKey !== config.tunnel.publicKey) {
    update.privateKey = config.tunnel.privateKey!.reveal();
    changes.push('private key');
  }
  if (wantPort !== undefined && (!device || device.listenPort !== wantPort)) {
    update.listenPort = wantPort;
    changes.push(device ? `listen-port ${device.listenPort} → ${wantPort}` : `listen-port ${wantPort}`);
  }
  if ((device?.fwmark ?? 0) !== wantMark) {
    update.fwmark = wantMark;
    changes.push(device ? `fwmark ${hexMark(device.fwmark)} → ${hexMark(wantMark)}` : `fwmark ${hexMark(wantMark)}`);
  }
  const current = new Map((device?.peers ?? []).map((p) => [p.publicKey, p]));
  const wanted = desiredPeers(config);
  for (const p of wanted) {
    const have = current.get(p.publicKey);
    current.delete(p.publicKey);
    const diffs: string[] = [];
    if (!have) diffs.push('new');
    else {
      if (!sameSet(have.allowedIps, p.allowedIps)) diffs.push('allowed-ips');
      if (p.endpoint !== undefined && have.endpoint !== p.endpoint) diffs.push('endpoint');
      if (have.persistentKeepalive !== p.persistentKeepalive) diffs.push('keepalive');
      const havePsk = have.presharedKey ? have.presharedKey.toBase64() : undefined;
      if (havePsk !== p.presharedKey) diffs.push('preshared key');
    }
    if (diffs.length === 0) continue;
    update.peers.push({
      publicKey: p.publicKey,
      presharedKey: p.presharedKey ?? null,
      ...(p.endpoint !== undefined ? { endpoint: p.endpoint } : {}),
      persistentKeepalive: p.persistentKeepalive,
      allowedIps: p.allowedIps,
      replaceAllowedIps: true,
    });
    changes.push(have ? `~peer ${p.label} (${short(p.publicKey)}): ${diffs.join(', ')}` : `+peer ${p.label} (${short(p.publicKey)})`);
  }
  for (const stale of current.values()) {
    update.peers.push({ publicKey: stale.publicKey, remove: true });
    changes.push(`-peer ${short(stale.publicKey)}`);
  }
  if (changes.length === 0) return [];

  // What to restore if a later step fails (only needed when the link was there before).
  const previous = device;
  return [
    {
      action: device ? 'update' : 'create',
      kind: 'wireguard',
      target: `wireguard ${name}`,
      detail: changes.join('; '),
      async apply(record) {
        // Recorded before the call: the daemon or the kernel applies a
        // configuration line by line or message by message, so a refusal
        // part-way (a listen port in use) leaves the part before it applied.
        // The link's own undo removes a link that was not there before.
        if (previous) {
          record({
            description: `restore wireguard ${name}`,
            run: () =>
              k.wg.configure(name, {
                privateKey: previous.privateKey ?? null,
                listenPort: previous.listenPort,
                fwmark: previous.fwmark,
                replacePeers: true,
                peers: previous.peers.map((p) => ({
                  publicKey: p.publicKey,
                  presharedKey: p.presharedKey ?? null,
                  ...(p.endpoint ? { endpoint: p.endpoint } : {}),
                  persistentKeepalive: p.persistentKeepalive,
                  allowedIps: p.allowedIps,
                })),
              }),
          });
        }
        await k.wg.configure(name, update);
        return undefined;
      },
    },
  ];
}

/** Teardown of the tunnel: the link goes (and a userspace daemon with it). */
export function planTunnelRemoval(k: Kernel, config: NormalizedConfig, state: TunnelState): Step[] {
  const name = config.tunnel.interface;
  if (config.tunnel.external || !state.device || !ownsTunnel(state)) return [];
  return [
    {
      action: 'delete',
      kind: 'link',
      target: `link ${name}`,
      detail: `${state.device.implementation}${state.unfinished ? ' (created by an earlier run that was interrupted)' : ''}`,
      async apply() {
        await k.wg.remove(name);
        clearLinkCreation(k.netns, name);
        return undefined;
      },
    },
  ];
}

const hexMark = (mark: number) => (mark === 0 ? 'off' : `0x${mark.toString(16)}`);

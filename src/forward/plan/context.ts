/**
 * The kernel handles one plan, apply, status or down works with: rtnetlink,
 * nftables and WireGuard, all in the spec's namespace.
 */
import { Nft } from '../../nft/index.js';
import { Route } from '../../route/index.js';
import { WireGuard, type WireGuardOptions } from '../../wireguard/index.js';
import type { NormalizedConfig } from '../spec/normalized-config.js';

export interface ForwardOptions {
  /** WireGuard implementation: 'auto' (default: the kernel's when it has WireGuard), 'kernel' or 'userspace'. */
  implementation?: 'auto' | 'kernel' | 'userspace';
  /** The userspace implementation's command (default wireguard-go). */
  userspaceCommand?: string;
  /** Passed to WireGuard.open (daemon log, timeouts). */
  wireguard?: Omit<WireGuardOptions, 'netns' | 'implementation' | 'userspaceCommand'>;
}

export interface Kernel {
  readonly netns: string | undefined;
  readonly rt: Route;
  readonly nft: Nft;
  readonly wg: WireGuard;
  /** Netlink writes sent so far on this kernel handle's own connections (not the process's others). */
  writes(): number;
  close(): void;
}

export function openKernel(config: NormalizedConfig, options: ForwardOptions): Promise<Kernel> {
  return openKernelIn(config.netns, options);
}

/** The kernel handles of a namespace (undefined: the caller's). */
export async function openKernelIn(netns: string | undefined, options: ForwardOptions): Promise<Kernel> {
  const rt = await Route.open({ netns });
  let nft: Nft | undefined;
  let wg: WireGuard | undefined;
  try {
    nft = await Nft.open({ netns });
    wg = await WireGuard.open({
      ...options.wireguard,
      netns,
      implementation: options.implementation ?? 'auto',
      ...(options.userspaceCommand ? { userspaceCommand: options.userspaceCommand } : {}),
    });
  } catch (err) {
    rt.close();
    nft?.close();
    throw err;
  }
  const handles = { rt, nft, wg };
  return {
    netns,
    ...handles,
    writes: () => handles.rt.connection.stats.writes + handles.nft.connection.stats.writes + handles.wg.netlinkStats.writes,
    close() {
      handles.wg.close();
      handles.nft.close();
      handles.rt.close();
    },
  };
}

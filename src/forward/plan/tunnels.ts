/**
 * A backend with several tunnels (`tunnels`) is planned tunnel by tunnel
 * where a tunnel stands alone (its link, WireGuard, addresses, table) and
 * as a whole where the tunnels meet (the rules that pick the egress tunnel,
 * one nftables table). A tunnel's view is the configuration with that tunnel
 * as `tunnel`: the single-tunnel planning functions take it as it is.
 */
import type { NormalizedBackendTunnel, NormalizedConfig } from '../spec/normalized-config.js';

/** The tunnels of a configuration: a backend's every tunnel, a frontend's one. */
export function tunnelsOf(config: NormalizedConfig): Array<NormalizedConfig['tunnel']> {
  return config.role === 'backend' ? config.tunnels : [config.tunnel];
}

/** The configuration as if `tunnel` were its only one. */
export function viewOf<C extends NormalizedConfig>(config: C, tunnel: C['tunnel']): C {
  return tunnel === config.tunnel ? config : { ...config, tunnel };
}

/** Several tunnels (a backend's `tunnels`). */
export function isSeveral(config: NormalizedConfig): boolean {
  return config.role === 'backend' && config.tunnels.length > 1;
}

/**
 * The tunnel the selected services' own traffic leaves by: the one asked for
 * (`netfwd run`'s health), else the one the kernel's rules use now, else the
 * first.
 */
export function egressTunnelOf(
  tunnels: readonly NormalizedBackendTunnel[],
  wanted: string | undefined,
  currentTable: number | undefined,
): NormalizedBackendTunnel {
  return (
    tunnels.find((t) => t.interface === wanted) ??
    (currentTable === undefined ? undefined : tunnels.find((t) => t.table === currentTable)) ??
    tunnels[0]!
  );
}

/**
 * What `netfwd run`'s supervisor (supervisor.ts) is told and what it tells:
 * its options with their defaults, and its events.
 */
import { ConfigError } from '../errors.js';
import { OwnershipError } from './plan/ownership.js';
import type { ResolveOptions } from './plan/resolve.js';
import { StateFileError } from './plan/state-file.js';
import type { ServiceForwardOptions } from './service-forward.js';

export type SupervisorLevel = 'debug' | 'info' | 'warn' | 'error';

export interface SupervisorEvent {
  /** ISO 8601 time. */
  ts: string;
  level: SupervisorLevel;
  /** e.g. 'applied', 'repaired', 'apply-failed', 'peer-up', 'endpoint-changed' (docs/cli.md lists them). */
  event: string;
  details: Record<string, unknown>;
}

export interface SupervisorOptions extends ServiceForwardOptions, ResolveOptions {
  /** Quiet time after the last relevant event before planning again. Default 300 ms. */
  debounceMs?: number;
  /** Plan again this often even without events (WireGuard configuration has no notifications). Default 30 000 ms; 0 turns it off. */
  recheckMs?: number;
  /** How often handshakes are read. Default 10 000 ms. */
  handshakeCheckMs?: number;
  /** Resolve a host name endpoint again when the last handshake is older than this. Default 135 s. */
  reresolveAfterSeconds?: number;
  /** First delay before retrying a failed apply; doubles up to `retryMaxMs`. Default 2000 ms. */
  retryMs?: number;
  retryMaxMs?: number;
  /** A peer counts as up while its last handshake is younger than this. Default 180 s (WireGuard's reject-after time). */
  peerUpSeconds?: number;
  /**
   * A backend with several tunnels: how often each tunnel's frontend is
   * checked through it (which tunnel the services' own traffic uses).
   * Default 5 000 ms; 0 turns the checks off (the egress then stays where
   * it is).
   */
  tunnelCheckMs?: number;
  /** How long a tunnel check waits for an answer before it counts the frontend as dead. Default 2 000 ms. */
  tunnelCheckTimeoutMs?: number;
  /**
   * At most this many repairs within `repairWindowMs`: past it, the
   * supervisor stops repairing until the window has room again and says who
   * keeps changing its objects (event 'repairs-throttled'), instead of
   * fighting another program. Default 5 in 60 000 ms.
   */
  maxRepairs?: number;
  repairWindowMs?: number;
  /** Receives every event. */
  log?: (event: SupervisorEvent) => void;
  /** Receives a one-line summary whenever it changes (systemd STATUS=). */
  status?: (text: string) => void;
  /**
   * Errors of the first apply that retrying cannot fix (default: a link of
   * the tunnel's name that netfwd does not own, a table, priority, mark or
   * port another configuration claims, a state file netfwd cannot read — but
   * not a cgroup that does not exist yet, which a service start fixes). The
   * supervisor then stops and `ready` rejects with the error.
   */
  fatal?: (err: Error) => boolean;
}

/** The default of SupervisorOptions.fatal. */
export function isFatal(err: Error): boolean {
  if (err instanceof OwnershipError || err instanceof StateFileError) return true;
  return err instanceof ConfigError && err.field !== 'returnPath.cgroup';
}

export const DEFAULTS = {
  debounceMs: 300,
  recheckMs: 30_000,
  handshakeCheckMs: 10_000,
  reresolveAfterSeconds: 135,
  retryMs: 2_000,
  retryMaxMs: 60_000,
  peerUpSeconds: 180,
  tunnelCheckMs: 5_000,
  tunnelCheckTimeoutMs: 2_000,
  maxRepairs: 5,
  repairWindowMs: 60_000,
};

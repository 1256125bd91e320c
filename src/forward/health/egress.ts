/**
 * A backend with several tunnels: which tunnel the services' own traffic
 * leaves by. Each tunnel is checked actively — a TCP connect to the
 * frontend's tunnel address (`checkAddress`) from the tunnel's own address,
 * which a rule routes by that tunnel's table (so the check leaves by that
 * tunnel or fails; it never takes the home line). Refused or open: the
 * frontend is alive. A timeout or an unreachable route: dead. A handshake
 * age alone notices a dead VPS minutes late (keepalives start no new
 * handshake), so it is reported, not relied on.
 *
 * The egress is the first healthy tunnel in the spec's order; with none
 * healthy it stays where it is (that traffic fails there: it never takes
 * the home line). One failed check makes a tunnel unhealthy at once; a
 * tunnel that was unhealthy needs RISE_CHECKS answered checks in a row to be
 * healthy again, so a VPS that comes back unsteadily (measured: answering,
 * then silent for one check, then steady) does not pull the egress back and
 * forth. At start, one answered check is enough.
 */
import type { Kernel } from '../plan/context.js';
import type { NormalizedBackend, NormalizedBackendTunnel } from '../spec/normalized-config.js';
import { type CheckOutcome, check } from './check.js';

/** Answered checks in a row that make an unhealthy tunnel healthy again. */
export const RISE_CHECKS = 2;

/** The port the check connects to: any port works (the frontend refuses what it does not serve). */
export const TUNNEL_CHECK_PORT = 9;

export interface TunnelHealth {
  interface: string;
  healthy: boolean;
  /** When `healthy` last changed (or the first check). */
  since: Date;
  /** The last check's result, e.g. 'refused in 3 ms', 'timeout', 'unreachable (ENETUNREACH)'. */
  reason: string;
  /** Seconds since the last handshake with this tunnel's frontend; null: none yet. */
  handshakeAgeSeconds: number | null;
  /** Answered checks in a row (0 after a failed one). */
  answered: number;
}

export interface EgressChange {
  from: string | undefined;
  to: string;
  reason: string;
}

/** Which tunnels the check runs for: those with an address of the check address's family. */
function checkTarget(t: NormalizedBackendTunnel) {
  const c = t.checkAddress!;
  const own = t.addresses.find((a) => a.family === c.family);
  return own ? { protocol: 'tcp' as const, host: c.address, port: TUNNEL_CHECK_PORT, localAddress: own.address } : undefined;
}

const describe = (o: CheckOutcome) => `${o.result}${o.detail ? ` (${o.detail})` : ''} in ${o.ms} ms`;

export class EgressHealth {
  readonly tunnels = new Map<string, TunnelHealth>();
  /** The egress tunnel chosen last (undefined before the first check). */
  egress: string | undefined;

  constructor(
    private config: NormalizedBackend,
    private readonly timeoutMs: number,
  ) {}

  /** A new configuration (reload): forget tunnels it no longer has. */
  reconfigure(config: NormalizedBackend): void {
    this.config = config;
    for (const name of [...this.tunnels.keys()]) if (!config.tunnels.some((t) => t.interface === name)) this.tunnels.delete(name);
    if (this.egress && !this.tunnels.has(this.egress)) this.egress = undefined;
  }

  /**
   * Checks every tunnel at once; returns the tunnels whose health changed and
   * the egress change, if any.
   */
  async check(k: Kernel): Promise<{ changed: TunnelHealth[]; egress?: EgressChange }> {
    const tunnels = this.config.tunnels;
    const targets = tunnels.map(checkTarget);
    const outcomes = await check(
      this.config.netns,
      targets.filter((x) => x !== undefined),
      this.timeoutMs,
    );
    const now = new Date();
    const changed: TunnelHealth[] = [];
    let i = 0;
    for (const [n, t] of tunnels.entries()) {
      const outcome = targets[n] ? outcomes[i++] : undefined;
      const ok = outcome !== undefined && (outcome.result === 'refused' || outcome.result === 'open');
      const reason = outcome ? describe(outcome) : 'no address of the check address family';
      const age = await handshakeAge(k, t, now);
      const before = this.tunnels.get(t.interface);
      const answered = ok ? (before?.answered ?? 0) + 1 : 0;
      // Down at the first failure; up again only after RISE_CHECKS answers in a row (at start: one).
      const healthy = ok && (before === undefined || before.healthy || answered >= RISE_CHECKS);
      const h: TunnelHealth = {
        interface: t.interface,
        healthy,
        since: before && before.healthy === healthy ? before.since : now,
        reason,
        handshakeAgeSeconds: age,
        answered,
      };
      this.tunnels.set(t.interface, h);
      if (!before || before.healthy !== healthy) changed.push(h);
    }
    const first = tunnels.find((t) => this.tunnels.get(t.interface)?.healthy);
    if (!first || first.interface === this.egress) return { changed };
    const from = this.egress;
    this.egress = first.interface;
    const reason =
      from === undefined
        ? 'first check'
        : this.tunnels.get(from)?.healthy
          ? `${first.interface} is healthy again and comes first`
          : `${from} is down: ${this.tunnels.get(from)?.reason ?? 'gone'}`;
    return { changed, egress: { from, to: first.interface, reason } };
  }
}

async function handshakeAge(k: Kernel, t: NormalizedBackendTunnel, now: Date): Promise<number | null> {
  try {
    if (!(await k.wg.implementationOf(t.interface))) return null;
    const device = await k.wg.get(t.interface);
    const last = device.peers[0]?.lastHandshake;
    return last ? Math.max(0, Math.round((now.getTime() - last.getTime()) / 1000)) : null;
  } catch {
    return null;
  }
}

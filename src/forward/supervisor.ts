/**
 * over 500 lines: one state machine (converge, repair bound, handshakes, tunnel checks) whose fields every part shares.
 *
 * The supervisor behind `netfwd run`: applies a spec, then keeps the kernel
 * converged on it.
 *
 * - Drift: rtnetlink (links, addresses, routes, rules) and nftables monitors in
 *   the spec's namespace. Only events about netfwd's own objects count — its
 *   tunnel link and its addresses, routes and rules with protocol 233, its nft
 *   table — and, on a frontend, what its egress containment is made of (any
 *   address, the main table's default routes); after a quiet moment (debounce) the spec is planned again and
 *   the plan applied. The planner only ever reads and writes netfwd's objects,
 *   so a foreign change is never "repaired". Events caused by the repair
 *   itself lead to one more plan, which is empty (no writes).
 * - WireGuard's configuration has no change notifications (and a userspace
 *   daemon none at all): a periodic check plans again (`recheckMs`).
 * - Handshakes are read every `handshakeCheckMs`; peers coming and going are
 *   reported, and an endpoint given as a host name is resolved again when
 *   the last handshake is older than `reresolveAfterSeconds` (135 s, as
 *   wireguard-tools' reresolve-dns script). The peer's endpoint is only
 *   written when the address changed.
 * - A failing apply (its own rollback restored the previous state) is retried
 *   with a growing delay.
 *
 * Every state change is an event `{ ts, level, event, details }` given to
 * `log`; `status` is called with a one-line summary for systemd's STATUS=.
 */
import { ConfigError } from '../errors.js';
import { isOwnPort } from '../netlink/connection.js';
import { type NftMonitor, type NftMonitorEvent, openNftMonitor } from '../nft/index.js';
import { Route, type RouteEvent, type RouteMonitor, RT_TABLE_MAIN } from '../route/index.js';
import { EgressHealth } from './health/egress.js';
import { type TargetMonitor, targetMonitorFor } from './health/targets.js';
import { type Kernel, openKernelIn } from './plan/context.js';
import { NETFWD_PROTOCOL, nftTableName } from './plan/ownership.js';
import type { PlanHealth } from './plan/plan-health.js';
import { hostnameEndpoint, isUnresolved, resolveEndpoint, resolveTunnels } from './plan/resolve.js';
import { ServiceForward } from './service-forward.js';
import type { NormalizedConfig } from './spec/normalized-config.js';
import { describeProcess, describeSender } from './status/who.js';
import { DEFAULTS, isFatal, type SupervisorEvent, type SupervisorLevel, type SupervisorOptions } from './supervisor-options.js';

export type { SupervisorEvent, SupervisorLevel, SupervisorOptions } from './supervisor-options.js';

type Timer = ReturnType<typeof setTimeout>;

function describeRouteEvent(e: RouteEvent): string {
  switch (e.kind) {
    case 'link':
      return `link ${e.link.name} ${e.action === 'del' ? 'deleted' : e.link.up ? 'changed (up)' : 'changed (down)'}`;
    case 'address':
      return `address ${e.address.address} on ${e.address.link ?? '?'} ${e.action === 'del' ? 'deleted' : 'added'}`;
    case 'route':
      return `route ${e.route.type !== 'unicast' ? `${e.route.type} ` : ''}${e.route.destination}${e.route.family === 6 ? ' (IPv6)' : ''} table ${e.route.table} ${e.action === 'del' ? 'deleted' : 'added'}`;
    case 'rule':
      return `rule ${e.rule.priority ?? ''} (IPv${e.rule.family}) ${e.action === 'del' ? 'deleted' : 'added'}`;
    case 'resync':
      return `rtnetlink notifications lost (${e.reason})`;
  }
}

export class Supervisor {
  private config: NormalizedConfig;
  private readonly options: SupervisorOptions;
  private readonly o: typeof DEFAULTS;
  /** The config with its host name endpoint resolved (what is applied). */
  private resolved: NormalizedConfig | undefined;
  private rt: Route | undefined;
  private kernel: Kernel | undefined;
  private routeMonitor: RouteMonitor | undefined;
  private nftMonitor: NftMonitor | undefined;
  private debounce: Timer | undefined;
  private retry: Timer | undefined;
  private retryDelay: number;
  private intervals: Array<ReturnType<typeof setInterval>> = [];
  private triggers: string[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private converged = false;
  private readyResolve!: () => void;
  private readyReject!: (err: Error) => void;
  private peerUp = new Map<string, boolean>();
  private egressHealth: EgressHealth | undefined;
  private checkingTunnels = false;
  private lastResolve = 0;
  private lastStatus = '';
  /** Who made the changes the pending plan reacts to: rtnetlink sender ports and nftables committers (not this process). */
  private parties: Array<{ port: number } | { pid: number; process?: string }> = [];
  /** When the recent repairs happened (ms), for the repair bound. */
  private repairTimes: number[] = [];
  private throttled = false;
  /** The next converge applies a new configuration (start, reload): not a repair, never throttled. */
  private mustApply = true;
  /** A frontend's forward targets (health/targets.ts): their health goes into every apply. */
  private targets: TargetMonitor | undefined;
  /** Resolves after the first successful apply. */
  readonly ready: Promise<void>;
  /** Counters, for status lines and tests. */
  readonly stats = { applies: 0, repairs: 0, failures: 0, resolutions: 0, endpointChanges: 0, throttled: 0 };

  constructor(config: NormalizedConfig, options: SupervisorOptions = {}) {
    this.config = config;
    this.options = options;
    this.o = {
      debounceMs: options.debounceMs ?? DEFAULTS.debounceMs,
      recheckMs: options.recheckMs ?? DEFAULTS.recheckMs,
      handshakeCheckMs: options.handshakeCheckMs ?? DEFAULTS.handshakeCheckMs,
      reresolveAfterSeconds: options.reresolveAfterSeconds ?? DEFAULTS.reresolveAfterSeconds,
      retryMs: options.retryMs ?? DEFAULTS.retryMs,
      retryMaxMs: options.retryMaxMs ?? DEFAULTS.retryMaxMs,
      peerUpSeconds: options.peerUpSeconds ?? DEFAULTS.peerUpSeconds,
      tunnelCheckMs: options.tunnelCheckMs ?? DEFAULTS.tunnelCheckMs,
      tunnelCheckTimeoutMs: options.tunnelCheckTimeoutMs ?? DEFAULTS.tunnelCheckTimeoutMs,
      maxRepairs: options.maxRepairs ?? DEFAULTS.maxRepairs,
      repairWindowMs: options.repairWindowMs ?? DEFAULTS.repairWindowMs,
    };
    this.retryDelay = this.o.retryMs;
    this.ready = new Promise((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    this.ready.catch(() => undefined);
  }

  private emit(level: SupervisorLevel, event: string, details: Record<string, unknown> = {}): void {
    this.options.log?.({ ts: new Date().toISOString(), level, event, details });
  }

  private setStatus(text: string): void {
    if (text === this.lastStatus) return;
    this.lastStatus = text;
    this.options.status?.(text);
  }

  /**
   * Opens the monitors (before the first apply, so nothing done meanwhile is
   * missed) and starts converging. Returns at once; `ready` settles after the
   * first successful apply. Throws only when the monitors cannot be opened.
   */
  async start(): Promise<void> {
    const netns = this.config.netns;
    this.rt = await Route.open({ netns });
    this.routeMonitor = this.rt.monitor(['link', 'address', 'route', 'rule']);
    this.nftMonitor = openNftMonitor({ netns });
    this.kernel = await openKernelIn(netns, this.options);
    this.targets = targetMonitorFor(this.config, () => this.kernel, {
      peerUpSeconds: this.o.peerUpSeconds,
      handshakeCheckMs: this.o.handshakeCheckMs,
      emit: (level, event, details) => this.emit(level, event, details),
      // Not a repair of somebody else's change: never throttled by the repair bound.
      changed: () => {
        this.mustApply = true;
        this.schedule('target health changed', 0);
      },
    });
    this.targets?.start();
    void this.consumeRoute(this.routeMonitor);
    void this.consumeNft(this.nftMonitor);
    this.emit('info', 'started', { role: this.config.role, interface: this.config.tunnel.interface, netns: netns ?? null });
    this.setStatus('applying');
    this.schedule('start', 0);
    if (this.o.recheckMs > 0) this.intervals.push(setInterval(() => this.schedule('periodic check', 0), this.o.recheckMs));
    if (this.o.handshakeCheckMs > 0) this.intervals.push(setInterval(() => void this.checkHandshakes(), this.o.handshakeCheckMs));
    const config = this.config;
    if (config.role === 'backend' && config.tunnels.length > 1 && config.returnPath.mode !== 'snat' && this.o.tunnelCheckMs > 0) {
      this.egressHealth = new EgressHealth(config, this.o.tunnelCheckTimeoutMs);
      this.intervals.push(setInterval(() => void this.checkTunnels(), this.o.tunnelCheckMs));
    }
  }

  /** What the plan depends on that this supervisor measured (the egress tunnel). */
  private health(): PlanHealth {
    const downTargets = this.targets?.downTargets();
    return {
      ...(this.egressHealth?.egress ? { egressTunnel: this.egressHealth.egress } : {}),
      ...(downTargets ? { downTargets } : {}),
    };
  }

  /** Several tunnels: checks each; reports tunnels going down and up; moves the egress to the first healthy one. */
  async checkTunnels(): Promise<void> {
    const h = this.egressHealth;
    if (this.stopped || !this.kernel || !this.converged || !h || this.checkingTunnels) return;
    this.checkingTunnels = true;
    try {
      const result = await h.check(this.kernel);
      for (const t of result.changed)
        this.emit(t.healthy ? 'info' : 'warn', t.healthy ? 'tunnel-up' : 'tunnel-down', {
          interface: t.interface,
          check: t.reason,
          handshakeAgeSeconds: t.handshakeAgeSeconds,
        });
      if (result.egress) {
        this.emit(result.egress.from === undefined ? 'info' : 'warn', 'egress-moved', {
          ...(result.egress.from !== undefined ? { from: result.egress.from } : {}),
          to: result.egress.to,
          reason: result.egress.reason,
        });
        // Not a repair of somebody else's change: never throttled by the repair bound.
        this.mustApply = true;
        this.schedule(`egress to ${result.egress.to}: ${result.egress.reason}`, 0);
      }
    } catch (err) {
      this.emit('debug', 'tunnel-check-failed', { error: (err as Error).message });
    } finally {
      this.checkingTunnels = false;
    }
  }

  /** Takes a new configuration (SIGHUP): applies it as a repair would. */
  reload(config: NormalizedConfig): void {
    if (
      config.tunnel.interface !== this.config.tunnel.interface ||
      config.netns !== this.config.netns ||
      config.role !== this.config.role
    ) {
      this.emit('error', 'reload-refused', { reason: 'the interface, namespace or role changed: stop netfwd run (and netfwd down) first' });
      return;
    }
    this.config = config;
    if (config.role === 'backend') this.egressHealth?.reconfigure(config);
    if (config.role === 'frontend') this.targets?.reload(config);
    this.resolved = undefined;
    this.mustApply = true;
    this.emit('info', 'reloaded', {});
    this.schedule('configuration reloaded', 0);
  }

  /** Stops watching. With `down`, removes what netfwd set up; otherwise it stays (the leak guard too). */
  async stop(options: { down?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.debounce);
    clearTimeout(this.retry);
    for (const i of this.intervals) clearInterval(i);
    this.targets?.stop();
    this.routeMonitor?.close();
    this.nftMonitor?.close();
    await this.running?.catch(() => undefined);
    this.rt?.close();
    this.kernel?.close();
    if (options.down) {
      const result = await new ServiceForward(this.config, this.options).down();
      this.emit('info', 'down', { changes: result.plan.lines(), netlinkWrites: result.netlinkWrites });
    }
    this.emit('info', 'stopped', { configurationLeft: !options.down });
  }

  // ---------------------------------------------------------------- events

  private relevantRoute(e: RouteEvent): boolean {
    // Every tunnel's link and addresses: deleting an IPv4 address (or a link going down) takes its
    // IPv4 routes along without a notification of their own.
    const names = this.config.role === 'backend' ? this.config.tunnels.map((t) => t.interface) : [this.config.tunnel.interface];
    switch (e.kind) {
      case 'link':
        return names.includes(e.link.name);
      case 'address':
        // A frontend refuses its connected networks to the backends' traffic (plan/uplink.ts): any address counts.
        return (e.address.link !== undefined && names.includes(e.address.link)) || this.config.role === 'frontend';
      case 'route':
        // A frontend's uplinks are the interfaces of the main table's default routes (plan/uplink.ts).
        return (
          e.route.protocol === NETFWD_PROTOCOL ||
          (this.config.role === 'frontend' &&
            this.config.public.interface === undefined &&
            e.route.table === RT_TABLE_MAIN &&
            e.route.destination === 'default')
        );
      case 'rule':
        return e.rule.protocol === NETFWD_PROTOCOL;
      case 'resync':
        return true;
    }
  }

  private relevantNft(e: NftMonitorEvent): boolean {
    if (e.kind === 'resync') return true;
    if (e.kind === 'generation') return false;
    return e.family === 'inet' && e.table === nftTableName(this.config.tunnel.interface);
  }

  private async consumeRoute(m: RouteMonitor): Promise<void> {
    try {
      for await (const e of m) {
        if (!this.relevantRoute(e)) continue;
        if (e.kind !== 'resync' && e.sender !== undefined && !isOwnPort(e.sender)) this.noteParty({ port: e.sender });
        this.schedule(describeRouteEvent(e));
      }
    } catch (err) {
      if (!this.stopped) this.emit('error', 'monitor-failed', { monitor: 'rtnetlink', error: (err as Error).message });
    }
  }

  /**
   * nftables notifications of one transaction come before its NEWGEN message,
   * which names the process that committed it: changes committed by this
   * process (its own repairs) are dropped, the others lead to a new plan.
   */
  private async consumeNft(m: NftMonitor): Promise<void> {
    let pending: string[] = [];
    try {
      for await (const e of m) {
        if (e.kind === 'generation') {
          if (e.pid !== process.pid && pending.length) {
            if (e.pid !== undefined) this.noteParty({ pid: e.pid, ...(e.process !== undefined ? { process: e.process } : {}) });
            for (const p of pending) this.schedule(p);
          }
          pending = [];
          continue;
        }
        if (e.kind === 'resync') {
          pending = [];
          this.schedule(`nftables notifications lost (${e.reason})`);
          continue;
        }
        if (!this.relevantNft(e)) continue;
        const what =
          e.kind === 'table'
            ? `nftables table ${e.family} ${e.table}`
            : `nftables ${e.kind}${e.name ? ` ${e.name}` : ''} of table ${e.table}`;
        const text = `${what} ${e.action === 'del' ? 'deleted' : 'changed'}`;
        if (!pending.includes(text) && pending.length < 20) pending.push(text);
      }
    } catch (err) {
      if (!this.stopped) this.emit('error', 'monitor-failed', { monitor: 'nftables', error: (err as Error).message });
    }
  }

  private noteParty(p: { port: number } | { pid: number; process?: string }): void {
    const key = JSON.stringify(p);
    if (this.parties.length < 20 && !this.parties.some((x) => JSON.stringify(x) === key)) this.parties.push(p);
  }

  /** The parties as text (resolved now: a socket may be gone by the time the repair runs). */
  private describeParties(parties: typeof this.parties): string[] {
    const names = parties.map((p) => ('port' in p ? describeSender(this.config.netns, p.port) : describeProcess(p.pid, p.process)));
    return [...new Set(names)];
  }

  /** Plans again after the debounce (or `delay`), remembering why. */
  private schedule(trigger: string, delay = this.o.debounceMs): void {
    if (this.stopped) return;
    if (!this.triggers.includes(trigger) && this.triggers.length < 20) this.triggers.push(trigger);
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.kick(), delay);
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.converge().finally(() => {
      this.running = undefined;
      if (this.again && !this.stopped) {
        this.again = false;
        this.kick();
      }
    });
  }

  // ---------------------------------------------------------------- converge

  private async resolvedConfig(force: boolean): Promise<NormalizedConfig> {
    if (this.config.role === 'backend' && this.config.tunnels.length > 1) {
      // Several tunnels: every host name endpoint, resolved again when forced (no per-tunnel change events).
      if (this.resolved && !force) return this.resolved;
      this.lastResolve = Date.now();
      this.stats.resolutions++;
      this.resolved = await resolveTunnels(this.config, this.options, force);
      return this.resolved;
    }
    const endpoint = hostnameEndpoint(this.config);
    if (!endpoint) return this.config;
    if (this.resolved && !force) return this.resolved;
    this.lastResolve = Date.now();
    this.stats.resolutions++;
    const fresh = await resolveEndpoint(endpoint, this.config, this.options);
    const before = this.resolved && this.resolved.role === 'backend' ? this.resolved.tunnel.peer?.endpoint.text : undefined;
    if (this.config.role !== 'backend' || !this.config.tunnel.peer) return this.config;
    // The planner reads `tunnels` (one entry here): the resolved tunnel goes there too.
    const tunnel = { ...this.config.tunnel, peer: { ...this.config.tunnel.peer, endpoint: fresh } };
    this.resolved = { ...this.config, tunnel, tunnels: [tunnel] };
    if (before === undefined) this.emit('info', 'endpoint-resolved', { hostname: endpoint.hostname, address: fresh.text });
    else if (before !== fresh.text) {
      this.stats.endpointChanges++;
      this.emit('info', 'endpoint-changed', { hostname: endpoint.hostname, from: before, to: fresh.text });
    } else this.emit('debug', 'endpoint-unchanged', { hostname: endpoint.hostname, address: fresh.text });
    return this.resolved;
  }

  private async converge(): Promise<void> {
    clearTimeout(this.retry);
    const triggers = this.triggers;
    this.triggers = [];
    const parties = this.parties;
    this.parties = [];
    const forced = this.mustApply;
    this.mustApply = false;
    try {
      const config = await this.resolvedConfig(false);
      if (config.role === 'backend' && config.tunnel.peer && isUnresolved(config.tunnel.peer.endpoint))
        throw new Error('endpoint not resolved');
      const now = Date.now();
      this.repairTimes = this.repairTimes.filter((t) => now - t < this.o.repairWindowMs);
      if (this.converged && !forced && this.repairTimes.length >= this.o.maxRepairs) {
        // Bounded: somebody keeps changing netfwd's objects. Look, but do not fight.
        const plan = await new ServiceForward(config, this.options).plan({ health: this.health() });
        if (plan.empty) {
          this.emit('debug', 'checked', { trigger: triggers });
          return;
        }
        const resumeInMs = this.repairTimes[0]! + this.o.repairWindowMs - now;
        if (!this.throttled) {
          this.throttled = true;
          this.stats.throttled++;
          const by = this.describeParties(parties);
          this.emit('warn', 'repairs-throttled', {
            trigger: triggers,
            by,
            repairs: this.repairTimes.length,
            windowSeconds: Math.round(this.o.repairWindowMs / 1000),
            changes: plan.lines(),
            resumeInMs,
          });
          this.setStatus(
            `not repairing for ${Math.ceil(resumeInMs / 1000)} s: ${this.repairTimes.length} repairs in ${Math.round(this.o.repairWindowMs / 1000)} s, changed by ${by.join(', ') || 'someone else'}`.slice(
              0,
              200,
            ),
          );
        }
        this.parties = [...parties, ...this.parties];
        if (!this.stopped)
          this.retry = setTimeout(() => this.schedule('repair bound reached: checking again', 0), Math.max(resumeInMs, 0) + 10);
        return;
      }
      const result = await new ServiceForward(config, this.options).apply({ health: this.health() });
      this.stats.applies++;
      // The notifications of what this apply wrote arrive meanwhile: they are not why the next
      // check runs (it will find nothing to do), so they do not show up as its triggers.
      if (!result.plan.empty && this.triggers.length) this.triggers = ['changes seen while applying'];
      this.retryDelay = this.o.retryMs;
      const lines = result.plan.lines();
      if (!this.converged) {
        this.converged = true;
        this.emit('info', 'applied', { changes: lines, netlinkWrites: result.netlinkWrites, warnings: [...result.plan.warnings] });
        this.readyResolve();
        void this.checkTunnels();
      } else if (lines.length > 0) {
        this.stats.repairs++;
        if (!forced) this.repairTimes.push(Date.now());
        this.throttled = false;
        this.emit('warn', 'repaired', {
          trigger: triggers,
          by: this.describeParties(parties),
          changes: lines,
          netlinkWrites: result.netlinkWrites,
        });
      } else {
        this.emit('debug', 'checked', { trigger: triggers });
      }
      this.setStatus(`converged${this.stats.repairs ? `, ${this.stats.repairs} repair${this.stats.repairs === 1 ? '' : 's'}` : ''}`);
    } catch (err) {
      this.stats.failures++;
      // A new configuration that failed to apply is still new at the retry.
      if (forced) this.mustApply = true;
      const e = err as Error & { field?: string };
      const fatal = this.options.fatal ?? isFatal;
      if (!this.converged && fatal(e)) {
        this.emit('error', 'apply-failed', { trigger: triggers, error: e.message, errorName: e.name, fatal: true });
        this.readyReject(e);
        void this.stop();
        return;
      }
      const delay = this.retryDelay;
      this.retryDelay = Math.min(this.retryDelay * 2, this.o.retryMaxMs);
      if (e.name === 'TunnelAbsentError') {
        // tunnel.external: another program makes the interface; its link notification starts the next apply.
        this.emit('warn', 'tunnel-absent', { trigger: triggers, interface: this.config.tunnel.interface, retryInMs: delay });
        this.setStatus(`waiting for interface ${this.config.tunnel.interface} (tunnel.external)`);
        if (!this.stopped) this.retry = setTimeout(() => this.schedule('retry', 0), delay);
        return;
      }
      this.emit('error', e.name === 'ResolveError' ? 'resolve-failed' : 'apply-failed', {
        trigger: triggers,
        error: e.message,
        errorName: e.name,
        ...(e instanceof ConfigError ? { field: e.field } : {}),
        retryInMs: delay,
      });
      this.setStatus(`${e.name === 'ResolveError' ? 'cannot resolve the endpoint' : 'apply failed'}, retrying: ${e.message}`.slice(0, 200));
      if (!this.stopped) this.retry = setTimeout(() => this.schedule('retry', 0), delay);
    }
  }

  // ---------------------------------------------------------------- handshakes

  /** Reads the handshakes; reports peers coming and going; re-resolves a stale host name endpoint. */
  async checkHandshakes(): Promise<void> {
    if (this.stopped || !this.kernel || !this.converged) return;
    let peers: Array<{ publicKey: string; lastHandshake: Date | null; endpoint: string | null }>;
    try {
      const name = this.config.tunnel.interface;
      if (!(await this.kernel.wg.implementationOf(name))) return; // the link is gone: the monitor repairs it
      peers = (await this.kernel.wg.get(name)).peers;
    } catch (err) {
      this.emit('debug', 'handshake-read-failed', { error: (err as Error).message });
      return;
    }
    const now = Date.now();
    const names = new Map<string | undefined, string>(
      this.config.role === 'frontend'
        ? this.config.tunnel.peers.map((p) => [p.publicKey, p.name])
        : [[this.config.tunnel.peer?.publicKey, 'frontend']],
    );
    let staleOwnPeer = false;
    for (const p of peers) {
      const age = p.lastHandshake ? Math.max(0, Math.round((now - p.lastHandshake.getTime()) / 1000)) : null;
      const up = age !== null && age < this.o.peerUpSeconds;
      const was = this.peerUp.get(p.publicKey);
      if (was !== up && (was !== undefined || up)) {
        this.emit(up ? 'info' : 'warn', up ? 'peer-up' : 'peer-down', {
          peer: names.get(p.publicKey) ?? p.publicKey,
          handshakeAgeSeconds: age,
          endpoint: p.endpoint,
        });
      }
      this.peerUp.set(p.publicKey, up);
      if (this.config.role === 'backend' && p.publicKey === this.config.tunnel.peer?.publicKey) {
        staleOwnPeer = age === null || age > this.o.reresolveAfterSeconds;
      }
    }
    const endpoint = hostnameEndpoint(this.config);
    if (!endpoint || !staleOwnPeer) return;
    // Not more often than the threshold itself: a name that keeps answering the same address is not asked every check.
    if (now - this.lastResolve < this.o.reresolveAfterSeconds * 1000) return;
    const before = this.resolved;
    try {
      const fresh = await this.resolvedConfig(true);
      if (
        before !== undefined &&
        fresh.role === 'backend' &&
        before.role === 'backend' &&
        fresh.tunnel.peer?.endpoint.text !== before.tunnel.peer?.endpoint.text
      ) {
        this.schedule(`endpoint ${endpoint.hostname} resolved to a new address`, 0);
      }
    } catch (err) {
      this.emit('warn', 'resolve-failed', {
        hostname: endpoint.hostname,
        error: (err as Error).message,
        keeping: before?.role === 'backend' ? (before.tunnel.peer?.endpoint.text ?? null) : null,
      });
    }
  }
}

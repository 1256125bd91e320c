/**
 * The health of a frontend's forward targets, as `netfwd run` measures it
 * (forwards with several targets, or with a `check`): a target is healthy
 * while its peer's last WireGuard handshake is younger than `peerUpSeconds`
 * (not looked at on an external tunnel, which has no WireGuard state) and,
 * when the forward has a check, its last check succeeded — TCP: the
 * connection opened; UDP: an answer or silence (refused, unreachable or an
 * error: down). Each change is an event (`target-down`, `target-up`) and is
 * recorded beside the state file, where `netfwd status` reads it; the
 * supervisor plans again with the targets found down (PlanHealth.downTargets),
 * which rewrites only the forwards' map elements.
 */
import { mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Kernel } from '../plan/context.js';
import { stateFilePath } from '../plan/state-file.js';
import type { NormalizedForward, NormalizedForwardTarget, NormalizedFrontend } from '../spec/normalized-config.js';
import { type CheckResult, type CheckTarget, check } from './check.js';

/** One target's health as recorded. */
export interface TargetHealth {
  /** NormalizedForwardTarget.key, e.g. 'forwards[0] home'. */
  key: string;
  /** The forward, e.g. 'forwards[0]'. */
  forward: string;
  /** The target's name, e.g. 'home' or 'home/198.51.100.131'. */
  target: string;
  up: boolean;
  /** ISO 8601: since when it is up (or down). */
  since: string;
  /** Why it is down (or 'handshake 3 s ago, check open' when up). */
  reason: string;
}

/** The file `netfwd run` keeps its measurements in. */
export interface TargetHealthFile {
  /** The process measuring (a file whose process is gone is stale). */
  pid: number;
  /** ISO 8601 time of the last measurement. */
  updated: string;
  targets: TargetHealth[];
}

/** Where the health of a tunnel's targets is recorded: beside its state file (not a `.json`: those are states). */
export function targetHealthPath(netns: string | undefined, tunnel: string): string {
  return join(dirname(stateFilePath(netns, tunnel)), `${tunnel}.targets`);
}

/** The recorded health, or undefined when nothing measures it (no file, or its process is gone). */
export function readTargetHealth(netns: string | undefined, tunnel: string): TargetHealthFile | undefined {
  try {
    const f = JSON.parse(readFileSync(targetHealthPath(netns, tunnel), 'utf8')) as TargetHealthFile;
    if (typeof f.pid !== 'number' || !Array.isArray(f.targets)) return undefined;
    try {
      process.kill(f.pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') return undefined;
    }
    return f;
  } catch {
    return undefined;
  }
}

/** The forwards whose targets are measured: several targets, or a check. */
export function monitoredForwards(config: NormalizedFrontend): NormalizedForward[] {
  const seen = new Set<string>();
  // 'tcp+udp' gives two forwards with the same targets: measured once.
  return config.forwards.filter((fw) => (fw.targets.length > 1 || fw.check) && !seen.has(fw.source) && !!seen.add(fw.source));
}

function checkOk(protocol: 'tcp' | 'udp', r: CheckResult): boolean {
  return r === 'open' || (protocol === 'udp' && r === 'silent');
}

export interface TargetMonitorOptions {
  /** A peer's handshake counts while younger than this (s). */
  peerUpSeconds: number;
  /** How often forwards without a check are looked at (their handshakes), ms. */
  handshakeCheckMs: number;
  /** An event: target-down (warn) or target-up (info). */
  emit: (level: 'info' | 'warn', event: string, details: Record<string, unknown>) => void;
  /** The set of targets down changed: plan again. */
  changed: () => void;
}

/** Measures the targets of a frontend's forwards while `netfwd run` runs. */
export class TargetMonitor {
  private readonly health = new Map<string, TargetHealth>();
  private readonly lastCheck = new Map<string, { at: number; ok: boolean; result: string }>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private busy = false;
  private measured = false;
  private stopped = false;

  constructor(
    private config: NormalizedFrontend,
    private readonly kernel: () => Kernel | undefined,
    private readonly o: TargetMonitorOptions,
  ) {}

  /** The targets found down; undefined before the first measurement (the plan then keeps what the kernel holds). */
  downTargets(): ReadonlySet<string> | undefined {
    if (!this.measured) return undefined;
    return new Set([...this.health.values()].filter((h) => !h.up).map((h) => h.key));
  }

  /** A new configuration: targets no longer in it are forgotten at the next measurement. */
  reload(config: NormalizedFrontend): void {
    this.config = config;
    this.restart();
  }

  start(): void {
    this.restart();
  }

  private restart(): void {
    clearInterval(this.timer);
    const forwards = monitoredForwards(this.config);
    if (forwards.length === 0) return;
    const every = Math.min(this.o.handshakeCheckMs, ...forwards.map((f) => (f.check ? f.check.intervalSeconds * 1000 : Infinity)));
    this.timer = setInterval(() => void this.measure(), Math.max(every, 200));
    void this.measure();
  }

  stop(): void {
    // A measurement still running records nothing after this.
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    const path = targetHealthPath(this.config.netns, this.config.tunnel.interface);
    rmSync(path, { force: true });
    try {
      rmdirSync(dirname(path));
    } catch {
      /* not empty (the state file), or gone */
    }
  }

  /** One measurement: handshakes, the checks that are due, events and the record. */
  async measure(): Promise<void> {
    const k = this.kernel();
    if (this.busy || !k || this.stopped) return;
    this.busy = true;
    try {
      const forwards = monitoredForwards(this.config);
      const ages = await this.handshakeAges(k);
      const now = Date.now();
      const due: Array<{ key: string; target: CheckTarget; timeoutMs: number }> = [];
      for (const fw of forwards) {
        if (!fw.check) continue;
        for (const t of fw.targets) {
          const last = this.lastCheck.get(t.key);
          if (last && now - last.at < fw.check.intervalSeconds * 1000 - 100) continue;
          const host = t.addresses[fw.families[0]!]!;
          due.push({
            key: t.key,
            target: { protocol: fw.check.protocol, host, port: fw.check.port ?? t.ports.from },
            timeoutMs: fw.check.timeoutMs,
          });
        }
      }
      // One call per timeout (usually one): the checks of a call run at once in one worker in the namespace.
      for (const timeout of new Set(due.map((d) => d.timeoutMs))) {
        const batch = due.filter((d) => d.timeoutMs === timeout);
        const outcomes = await check(
          this.config.netns,
          batch.map((d) => d.target),
          timeout,
        );
        batch.forEach((d, i) => {
          const r = outcomes[i]!;
          const what = `${d.target.protocol} ${d.target.host.includes(':') ? `[${d.target.host}]` : d.target.host}:${d.target.port}`;
          this.lastCheck.set(d.key, {
            at: now,
            ok: checkOk(d.target.protocol, r.result),
            result: `check ${what} ${r.result}${r.detail ? ` (${r.detail})` : ''}`,
          });
        });
      }
      if (this.stopped) return;
      const changed = this.update(forwards, ages);
      this.record();
      if (changed) this.o.changed();
    } catch (err) {
      this.o.emit('warn', 'target-check-failed', { error: (err as Error).message });
    } finally {
      this.busy = false;
    }
  }

  /** Handshake age (s, null before the first) by peer name; undefined on an external tunnel. */
  private async handshakeAges(k: Kernel): Promise<Map<string, number | null> | undefined> {
    if (this.config.tunnel.external) return undefined;
    const out = new Map<string, number | null>();
    const name = this.config.tunnel.interface;
    const names = new Map(this.config.tunnel.peers.map((p) => [p.publicKey, p.name]));
    if (!(await k.wg.implementationOf(name))) return out; // no tunnel: no handshake
    const now = Date.now();
    for (const p of (await k.wg.get(name)).peers) {
      const peer = names.get(p.publicKey);
      if (peer !== undefined) out.set(peer, p.lastHandshake ? Math.max(0, Math.round((now - p.lastHandshake.getTime()) / 1000)) : null);
    }
    return out;
  }

  /** Applies a measurement; true when the set of targets down changed. */
  private update(forwards: NormalizedForward[], ages: Map<string, number | null> | undefined): boolean {
    // The first measurement replaces "what the kernel holds" by health: plan again.
    let changed = !this.measured;
    this.measured = true;
    const keys = new Set<string>();
    const ts = new Date().toISOString();
    for (const fw of forwards) {
      for (const t of fw.targets) {
        keys.add(t.key);
        const { up, reason } = this.judge(fw, t, ages);
        const was = this.health.get(t.key);
        if (was && was.up === up) {
          was.reason = reason;
          continue;
        }
        this.health.set(t.key, { key: t.key, forward: fw.source, target: t.name, up, since: ts, reason });
        // A target first seen up is no news; one first seen down is.
        if (was || !up) {
          changed = true;
          this.o.emit(up ? 'info' : 'warn', up ? 'target-up' : 'target-down', { forward: fw.source, target: t.name, reason, since: ts });
        }
      }
    }
    for (const key of [...this.health.keys()])
      if (!keys.has(key)) {
        if (!this.health.get(key)!.up) changed = true;
        this.health.delete(key);
      }
    return changed;
  }

  private judge(fw: NormalizedForward, t: NormalizedForwardTarget, ages: Map<string, number | null> | undefined) {
    const parts: string[] = [];
    let up = true;
    if (ages) {
      const age = ages.get(t.peer);
      if (age === undefined || age === null || age >= this.o.peerUpSeconds) {
        up = false;
        parts.push(age === undefined || age === null ? `no handshake with peer ${t.peer}` : `peer ${t.peer}'s last handshake ${age} s ago`);
      } else parts.push(`handshake ${age} s ago`);
    }
    if (fw.check) {
      const c = this.lastCheck.get(t.key);
      if (c && !c.ok) up = false;
      if (c) parts.push(c.result);
    }
    return { up, reason: parts.join(', ') || 'no measurement' };
  }

  private record(): void {
    const path = targetHealthPath(this.config.netns, this.config.tunnel.interface);
    const file: TargetHealthFile = { pid: process.pid, updated: new Date().toISOString(), targets: [...this.health.values()] };
    try {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
      renameSync(tmp, path);
    } catch {
      // Not writable (a read-only /run): status then says "not measured"; forwarding is unaffected.
    }
  }
}

/**
 * The supervisor's hook: a monitor for a frontend whose forwards have
 * several targets or a check (undefined otherwise, and for a backend).
 */
export function targetMonitorFor(
  config: { role: string },
  kernel: () => Kernel | undefined,
  o: TargetMonitorOptions,
): TargetMonitor | undefined {
  if (config.role !== 'frontend') return undefined;
  return new TargetMonitor(config as NormalizedFrontend, kernel, o);
}

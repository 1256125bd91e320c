/**
 * `netfwd run -c FILE`: applies the configuration, then stays up and keeps it
 * converged (src/forward/supervisor.ts), logging every state change as one
 * line (JSON with --json). Under systemd `Type=notify` it reports READY=1
 * after the first successful apply, STATUS= lines, WATCHDOG=1 pings at half
 * of WatchdogSec=, RELOADING=1 on SIGHUP (which re-reads the file) and
 * STOPPING=1 on SIGTERM/SIGINT. On exit the configuration stays in place —
 * the leak guard with it — unless --down-on-exit.
 *
 * Also: the text of `status --probe`.
 */
import { ConfigError } from '../errors.js';
import type { ForwardStatus, NormalizedConfig } from '../forward/index.js';
import { OwnershipError } from '../forward/plan/ownership.js';
import { type Notifier, systemdNotifier } from '../forward/sd-notify.js';
import { Supervisor, type SupervisorEvent, type SupervisorLevel } from '../forward/supervisor.js';
import { EXIT } from './exit-codes.js';

export interface RunOptions {
  json: boolean;
  downOnExit: boolean;
  /** Seconds; resolve a host name endpoint again when the last handshake is older. */
  reresolveAfter?: number;
  /** Seconds between periodic checks (0: only on events). */
  recheck?: number;
  /** Seconds between the checks of a backend's several tunnels (0: off). */
  tunnelCheck?: number;
  /** At most this many repairs per `repairWindow` seconds (then 'repairs-throttled'). */
  maxRepairs?: number;
  repairWindow?: number;
  /** Print debug events too ('checked', 'endpoint-unchanged'). */
  verbose: boolean;
  implementation: 'auto' | 'kernel' | 'userspace';
  userspaceCommand?: string;
}

const LEVEL_RANK: Record<SupervisorLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** One log line: JSON, or `TIME LEVEL EVENT key=value …`. */
export function formatEvent(e: SupervisorEvent, json: boolean): string {
  if (json) return JSON.stringify(e);
  const parts = Object.entries(e.details).map(([k, v]) => {
    if (Array.isArray(v)) return v.length ? `${k}=[${v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('; ')}]` : '';
    return `${k}=${typeof v === 'string' ? (/\s/.test(v) ? JSON.stringify(v) : v) : JSON.stringify(v)}`;
  });
  return [e.ts, e.level.padEnd(5), e.event, ...parts.filter(Boolean)].join(' ');
}

/**
 * Runs until SIGTERM/SIGINT; resolves with the exit code. `load` reads the
 * configuration file (again on SIGHUP).
 */
export async function runCommand(load: () => NormalizedConfig, o: RunOptions, out: (line: string) => void): Promise<number> {
  const config = load();
  const log = (e: SupervisorEvent) => {
    if (LEVEL_RANK[e.level] >= (o.verbose ? 0 : 1)) out(formatEvent(e, o.json));
  };
  const event = (level: SupervisorLevel, name: string, details: Record<string, unknown> = {}) =>
    log({ ts: new Date().toISOString(), level, event: name, details });
  let notifier: Notifier | undefined;
  try {
    notifier = systemdNotifier(process.env, (err) => event('warn', 'notify-failed', { error: err.message }));
  } catch (err) {
    event('warn', 'notify-unsupported', { error: (err as Error).message });
  }
  const supervisor = new Supervisor(config, {
    implementation: o.implementation,
    ...(o.userspaceCommand ? { userspaceCommand: o.userspaceCommand } : {}),
    ...(o.reresolveAfter !== undefined ? { reresolveAfterSeconds: o.reresolveAfter } : {}),
    ...(o.recheck !== undefined ? { recheckMs: o.recheck * 1000 } : {}),
    ...(o.tunnelCheck !== undefined ? { tunnelCheckMs: o.tunnelCheck * 1000 } : {}),
    ...(o.maxRepairs !== undefined ? { maxRepairs: o.maxRepairs } : {}),
    ...(o.repairWindow !== undefined ? { repairWindowMs: o.repairWindow * 1000 } : {}),
    log,
    status: (text) => notifier?.notify({ STATUS: text }),
  });

  let finish!: (code: number) => void;
  const done = new Promise<number>((r) => (finish = r));
  let stopping = false;
  let watchdog: ReturnType<typeof setInterval> | undefined;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    notifier?.notify({
      STOPPING: 1,
      STATUS: `stopping (${signal})${o.downOnExit ? ': removing the configuration' : ': the configuration stays'}`,
    });
    event('info', 'stopping', { signal, downOnExit: o.downOnExit });
    clearInterval(watchdog);
    supervisor.stop({ down: o.downOnExit }).then(
      () => finish(0),
      (err: Error) => {
        event('error', 'down-failed', { error: err.message });
        finish(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    notifier?.notify({ RELOADING: 1, STATUS: 'reloading the configuration' });
    try {
      supervisor.reload(load());
    } catch (err) {
      event('error', 'reload-failed', {
        error: (err as Error).message,
        ...(err instanceof ConfigError ? { field: err.field } : {}),
        keeping: 'the previous configuration',
      });
    }
    notifier?.notify({ READY: 1 });
  });

  await supervisor.start();
  if (notifier?.watchdogUsec) {
    const ms = Math.max(1, Math.floor(notifier.watchdogUsec / 2000));
    // The ping says the event loop turns; a supervisor stuck in the kernel would stop it.
    watchdog = setInterval(() => notifier!.notify({ WATCHDOG: 1 }), ms);
    event('info', 'watchdog', { intervalMs: ms });
  }
  supervisor.ready.then(
    () => {
      if (!stopping) notifier?.notify({ READY: 1, STATUS: 'converged', MAINPID: process.pid });
      if (!stopping) event('info', 'ready', { notify: notifier ? notifier.socket : null });
    },
    (err: Error) => {
      // Retrying cannot help (a name taken by something netfwd does not own, a table another
      // configuration claims, an unreadable state file): exit as `up` would.
      stopping = true;
      clearInterval(watchdog);
      notifier?.notify({ STATUS: `failed: ${err.message}`.slice(0, 200) });
      process.stderr.write(`netfwd: ${err.message}\n`);
      finish(err instanceof OwnershipError ? EXIT.OWNERSHIP : err instanceof ConfigError ? EXIT.CONFIG : EXIT.FAILED);
    },
  );
  return done;
}

/** The probe's lines of `netfwd status --probe` (empty without a probe). */
export function probeLines(s: ForwardStatus): string[] {
  const p = s.probe;
  if (!p) return [];
  const lines: string[] = ['  probe:'];
  for (const f of p.forwards) {
    const result =
      f.result === 'ok'
        ? `ok in ${f.ms} ms`
        : f.result === 'not probed'
          ? `not probed (${f.detail})`
          : `${f.result}${f.detail && f.result === 'error' ? ` (${f.detail})` : ''}${f.ms !== undefined ? ` after ${f.ms} ms` : ''}`;
    const dnat =
      f.dnat === 'missing'
        ? '; DNAT MISSING in the kernel: connections from outside are not forwarded (see drift)'
        : f.dnat === 'installed'
          ? '; DNAT installed'
          : '';
    lines.push(`    ${f.source} ${f.protocol} IPv${f.family} → ${f.target}: ${result}${dnat}`);
  }
  for (const e of p.egress) {
    const how = e.error
      ? `no route: ${e.error}`
      : `leaves by ${e.interface ?? '?'}${e.source ? ` from ${e.source}` : ''} (table ${e.table})${e.throughTunnel ? ', through the tunnel' : ', NOT through the tunnel'}`;
    lines.push(`    egress IPv${e.family} of ${e.selector}: ${how}`);
  }
  if (p.observed) {
    const o = p.observed;
    lines.push(
      `    egress seen by ${o.target} (as ${o.as}): ${o.result === 'ok' ? o.address : `${o.result}${o.detail ? ` (${o.detail})` : ''}`}`,
    );
  }
  return lines;
}

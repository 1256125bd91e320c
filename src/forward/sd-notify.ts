/**
 * systemd's notification protocol (sd_notify(3)) for `netfwd run` under
 * `Type=notify`: newline-separated VAR=value assignments in one datagram to
 * the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name
 * when it starts with '@'). The datagram is sent by the addon's one generic
 * primitive (Node's dgram has no Unix datagram sockets); everything about the
 * protocol is here.
 *
 * The watchdog: with WatchdogSec= systemd sets $WATCHDOG_USEC (and
 * $WATCHDOG_PID); the service sends WATCHDOG=1 more often than that —
 * sd_watchdog_enabled(3) advises half the interval.
 */
import { NetfwdError } from '../errors.js';
import { addon } from '../native.js';

export interface Notifier {
  /** Sends the assignments (e.g. { READY: 1, STATUS: 'converged' }); false when it could not be sent. */
  notify(fields: Record<string, string | number>): boolean;
  /** The watchdog interval in microseconds when systemd asks for pings, else undefined. */
  readonly watchdogUsec: number | undefined;
  /** The socket address as given ($NOTIFY_SOCKET). */
  readonly socket: string;
}

/** The socket address of $NOTIFY_SOCKET as sockaddr_un's sun_path bytes: '@name' → NUL + name. */
export function notifySocketAddress(value: string): Buffer {
  if (value.startsWith('@')) return Buffer.concat([Buffer.from([0]), Buffer.from(value.slice(1), 'utf8')]);
  if (value.startsWith('/')) return Buffer.from(value, 'utf8');
  throw new NetfwdError(`NOTIFY_SOCKET=${value}: only a path (/…) or an abstract socket (@…) is supported`);
}

/** One datagram's text: VAR=value lines. Values cannot contain a newline (it would start another assignment). */
export function notifyMessage(fields: Record<string, string | number>): string {
  return Object.entries(fields)
    .map(([k, v]) => {
      if (!/^[A-Z_][A-Z0-9_]*$/.test(k)) throw new NetfwdError(`sd_notify: ${JSON.stringify(k)} is not a variable name`);
      return `${k}=${String(v).replace(/[\r\n]+/g, ' ')}`;
    })
    .join('\n');
}

/**
 * The notifier for this process, or undefined when systemd did not ask for
 * notifications (no $NOTIFY_SOCKET). The watchdog interval only counts when
 * $WATCHDOG_PID is unset or names this process.
 */
export function systemdNotifier(env: NodeJS.ProcessEnv = process.env, onError?: (err: Error) => void): Notifier | undefined {
  const socket = env.NOTIFY_SOCKET;
  if (!socket) return undefined;
  const address = notifySocketAddress(socket);
  const usec = Number(env.WATCHDOG_USEC);
  const pidOk = env.WATCHDOG_PID === undefined || env.WATCHDOG_PID === '' || Number(env.WATCHDOG_PID) === process.pid;
  const watchdogUsec = Number.isInteger(usec) && usec > 0 && pidOk ? usec : undefined;
  return {
    socket,
    watchdogUsec,
    notify(fields) {
      try {
        addon().sendUnixDatagram(address, Buffer.from(notifyMessage(fields), 'utf8'));
        return true;
      } catch (err) {
        onError?.(err as Error);
        return false;
      }
    },
  };
}

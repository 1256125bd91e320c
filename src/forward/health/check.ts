/**
 * Active checks from a namespace: a TCP connect or a UDP datagram to an
 * address and port, with a timeout, optionally from a given local address
 * (a backend binds its check to a tunnel's address, which a rule routes by
 * that tunnel's table: the check leaves by that tunnel or fails, never by
 * the home uplink). The checks of one call run at once in one worker thread
 * inside the namespace (or in this thread for the caller's own namespace).
 */
import { runInNetns } from '../../netns/run-in-netns.js';

export interface CheckTarget {
  protocol: 'tcp' | 'udp';
  /** An IP address (no host names). */
  host: string;
  port: number;
  /** Bind to this local address first. */
  localAddress?: string;
}

/**
 * - open: TCP connected; UDP got an answer.
 * - refused: TCP reset; UDP port unreachable. Something answered: the path works, the port is closed.
 * - silent: UDP only: neither an answer nor an error before the timeout.
 * - timeout: TCP only: no answer at all.
 * - unreachable: no route (the leak guard's unreachable route, a link gone) or an ICMP unreachable.
 * - error: anything else (`detail` says what).
 */
export type CheckResult = 'open' | 'refused' | 'silent' | 'timeout' | 'unreachable' | 'error';

export interface CheckOutcome {
  result: CheckResult;
  /** Time until the result. */
  ms: number;
  /** The error code, for unreachable and error. */
  detail?: string;
}

interface CheckArg {
  targets: CheckTarget[];
  timeoutMs: number;
}

/** Runs in the worker (or here): must not use anything outside itself. */
async function runChecks(arg: CheckArg): Promise<CheckOutcome[]> {
  const net = await import('node:net');
  const dgram = await import('node:dgram');
  const unreachable = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENETDOWN', 'EHOSTDOWN']);
  const one = (t: CheckTarget) =>
    new Promise<CheckOutcome>((resolve) => {
      const start = Date.now();
      let settled = false;
      let cleanup = () => {};
      const done = (result: CheckResult, detail?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        cleanup();
        resolve({ result, ms: Date.now() - start, ...(detail ? { detail } : {}) });
      };
      const failed = (err: NodeJS.ErrnoException) => {
        const code = err.code ?? err.message;
        if (code === 'ECONNREFUSED') done('refused');
        else if (unreachable.has(code)) done('unreachable', code);
        else done('error', code);
      };
      const timer = setTimeout(() => done(t.protocol === 'tcp' ? 'timeout' : 'silent'), arg.timeoutMs);
      if (t.protocol === 'tcp') {
        const c = net.connect({ host: t.host, port: t.port, ...(t.localAddress ? { localAddress: t.localAddress } : {}) });
        cleanup = () => c.destroy();
        c.on('connect', () => done('open'));
        c.on('error', failed);
        return;
      }
      const s = dgram.createSocket(t.host.includes(':') ? 'udp6' : 'udp4');
      cleanup = () => s.close();
      s.on('error', failed);
      s.on('message', () => done('open'));
      const send = () =>
        s.connect(t.port, t.host, (err?: Error) => {
          if (err) return failed(err as NodeJS.ErrnoException);
          // A connected UDP socket reports the ICMP port unreachable as ECONNREFUSED on a later call.
          s.send(Buffer.from('netfwd health check\n'), (e) => {
            if (e) failed(e as NodeJS.ErrnoException);
          });
        });
      if (t.localAddress) s.bind({ address: t.localAddress, port: 0 }, send);
      else send();
    });
  return Promise.all(arg.targets.map(one));
}

/** Checks every target at once; one outcome per target, in order. */
export async function check(netns: string | undefined, targets: readonly CheckTarget[], timeoutMs: number): Promise<CheckOutcome[]> {
  if (targets.length === 0) return [];
  const arg: CheckArg = { targets: [...targets], timeoutMs };
  return netns === undefined ? runChecks(arg) : runInNetns(netns, runChecks, arg);
}

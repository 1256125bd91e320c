/**
 * The UAPI socket files of userspace daemons: /var/run/wireguard/NAME.sock.
 * That directory is global (not per namespace), so a socket says only that
 * a daemon of that name runs somewhere; whether it answers tells a live
 * daemon from a stale file.
 */
import { readdirSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { NetlinkError } from '../../errors.js';

export const UAPI_DIR = '/var/run/wireguard';

export function socketPath(name: string): string {
  return `${UAPI_DIR}/${name}.sock`;
}

export type SocketState = 'live' | 'stale' | 'absent';

/** Whether a daemon answers on the socket: a file nobody listens on is stale. */
export function probeSocket(path: string): Promise<SocketState> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve('live');
    });
    s.once('error', (err: NodeJS.ErrnoException) => {
      s.destroy();
      if (err.code === 'ECONNREFUSED') resolve('stale');
      else if (err.code === 'ENOENT') resolve('absent');
      else if (err.code === 'ENOTSOCK') resolve('stale');
      else reject(new NetlinkError(err.errno ? Math.abs(err.errno) : 5, { operation: `connect to ${path}` }));
    });
  });
}

/** Removes a socket file no daemon listens on; true when it did. */
export async function removeStaleSocket(path: string): Promise<boolean> {
  if ((await probeSocket(path)) !== 'stale') return false;
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return true;
}

/** The names of the socket files in the UAPI directory (none when it cannot be read). */
export function socketNames(): Set<string> {
  try {
    return new Set(
      readdirSync(UAPI_DIR)
        .filter((f) => f.endsWith('.sock'))
        .map((f) => f.slice(0, -'.sock'.length)),
    );
  } catch {
    return new Set();
  }
}

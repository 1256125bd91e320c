/**
 * File descriptors of network namespaces for IFLA_NET_NS_FD: opened just for
 * one request and closed right after, whatever happens.
 */
import { closeSync, openSync } from 'node:fs';
import { NetlinkError, ValidationError } from '../errors.js';
import { netnsPath } from '../netns/path.js';

export async function withNetnsFd<T>(netns: string | undefined, field: string, fn: (fd: number | undefined) => Promise<T>): Promise<T> {
  if (netns === undefined) return fn(undefined);
  if (typeof netns !== 'string') throw new ValidationError(field, 'expected a namespace name or path', 'a name under /run/netns or a path');
  const path = netnsPath(netns, field);
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new NetlinkError(e.errno !== undefined ? -e.errno : 2, { operation: `open network namespace ${netns} (${path})` });
  }
  try {
    return await fn(fd);
  } finally {
    closeSync(fd);
  }
}

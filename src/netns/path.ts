/** Names of network namespaces and the files that hold them (as `ip netns` keeps them). */
import { ValidationError } from '../errors.js';

export const NETNS_RUN_DIR = '/run/netns';

/** Checks a namespace name: a single path component, like `ip netns add` accepts. */
export function validateNetnsName(name: unknown, field = 'netns'): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new ValidationError(field, 'a namespace name must be a non-empty string', 'a name such as "frontend"');
  }
  if (name.length > 255 || name.includes('/') || name.includes('\0') || name === '.' || name === '..') {
    throw new ValidationError(field, `invalid namespace name ${JSON.stringify(name)}`, 'at most 255 bytes, no "/", not "." or ".."');
  }
  return name;
}

/** A namespace given as a name under /run/netns or as a path (anything containing "/"). */
export function netnsPath(nameOrPath: string, field = 'netns'): string {
  if (typeof nameOrPath === 'string' && nameOrPath.includes('/')) return nameOrPath;
  return `${NETNS_RUN_DIR}/${validateNetnsName(nameOrPath, field)}`;
}

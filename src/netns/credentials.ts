/**
 * The user and group a process started by `netns.exec` runs as. Checked
 * before any process starts: the kernel's ids are unsigned 32-bit numbers and
 * 4294967295 ((uid_t)-1) means "no change", so anything outside
 * 0..4294967294 would silently leave the process root.
 */
import { ValidationError } from '../errors.js';
import { addon } from '../native.js';

/** The largest uid or gid: 2^32 - 2 ((uid_t)-1 is "not given" to setuid/setgid). */
export const MAX_ID = 0xfffffffe;

function describe(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value;
}

/** An id, or undefined when it is not given (undefined or null, as node:child_process treats them). */
export function validateId(value: unknown, field: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new ValidationError(field, `must be an integer, got ${describe(value)}`, `an integer from 0 to ${MAX_ID}`);
  }
  if (value < 0 || value > MAX_ID) {
    throw new ValidationError(
      field,
      `${value} is out of range`,
      `an integer from 0 to ${MAX_ID} (${MAX_ID + 1} is (uid_t)-1, "no change")`,
    );
  }
  return value;
}

/** The primary group of `uid` from its passwd entry (NSS, as getpwuid_r sees it), or undefined when it has none. */
export function primaryGroupOf(uid: number): number | undefined {
  const gid = addon().userPrimaryGroup(uid);
  return gid === null ? undefined : gid;
}

export interface Credentials {
  uid?: number;
  gid?: number;
}

/**
 * Validates uid and gid; a uid without a gid gets the user's primary group,
 * and a uid with no passwd entry needs an explicit gid (otherwise the process
 * would keep root's group 0).
 */
export function resolveCredentials(options: { uid?: unknown; gid?: unknown }): Credentials {
  const uid = validateId(options.uid, 'uid');
  let gid = validateId(options.gid, 'gid');
  if (uid !== undefined && gid === undefined) {
    gid = primaryGroupOf(uid);
    if (gid === undefined) {
      throw new ValidationError(
        'gid',
        `uid ${uid} has no passwd entry, so it has no primary group to run as`,
        'a gid: pass options.gid with the uid',
      );
    }
  }
  return { uid, gid };
}

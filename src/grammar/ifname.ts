/**
 * Linux interface names. The kernel (dev_valid_name) takes 1 to IFNAMSIZ-1
 * (15) bytes other than "." and "..", without '/', ':', white space or NUL;
 * other syntaxes are stricter (wg-quick's file names) or looser (an nftables
 * match, which is only bytes).
 */
import { fail, ok, type Parsed } from './result.js';

/** IFNAMSIZ - 1: the longest interface name, in bytes. */
export const IFNAME_MAX = 15;

export interface IfnameOptions {
  /**
   * The characters allowed: 'kernel' (dev_valid_name, the default),
   * 'wg-quick' (letters, digits and `_=+.-`, the names wg-quick takes from a
   * file name), or 'bytes' (anything: 1 to 15 bytes, as an nftables
   * `iifname` value).
   */
  rule?: 'kernel' | 'wg-quick' | 'bytes';
  /** Refuse control characters (which the kernel takes but no tool prints safely). */
  refuseControl?: boolean;
  /** Refuse "all" and "default", the sysctl directories (/proc/sys/net/*\/conf/NAME) of every namespace. */
  refuseReserved?: boolean;
}

const WG_QUICK = /^[a-zA-Z0-9_=+.-]+$/;
// JavaScript's \s, which is wider than the kernel's isspace (it also matches Unicode spaces).
const KERNEL_BAD = /[\s/:\0]/;
const CONTROL = /[\x00-\x1f\x7f]/;

/** Parses an interface name (see IfnameOptions). */
export function parseIfname(name: unknown, options: IfnameOptions = {}): Parsed<string> {
  if (typeof name !== 'string') return fail('type', 'is not a string');
  if (name.length === 0) return fail('empty', 'is empty');
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes > IFNAME_MAX) return fail('length', `is ${bytes} bytes long (at most ${IFNAME_MAX})`);
  const rule = options.rule ?? 'kernel';
  if (rule === 'kernel' && (name === '.' || name === '..' || KERNEL_BAD.test(name))) {
    return fail('syntax', 'is not a valid interface name (no white space, "/", ":" or NUL; not "." or "..")');
  }
  if (rule === 'wg-quick' && !WG_QUICK.test(name))
    return fail('syntax', 'is not a wg-quick interface name (letters, digits, "_", "=", "+", "." and "-")');
  if (options.refuseControl && CONTROL.test(name)) return fail('control', 'contains a control character');
  if (options.refuseReserved && (name === 'all' || name === 'default'))
    return fail('reserved', `is reserved: /proc/sys/net/*/conf/${name} configures every interface`);
  return ok(name);
}

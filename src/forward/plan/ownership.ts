/**
 * What netfwd owns, and how it recognises it: routes and rules carry netfwd's
 * protocol number, links carry an alias, the nftables table has netfwd's name
 * and comment. Nothing else is ever modified.
 */
import { NetfwdError } from '../../errors.js';
import { NETFWD_PROTOCOL } from '../../route/index.js';

export { NETFWD_PROTOCOL };

/** IFLA_IFALIAS of the tunnel links netfwd creates. */
export const LINK_ALIAS_PREFIX = 'netfwd:';

export function linkAlias(role: 'frontend' | 'backend'): string {
  return `${LINK_ALIAS_PREFIX}${role}`;
}

export function isOwnedAlias(alias: string | undefined | null): boolean {
  return typeof alias === 'string' && alias.startsWith(LINK_ALIAS_PREFIX);
}

/** The nftables table of one tunnel (family inet: IPv4 and IPv6 together). */
export function nftTableName(tunnelInterface: string): string {
  return `netfwd-${tunnelInterface}`;
}

export const NFT_TABLE_COMMENT = 'managed by netfwd: changes here are overwritten';

/** An object of netfwd's name (a link, an nftables table) exists and netfwd does not own it. */
export class OwnershipError extends NetfwdError {
  override name = 'OwnershipError';
}

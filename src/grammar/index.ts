/**
 * The grammar of the values netfwd reads from people and files: IP addresses,
 * prefixes, interface names, WireGuard keys, endpoints, and the wrapper of
 * secrets that never prints them. The bottom floor: it imports nothing else
 * of netfwd, and its parsers return a problem (see result.ts) instead of
 * throwing, so each layer words its own typed error.
 */
export * from './decimal.js';
export * from './endpoint.js';
export * from './ifname.js';
export * from './ip.js';
export * from './key.js';
export * from './prefix.js';
export * from './result.js';
export * from './secret.js';

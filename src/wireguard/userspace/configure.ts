/**
 * The `set=1` request of the userspace API: a configuration as `key=value`
 * lines, keys in hex, ended by a blank line.
 */
import { allowedIpTextsOf, endpointTextOf, type ParsedConfig } from '../config.js';

/**
 * The `set=1` request for a configuration (keys in hex), in chunks of about
 * `firstChunk` characters doubling up to `chunkSize`, so a large
 * configuration is streamed to the daemon, which applies each line as it
 * arrives, while the rest is still being written: the first chunk is small
 * so the daemon starts early.
 */
export function* uapiSetChunks(config: ParsedConfig, chunkSize = 256 * 1024, firstChunk = 8 * 1024): Generator<string> {
  let limit = Math.min(firstChunk, chunkSize);
  let out = 'set=1\n';
  if (config.privateKey) out += `private_key=${config.privateKey.toString('hex')}\n`;
  if (config.listenPort !== undefined) out += `listen_port=${config.listenPort}\n`;
  if (config.fwmark !== undefined) out += `fwmark=${config.fwmark}\n`;
  if (config.replacePeers) out += 'replace_peers=true\n';
  for (const p of config.peers) {
    out += `public_key=${p.publicKey.toString('hex')}\n`;
    if (p.remove) {
      out += 'remove=true\n';
    } else {
      if (p.updateOnly) out += 'update_only=true\n';
      if (p.presharedKey) out += `preshared_key=${p.presharedKey.toString('hex')}\n`;
      const endpoint = endpointTextOf(p);
      if (endpoint !== undefined) out += `endpoint=${endpoint}\n`;
      if (p.persistentKeepalive !== undefined) out += `persistent_keepalive_interval=${p.persistentKeepalive}\n`;
      if (p.replaceAllowedIps) out += 'replace_allowed_ips=true\n';
      for (const a of allowedIpTextsOf(p)) out += `allowed_ip=${a}\n`;
    }
    if (out.length >= limit) {
      yield out;
      out = '';
      limit = Math.min(limit * 2, chunkSize);
    }
  }
  yield out + '\n';
}

/** The whole `set=1` request as one string. */
export function encodeUapiSet(config: ParsedConfig): string {
  return [...uapiSetChunks(config)].join('');
}

/**
 * Replies of the cross-platform userspace API of WireGuard (wireguard-go,
 * boringtun): `key=value` lines on a stream socket, keys in hex, a blank
 * line ends a request and a reply ends with `errno=N` and a blank line.
 */
import { DecodeError, NetlinkError } from '../../errors.js';
import { parseKey } from '../../grammar/index.js';
import { parsePrefix } from '../../netlink/ip.js';
import { parseEndpointLiteral } from '../endpoint.js';
import { emptyPeer, type RawDevice, type RawPeer } from '../state.js';

/** The request whose reply parseUapiGet reads. */
export const UAPI_GET = 'get=1\n\n';

function hexKey(value: string, path: string): Buffer {
  const r = parseKey(value, 'hex');
  if (!r.ok) throw new DecodeError(`not a 32-byte hex key`, path);
  return r.value;
}

function uint(value: string, path: string, max: number): number {
  if (!/^[0-9]{1,20}$/.test(value) || Number(value) > max)
    throw new DecodeError(`${JSON.stringify(value)} is not an integer up to ${max}`, path);
  return Number(value);
}

function bigUint(value: string, path: string): bigint {
  if (!/^[0-9]{1,20}$/.test(value)) throw new DecodeError(`${JSON.stringify(value)} is not an unsigned integer`, path);
  return BigInt(value);
}

/** The errno of a reply (wireguard-go writes it negative, boringtun positive); 0 for success. */
export function uapiErrno(text: string): number | undefined {
  const m = /(?:^|\n)errno=(-?[0-9]+)\n\n$/.exec(text);
  return m ? Math.abs(Number(m[1])) : undefined;
}

/** Throws a NetlinkError when a reply carries a nonzero errno, a DecodeError when it has none. */
export function checkUapiReply(text: string, operation: string): void {
  const errno = uapiErrno(text);
  if (errno === undefined) throw new DecodeError(`reply without a final errno line: ${JSON.stringify(text.slice(-80))}`, 'uapi');
  if (errno !== 0) throw new NetlinkError(errno, { operation });
}

/** Parses the reply to `get=1`. */
export function parseUapiGet(text: string, operation = 'uapi get'): RawDevice {
  checkUapiReply(text, operation);
  const device: RawDevice = { listenPort: 0, fwmark: 0, peers: [] };
  let peer: RawPeer | undefined;
  let lineNo = 0;
  let start = 0;
  for (;;) {
    const nl = text.indexOf('\n', start);
    if (nl === -1 || nl === start) break; // the blank line that ends the reply
    const line = text.slice(start, nl);
    start = nl + 1;
    lineNo++;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new DecodeError(`line ${lineNo} ${JSON.stringify(line.slice(0, 40))} is not key=value`, 'uapi');
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1);
    const path = `uapi line ${lineNo} (${key})`;
    if (key === 'public_key') {
      peer = emptyPeer(hexKey(value, path));
      device.peers.push(peer);
      continue;
    }
    if (key === 'errno') continue;
    if (!peer) {
      switch (key) {
        case 'private_key':
          device.privateKey = hexKey(value, path);
          break;
        case 'listen_port':
          device.listenPort = uint(value, path, 65535);
          break;
        case 'fwmark':
          device.fwmark = uint(value, path, 0xffffffff);
          break;
        default:
        // Keys of newer implementations are ignored.
      }
      continue;
    }
    switch (key) {
      case 'preshared_key':
        peer.presharedKey = hexKey(value, path);
        break;
      case 'endpoint':
        peer.endpoint = parseEndpointLiteral(value, path);
        break;
      case 'persistent_keepalive_interval':
        peer.persistentKeepalive = uint(value, path, 65535);
        break;
      case 'last_handshake_time_sec':
        peer.handshakeSec = bigUint(value, path);
        break;
      case 'last_handshake_time_nsec':
        peer.handshakeNsec = bigUint(value, path);
        break;
      case 'rx_bytes':
        peer.rxBytes = bigUint(value, path);
        break;
      case 'tx_bytes':
        peer.txBytes = bigUint(value, path);
        break;
      case 'protocol_version':
        peer.protocolVersion = uint(value, path, 0xffffffff);
        break;
      case 'allowed_ip':
        try {
          peer.allowedIps.push(parsePrefix(value, path));
        } catch (err) {
          throw new DecodeError((err as Error).message, path);
        }
        break;
      default:
    }
  }
  return device;
}

/**
 * Peer endpoints on the kernel wire: struct sockaddr_in / sockaddr_in6
 * (linux/in.h, linux/in6.h), the value of WGPEER_A_ENDPOINT.
 */
import { DecodeError } from '../../errors.js';
import type { Endpoint } from '../endpoint.js';
import { AF_INET, AF_INET6 } from './family.js';

export const SOCKADDR_IN_LEN = 16;
export const SOCKADDR_IN6_LEN = 28;

/** struct sockaddr_in (16 bytes) or struct sockaddr_in6 (28 bytes). */
export function encodeSockaddr(e: Endpoint): Buffer {
  if (e.family === 4) {
    const b = Buffer.alloc(SOCKADDR_IN_LEN);
    b.writeUInt16LE(AF_INET, 0); // sin_family, host order
    b.writeUInt16BE(e.port, 2); // sin_port, network order
    e.address.copy(b, 4);
    return b;
  }
  const b = Buffer.alloc(SOCKADDR_IN6_LEN);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(e.port, 2);
  // sin6_flowinfo (4 bytes) stays zero.
  e.address.copy(b, 8);
  b.writeUInt32LE(e.scopeId >>> 0, 24);
  return b;
}

/** Decodes a sockaddr; undefined for AF_UNSPEC (no endpoint). */
export function decodeSockaddr(b: Buffer, path = 'endpoint'): Endpoint | undefined {
  if (b.length < 2) throw new DecodeError(`${b.length}-byte sockaddr`, path);
  const family = b.readUInt16LE(0);
  if (family === 0) return undefined;
  if (family === AF_INET) {
    if (b.length < SOCKADDR_IN_LEN) throw new DecodeError(`${b.length}-byte sockaddr_in, needs ${SOCKADDR_IN_LEN}`, path);
    return { family: 4, port: b.readUInt16BE(2), address: Buffer.from(b.subarray(4, 8)), scopeId: 0 };
  }
  if (family === AF_INET6) {
    if (b.length < SOCKADDR_IN6_LEN) throw new DecodeError(`${b.length}-byte sockaddr_in6, needs ${SOCKADDR_IN6_LEN}`, path);
    return { family: 6, port: b.readUInt16BE(2), address: Buffer.from(b.subarray(8, 24)), scopeId: b.readUInt32LE(24) };
  }
  throw new DecodeError(`sockaddr of unknown family ${family}`, path);
}

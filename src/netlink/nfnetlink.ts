/** The nfnetlink family header (linux/netfilter/nfnetlink.h). */
import { struct } from './struct.js';

/** struct nfgenmsg: family (AF_*), version (NFNETLINK_V0), res_id (big-endian: subsystem or resource id). */
export const nfgenmsg = struct('nfgenmsg', { family: 'u8', version: 'u8', resId: 'be16' });

/** nlmsg_type of an nfnetlink message: subsystem in the high byte, message in the low byte. */
export function nfnlType(subsystem: number, message: number): number {
  return (subsystem << 8) | message;
}

/** nft's typeof userdata (KEY_TYPEOF / DATA_TYPEOF) for the keys of a set. */
import { type UdataEntry, udataEncode, udataU32 } from '../udata.js';
import type { KeyDef } from './key.js';

const EXPR_CONCAT = 13;

function typeofBytes(info: readonly [number, readonly UdataEntry[]]): Buffer {
  return udataEncode([
    [0, udataU32(info[0])],
    [1, udataEncode(info[1])],
  ]);
}

/** The KEY_TYPEOF/DATA_TYPEOF content nft writes for keys of an anonymous set, or undefined. */
export function typeofUdata(defs: readonly KeyDef[], withComponents: boolean): Buffer | undefined {
  if (defs.length === 1) return defs[0]!.typeofInfo ? typeofBytes(defs[0]!.typeofInfo) : undefined;
  if (!withComponents)
    return udataEncode([
      [0, udataU32(EXPR_CONCAT)],
      [1, Buffer.alloc(0)],
    ]);
  const parts: UdataEntry[] = [];
  for (let i = 0; i < defs.length; i++) {
    const info = defs[i]!.typeofInfo;
    if (!info) return undefined;
    parts.push([i, typeofBytes(info)]);
  }
  return udataEncode([
    [0, udataU32(EXPR_CONCAT)],
    [1, udataEncode(parts)],
  ]);
}

/** The concat typeof content nft writes for a `type a . b` declaration (no components). */
export const concatTypeofUdata = (): Buffer =>
  udataEncode([
    [0, udataU32(EXPR_CONCAT)],
    [1, Buffer.alloc(0)],
  ]);

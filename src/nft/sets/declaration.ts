/** Set and map declarations: key and data types, flags, and the userdata nft writes for them (named and anonymous sets). */
import { DecodeError, ValidationError } from '../../errors.js';
import {
  NFT_SET_INTERVAL,
  type NftSetFlag,
  SET_FLAGS,
  UDATA_SET_COMMENT,
  UDATA_SET_DATA_INTERVAL,
  UDATA_SET_DATA_TYPEOF,
  UDATA_SET_DATABYTEORDER,
  UDATA_SET_KEY_TYPEOF,
  UDATA_SET_KEYBYTEORDER,
  UDATA_SET_MERGE_ELEMENTS,
} from '../constants.js';
import { datatypeById, datatypeByName, type NftDatatype, pad4, splitTypeId } from '../datatype.js';
import type { NftSetType } from '../model.js';
import { type KeyDef, keyByteorder } from '../selectors/key.js';
import { concatTypeofUdata, typeofUdata } from '../selectors/typeof.js';
import { readUdataString, type UdataEntry, udataDecode, udataEncode, udataString, udataU32 } from '../udata.js';

/** Resolves nft type names (`ipv4_addr`, or several for a concatenation). */
export function resolveTypes(t: NftSetType, field: string): NftDatatype[] {
  const names = typeof t === 'string' ? t.split(/\s*\.\s*/) : [...t];
  if (names.length === 0) throw new ValidationError(field, 'no type', 'an nft type name such as ipv4_addr');
  return names.map((n, i) => {
    const dt = typeof n === 'string' ? datatypeByName(n) : undefined;
    if (!dt || dt.name === 'verdict') {
      throw new ValidationError(
        names.length > 1 ? `${field}[${i}]` : field,
        `unknown type ${JSON.stringify(n)}`,
        'an nft type such as ipv4_addr, ipv6_addr, inet_proto, inet_service, mark, ifname, uid, gid, ether_addr, ct_state',
      );
    }
    return dt;
  });
}

export const typesLen = (types: readonly NftDatatype[]): number =>
  types.length === 1 ? types[0]!.len : types.reduce((n, t) => n + pad4(t.len), 0);

export function setFlagBits(flags: readonly NftSetFlag[] | undefined, field: string): number {
  let bits = 0;
  for (const [i, f] of (flags ?? []).entries()) {
    const b = SET_FLAGS[f as NftSetFlag];
    if (b === undefined)
      throw new ValidationError(`${field}[${i}]`, `unknown set flag ${JSON.stringify(f)}`, Object.keys(SET_FLAGS).join(', '));
    bits |= b;
  }
  return bits;
}

export function setFlagNames(bits: number): NftSetFlag[] {
  return (Object.entries(SET_FLAGS) as [NftSetFlag, number][]).filter(([, b]) => bits & b).map(([n]) => n);
}

const BYTEORDER_CODE = { host: 1, big: 2 } as const;

/** nft's userdata for a `type ...` set declaration. */
export function namedSetUdata(
  keyTypes: readonly NftDatatype[],
  dataTypes: readonly NftDatatype[] | 'verdict' | undefined,
  comment?: string,
): Buffer {
  const e: UdataEntry[] = [[UDATA_SET_KEYBYTEORDER, udataU32(keyTypes.length > 1 ? 0 : BYTEORDER_CODE[keyTypes[0]!.byteorder])]];
  if (dataTypes) {
    e.push([
      UDATA_SET_DATABYTEORDER,
      udataU32(dataTypes === 'verdict' || dataTypes.length > 1 ? 0 : BYTEORDER_CODE[dataTypes[0]!.byteorder]),
    ]);
  }
  if (keyTypes.length > 1) e.push([UDATA_SET_KEY_TYPEOF, concatTypeofUdata()]);
  if (dataTypes && dataTypes !== 'verdict' && dataTypes.length > 1) e.push([UDATA_SET_DATA_TYPEOF, concatTypeofUdata()]);
  if (dataTypes) e.push([UDATA_SET_DATA_INTERVAL, udataU32(0)]);
  if (comment !== undefined) e.push([UDATA_SET_COMMENT, udataString(comment)]);
  return udataEncode(e);
}

const EXPR_VERDICT = 1;

/** nft's userdata for an anonymous set or map written in a rule. */
export function inlineSetUdata(
  keyDefs: readonly KeyDef[],
  dataTypes: readonly NftDatatype[] | 'verdict' | undefined,
  flags: number,
): Buffer {
  const concat = keyDefs.length > 1;
  const interval = (flags & NFT_SET_INTERVAL) !== 0;
  const e: UdataEntry[] = [[UDATA_SET_KEYBYTEORDER, udataU32(concat ? 0 : BYTEORDER_CODE[keyByteorder(keyDefs[0]!)])]];
  if (dataTypes) {
    e.push([
      UDATA_SET_DATABYTEORDER,
      udataU32(dataTypes === 'verdict' || dataTypes.length > 1 ? 0 : BYTEORDER_CODE[dataTypes[0]!.byteorder]),
    ]);
  } else if (interval) e.push([UDATA_SET_MERGE_ELEMENTS, udataU32(1)]);
  let typeOf: Buffer | undefined;
  if (!dataTypes) {
    const hostPart = interval && keyDefs.some((d) => keyByteorder(d) === 'host' && d.len > 1);
    typeOf = typeofUdata(keyDefs, !hostPart);
  } else if (concat) typeOf = typeofUdata(keyDefs, true);
  if (typeOf) e.push([UDATA_SET_KEY_TYPEOF, typeOf]);
  if (dataTypes === 'verdict')
    e.push([
      UDATA_SET_DATA_TYPEOF,
      udataEncode([
        [0, udataU32(EXPR_VERDICT)],
        [1, Buffer.alloc(0)],
      ]),
    ]);
  if (dataTypes) e.push([UDATA_SET_DATA_INTERVAL, udataU32(0)]);
  return udataEncode(e);
}

/** The comment stored in set userdata. */
export function setComment(udata: Buffer | undefined): string | undefined {
  if (!udata) return undefined;
  try {
    for (const [t, v] of udataDecode(udata)) if (t === UDATA_SET_COMMENT) return readUdataString(v);
  } catch {
    return undefined;
  }
  return undefined;
}

/** Types of a listed set: from its key type id and lengths. */
export function typesFromKernel(typeId: number | undefined, len: number, fieldLens?: number[]): NftDatatype[] {
  if (!(len > 0 && len <= 64) || (fieldLens && fieldLens.some((l) => !(l > 0 && l <= 64))))
    throw new DecodeError(`set key or data of ${len} bytes`, 'set');
  if (typeId !== undefined) {
    const split = splitTypeId(typeId, len, fieldLens);
    if (split) return split;
  }
  if (fieldLens && fieldLens.length > 1) return fieldLens.map((l) => datatypeById(0, l));
  return [datatypeById(typeId ?? 0, len)];
}

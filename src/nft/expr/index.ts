/**
 * The kernel expressions of a rule, one codec per expression name, and the
 * NFTA_RULE_EXPRESSIONS list (LIST_ELEM → NAME, DATA) both ways. An expression
 * netfwd has no codec for (or cannot read) is kept as opaque bytes.
 */
import { DecodeError } from '../../errors.js';
import { walkAttributes } from '../../netlink/attributes.js';
import { NLA_F_NESTED } from '../../netlink/constants.js';
import type { Writer } from '../../netlink/writer.js';
import { type BitwiseExpr, bitwiseCodec } from './bitwise.js';
import { type ByteorderExpr, byteorderCodec } from './byteorder.js';
import { type CmpExpr, cmpCodec } from './cmp.js';
import { type ExprCodec, nestBegin, nestEnd } from './common.js';
import { matchCodec, targetCodec, type XtExpr } from './compat.js';
import { type CounterExpr, counterCodec, type ObjrefExpr, objrefCodec } from './counter.js';
import { type CtExpr, ctCodec } from './ct.js';
import { type DynsetExpr, dynsetCodec } from './dynset.js';
import { type ExthdrExpr, exthdrCodec } from './exthdr.js';
import { type FibExpr, fibCodec } from './fib.js';
import { type HashExpr, hashCodec } from './hash.js';
import { type ImmediateExpr, immediateCodec } from './immediate.js';
import { type LimitExpr, limitCodec } from './limit.js';
import { type LogExpr, logCodec } from './log.js';
import { type LookupExpr, lookupCodec } from './lookup.js';
import { type MetaExpr, metaCodec } from './meta.js';
import { type MasqExpr, masqCodec, type NatExpr, natCodec, type RedirExpr, redirCodec } from './nat.js';
import { type NotrackExpr, notrackCodec } from './notrack.js';
import { type PayloadExpr, payloadCodec } from './payload.js';
import { type QuotaExpr, quotaCodec } from './quota.js';
import { type RangeExpr, rangeCodec } from './range.js';
import { type RejectExpr, rejectCodec } from './reject.js';
import { type RtExpr, rtCodec } from './rt.js';
import { type SocketExpr, socketCodec } from './socket.js';

/** An expression netfwd does not model: its name and the bytes of NFTA_EXPR_DATA. */
export interface UnknownExpr {
  name: 'unknown';
  /** The kernel's expression name (e.g. `numgen`). */
  exprName: string;
  data: Buffer;
}

export type NftExpr =
  | PayloadExpr
  | CmpExpr
  | BitwiseExpr
  | ByteorderExpr
  | RangeExpr
  | LookupExpr
  | ImmediateExpr
  | MetaExpr
  | CtExpr
  | SocketExpr
  | RtExpr
  | ExthdrExpr
  | FibExpr
  | HashExpr
  | NatExpr
  | MasqExpr
  | RedirExpr
  | CounterExpr
  | ObjrefExpr
  | LogExpr
  | LimitExpr
  | RejectExpr
  | NotrackExpr
  | XtExpr
  | DynsetExpr
  | QuotaExpr
  | UnknownExpr;

export type {
  BitwiseExpr,
  ByteorderExpr,
  CmpExpr,
  CounterExpr,
  CtExpr,
  DynsetExpr,
  ExthdrExpr,
  FibExpr,
  HashExpr,
  ImmediateExpr,
  LimitExpr,
  LogExpr,
  LookupExpr,
  MasqExpr,
  MetaExpr,
  NatExpr,
  NotrackExpr,
  ObjrefExpr,
  PayloadExpr,
  QuotaExpr,
  RangeExpr,
  RedirExpr,
  RejectExpr,
  RtExpr,
  SocketExpr,
  XtExpr,
};

const CODECS = new Map<string, ExprCodec<any>>(
  [
    payloadCodec,
    cmpCodec,
    bitwiseCodec,
    byteorderCodec,
    rangeCodec,
    lookupCodec,
    immediateCodec,
    metaCodec,
    ctCodec,
    socketCodec,
    rtCodec,
    exthdrCodec,
    fibCodec,
    hashCodec,
    natCodec,
    masqCodec,
    redirCodec,
    counterCodec,
    objrefCodec,
    logCodec,
    limitCodec,
    rejectCodec,
    notrackCodec,
    matchCodec,
    targetCodec,
    dynsetCodec,
    quotaCodec,
  ].map((c) => [c.name, c]),
);

const NFTA_LIST_ELEM = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;

const nameAttrs = new Map<string, Buffer>();

/** NFTA_EXPR_NAME with its padding, encoded once per name. */
function nameAttr(name: string): Buffer {
  let b = nameAttrs.get(name);
  if (!b) {
    const s = Buffer.from(`${name}\0`, 'latin1');
    b = Buffer.alloc((4 + s.length + 3) & ~3);
    b.writeUInt16LE(4 + s.length, 0);
    b.writeUInt16LE(NFTA_EXPR_NAME, 2);
    s.copy(b, 4);
    if (nameAttrs.size < 256) nameAttrs.set(name, b);
  }
  return b;
}

/** Each codec with its encoded name attribute: one lookup per expression. */
const ENCODERS = new Map([...CODECS].map(([name, codec]) => [name, { codec, name: nameAttr(name) }]));

/** Writes one expression as LIST_ELEM { NAME, DATA }. */
export function encodeExpr(w: Writer, e: NftExpr): void {
  const elem = nestBegin(w, NFTA_LIST_ELEM | NLA_F_NESTED);
  if (e.name === 'unknown') {
    w.bytes(nameAttr(e.exprName));
    const d = nestBegin(w, NFTA_EXPR_DATA | NLA_F_NESTED);
    w.bytes(e.data);
    nestEnd(w, d);
  } else {
    const enc = ENCODERS.get(e.name)!;
    w.bytes(enc.name);
    // libnftnl sends no data at all for notrack (and an empty nest for a new counter).
    if (e.name !== 'notrack') {
      const d = nestBegin(w, NFTA_EXPR_DATA | NLA_F_NESTED);
      enc.codec.encode(w, e);
      nestEnd(w, d);
    }
  }
  nestEnd(w, elem);
}

/** Writes the content of NFTA_RULE_EXPRESSIONS (or NFTA_SET_EXPRESSIONS). */
export function encodeExprs(w: Writer, exprs: readonly NftExpr[]): void {
  for (let i = 0; i < exprs.length; i++) encodeExpr(w, exprs[i]!);
}

/** Decodes one LIST_ELEM payload. Bytes a codec cannot read become an UnknownExpr. */
export function decodeExpr(buf: Buffer, start: number, end: number, path = 'expr'): NftExpr {
  let name: string | undefined;
  let data: { at: number; len: number } | undefined;
  for (const a of walkAttributes(buf, start, end, path)) {
    if (a.type === NFTA_EXPR_NAME) {
      const nul = buf.indexOf(0, a.at);
      name = buf.toString('latin1', a.at, nul === -1 || nul > a.at + a.len ? a.at + a.len : nul);
    } else if (a.type === NFTA_EXPR_DATA) data = { at: a.at, len: a.len };
  }
  if (name === undefined) throw new DecodeError('expression without a name', path);
  const bytes = data ? buf.subarray(data.at, data.at + data.len) : Buffer.alloc(0);
  const codec = name === 'unknown' ? undefined : CODECS.get(name);
  if (codec) {
    try {
      return codec.decode(buf, data ? data.at : 0, data ? data.at + data.len : 0) as NftExpr;
    } catch (err) {
      if (!(err instanceof DecodeError)) throw err;
      // Malformed or newer layout: keep the bytes.
    }
  }
  return { name: 'unknown', exprName: name, data: Buffer.from(bytes) };
}

/** Decodes a list of LIST_ELEM nests. */
export function decodeExprs(buf: Buffer, start = 0, end = buf.length, path = 'expressions'): NftExpr[] {
  const out: NftExpr[] = [];
  for (const a of walkAttributes(buf, start, end, path)) {
    if (a.type !== NFTA_LIST_ELEM) continue;
    out.push(decodeExpr(buf, a.at, a.at + a.len, `${path}[${out.length}]`));
  }
  return out;
}

/** libnftnl's debug text of one expression (`payload load 4b @ network header + 16 => reg 1`). */
export function exprDebug(e: NftExpr): string {
  if (e.name === 'unknown') return `${e.exprName} 0x${e.data.toString('hex')}`;
  return CODECS.get(e.name)!.debug(e);
}

/** The name of attribute `type` of expression `name` (`lookup` 1 → `set`), for error paths. */
export function exprFieldName(name: string, type: number): string | undefined {
  return CODECS.get(name)?.fieldName(type);
}

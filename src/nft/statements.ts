/**
 * The statement registry: for each statement type its linearizer and text,
 * for each kernel expression the decoder that turns it (with what the
 * registers hold) into a statement. The code lives in the expression files.
 */
import { DATATYPES } from './datatype.js';
import type { DelinCtx, DelinResult } from './delinearize.js';
import { delinearizeBitwise } from './expr/bitwise.js';
import { delinearizeByteorder } from './expr/byteorder.js';
import { delinearizeCmp, linearizeMatch, matchText } from './expr/cmp.js';
import { delinearizeXt, linearizeXt, xtText } from './expr/compat.js';
import { counterText, delinearizeCounter, delinearizeObjref, linearizeCounter } from './expr/counter.js';
import { delinearizeCt } from './expr/ct.js';
import { delinearizeExthdr } from './expr/exthdr.js';
import { delinearizeImmediate, linearizeVerdict, verdictStmtText } from './expr/immediate.js';
import { type NftExpr, exprDebug } from './expr/index.js';
import { delinearizeLimit, limitText, linearizeLimit } from './expr/limit.js';
import { delinearizeLog, linearizeLog, logText } from './expr/log.js';
import { delinearizeLookup, linearizeVmap, vmapText } from './expr/lookup.js';
import { delinearizeMeta, linearizeSetStmt, setStmtText } from './expr/meta.js';
import {
  delinearizeMasq,
  delinearizeNat,
  delinearizeRedir,
  linearizeMasquerade,
  linearizeNat,
  linearizeRedirect,
  masqueradeText,
  natText,
  redirectText,
} from './expr/nat.js';
import { delinearizeNotrack, linearizeNotrack, notrackText } from './expr/notrack.js';
import { delinearizePayload } from './expr/payload.js';
import { delinearizeRange } from './expr/range.js';
import { delinearizeReject, linearizeReject, rejectText } from './expr/reject.js';
import { type ProtoCtx, findKey } from './keys.js';
import type { LinCtx } from './linearize.js';
import { type TextCtx, isSetSource } from './text-util.js';
import type { NftRawStmt, NftStmt } from './types.js';

type Lin<T extends NftStmt['type']> = (s: Extract<NftStmt, { type: T }>, ctx: LinCtx) => void;
type Txt<T extends NftStmt['type']> = (s: Extract<NftStmt, { type: T }>, ctx: TextCtx) => string;

export const STMT_LINEARIZERS: { [T in NftStmt['type']]: Lin<T> } = {
  match: linearizeMatch,
  verdict: linearizeVerdict,
  vmap: linearizeVmap,
  counter: linearizeCounter,
  log: linearizeLog,
  limit: linearizeLimit,
  reject: linearizeReject,
  nat: linearizeNat,
  masquerade: linearizeMasquerade,
  redirect: linearizeRedirect,
  set: linearizeSetStmt,
  notrack: linearizeNotrack,
  xt: linearizeXt,
  raw: (s: NftRawStmt, ctx: LinCtx) => ctx.emit(...s.exprs),
};

export const STMT_TEXT: { [T in NftStmt['type']]: Txt<T> } = {
  match: matchText,
  verdict: verdictStmtText,
  vmap: vmapText,
  counter: counterText,
  log: logText,
  limit: limitText,
  reject: rejectText,
  nat: natText,
  masquerade: masqueradeText,
  redirect: redirectText,
  set: setStmtText,
  notrack: notrackText,
  xt: xtText,
  raw: (s: NftRawStmt) => `[ ${s.exprs.map(exprDebug).join(' ] [ ')} ]`,
};

type Delin = (e: never, ctx: DelinCtx) => DelinResult | undefined;

export const DELINEARIZERS: Partial<Record<NftExpr['name'], Delin>> = {
  cmp: delinearizeCmp,
  range: delinearizeRange,
  lookup: delinearizeLookup,
  bitwise: delinearizeBitwise,
  byteorder: delinearizeByteorder,
  immediate: delinearizeImmediate,
  meta: delinearizeMeta,
  ct: delinearizeCt,
  exthdr: delinearizeExthdr,
  payload: delinearizePayload,
  nat: delinearizeNat,
  masq: delinearizeMasq,
  redir: delinearizeRedir,
  counter: delinearizeCounter,
  objref: delinearizeObjref,
  log: delinearizeLog,
  limit: delinearizeLimit,
  reject: delinearizeReject,
  notrack: delinearizeNotrack,
  match: delinearizeXt,
  target: delinearizeXt,
  dynset: () => 'fail',
  quota: () => 'fail',
  unknown: () => 'fail',
};

const L4_KEYS = new Set(['meta l4proto', 'ip protocol', 'ip6 nexthdr']);

/** Records what a statement tells about the packet's protocols (nft's protocol context). */
export function establish(s: NftStmt, ctx: ProtoCtx): void {
  if (s.type !== 'match') return;
  for (const k of Array.isArray(s.key) ? s.key : [s.key]) {
    const d = findKey(k as string, ctx.family);
    if (d?.l4 !== undefined) ctx.l4 = d.l4;
    if (d?.nfproto !== undefined) ctx.nfproto = d.nfproto;
  }
  if (s.op !== 'eq' || Array.isArray(s.key) || s.mask !== undefined || isSetSource(s.value)) return;
  const v = s.value;
  if (typeof v !== 'string' && typeof v !== 'number') return;
  try {
    if (L4_KEYS.has(s.key as string)) ctx.l4 = DATATYPES.inet_proto.parse(v, 'value')[0];
    else if (s.key === 'meta nfproto') ctx.nfproto = DATATYPES.nf_proto.parse(v, 'value')[0];
  } catch {
    /* not a protocol value: nothing established */
  }
}

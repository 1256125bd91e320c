/**
 * The statement registry: for each statement type its linearizer and text,
 * for each kernel expression the decoder that turns it (with what the
 * registers hold) into a statement. The code lives in this folder, one file
 * per statement.
 */
import { exprDebug, type NftExpr } from '../expr/index.js';
import type { NftRawStmt, NftStmt } from '../model.js';
import type { DelinCtx, DelinResult, LinCtx, TextCtx } from './context.js';
import { counterText, delinearizeCounter, delinearizeObjref, linearizeCounter } from './counter.js';
import { delinearizeHash } from './hash.js';
import { delinearizeLimit, limitText, linearizeLimit } from './limit.js';
import { delinearizeLog, linearizeLog, logText } from './log.js';
import { delinearizeLookup } from './lookup.js';
import { delinearizeBitwise, delinearizeByteorder, delinearizeCmp, delinearizeRange, linearizeMatch, matchText } from './match.js';
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
} from './nat.js';
import { delinearizeNotrack, linearizeNotrack, notrackText } from './notrack.js';
import { delinearizeReject, linearizeReject, rejectText } from './reject.js';
import { delinearizeCt, delinearizeExthdr, delinearizeMeta, delinearizePayload, linearizeSetStmt, setStmtText } from './set.js';
import { delinearizeImmediate, linearizeVerdict, verdictStmtText } from './verdict.js';
import { linearizeVmap, vmapText } from './vmap.js';
import { delinearizeXt, linearizeXt, xtText } from './xt.js';

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
  hash: delinearizeHash,
  immediate: delinearizeImmediate,
  meta: delinearizeMeta,
  ct: delinearizeCt,
  exthdr: delinearizeExthdr,
  // Loads are handled generically; of the writes only bit fields (`ip dscp set 42`): `ip ttl set 64` stays raw.
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

/** match, target: iptables-nft's compat expressions (an xtables extension and its binary info). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';
import type { DelinResult } from '../delinearize.js';
import type { LinCtx } from '../linearize.js';
import type { NftXtStmt } from '../types.js';

export interface XtExpr {
  name: 'match' | 'target';
  xtName: string;
  rev: number;
  info: Buffer;
}

const schema = attrs('xt', {
  xtName: { type: 1, kind: 'string' },
  rev: { type: 2, kind: 'be32' },
  info: { type: 3, kind: 'binary' },
});

function codec(name: 'match' | 'target') {
  return defineExpr<XtExpr, typeof schema._values & {}>(
    name,
    schema,
    (e) => ({ xtName: e.xtName, rev: e.rev, info: e.info }),
    (v, p) => ({ name, xtName: need(v.xtName, 'name', p), rev: v.rev ?? 0, info: v.info ?? Buffer.alloc(0) }),
    (e) => `${name} name ${e.xtName} rev ${e.rev}`,
  );
}

export const matchCodec = codec('match');
export const targetCodec = codec('target');

// ---------------------------------------------------------------- statements

export function linearizeXt(s: NftXtStmt, ctx: LinCtx): void {
  ctx.emit({ name: s.kind, xtName: s.name, rev: s.rev, info: s.info });
}

export function delinearizeXt(e: XtExpr): DelinResult {
  return { type: 'xt', kind: e.name, name: e.xtName, rev: e.rev, info: e.info };
}

/** nft prints what it cannot translate as `xt match NAME` / `xt target NAME`. */
export const xtText = (s: NftXtStmt): string => `xt ${s.kind} ${s.name}`;

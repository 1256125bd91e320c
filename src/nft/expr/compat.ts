/** match, target: iptables-nft's compat expressions (an xtables extension and its binary info). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

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

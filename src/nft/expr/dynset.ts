/** dynset: adds or updates set elements from the packet path (`update @s { ip saddr }`); listed, not built. */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

export interface DynsetExpr {
  name: 'dynset';
  setName: string;
  setId?: number;
  /** NFT_DYNSET_OP_ADD 0, UPDATE 1, DELETE 2. */
  op: number;
  sregKey: number;
  sregData?: number;
  timeout?: bigint;
  flags?: number;
  /** Nested per-element expressions, kept as bytes. */
  expr?: Buffer;
  exprs?: Buffer;
}

const schema = attrs('dynset', {
  setName: { type: 1, kind: 'string' },
  setId: { type: 2, kind: 'be32' },
  op: { type: 3, kind: 'be32' },
  sregKey: { type: 4, kind: 'be32' },
  sregData: { type: 5, kind: 'be32' },
  timeout: { type: 6, kind: 'be64' },
  expr: { type: 7, kind: 'binary' },
  flags: { type: 9, kind: 'be32' },
  exprs: { type: 10, kind: 'binary' },
});

const OPS = ['add', 'update', 'delete'];

export const dynsetCodec = defineExpr<DynsetExpr, typeof schema._values & {}>(
  'dynset',
  schema,
  (e) => ({
    setName: e.setName,
    setId: e.setId,
    op: e.op,
    sregKey: e.sregKey,
    sregData: e.sregData,
    timeout: e.timeout,
    expr: e.expr,
    flags: e.flags,
    exprs: e.exprs,
  }),
  (v, p) => {
    const e: DynsetExpr = { name: 'dynset', setName: need(v.setName, 'set', p), op: v.op ?? 0, sregKey: need(v.sregKey, 'sreg_key', p) };
    for (const k of ['setId', 'sregData', 'timeout', 'flags', 'expr', 'exprs'] as const) {
      if (v[k] !== undefined) (e as unknown as Record<string, unknown>)[k] = v[k];
    }
    return e;
  },
  (e) => `dynset ${OPS[e.op] ?? e.op} reg_key ${e.sregKey} set ${e.setName}${e.sregData !== undefined ? ` sreg_data ${e.sregData}` : ''}`,
);

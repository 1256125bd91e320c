/** quota: match until a byte budget is used (`quota until 100 mbytes`). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

export interface QuotaExpr {
  name: 'quota';
  bytes: bigint;
  /** NFT_QUOTA_F_INV 1 (`over`), DEPLETED 2. */
  flags: number;
  consumed?: bigint;
}

const schema = attrs('quota', {
  bytes: { type: 1, kind: 'be64' },
  flags: { type: 2, kind: 'be32' },
  consumed: { type: 4, kind: 'be64' },
});

export const quotaCodec = defineExpr<QuotaExpr, typeof schema._values & {}>(
  'quota',
  schema,
  (e) => ({ bytes: e.bytes, flags: e.flags, consumed: e.consumed }),
  (v, p) => {
    const e: QuotaExpr = { name: 'quota', bytes: need(v.bytes, 'bytes', p), flags: v.flags ?? 0 };
    if (v.consumed !== undefined) e.consumed = v.consumed;
    return e;
  },
  (e) => `quota bytes ${e.bytes} consumed ${e.consumed ?? 0n} flags ${e.flags}`,
);

/** limit: rate limiting (`limit rate 10/second`, `limit rate over 1 mbytes/second burst 100 kbytes`). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

export interface LimitExpr {
  name: 'limit';
  rate: bigint;
  /** Seconds per unit (1, 60, 3600, 86400, 604800). */
  unit: bigint;
  burst: number;
  /** NFT_LIMIT_PKTS (0) or NFT_LIMIT_PKT_BYTES (1). */
  type: number;
  /** NFT_LIMIT_F_INV = 1: `over`. */
  flags: number;
}

const schema = attrs('limit', {
  rate: { type: 1, kind: 'be64' },
  unit: { type: 2, kind: 'be64' },
  burst: { type: 3, kind: 'be32' },
  type: { type: 4, kind: 'be32' },
  flags: { type: 5, kind: 'be32' },
});

export const LIMIT_UNITS = { second: 1n, minute: 60n, hour: 3600n, day: 86400n, week: 604800n } as const;

export const limitCodec = defineExpr<LimitExpr, typeof schema._values & {}>(
  'limit',
  schema,
  (e) => ({ rate: e.rate, unit: e.unit, burst: e.burst, type: e.type, flags: e.flags }),
  (v, p) => ({
    name: 'limit',
    rate: need(v.rate, 'rate', p),
    unit: need(v.unit, 'unit', p),
    burst: v.burst ?? 0,
    type: v.type ?? 0,
    flags: v.flags ?? 0,
  }),
  (e) => {
    const unit = Object.entries(LIMIT_UNITS).find(([, s]) => s === e.unit)?.[0] ?? `${e.unit}s`;
    return `limit rate ${e.rate}/${unit} burst ${e.burst} type ${e.type === 1 ? 'bytes' : 'packets'} flags 0x${e.flags.toString(16)}`;
  },
);

/** rt: routing data of the packet (`rt mtu`, the TCP MSS for the route; `rt ip nexthop`). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

export interface RtExpr {
  name: 'rt';
  key: number;
  dreg: number;
}

const schema = attrs('rt', {
  key: { type: 2, kind: 'be32' },
  dreg: { type: 1, kind: 'be32' },
});

export const RT_KEY_NAMES = ['classid', 'nexthop4', 'nexthop6', 'tcpmss', 'ipsec'] as const;

export const rtCodec = defineExpr<RtExpr, typeof schema._values & {}>(
  'rt',
  schema,
  (e) => ({ key: e.key, dreg: e.dreg }),
  (v, p) => ({ name: 'rt', key: need(v.key, 'key', p), dreg: need(v.dreg, 'dreg', p) }),
  (e) => `rt load ${RT_KEY_NAMES[e.key] ?? 'unknown'} => reg ${e.dreg}`,
);

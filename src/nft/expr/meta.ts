/** meta: packet metadata (`meta l4proto`, `iifname`, `meta mark`, `meta skuid`, ...), loaded or set. */
import { attrs } from '../../netlink/attributes.js';
import { be32Attr, defineExpr, need } from './common.js';

export interface MetaExpr {
  name: 'meta';
  key: number;
  dreg?: number;
  sreg?: number;
}

const schema = attrs('meta', {
  key: { type: 2, kind: 'be32' },
  dreg: { type: 1, kind: 'be32' },
  sreg: { type: 3, kind: 'be32' },
});

/** enum nft_meta_keys, by the names libnftnl prints. */
export const META_KEY_NAMES = [
  'len',
  'protocol',
  'priority',
  'mark',
  'iif',
  'oif',
  'iifname',
  'oifname',
  'iiftype',
  'oiftype',
  'skuid',
  'skgid',
  'nftrace',
  'rtclassid',
  'secmark',
  'nfproto',
  'l4proto',
  'bri_iifname',
  'bri_oifname',
  'pkttype',
  'cpu',
  'iifgroup',
  'oifgroup',
  'cgroup',
  'prandom',
  'secpath',
  'iifkind',
  'oifkind',
  'bri_iifpvid',
  'bri_iifvproto',
  'time',
  'day',
  'hour',
  'sdif',
  'sdifname',
  'bri_broute',
] as const;

export const metaCodec = defineExpr<MetaExpr, typeof schema._values & {}>(
  'meta',
  schema,
  (e) => ({ key: e.key, dreg: e.dreg, sreg: e.sreg }),
  (v, p) => {
    const e: MetaExpr = { name: 'meta', key: need(v.key, 'key', p) };
    if (v.dreg !== undefined) e.dreg = v.dreg;
    if (v.sreg !== undefined) e.sreg = v.sreg;
    return e;
  },
  (e) => {
    const k = META_KEY_NAMES[e.key] ?? `unknown`;
    return e.sreg !== undefined ? `meta set ${k} with reg ${e.sreg}` : `meta load ${k} => reg ${e.dreg}`;
  },
  (w, e) => {
    be32Attr(w, 2, e.key);
    be32Attr(w, 1, e.dreg);
    be32Attr(w, 3, e.sreg);
  },
);

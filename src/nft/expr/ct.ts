/** ct: connection tracking state (`ct state`, `ct status`, `ct mark`, `ct original ip saddr`, ...), loaded or set. */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

export interface CtExpr {
  name: 'ct';
  key: number;
  dreg?: number;
  sreg?: number;
  /** 0 original, 1 reply. */
  dir?: number;
}

const schema = attrs('ct', {
  key: { type: 2, kind: 'be32' },
  dreg: { type: 1, kind: 'be32' },
  dir: { type: 3, kind: 'u8' },
  sreg: { type: 4, kind: 'be32' },
});

/** enum nft_ct_keys, by the names libnftnl prints. */
export const CT_KEY_NAMES = [
  'state',
  'direction',
  'status',
  'mark',
  'secmark',
  'expiration',
  'helper',
  'l3protocol',
  'src',
  'dst',
  'protocol',
  'proto_src',
  'proto_dst',
  'label',
  'packets',
  'bytes',
  'avgpkt',
  'zone',
  'event',
  'src_ip',
  'dst_ip',
  'src_ip6',
  'dst_ip6',
  'ct_id',
] as const;

export const ctCodec = defineExpr<CtExpr, typeof schema._values & {}>(
  'ct',
  schema,
  (e) => ({ key: e.key, dreg: e.dreg, dir: e.dir, sreg: e.sreg }),
  (v, p) => {
    const e: CtExpr = { name: 'ct', key: need(v.key, 'key', p) };
    if (v.dreg !== undefined) e.dreg = v.dreg;
    if (v.sreg !== undefined) e.sreg = v.sreg;
    if (v.dir !== undefined) e.dir = v.dir;
    return e;
  },
  (e) => {
    const k = CT_KEY_NAMES[e.key] ?? 'unknown';
    const dir = e.dir !== undefined ? ` , dir ${e.dir === 0 ? 'original' : 'reply'}` : '';
    return e.sreg !== undefined ? `ct set ${k} with reg ${e.sreg}${dir}` : `ct load ${k} => reg ${e.dreg}${dir}`;
  },
);

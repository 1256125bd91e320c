/** socket: properties of the packet's socket (`socket cgroupv2 level 2`, `socket transparent`, `socket mark`). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

export interface SocketExpr {
  name: 'socket';
  key: number;
  dreg: number;
  level?: number;
}

const schema = attrs('socket', {
  key: { type: 1, kind: 'be32' },
  dreg: { type: 2, kind: 'be32' },
  level: { type: 3, kind: 'be32' },
});

export const SOCKET_KEY_NAMES = ['transparent', 'mark', 'wildcard', 'cgroupv2'] as const;

export const socketCodec = defineExpr<SocketExpr, typeof schema._values & {}>(
  'socket',
  schema,
  (e) => ({ key: e.key, dreg: e.dreg, level: e.level }),
  (v, p) => {
    const e: SocketExpr = { name: 'socket', key: need(v.key, 'key', p), dreg: need(v.dreg, 'dreg', p) };
    if (v.level !== undefined) e.level = v.level;
    return e;
  },
  (e) => `socket load ${SOCKET_KEY_NAMES[e.key] ?? 'unknown'} => reg ${e.dreg}`,
);

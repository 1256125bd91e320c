/** nat, masq, redir: address and port translation (`dnat to`, `snat to`, `masquerade`, `redirect`). */

import { DecodeError } from '../../errors.js';
import { attrs } from '../../netlink/attributes.js';
import { be32Attr, defineExpr, need } from './common.js';

export interface NatExpr {
  name: 'nat';
  type: 'snat' | 'dnat';
  family: number;
  regAddrMin?: number;
  regAddrMax?: number;
  regProtoMin?: number;
  regProtoMax?: number;
  flags?: number;
}

export interface MasqExpr {
  name: 'masq';
  flags?: number;
  regProtoMin?: number;
  regProtoMax?: number;
}

export interface RedirExpr {
  name: 'redir';
  regProtoMin?: number;
  regProtoMax?: number;
  flags?: number;
}

const natSchema = attrs('nat', {
  type: { type: 1, kind: 'be32' },
  family: { type: 2, kind: 'be32' },
  regAddrMin: { type: 3, kind: 'be32' },
  regAddrMax: { type: 4, kind: 'be32' },
  regProtoMin: { type: 5, kind: 'be32' },
  regProtoMax: { type: 6, kind: 'be32' },
  flags: { type: 7, kind: 'be32' },
});

const regs = (e: { regAddrMin?: number; regAddrMax?: number; regProtoMin?: number; regProtoMax?: number }) =>
  [
    e.regAddrMin !== undefined ? ` addr_min reg ${e.regAddrMin}` : '',
    e.regAddrMax !== undefined ? ` addr_max reg ${e.regAddrMax}` : '',
    e.regProtoMin !== undefined ? ` proto_min reg ${e.regProtoMin}` : '',
    e.regProtoMax !== undefined ? ` proto_max reg ${e.regProtoMax}` : '',
  ].join('');
const flagText = (f?: number) => (f ? ` flags 0x${f.toString(16)}` : '');

function optional<T extends object>(e: T, v: Record<string, number | undefined>, keys: readonly string[]): T {
  for (const k of keys) if (v[k] !== undefined) (e as Record<string, unknown>)[k] = v[k];
  return e;
}

export const natCodec = defineExpr<NatExpr, typeof natSchema._values & {}>(
  'nat',
  natSchema,
  (e) => ({
    type: e.type === 'snat' ? 0 : 1,
    family: e.family,
    regAddrMin: e.regAddrMin,
    regAddrMax: e.regAddrMax,
    regProtoMin: e.regProtoMin,
    regProtoMax: e.regProtoMax,
    flags: e.flags,
  }),
  (v, p) => {
    const t = need(v.type, 'type', p);
    if (t !== 0 && t !== 1) throw new DecodeError(`unknown nat type ${t}`, p);
    const e: NatExpr = { name: 'nat', type: t === 0 ? 'snat' : 'dnat', family: need(v.family, 'family', p) };
    return optional(e, v, ['regAddrMin', 'regAddrMax', 'regProtoMin', 'regProtoMax', 'flags']);
  },
  (e) => `nat ${e.type} ${e.family === 2 ? 'ip' : e.family === 10 ? 'ip6' : `family ${e.family}`}${regs(e)}${flagText(e.flags)}`,
  (w, e) => {
    be32Attr(w, 1, e.type === 'snat' ? 0 : 1);
    be32Attr(w, 2, e.family);
    be32Attr(w, 3, e.regAddrMin);
    be32Attr(w, 4, e.regAddrMax);
    be32Attr(w, 5, e.regProtoMin);
    be32Attr(w, 6, e.regProtoMax);
    be32Attr(w, 7, e.flags);
  },
);

const masqSchema = attrs('masq', {
  flags: { type: 1, kind: 'be32' },
  regProtoMin: { type: 2, kind: 'be32' },
  regProtoMax: { type: 3, kind: 'be32' },
});

export const masqCodec = defineExpr<MasqExpr, typeof masqSchema._values & {}>(
  'masq',
  masqSchema,
  (e) => ({ flags: e.flags, regProtoMin: e.regProtoMin, regProtoMax: e.regProtoMax }),
  (v) => optional<MasqExpr>({ name: 'masq' }, v, ['flags', 'regProtoMin', 'regProtoMax']),
  (e) => `masq${regs(e)}${flagText(e.flags)}`,
);

const redirSchema = attrs('redir', {
  regProtoMin: { type: 1, kind: 'be32' },
  regProtoMax: { type: 2, kind: 'be32' },
  flags: { type: 3, kind: 'be32' },
});

export const redirCodec = defineExpr<RedirExpr, typeof redirSchema._values & {}>(
  'redir',
  redirSchema,
  (e) => ({ regProtoMin: e.regProtoMin, regProtoMax: e.regProtoMax, flags: e.flags }),
  (v) => optional<RedirExpr>({ name: 'redir' }, v, ['regProtoMin', 'regProtoMax', 'flags']),
  (e) => `redir${regs(e)}${flagText(e.flags)}`,
);

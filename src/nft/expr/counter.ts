/** counter (anonymous packet and byte counts) and objref (a named counter object, `counter name "x"`). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr } from './common.js';

export interface CounterExpr {
  name: 'counter';
  packets?: bigint;
  bytes?: bigint;
}

const counterSchema = attrs('counter', {
  bytes: { type: 1, kind: 'be64' },
  packets: { type: 2, kind: 'be64' },
});

export const counterCodec = defineExpr<CounterExpr, typeof counterSchema._values & {}>(
  'counter',
  counterSchema,
  // nft sends a new counter as an empty nest.
  (e) => ({ bytes: e.bytes || undefined, packets: e.packets || undefined }),
  (v) => {
    const e: CounterExpr = { name: 'counter' };
    if (v.packets !== undefined) e.packets = v.packets;
    if (v.bytes !== undefined) e.bytes = v.bytes;
    return e;
  },
  (e) => `counter pkts ${e.packets ?? 0n} bytes ${e.bytes ?? 0n}`,
);

export interface ObjrefExpr {
  name: 'objref';
  /** NFT_OBJECT_COUNTER = 1, QUOTA = 2, ... */
  objType?: number;
  objName?: string;
  /** Object chosen by a map lookup. */
  setSreg?: number;
  setName?: string;
  setId?: number;
}

const objrefSchema = attrs('objref', {
  objType: { type: 1, kind: 'be32' },
  // libnftnl writes the name without its NUL; the kernel accepts both.
  objName: { type: 2, kind: 'bstring' },
  setSreg: { type: 3, kind: 'be32' },
  setName: { type: 4, kind: 'string' },
  setId: { type: 5, kind: 'be32' },
});

export const objrefCodec = defineExpr<ObjrefExpr, typeof objrefSchema._values & {}>(
  'objref',
  objrefSchema,
  (e) => ({ objType: e.objType, objName: e.objName, setSreg: e.setSreg, setName: e.setName, setId: e.setId }),
  (v) => {
    const e: ObjrefExpr = { name: 'objref' };
    if (v.objType !== undefined) e.objType = v.objType;
    if (v.objName !== undefined) e.objName = v.objName;
    if (v.setSreg !== undefined) e.setSreg = v.setSreg;
    if (v.setName !== undefined) e.setName = v.setName;
    if (v.setId !== undefined) e.setId = v.setId;
    return e;
  },
  (e) => (e.setName !== undefined ? `objref sreg ${e.setSreg} set ${e.setName}` : `objref type ${e.objType} name ${e.objName}`),
);

export const NFT_OBJECT_COUNTER = 1;

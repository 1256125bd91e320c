/** meta: packet metadata (`meta l4proto`, `iifname`, `meta mark`, `meta skuid`, ...), loaded or set. */
import { attrs } from '../../netlink/attributes.js';
import { be32Attr, defineExpr, need } from './common.js';
import { DATATYPES, type NftDatatype, integerType } from '../datatype.js';
import { type KeyDef, type KeyProvider, keyByteorder } from '../keys.js';
import { udataU32 } from '../udata.js';
import { ValidationError } from '../../errors.js';
import type { DelinCtx, DelinResult } from '../delinearize.js';
import type { LinCtx } from '../linearize.js';
import { type TextCtx, keyDefsOf, setSourceText } from '../text-util.js';
import type { NftSetStmt } from '../types.js';
import { byteorderSize } from './byteorder.js';
import { linearizeMapLookup } from './lookup.js';

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
  'len', 'protocol', 'priority', 'mark', 'iif', 'oif', 'iifname', 'oifname', 'iiftype', 'oiftype',
  'skuid', 'skgid', 'nftrace', 'rtclassid', 'secmark', 'nfproto', 'l4proto', 'bri_iifname', 'bri_oifname',
  'pkttype', 'cpu', 'iifgroup', 'oifgroup', 'cgroup', 'prandom', 'secpath', 'iifkind', 'oifkind',
  'bri_iifpvid', 'bri_iifvproto', 'time', 'day', 'hour', 'sdif', 'sdifname', 'bri_broute',
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

// ---------------------------------------------------------------- selectors

interface MetaKeyInfo {
  key: number;
  /** nft prints these without `meta` (`iifname "wg0"`). */
  unqualified?: boolean;
  type: NftDatatype;
  settable?: boolean;
}

/** nft's names for meta keys. */
const META: Record<string, MetaKeyInfo> = {
  length: { key: 0, type: integerType(4, 'host') },
  protocol: { key: 1, type: DATATYPES.ether_type },
  priority: { key: 2, type: integerType(4, 'host'), settable: true },
  mark: { key: 3, type: DATATYPES.mark, settable: true },
  iif: { key: 4, unqualified: true, type: DATATYPES.iface_index },
  oif: { key: 5, unqualified: true, type: DATATYPES.iface_index },
  iifname: { key: 6, unqualified: true, type: DATATYPES.ifname },
  oifname: { key: 7, unqualified: true, type: DATATYPES.ifname },
  iiftype: { key: 8, type: integerType(2, 'host') },
  oiftype: { key: 9, type: integerType(2, 'host') },
  skuid: { key: 10, type: DATATYPES.uid },
  skgid: { key: 11, type: DATATYPES.gid },
  nftrace: { key: 12, type: integerType(1, 'host'), settable: true },
  rtclassid: { key: 13, type: integerType(4, 'host') },
  secmark: { key: 14, type: integerType(4, 'host') },
  nfproto: { key: 15, type: DATATYPES.nf_proto },
  l4proto: { key: 16, type: DATATYPES.inet_proto },
  pkttype: { key: 19, type: DATATYPES.pkttype, settable: true },
  cpu: { key: 20, type: integerType(4, 'host') },
  iifgroup: { key: 21, unqualified: true, type: integerType(4, 'host') },
  oifgroup: { key: 22, unqualified: true, type: integerType(4, 'host') },
  cgroup: { key: 23, type: integerType(4, 'host') },
  random: { key: 24, type: integerType(4, 'big') },
  iifkind: { key: 26, type: DATATYPES.ifname },
  oifkind: { key: 27, type: DATATYPES.ifname },
  sdif: { key: 33, type: DATATYPES.iface_index },
  sdifname: { key: 34, type: DATATYPES.ifname },
};

const BY_KEY = new Map<number, [string, MetaKeyInfo]>(Object.entries(META).map(([n, i]) => [i.key, [n, i]]));
const defs = new Map<string, KeyDef>();

function metaKeyDef(name: string, info: MetaKeyInfo): KeyDef {
  let def = defs.get(name);
  if (def) return def;
  def = {
    text: info.unqualified ? name : `meta ${name}`,
    type: info.type,
    len: info.type.len,
    byteorder: info.key === 1 || info.key === 24 ? 'big' : 'host',
    load: (dreg) => ({ name: 'meta', key: info.key, dreg }),
    set: info.settable ? (sreg) => ({ name: 'meta', key: info.key, sreg }) : undefined,
    typeofInfo: [9, [[0, udataU32(info.key)]]],
  };
  defs.set(name, def);
  return def;
}

export const metaKeys: KeyProvider = {
  parse(text) {
    const m = /^(?:meta )?([a-z0-9]+)$/.exec(text);
    if (!m) return undefined;
    const info = META[m[1]!];
    if (!info) return undefined;
    // Only the unqualified keys may be written without `meta`.
    if (!text.startsWith('meta ') && !info.unqualified) return undefined;
    return metaKeyDef(m[1]!, info);
  },
  recognize(e) {
    if (e.name !== 'meta' || e.dreg === undefined) return undefined;
    const hit = BY_KEY.get(e.key);
    if (!hit) return undefined;
    const def = metaKeyDef(hit[0], hit[1]);
    return { def, len: def.len };
  },
};

/** The meta key a `meta set` expression writes. */
export function metaSetKey(e: MetaExpr): KeyDef | undefined {
  const hit = BY_KEY.get(e.key);
  return hit && hit[1].settable ? metaKeyDef(hit[0], hit[1]) : undefined;
}

// ---------------------------------------------------------------- set statements (meta, ct, tcp option)

/** `meta mark set 0x2a`, `ct mark set meta mark`, `tcp option maxseg size set rt mtu`, `... set ... map @m`. */
export function linearizeSetStmt(s: NftSetStmt, ctx: LinCtx): void {
  const f = ctx.field;
  const target = ctx.key(s.key, `${f}.key`);
  if (!target.set) throw new ValidationError(`${f}.key`, `${target.text} cannot be set`, 'meta mark, meta priority, ct mark, ct zone, tcp option maxseg size, ...');
  const given = [s.value !== undefined, s.from !== undefined, s.map !== undefined].filter(Boolean).length;
  if (given !== 1) throw new ValidationError(f, 'needs exactly one of value, from, map', 'value, from or map');
  ctx.require([target]);
  if (s.value !== undefined) {
    ctx.emit({ name: 'immediate', dreg: 1, data: target.type.parse(s.value, `${f}.value`) });
  } else if (s.from !== undefined) {
    const src = ctx.key(s.from, `${f}.from`);
    if (src.len !== target.len) throw new ValidationError(`${f}.from`, `${src.text} has ${src.len} bytes, ${target.text} ${target.len}`, 'a selector of the same width');
    ctx.require([src]);
    ctx.load([src], false);
    if (keyByteorder(src) === 'host' && keyByteorder(target) === 'big') {
      ctx.emit({ name: 'byteorder', sreg: 1, dreg: 1, op: 'hton', len: src.len, size: byteorderSize(src.len) });
    }
  } else {
    linearizeMapLookup(ctx, s.map!.key, s.map!.map, [target.type], `${f}.map`);
  }
  ctx.emit(target.set(1));
}

export function setStmtText(s: NftSetStmt, ctx: TextCtx): string {
  const [target] = keyDefsOf(s.key, ctx.family);
  let rhs: string;
  if (s.value !== undefined) rhs = target!.type.text(target!.type.parse(s.value, 'value'));
  else if (s.from !== undefined) rhs = keyDefsOf(s.from, ctx.family)[0]!.text;
  else {
    const defs = keyDefsOf(s.map!.key, ctx.family);
    rhs = `${defs.map((d) => d.text).join(' . ')} map ${setSourceText(s.map!.map, defs.map((d) => d.type), [target!.type])}`;
  }
  return `${target!.text} set ${rhs}`;
}

/** A write of register `sreg` into `target`: the value the registers hold decides the form. */
export function delinearizeSet(target: KeyDef | undefined, sreg: number, ctx: DelinCtx): DelinResult {
  if (!target) return 'fail';
  const v = ctx.reg(sreg);
  if (!v) return 'fail';
  if (v.kind === 'imm') {
    if (v.data.length !== target.len) return 'fail';
    return { type: 'set', key: target.text, value: target.type.value(v.data) };
  }
  if (v.kind === 'key') {
    if (v.mask || v.len !== v.def.len || v.def.len !== target.len) return 'fail';
    const conv = keyByteorder(v.def) === 'host' && keyByteorder(target) === 'big';
    if (conv !== !!v.hton) return 'fail';
    return { type: 'set', key: target.text, from: v.def.text };
  }
  return { type: 'set', key: target.text, map: { key: v.key, map: v.map } };
}

/** meta: a load (handled generically) or `meta ... set`. */
export function delinearizeMeta(e: MetaExpr, ctx: DelinCtx): DelinResult | undefined {
  if (e.sreg === undefined) return undefined;
  return delinearizeSet(metaSetKey(e), e.sreg, ctx);
}

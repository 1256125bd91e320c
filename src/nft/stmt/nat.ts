/** nat, masquerade, redirect: address and port translation (`dnat to`, `snat to`, `masquerade`, `redirect`). */
import { ValidationError } from '../../errors.js';
import {
  NF_NAT_RANGE_MAP_IPS,
  NF_NAT_RANGE_NETMAP,
  NF_NAT_RANGE_PERSISTENT,
  NF_NAT_RANGE_PROTO_RANDOM,
  NF_NAT_RANGE_PROTO_RANDOM_FULLY,
  NF_NAT_RANGE_PROTO_SPECIFIED,
  NFPROTO_IPV4,
  NFPROTO_IPV6,
} from '../constants.js';
import { DATATYPES, type NftDatatype } from '../datatype.js';
import { setSourceText } from '../element-text.js';
import { regSlot, regSpan, slotReg } from '../expr/common.js';
import type { MasqExpr, NatExpr, RedirExpr } from '../expr/index.js';
import type { NftMasqueradeStmt, NftNatFlag, NftNatStmt, NftRange, NftRedirectStmt } from '../model.js';
import { keyDefsOf } from '../selectors/registry.js';
import { isRange, parsePart } from '../values.js';
import type { DelinCtx, DelinResult, LinCtx, TextCtx } from './context.js';
import { linearizeMapLookup } from './lookup.js';

const FLAG_BITS: Record<NftNatFlag, number> = {
  random: NF_NAT_RANGE_PROTO_RANDOM,
  'fully-random': NF_NAT_RANGE_PROTO_RANDOM_FULLY,
  persistent: NF_NAT_RANGE_PERSISTENT,
  netmap: NF_NAT_RANGE_NETMAP,
};
const FLAG_ORDER: NftNatFlag[] = ['random', 'fully-random', 'persistent', 'netmap'];

function flagBits(flags: readonly NftNatFlag[] | undefined, field: string): number {
  let bits = 0;
  (flags ?? []).forEach((f, i) => {
    const b = FLAG_BITS[f];
    if (b === undefined) throw new ValidationError(`${field}[${i}]`, `unknown flag ${JSON.stringify(f)}`, FLAG_ORDER.join(', '));
    bits |= b;
  });
  return bits;
}

/** Flag names of `bits` (PROTO_SPECIFIED aside); undefined when some bit has no name. */
function flagNames(bits: number): NftNatFlag[] | undefined {
  let rest = bits & ~NF_NAT_RANGE_PROTO_SPECIFIED;
  const out: NftNatFlag[] = [];
  for (const f of FLAG_ORDER) {
    if (rest & FLAG_BITS[f]) {
      out.push(f);
      rest &= ~FLAG_BITS[f];
    }
  }
  return rest === 0 ? out : undefined;
}

const addrTypeOf = (family: 'ip' | 'ip6'): NftDatatype => (family === 'ip6' ? DATATYPES.ipv6_addr : DATATYPES.ipv4_addr);

function natFamily(s: NftNatStmt, ctx: LinCtx): 'ip' | 'ip6' {
  if (s.family !== undefined) {
    if (s.family !== 'ip' && s.family !== 'ip6')
      throw new ValidationError(`${ctx.field}.family`, `unknown family ${JSON.stringify(s.family)}`, "'ip' or 'ip6'");
    return s.family;
  }
  if (ctx.family === 'ip' || ctx.family === 'ip6') return ctx.family;
  const a = isRange(s.addr) ? s.addr.range[0] : s.addr;
  if (typeof a === 'string') return a.includes(':') ? 'ip6' : 'ip';
  throw new ValidationError(`${ctx.field}.family`, `${s.kind} in an ${ctx.family} table needs a family`, "'ip' or 'ip6'");
}

/** Immediates for a value or range into registers from `reg` on; returns [min, max?]. */
function immediates(ctx: LinCtx, type: NftDatatype, v: unknown, reg: number, field: string): [number, number | undefined] {
  const b = parsePart(type, v, field);
  ctx.emit({ name: 'immediate', dreg: reg, data: b.from });
  if (b.from.equals(b.to)) return [reg, undefined];
  ctx.emit({ name: 'immediate', dreg: reg + 1, data: b.to });
  return [reg, reg + 1];
}

export function linearizeNat(s: NftNatStmt, ctx: LinCtx): void {
  const f = ctx.field;
  if (s.kind !== 'snat' && s.kind !== 'dnat')
    throw new ValidationError(`${f}.kind`, `unknown nat ${JSON.stringify(s.kind)}`, "'snat' or 'dnat'");
  const family = natFamily(s, ctx);
  const at = addrTypeOf(family);
  const e: NatExpr = { name: 'nat', type: s.kind, family: family === 'ip6' ? NFPROTO_IPV6 : NFPROTO_IPV4 };
  let flags = flagBits(s.flags, `${f}.flags`);
  if (s.map) {
    if (s.addr !== undefined || s.port !== undefined)
      throw new ValidationError(f, 'map together with addr or port', 'either a map or constants');
    const data = s.map.withPort ? [at, DATATYPES.inet_service] : [at];
    linearizeMapLookup(ctx, s.map.key, s.map.map, data, `${f}.map`);
    e.regAddrMin = 1;
    if (s.map.withPort) e.regProtoMin = slotReg(regSpan(at.len));
  } else {
    if (s.addr === undefined && s.port === undefined) throw new ValidationError(f, `${s.kind} without a target`, 'addr, port or map');
    let reg = 1;
    if (s.addr !== undefined) {
      const [min, max] = immediates(ctx, at, s.addr, reg, `${f}.addr`);
      e.regAddrMin = min;
      if (max !== undefined) e.regAddrMax = max;
      reg = (max ?? min) + 1;
    }
    if (s.port !== undefined) {
      const [min, max] = immediates(ctx, DATATYPES.inet_service, s.port, reg, `${f}.port`);
      e.regProtoMin = min;
      if (max !== undefined) e.regProtoMax = max;
      flags |= NF_NAT_RANGE_PROTO_SPECIFIED;
    }
  }
  if (flags) e.flags = flags;
  ctx.emit(e);
}

function portsText(port: number | NftRange | undefined): string {
  if (port === undefined) return '';
  return isRange(port) ? `${port.range[0]}-${port.range[1]}` : String(port);
}

function addrText(addr: string | NftRange, v6: boolean): string {
  const one = (a: unknown) => (v6 ? `[${a}]` : String(a));
  return isRange(addr) ? `${one(addr.range[0])}-${one(addr.range[1])}` : one(addr);
}

const flagsText = (flags?: readonly NftNatFlag[]) => (flags && flags.length ? ` ${flags.join(',')}` : '');

export function natText(s: NftNatStmt, ctx: TextCtx): string {
  const family = s.family ?? (ctx.family === 'ip6' ? 'ip6' : 'ip');
  const showFamily = ctx.family === 'inet' || !!s.map?.withPort;
  let target: string;
  if (s.map) {
    const defs = keyDefsOf(s.map.key, ctx.family);
    const data = s.map.withPort ? [addrTypeOf(family), DATATYPES.inet_service] : [addrTypeOf(family)];
    target = `${defs.map((d) => d.text).join(' . ')} map ${setSourceText(
      s.map.map,
      defs.map((d) => d.type),
      data,
    )}`;
  } else {
    const v6 = family === 'ip6' && s.port !== undefined;
    target = s.addr !== undefined ? addrText(s.addr, v6) : '';
    if (s.port !== undefined) target += `:${portsText(s.port)}`;
  }
  return `${s.kind}${showFamily ? ` ${family}` : ''} to ${target}${flagsText(s.flags)}`;
}

function immValue(ctx: DelinCtx, reg: number | undefined, type: NftDatatype): string | number | undefined | null {
  if (reg === undefined) return undefined;
  const v = ctx.reg(reg);
  if (!v || v.kind !== 'imm' || v.data.length !== type.len) return null;
  return type.value(v.data) as string | number;
}

function immRange(
  ctx: DelinCtx,
  min: number | undefined,
  max: number | undefined,
  type: NftDatatype,
): string | number | NftRange | undefined | null {
  const a = immValue(ctx, min, type);
  if (a === null || a === undefined) return a;
  if (max === undefined) return a;
  const b = immValue(ctx, max, type);
  if (b === null || b === undefined) return null;
  return { range: [a, b] };
}

/**
 * The kernel lists a NAT without ranges with max = min, and with MAP_IPS /
 * PROTO_SPECIFIED set: read those as the single value they stand for.
 */
function normalizeRegs<T extends { regAddrMin?: number; regAddrMax?: number; regProtoMin?: number; regProtoMax?: number; flags?: number }>(
  e: T,
): T {
  const n = { ...e };
  if (n.regAddrMax !== undefined && n.regAddrMax === n.regAddrMin) delete n.regAddrMax;
  if (n.regProtoMax !== undefined && n.regProtoMax === n.regProtoMin) delete n.regProtoMax;
  if (n.flags !== undefined) n.flags &= ~NF_NAT_RANGE_MAP_IPS;
  return n;
}

export function delinearizeNat(raw: NatExpr, ctx: DelinCtx): DelinResult {
  const e = normalizeRegs(raw);
  const family = e.family === NFPROTO_IPV4 ? 'ip' : e.family === NFPROTO_IPV6 ? 'ip6' : undefined;
  if (!family) return 'fail';
  const at = addrTypeOf(family);
  const flags = flagNames(e.flags ?? 0);
  if (!flags) return 'fail';
  const s: NftNatStmt = { type: 'nat', kind: e.type, family };
  const a = e.regAddrMin !== undefined ? ctx.reg(e.regAddrMin) : undefined;
  if (a && a.kind === 'map') {
    if (e.regAddrMin !== 1 || e.regAddrMax !== undefined || e.regProtoMax !== undefined) return 'fail';
    const withPort = e.regProtoMin !== undefined;
    if (withPort && regSlot(e.regProtoMin!) !== regSlot(e.regAddrMin) + regSpan(at.len)) return 'fail';
    s.map = withPort ? { key: a.key, map: a.map, withPort } : { key: a.key, map: a.map };
  } else {
    const addr = immRange(ctx, e.regAddrMin, e.regAddrMax, at);
    const port = immRange(ctx, e.regProtoMin, e.regProtoMax, DATATYPES.inet_service);
    if (addr === null || port === null || (addr === undefined && port === undefined)) return 'fail';
    if (addr !== undefined) s.addr = addr as string | NftRange;
    if (port !== undefined) s.port = port as number | NftRange;
  }
  if (flags.length) s.flags = flags;
  return s;
}

function linearizePorts(ctx: LinCtx, port: number | NftRange | undefined, field: string): { min?: number; max?: number } {
  if (port === undefined) return {};
  const [min, max] = immediates(ctx, DATATYPES.inet_service, port, 1, field);
  return max === undefined ? { min } : { min, max };
}

export function linearizeMasquerade(s: NftMasqueradeStmt, ctx: LinCtx): void {
  const { min, max } = linearizePorts(ctx, s.port, `${ctx.field}.port`);
  const flags = flagBits(s.flags, `${ctx.field}.flags`) | (min !== undefined ? NF_NAT_RANGE_PROTO_SPECIFIED : 0);
  const e: MasqExpr = { name: 'masq' };
  if (flags) e.flags = flags;
  if (min !== undefined) e.regProtoMin = min;
  if (max !== undefined) e.regProtoMax = max;
  ctx.emit(e);
}

export function linearizeRedirect(s: NftRedirectStmt, ctx: LinCtx): void {
  const { min, max } = linearizePorts(ctx, s.port, `${ctx.field}.port`);
  const flags = flagBits(s.flags, `${ctx.field}.flags`) | (min !== undefined ? NF_NAT_RANGE_PROTO_SPECIFIED : 0);
  const e: RedirExpr = { name: 'redir' };
  if (min !== undefined) e.regProtoMin = min;
  if (max !== undefined) e.regProtoMax = max;
  if (flags) e.flags = flags;
  ctx.emit(e);
}

function delinearizePorted<T extends NftMasqueradeStmt | NftRedirectStmt>(
  type: T['type'],
  raw: MasqExpr | RedirExpr,
  ctx: DelinCtx,
): DelinResult {
  const e = normalizeRegs(raw);
  const flags = flagNames(e.flags ?? 0);
  if (!flags) return 'fail';
  const port = immRange(ctx, e.regProtoMin, e.regProtoMax, DATATYPES.inet_service);
  if (port === null) return 'fail';
  const s = { type } as T;
  if (port !== undefined) s.port = port as number | NftRange;
  if (flags.length) s.flags = flags;
  return s;
}

export const delinearizeMasq = (e: MasqExpr, ctx: DelinCtx): DelinResult => delinearizePorted<NftMasqueradeStmt>('masquerade', e, ctx);
export const delinearizeRedir = (e: RedirExpr, ctx: DelinCtx): DelinResult => delinearizePorted<NftRedirectStmt>('redirect', e, ctx);

export function masqueradeText(s: NftMasqueradeStmt): string {
  return `masquerade${s.port !== undefined ? ` to :${portsText(s.port)}` : ''}${flagsText(s.flags)}`;
}

export function redirectText(s: NftRedirectStmt): string {
  return `redirect${s.port !== undefined ? ` to :${portsText(s.port)}` : ''}${flagsText(s.flags)}`;
}

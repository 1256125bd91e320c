/** reject: refuse the packet with an ICMP error or a TCP reset. */
import { ValidationError } from '../../errors.js';
import { DATATYPES, type NftDatatype } from '../datatype.js';
import type { RejectExpr } from '../expr/index.js';
import type { NftRejectStmt, NftRejectWith } from '../model.js';
import type { DelinCtx, DelinResult, LinCtx, TextCtx } from './context.js';

const ICMP_UNREACH = 0;
const TCP_RST = 1;
const ICMPX_UNREACH = 2;

/** The family's default: ICMP port unreachable (icmp 3, icmpv6 4, icmpx 1). */
function defaultReject(family: string): RejectExpr {
  if (family === 'ip') return { name: 'reject', type: ICMP_UNREACH, code: 3 };
  if (family === 'ip6') return { name: 'reject', type: ICMP_UNREACH, code: 4 };
  return { name: 'reject', type: ICMPX_UNREACH, code: 1 };
}

function code(type: NftDatatype, v: unknown, field: string): number {
  return type.parse(v, field)[0]!;
}

export function linearizeReject(s: NftRejectStmt, ctx: LinCtx): void {
  const f = `${ctx.field}.with`;
  const w = s.with;
  if (w === undefined) ctx.emit(defaultReject(ctx.family));
  else if (w === 'tcp reset') ctx.emit({ name: 'reject', type: TCP_RST, code: 0 });
  else if (typeof w === 'object' && 'icmpx' in w)
    ctx.emit({ name: 'reject', type: ICMPX_UNREACH, code: code(DATATYPES.icmpx_code, w.icmpx, `${f}.icmpx`) });
  else if (typeof w === 'object' && 'icmp' in w)
    ctx.emit({ name: 'reject', type: ICMP_UNREACH, code: code(DATATYPES.icmp_code, w.icmp, `${f}.icmp`) });
  else if (typeof w === 'object' && 'icmpv6' in w)
    ctx.emit({ name: 'reject', type: ICMP_UNREACH, code: code(DATATYPES.icmpv6_code, w.icmpv6, `${f}.icmpv6`) });
  else throw new ValidationError(f, 'unknown reject type', "'tcp reset', { icmp }, { icmpv6 } or { icmpx }");
}

export function delinearizeReject(e: RejectExpr, ctx: DelinCtx): DelinResult {
  const def = defaultReject(ctx.family);
  if (e.type === def.type && e.code === def.code) return { type: 'reject' };
  if (e.type === TCP_RST) return { type: 'reject', with: 'tcp reset' };
  const c = Buffer.from([e.code ?? 0]);
  let w: NftRejectWith | undefined;
  if (e.type === ICMPX_UNREACH) w = { icmpx: DATATYPES.icmpx_code.value(c) };
  else if (e.type === ICMP_UNREACH) {
    const v6 = ctx.family === 'ip6' || (ctx.family !== 'ip' && ctx.nfproto === 10);
    const v4 = ctx.family === 'ip' || (ctx.family !== 'ip6' && ctx.nfproto === 2);
    if (v6) w = { icmpv6: DATATYPES.icmpv6_code.value(c) };
    else if (v4) w = { icmp: DATATYPES.icmp_code.value(c) };
  }
  return w ? { type: 'reject', with: w } : 'fail';
}

export function rejectText(s: NftRejectStmt, _ctx: TextCtx): string {
  const w = s.with;
  if (w === undefined) return 'reject';
  if (w === 'tcp reset') return 'reject with tcp reset';
  if ('icmpx' in w) return `reject with icmpx ${DATATYPES.icmpx_code.text(DATATYPES.icmpx_code.parse(w.icmpx, 'icmpx'))}`;
  if ('icmp' in w) return `reject with icmp ${DATATYPES.icmp_code.text(DATATYPES.icmp_code.parse(w.icmp, 'icmp'))}`;
  return `reject with icmpv6 ${DATATYPES.icmpv6_code.text(DATATYPES.icmpv6_code.parse(w.icmpv6, 'icmpv6'))}`;
}

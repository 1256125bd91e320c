/** fib: a FIB lookup for the packet (`fib saddr . iif oif missing drop`, `fib daddr type local`). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';

export interface FibExpr {
  name: 'fib';
  dreg: number;
  /** NFT_FIB_RESULT_OIF (1), OIFNAME (2), ADDRTYPE (3). */
  result: number;
  /** NFTA_FIB_F_SADDR 1, DADDR 2, MARK 4, IIF 8, OIF 16, PRESENT 32. */
  flags: number;
}

const schema = attrs('fib', {
  flags: { type: 3, kind: 'be32' },
  result: { type: 2, kind: 'be32' },
  dreg: { type: 1, kind: 'be32' },
});

export const FIB_RESULTS = ['unspec', 'oif', 'oifname', 'type'] as const;

/** The lookup part nft prints, e.g. `saddr . iif`. */
export function fibLookupText(flags: number): string {
  const parts: string[] = [];
  if (flags & 1) parts.push('saddr');
  if (flags & 2) parts.push('daddr');
  if (flags & 4) parts.push('mark');
  if (flags & 8) parts.push('iif');
  if (flags & 16) parts.push('oif');
  return parts.join(' . ');
}

export const fibCodec = defineExpr<FibExpr, typeof schema._values & {}>(
  'fib',
  schema,
  (e) => ({ flags: e.flags, result: e.result, dreg: e.dreg }),
  (v, p) => ({ name: 'fib', flags: need(v.flags, 'flags', p), result: need(v.result, 'result', p), dreg: need(v.dreg, 'dreg', p) }),
  (e) => `fib ${fibLookupText(e.flags)} ${FIB_RESULTS[e.result] ?? e.result}${e.flags & 32 ? ' present' : ''} => reg ${e.dreg}`,
);

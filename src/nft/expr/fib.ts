/** fib: a FIB lookup for the packet (`fib saddr . iif oif missing drop`, `fib daddr type local`). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr, need } from './common.js';
import { DATATYPES, integerType } from '../datatype.js';
import type { KeyDef, KeyProvider } from '../keys.js';
import { udataU32 } from '../udata.js';

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

// ---------------------------------------------------------------- selectors

const FIB_F_PRESENT = 32;
const LOOKUP_BITS: Record<string, number> = { saddr: 1, daddr: 2, mark: 4, iif: 8, oif: 16 };
const presentType = integerType(4, 'host');
const fibPresentType = { ...presentType, name: 'boolean', ...symbolic() };
function symbolic() {
  return {
    parse(value: unknown, field: string): Buffer {
      if (value === 'missing') return Buffer.alloc(4);
      if (value === 'exists') return presentType.parse(1, field);
      return presentType.parse(value, field);
    },
    value(b: Buffer) {
      const v = presentType.value(b);
      return v === 0 ? 'missing' : v === 1 ? 'exists' : v;
    },
    text(b: Buffer) {
      return String(this.value(b));
    },
  };
}

const fibDefs = new Map<string, KeyDef>();
function fibKeyDef(flags: number, result: number): KeyDef {
  const id = `${flags}/${result}`;
  let def = fibDefs.get(id);
  if (def) return def;
  const type = flags & FIB_F_PRESENT ? fibPresentType : result === 1 ? DATATYPES.iface_index : result === 2 ? DATATYPES.ifname : DATATYPES.fib_addrtype;
  const base: KeyDef = {
    text: `fib ${fibLookupText(flags)} ${FIB_RESULTS[result]}`,
    type,
    len: type.len,
    load: (dreg) => ({ name: 'fib', dreg, result, flags }),
    typeofInfo: [26, [[0, udataU32(result)], [1, udataU32(flags)]]],
    refine: flags & FIB_F_PRESENT ? undefined : (v) => (v === 'missing' || v === 'exists' ? fibKeyDef(flags | FIB_F_PRESENT, result) : base),
  };
  fibDefs.set(id, (def = base));
  return def;
}

export const fibKeys: KeyProvider = {
  parse(text) {
    const m = /^fib ((?:saddr|daddr|mark|iif|oif)(?: \. (?:saddr|daddr|mark|iif|oif))*) (oif|oifname|type)$/.exec(text);
    if (!m) return undefined;
    let flags = 0;
    for (const part of m[1]!.split(' . ')) flags |= LOOKUP_BITS[part]!;
    return fibKeyDef(flags, FIB_RESULTS.indexOf(m[2] as 'oif'));
  },
  recognize(e) {
    if (e.name !== 'fib' || e.result < 1 || e.result > 3) return undefined;
    const def = fibKeyDef(e.flags, e.result);
    return { def, len: def.len };
  },
};

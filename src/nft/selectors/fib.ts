/** FIB selectors: `fib saddr . iif oif`, `fib daddr type` (with `missing`/`exists`). */
import { DATATYPES, integerType } from '../datatype.js';
import { FIB_RESULTS, fibLookupText } from '../expr/fib.js';
import { udataU32 } from '../udata.js';
import type { KeyDef, KeyProvider } from './key.js';

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
  const type =
    flags & FIB_F_PRESENT
      ? fibPresentType
      : result === 1
        ? DATATYPES.iface_index
        : result === 2
          ? DATATYPES.ifname
          : DATATYPES.fib_addrtype;
  const base: KeyDef = {
    text: `fib ${fibLookupText(flags)} ${FIB_RESULTS[result]}`,
    type,
    len: type.len,
    load: (dreg) => ({ name: 'fib', dreg, result, flags }),
    typeofInfo: [
      26,
      [
        [0, udataU32(result)],
        [1, udataU32(flags)],
      ],
    ],
    refine:
      flags & FIB_F_PRESENT ? undefined : (v) => (v === 'missing' || v === 'exists' ? fibKeyDef(flags | FIB_F_PRESENT, result) : base),
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

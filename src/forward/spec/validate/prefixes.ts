/** Normalised prefixes of a spec read back as the grammar's Prefix, and overlap between two. */
import { inPrefix, type Prefix, parsePrefix } from '../../../grammar/index.js';

/** A normalised prefix of the spec, as the grammar's Prefix. */
export function prefixOf(p: { cidr: string }): Prefix {
  const r = parsePrefix(p.cidr);
  if (!r.ok) throw new Error(`internal error: ${p.cidr} ${r.problem}`);
  return r.value;
}

/** Whether two prefixes of one family share an address. */
export function overlapsPrefix(a: Prefix, b: Prefix): boolean {
  return a.length <= b.length ? inPrefix(a, b.address) : inPrefix(b, a.address);
}

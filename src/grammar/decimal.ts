/**
 * Decimal numbers inside text (ports, prefix lengths, scope ids), read by
 * character codes without allocating: the hot paths (100 000 routes, 10 000
 * WireGuard peers) parse through here.
 */

/**
 * The unsigned decimal in text[start, end) when it is at most `max`; -1
 * otherwise (empty, a non-digit, too large). Canonical by default: no leading
 * zeros ("0" itself is fine). With `digits` > 0, leading zeros are accepted
 * as long as the whole number has at most `digits` digits (Infinity: any
 * number of them), as some tools' syntax does ("080", "/024").
 */
export function decimalAt(text: string, start: number, end: number, max: number, digits = 0): number {
  const count = end - start;
  if (count <= 0) return -1;
  if (digits > 0) {
    if (count > digits) return -1;
  } else if (count > 1 && text.charCodeAt(start) === 48 /* 0 */) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
    if (n > max) return -1;
  }
  return n;
}

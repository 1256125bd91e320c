/**
 * Dotted-quad parsing by character codes, for the hot paths of large
 * configurations (10 000 peers bring 10 000 endpoints and tens of thousands
 * of allowed IPs). Same acceptance as the core's parseIPv4: four decimal
 * octets, no leading zeros, nothing else. IPv6 and errors take the core's
 * slower, more descriptive path.
 */

/** The address in [start, end) as an unsigned 32-bit number, or -1 when it is not a dotted quad. */
export function ipv4At(text: string, start: number, end: number): number {
  let value = 0;
  let octets = 0;
  let i = start;
  while (octets < 4) {
    const first = i;
    let n = 0;
    while (i < end) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
      i++;
      if (i - first > 3) return -1;
    }
    const digits = i - first;
    if (digits === 0 || n > 255 || (digits > 1 && text.charCodeAt(first) === 48)) return -1;
    value = value * 256 + n;
    octets++;
    if (octets < 4) {
      if (i >= end || text.charCodeAt(i) !== 46 /* . */) return -1;
      i++;
    }
  }
  return i === end ? value : -1;
}

/** A decimal in [start, end) without leading zeros, up to `max`; -1 otherwise. */
export function decimalAt(text: string, start: number, end: number, max: number): number {
  if (end <= start || end - start > 10 || (end - start > 1 && text.charCodeAt(start) === 48)) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return n <= max ? n : -1;
}

export function ipv4Bytes(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value, 0);
  return b;
}

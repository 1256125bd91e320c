/** Addresses and prefixes as the importer needs them: parse, contain, widen. */
import { isIP } from 'node:net';

export interface Cidr {
  family: 4 | 6;
  /** The address as written (without brackets or prefix). */
  address: string;
  value: bigint;
  length: number;
  /** Whether a prefix length was written. */
  explicit: boolean;
}

function toBigInt(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
  const [head, tail] = address.includes('::') ? address.split('::') : [address, undefined];
  const parse = (s: string | undefined): number[] => {
    if (!s) return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (g.includes('.')) {
        const v = Number(toBigInt(g, 4));
        out.push(v >>> 16, v & 0xffff);
      } else out.push(Number.parseInt(g, 16));
    }
    return out;
  };
  const h = parse(head);
  const t = parse(tail);
  const groups = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

/** Parses "10.0.0.1/24", "fd00::1", "0.0.0.0/0"; undefined when it is neither. */
export function parseCidr(text: string): Cidr | undefined {
  const [address, len, extra] = text.trim().split('/');
  if (address === undefined || extra !== undefined) return undefined;
  const family = isIP(address);
  if (family !== 4 && family !== 6) return undefined;
  const max = family === 4 ? 32 : 128;
  if (len !== undefined && (!/^\d{1,3}$/.test(len) || Number(len) > max)) return undefined;
  return { family, address, value: toBigInt(address, family), length: len === undefined ? max : Number(len), explicit: len !== undefined };
}

export const bits = (family: 4 | 6) => (family === 4 ? 32 : 128);

/** Whether `inner` (an address or prefix) lies inside the prefix `outer`. */
export function contains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.length < outer.length) return false;
  const shift = BigInt(bits(outer.family) - outer.length);
  return outer.value >> shift === inner.value >> shift;
}

/** The number of leading bits two addresses of one family share. */
export function commonLength(a: Cidr, b: Cidr): number {
  const n = bits(a.family);
  for (let len = n; len > 0; len--) {
    const shift = BigInt(n - len);
    if (a.value >> shift === b.value >> shift) return len;
  }
  return 0;
}

export const isHost = (c: Cidr) => c.length === bits(c.family);
export const isDefault = (c: Cidr) => c.length === 0;

/** The prefix with host bits cleared, as text ("192.168.1.0/24"). */
export function networkText(c: Cidr): string {
  const n = bits(c.family);
  const v = (c.value >> BigInt(n - c.length)) << BigInt(n - c.length);
  if (c.family === 4) return `${[24n, 16n, 8n, 0n].map((s) => Number((v >> s) & 255n)).join('.')}/${c.length}`;
  const groups = Array.from({ length: 8 }, (_, i) => Number((v >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // Shorten the longest run of zero groups, as inet_ntop does.
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const text = best === -1 ? groups.join(':') : `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
  return `${text}/${c.length}`;
}

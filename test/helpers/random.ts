/** Seeded random values and text mutations for property tests and fuzzing (a failure reproduces from its seed). */

/** xorshift32. */
export function rng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

/** Random bytes of a length. */
export function randomBytes(r: (n: number) => number, length: number): Buffer {
  const b = Buffer.alloc(length);
  // Many zero runs, so that `::` compression and its ties get exercised.
  for (let i = 0; i < length; i++) b[i] = r(3) === 0 ? 0 : r(256);
  return b;
}

/** `text` with one to three characters inserted, removed or replaced (from `alphabet` or `pieces`). */
export function mutate(r: (n: number) => number, text: string, alphabet: string, pieces: readonly string[] = []): string {
  let t = text;
  for (let i = 0, k = 1 + r(3); i < k; i++) {
    const at = r(t.length + 1);
    const c = alphabet[r(alphabet.length)]!;
    switch (r(4)) {
      case 0:
        t = t.slice(0, at) + c + t.slice(at);
        break;
      case 1:
        t = t.slice(0, at) + t.slice(at + 1);
        break;
      case 2:
        t = t.slice(0, at) + c + t.slice(at + 1);
        break;
      default:
        t = t.slice(0, at) + (pieces.length ? pieces[r(pieces.length)]! : c) + t.slice(at);
    }
  }
  return t;
}

/**
 * Kernel expressions → statements: a small register interpreter. Loads put a
 * key into a register, bitwise/byteorder refine it, and a consumer (cmp,
 * range, lookup, immediate verdict, set, nat, ...) turns what the registers
 * hold into a statement. The protocol matches nft adds as dependencies are
 * dropped again exactly when linearizing the result re-creates them.
 * Anything not understood is kept as a raw statement of its expressions, so
 * listing foreign rules never fails and writing them back is lossless.
 */
import type { NftExpr } from './expr/index.js';
import { type InlineSetRequest, type LinearizeOptions, linearize } from './linearize.js';
import type { NftStmt } from './model.js';
import type { ProtoCtx } from './selectors/key.js';
import { DelinCtx, type DelinearizeOptions, type DelinResult, establish, initialProto } from './stmt/context.js';
import { DELINEARIZERS } from './stmt/registry.js';

export { DelinCtx, type DelinearizeOptions, type DelinResult, type KeyReg, type RegVal, type SetView } from './stmt/context.js';

/** Decodes a rule's expressions into statements. */
export function delinearize(exprs: readonly NftExpr[], opts: DelinearizeOptions): NftStmt[] {
  const ctx = new DelinCtx(exprs, opts);
  let start = 0;
  const flush = (end: number) => {
    if (end > start) ctx.stmts.push({ type: 'raw', exprs: exprs.slice(start, end) });
    ctx.regs.clear();
    start = end;
  };
  for (ctx.i = 0; ctx.i < exprs.length; ctx.i++) {
    const e = exprs[ctx.i]!;
    let r: DelinResult;
    try {
      r = delinearizeOne(e, ctx);
    } catch {
      r = 'fail';
    }
    if (r === 'reg') continue;
    if (r === 'fail') {
      flush(ctx.i + 1);
      continue;
    }
    ctx.stmts.push(r);
    establish(r, ctx);
    ctx.regs.clear();
    start = ctx.i + 1;
  }
  flush(exprs.length);
  return dropDependencies(ctx.stmts, opts);
}

function delinearizeOne(e: NftExpr, ctx: DelinCtx): DelinResult {
  const h = DELINEARIZERS[e.name];
  const r = h ? h(e as never, ctx) : undefined;
  if (r !== undefined) return r;
  // Loads: anything a key provider recognizes.
  const rec = ctx.recognize(e);
  const dreg = (e as { dreg?: number }).dreg;
  if (rec && dreg !== undefined && ctx.setReg(dreg, { kind: 'key', def: rec.def, len: rec.len })) return 'reg';
  return 'fail';
}

function isDependencyCandidate(s: NftStmt): boolean {
  return (
    s.type === 'match' &&
    s.op === 'eq' &&
    (s.key === 'meta l4proto' || s.key === 'meta nfproto') &&
    (typeof s.value === 'string' || typeof s.value === 'number')
  );
}

/**
 * Drops `meta nfproto`/`meta l4proto` matches that only restate what the next
 * statement needs: linearizing without them gives the same expressions.
 */
function dropDependencies(stmts: NftStmt[], opts: DelinearizeOptions): NftStmt[] {
  if (!stmts.some(isDependencyCandidate)) return stmts;
  const base = {
    family: opts.family,
    set: opts.set,
    inline: (req: InlineSetRequest) => ({
      name: '__set',
      id: 0,
      shape: { name: '__set', keyTypes: req.keyTypes, keyLens: req.keyDefs.map((d) => d.len), dataTypes: req.dataTypes, flags: req.flags },
    }),
  };
  const out: NftStmt[] = [];
  // The protocol context the statements kept so far establish.
  const proto: ProtoCtx = { family: opts.family, ...initialProto(opts.family) };
  const keep = (s: NftStmt) => {
    out.push(s);
    establish(s, proto);
  };
  let i = 0;
  while (i < stmts.length) {
    if (!isDependencyCandidate(stmts[i]!)) {
      keep(stmts[i]!);
      i++;
      continue;
    }
    let j = i;
    while (j < stmts.length && isDependencyCandidate(stmts[j]!)) j++;
    if (j === stmts.length) {
      for (const s of stmts.slice(i)) keep(s);
      break;
    }
    const next = stmts[j]!;
    const run = stmts.slice(i, j);
    let kept = run;
    try {
      const lin: LinearizeOptions = { ...base, proto: { l4: proto.l4, nfproto: proto.nfproto } };
      const full = linearize([...run, next], lin);
      // Try dropping as many candidates as possible (runs are short: at most a few).
      const n = Math.min(run.length, 6);
      for (const m of MASKS[n]!) {
        const tryKept = run.filter((_, idx) => idx >= n || !(m & (1 << idx)));
        if (exprsEqual(linearize([...tryKept, next], lin), full)) {
          kept = tryKept;
          break;
        }
      }
    } catch {
      kept = run;
    }
    for (const s of kept) keep(s);
    keep(next);
    i = j + 1;
  }
  return out;
}

/** Deep equality of expression lists (Buffers by content, bigints by value). */
export function exprsEqual(a: readonly NftExpr[], b: readonly NftExpr[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => deepEqual(x, b[i]));
}

function deepEqual(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (Buffer.isBuffer(x) || Buffer.isBuffer(y)) return Buffer.isBuffer(x) && Buffer.isBuffer(y) && x.equals(y);
  if (typeof x !== 'object' || typeof y !== 'object' || x === null || y === null) return false;
  if (Array.isArray(x) !== Array.isArray(y)) return false;
  const kx = Object.keys(x).filter((k) => (x as Record<string, unknown>)[k] !== undefined);
  const ky = Object.keys(y).filter((k) => (y as Record<string, unknown>)[k] !== undefined);
  if (kx.length !== ky.length) return false;
  return kx.every((k) => deepEqual((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k]));
}

/** Non-empty subsets of n candidates, most candidates first. */
const MASKS: number[][] = Array.from({ length: 7 }, (_, n) => [...Array(1 << n).keys()].slice(1).sort((a, b) => popcount(b) - popcount(a)));

function popcount(n: number): number {
  let c = 0;
  for (let x = n; x; x &= x - 1) c++;
  return c;
}

/** Verdicts: names to the kernel's codes and back (`accept`, `drop`, `jump chain`, ...). */
import { ValidationError } from '../errors.js';
import { NF_ACCEPT, NF_DROP, NF_QUEUE, NFT_CONTINUE, NFT_GOTO, NFT_JUMP, NFT_RETURN } from './constants.js';
import type { NftVerdict, NftVerdictCode } from './model.js';

const CODES: Record<NftVerdictCode, number> = {
  accept: NF_ACCEPT,
  drop: NF_DROP,
  queue: NF_QUEUE,
  continue: NFT_CONTINUE,
  return: NFT_RETURN,
  jump: NFT_JUMP,
  goto: NFT_GOTO,
};
const NAMES = new Map<number, NftVerdictCode>(Object.entries(CODES).map(([k, v]) => [v, k as NftVerdictCode]));

export function verdictToKernel(v: NftVerdict, field: string): { code: number; chain?: string } {
  const code = CODES[v?.verdict as NftVerdictCode];
  if (code === undefined) throw new ValidationError(field, `unknown verdict ${JSON.stringify(v?.verdict)}`, Object.keys(CODES).join(', '));
  if (v.verdict === 'jump' || v.verdict === 'goto') {
    if (typeof v.chain !== 'string' || v.chain.length === 0)
      throw new ValidationError(`${field}.chain`, `${v.verdict} needs a chain`, 'a chain name');
    return { code, chain: v.chain };
  }
  if (v.chain !== undefined) throw new ValidationError(`${field}.chain`, `${v.verdict} takes no chain`, 'no chain');
  return { code };
}

/** The verdict for a kernel code; unknown codes become `continue`-like names via their number. */
export function verdictFromKernel(k: { code: number; chain?: string }): NftVerdict | undefined {
  const name = NAMES.get(k.code);
  if (!name) return undefined;
  return k.chain !== undefined && (name === 'jump' || name === 'goto') ? { verdict: name, chain: k.chain } : { verdict: name };
}

export function verdictText(v: NftVerdict): string {
  return v.chain !== undefined ? `${v.verdict} ${v.chain}` : v.verdict;
}

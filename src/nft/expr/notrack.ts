/** notrack: exempt the packet from connection tracking. */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr } from './common.js';
import type { LinCtx } from '../linearize.js';
import type { DelinResult } from '../delinearize.js';

export interface NotrackExpr {
  name: 'notrack';
}

const schema = attrs('notrack', {});

export const notrackCodec = defineExpr<NotrackExpr, typeof schema._values & {}>(
  'notrack',
  schema,
  () => ({}),
  () => ({ name: 'notrack' }),
  () => 'notrack',
);

// ---------------------------------------------------------------- statements

export const linearizeNotrack = (_s: unknown, ctx: LinCtx): void => ctx.emit({ name: 'notrack' });
export const delinearizeNotrack = (): DelinResult => ({ type: 'notrack' });
export const notrackText = (): string => 'notrack';

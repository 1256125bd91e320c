/** notrack: exempt the packet from connection tracking. */
import type { DelinResult, LinCtx } from './context.js';

export const linearizeNotrack = (_s: unknown, ctx: LinCtx): void => ctx.emit({ name: 'notrack' });
export const delinearizeNotrack = (): DelinResult => ({ type: 'notrack' });
export const notrackText = (): string => 'notrack';

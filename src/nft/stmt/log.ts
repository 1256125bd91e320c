/** log: `log prefix "x" level info`, `log group 2`. */
import { ValidationError } from '../../errors.js';
import type { LogExpr } from '../expr/index.js';
import { LOG_FLAGS, LOG_FLAGS_ALL, LOG_LEVELS } from '../expr/log.js';
import type { NftLogFlag, NftLogLevel, NftLogStmt } from '../model.js';
import type { DelinCtx, DelinResult, LinCtx } from './context.js';

const DEFAULT_LEVEL = 4; // warn

function u(v: unknown, bits: number, field: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** bits)
    throw new ValidationError(field, 'invalid value', `an integer from 0 to ${2 ** bits - 1}`);
  return v;
}

export function linearizeLog(s: NftLogStmt, ctx: LinCtx): void {
  const f = ctx.field;
  const e: LogExpr = { name: 'log' };
  if (s.prefix !== undefined) {
    if (typeof s.prefix !== 'string' || Buffer.byteLength(s.prefix) > 127)
      throw new ValidationError(`${f}.prefix`, 'invalid prefix', 'a string of at most 127 bytes');
    e.prefix = s.prefix;
  }
  const group = u(s.group, 16, `${f}.group`);
  if (group !== undefined) {
    e.group = group;
    const snaplen = u(s.snaplen, 32, `${f}.snaplen`);
    const qt = u(s.queueThreshold, 16, `${f}.queueThreshold`);
    if (snaplen !== undefined) e.snaplen = snaplen;
    if (qt !== undefined) e.qthreshold = qt;
  } else if (s.snaplen !== undefined || s.queueThreshold !== undefined) {
    throw new ValidationError(`${f}.group`, 'snaplen and queueThreshold need a group', 'a log group');
  }
  if (s.level !== undefined) {
    const level = LOG_LEVELS.indexOf(s.level);
    if (level < 0) throw new ValidationError(`${f}.level`, `unknown level ${JSON.stringify(s.level)}`, LOG_LEVELS.join(', '));
    if (group !== undefined) throw new ValidationError(`${f}.level`, 'a level with a group', 'either a level or a group');
    e.level = level;
  }
  if (s.flags !== undefined && s.flags.length) {
    let bits = 0;
    s.flags.forEach((fl, i) => {
      const b = fl === 'all' ? LOG_FLAGS_ALL : LOG_FLAGS[fl as keyof typeof LOG_FLAGS];
      if (b === undefined)
        throw new ValidationError(`${f}.flags[${i}]`, `unknown flag ${JSON.stringify(fl)}`, `${Object.keys(LOG_FLAGS).join(', ')}, all`);
      bits |= b;
    });
    e.flags = bits;
  }
  ctx.emit(e);
}

function flagNames(bits: number): NftLogFlag[] | undefined {
  if (bits === LOG_FLAGS_ALL) return ['all'];
  const out: NftLogFlag[] = [];
  let rest = bits;
  for (const [n, b] of Object.entries(LOG_FLAGS)) {
    if (rest & b) {
      out.push(n as NftLogFlag);
      rest &= ~b;
    }
  }
  return rest ? undefined : out;
}

export function delinearizeLog(e: LogExpr, _ctx: DelinCtx): DelinResult {
  const s: NftLogStmt = { type: 'log' };
  if (e.prefix !== undefined) s.prefix = e.prefix;
  if (e.group !== undefined) {
    s.group = e.group;
    if (e.snaplen) s.snaplen = e.snaplen;
    if (e.qthreshold) s.queueThreshold = e.qthreshold;
  } else if (e.level !== undefined && e.level !== DEFAULT_LEVEL) {
    const level = LOG_LEVELS[e.level];
    if (!level) return 'fail';
    s.level = level as NftLogLevel;
  }
  if (e.flags) {
    const names = flagNames(e.flags);
    if (!names) return 'fail';
    s.flags = names;
  }
  return s;
}

export function logText(s: NftLogStmt): string {
  let t = 'log';
  if (s.prefix !== undefined) t += ` prefix ${JSON.stringify(s.prefix)}`;
  if (s.group !== undefined) t += ` group ${s.group}`;
  if (s.snaplen !== undefined) t += ` snaplen ${s.snaplen}`;
  if (s.queueThreshold !== undefined) t += ` queue-threshold ${s.queueThreshold}`;
  if (s.level !== undefined && s.level !== 'warn') t += ` level ${s.level}`;
  if (s.flags && s.flags.length) t += ` flags ${s.flags.join(',')}`;
  return t;
}

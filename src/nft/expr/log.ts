/** log: log the packet (`log prefix "x" level info`, `log group 2`). */
import { attrs } from '../../netlink/attributes.js';
import { defineExpr } from './common.js';

export interface LogExpr {
  name: 'log';
  prefix?: string;
  group?: number;
  snaplen?: number;
  qthreshold?: number;
  level?: number;
  flags?: number;
}

const schema = attrs('log', {
  prefix: { type: 2, kind: 'string' },
  group: { type: 1, kind: 'be16' },
  snaplen: { type: 3, kind: 'be32' },
  qthreshold: { type: 4, kind: 'be16' },
  level: { type: 5, kind: 'be32' },
  flags: { type: 6, kind: 'be32' },
});

export const logCodec = defineExpr<LogExpr, typeof schema._values & {}>(
  'log',
  schema,
  (e) => ({ prefix: e.prefix, group: e.group, snaplen: e.snaplen, qthreshold: e.qthreshold, level: e.level, flags: e.flags }),
  (v) => {
    const e: LogExpr = { name: 'log' };
    for (const k of ['prefix', 'group', 'snaplen', 'qthreshold', 'level', 'flags'] as const) {
      if (v[k] !== undefined) (e as unknown as Record<string, unknown>)[k] = v[k];
    }
    return e;
  },
  (e) => {
    const parts = ['log'];
    if (e.prefix !== undefined) parts.push(`prefix ${e.prefix}`);
    if (e.group !== undefined) parts.push(`group ${e.group} snaplen ${e.snaplen ?? 0} qthreshold ${e.qthreshold ?? 0}`);
    if (e.level !== undefined) parts.push(`level ${e.level}`);
    const names: [number, string][] = [
      [1, 'tcpseq'],
      [2, 'tcpopt'],
      [4, 'ipopt'],
      [8, 'uid'],
      [0x10, 'nflog'],
      [0x20, 'macdecode'],
    ];
    for (const [bit, n] of names) if ((e.flags ?? 0) & bit) parts.push(n);
    return parts.join(' ');
  },
);

export const LOG_LEVELS = ['emerg', 'alert', 'crit', 'err', 'warn', 'notice', 'info', 'debug', 'audit'] as const;
/** NF_LOG_* flags by nft's names. */
export const LOG_FLAGS = { 'tcp sequence': 0x01, 'tcp options': 0x02, 'ip options': 0x04, skuid: 0x08, ether: 0x20 } as const;
export const LOG_FLAGS_ALL = 0x2f;

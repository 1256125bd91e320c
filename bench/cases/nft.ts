/**
 * nftables: the frontend's DNAT map as one netfwd transaction vs `nft -f` of
 * the same map, N dnat rules (one per forward) vs `nft -f` of those rules,
 * and one more forward added to an N-element map.
 */

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchCase } from '../lib/harness.js';
import { removeNetns, scratchNetns } from '../lib/harness.js';
import { measureProcess } from '../lib/measure.js';
import { runSubject } from '../lib/netfwd.js';

interface Ctx {
  ns: string;
  dir: string;
}

// The same data as bench/subjects/netfwd-nft.mjs.
const addr = (i: number) => `203.0.113.${1 + (i % 200)}`;
const peer = (i: number) => `10.0.0.${2 + (i % 200)}`;
const port = (i: number) => 10000 + (i % 50000);
const target = (i: number) => 20000 + (i % 30000);

/** The frontend's map (netfwd's dnat4: exact ports, counters) with its rule, as nft text. */
export function mapRuleset(n: number): string {
  const els: string[] = [];
  for (let i = 0; i < n; i++) els.push(`${addr(i)} . tcp . ${port(i)} : ${peer(i)} . ${target(i)}`);
  return (
    'table inet nfb {\n' +
    ` map dnat4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; counter;${n ? ` elements = { ${els.join(', ')} }` : ''} }\n` +
    ' chain prerouting { type nat hook prerouting priority dstnat; policy accept; iifname != "wg0" dnat ip to ip daddr . meta l4proto . th dport map @dnat4; }\n' +
    '}\n'
  );
}

export function rulesRuleset(n: number): string {
  const lines = ['table inet nfb {', ' chain prerouting { type nat hook prerouting priority dstnat; policy accept; }', '}'];
  for (let i = 0; i < n; i++)
    lines.push(`add rule inet nfb prerouting ip daddr ${addr(i)} tcp dport ${port(i)} dnat ip to ${peer(i)}:${target(i)}`);
  return `${lines.join('\n')}\n`;
}

function nftCase(kind: 'map' | 'rules', sizes: number[]): BenchCase<Ctx> {
  const text = kind === 'map' ? mapRuleset : rulesRuleset;
  return {
    id: kind === 'map' ? 'nft-map' : 'nft-rules',
    title:
      kind === 'map'
        ? 'nftables: N forwards as elements of the DNAT map (one transaction)'
        : 'nftables: N forwards as one dnat rule each (one transaction)',
    unit: 'forward',
    sizes,
    async setup(size) {
      const dir = mkdtempSync(join(tmpdir(), 'nfb-'));
      writeFileSync(join(dir, 'ruleset.nft'), text(size));
      return { ns: scratchNetns(), dir };
    },
    async teardown(ctx) {
      removeNetns(ctx.ns);
      rmSync(ctx.dir, { recursive: true, force: true });
    },
    contenders: [
      {
        name: `netfwd ${kind === 'map' ? 'map transaction' : 'rules transaction'}`,
        timed:
          'in its node process: Nft.open + nft.transaction (the input objects are built before; import and start-up excluded); warmMs: the same transaction repeated in that process',
        run: (ctx, size) => runSubject('netfwd-nft', [kind, ctx.ns, String(size)], ['warmMs', 'batchMessages', 'datagrams']),
      },
      {
        name: 'nft -f',
        timed: 'the whole `nsenter --net=NS nft -f FILE` process (nsenter execs nft: one process; parsing the text included)',
        async run(ctx) {
          const r = await measureProcess('nsenter', [`--net=/run/netns/${ctx.ns}`, 'nft', '-f', join(ctx.dir, 'ruleset.nft')]);
          return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs };
        },
      },
    ],
    targets:
      kind === 'map'
        ? [
            {
              subject: 'netfwd map transaction',
              baseline: 'nft -f',
              maxRatio: 0.5,
              sizes: sizes.filter((s) => s >= 10000),
              note: 'the 10 000-forward map ≤ 0.5× nft -f',
            },
          ]
        : [
            {
              subject: 'netfwd rules transaction',
              baseline: 'nft -f',
              maxRatio: 1.0,
              sizes: sizes.filter((s) => s >= 10000),
              note: '10 000 one-rule-each ≤ 1.0× nft -f',
            },
          ],
  };
}

export const nftMapCase = (sizes: number[]) => nftCase('map', sizes);
export const nftRulesCase = (sizes: number[]) => nftCase('rules', sizes);

/** One more forward into a map that holds N: what a changed spec costs. */
export function nftAddOneCase(sizes: number[]): BenchCase<Ctx> {
  return {
    id: 'nft-add-one',
    title: 'nftables: one forward added to a map of N',
    unit: 'operation',
    sizes,
    async setup(size) {
      const dir = mkdtempSync(join(tmpdir(), 'nfb-'));
      writeFileSync(join(dir, 'ruleset.nft'), mapRuleset(size));
      const ns = scratchNetns();
      execFileSync('nsenter', [`--net=/run/netns/${ns}`, 'nft', '-f', join(dir, 'ruleset.nft')]);
      return { ns, dir };
    },
    async teardown(ctx) {
      removeNetns(ctx.ns);
      rmSync(ctx.dir, { recursive: true, force: true });
    },
    contenders: [
      {
        name: 'netfwd addElements',
        timed: "in its node process: Nft.open + a transaction adding one element (it first reads the set's key types: one GETSET)",
        run: (ctx) => runSubject('netfwd-nft', ['add-one', ctx.ns], ['batchMessages', 'messages', 'writes', 'datagrams']),
      },
      {
        name: 'nft add element',
        timed: 'the whole `nft add element` process',
        async run(ctx) {
          const r = await measureProcess('nsenter', [
            `--net=/run/netns/${ctx.ns}`,
            'nft',
            'add',
            'element',
            'inet',
            'nfb',
            'dnat4',
            '{ 198.51.100.1 . udp . 53 : 10.0.0.9 . 53 }',
          ]);
          return { ms: r.wallMs, rssKb: r.rssKb, processMs: r.wallMs };
        },
      },
    ],
    targets: [{ subject: 'netfwd addElements', extra: { key: 'writes', max: 1 }, note: 'one write message, whatever N' }],
  };
}

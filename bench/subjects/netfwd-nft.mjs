// netfwd's nftables transactions, the same work as the nft -f files of
// bench/cases/nft.ts (see forwardElements / forwardRules there):
//   map NS N      table + the DNAT map with N elements + chain + its rule, one transaction
//   rules NS N    table + chain + N dnat rules, one transaction
//   add-one NS    one element into the existing map (messages and writes reported)
// Timed: Nft.open to the end of the transaction; building the input objects
// happens before the clock starts (nft's parsing of its text is part of its time).
import { performance } from 'node:perf_hooks';
import { loadNetfwd, report, workDone } from './_load.mjs';

const { Nft, nftExpr: x, netlinkTotals } = await loadNetfwd();
const [mode, ns, countText] = process.argv.slice(2);
const count = Number(countText ?? 0);
const addr = (i) => `203.0.113.${1 + (i % 200)}`;
const peer = (i) => `10.0.0.${2 + (i % 200)}`;
const T = 'nfb';

let work;
if (mode === 'map') {
  const elements = [];
  for (let i = 0; i < count; i++) elements.push({ key: [addr(i), 'tcp', 10000 + (i % 50000)], data: [peer(i), 20000 + (i % 30000)] });
  const rule = [
    x.iifname.neq('wg0'),
    x.dnat({ family: 'ip', map: { key: [x.ip.daddr, x.meta.l4proto, x.th.dport], map: '@dnat4', withPort: true } }),
  ];
  work = (tx) => {
    tx.addTable({ family: 'inet', name: T });
    tx.addSet({
      family: 'inet',
      table: T,
      name: 'dnat4',
      keyType: ['ipv4_addr', 'inet_proto', 'inet_service'],
      dataType: ['ipv4_addr', 'inet_service'],
      counter: true,
      elements,
    });
    tx.addChain({ family: 'inet', table: T, name: 'prerouting', type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' });
    tx.addRule({ family: 'inet', table: T, chain: 'prerouting', expr: rule });
  };
} else if (mode === 'rules') {
  const rules = [];
  for (let i = 0; i < count; i++)
    rules.push([
      x.ip.daddr.eq(addr(i)),
      x.tcp.dport.eq(10000 + (i % 50000)),
      x.dnat({ family: 'ip', addr: peer(i), port: 20000 + (i % 30000) }),
    ]);
  work = (tx) => {
    tx.addTable({ family: 'inet', name: T });
    tx.addChain({ family: 'inet', table: T, name: 'prerouting', type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' });
    for (const expr of rules) tx.addRule({ family: 'inet', table: T, chain: 'prerouting', expr });
  };
} else if (mode === 'add-one') {
  work = (tx) =>
    tx.addElements({ family: 'inet', table: T, set: 'dnat4', elements: [{ key: ['198.51.100.1', 'udp', 53], data: ['10.0.0.9', 53] }] });
} else throw new Error(`unknown mode ${mode}`);

const t0 = performance.now();
const nft = await Nft.open({ netns: ns });
const res = await nft.transaction(work);
const opMs = performance.now() - t0;
workDone();
const totals = {
  batchMessages: res.messages,
  messages: netlinkTotals.messages,
  writes: netlinkTotals.writes,
  datagrams: netlinkTotals.datagramsSent,
};
let warmMs;
if (mode !== 'add-one') {
  // The same transaction again in the same process, on a warm JIT (the table deleted first, not timed).
  await nft.transaction((tx) => tx.deleteTable({ family: 'inet', name: T }));
  const t1 = performance.now();
  await nft.transaction(work);
  warmMs = performance.now() - t1;
}
nft.close();
report({ opMs, ...(warmMs !== undefined ? { warmMs } : {}), ...totals });

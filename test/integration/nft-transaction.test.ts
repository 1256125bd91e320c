/**
 * Transactions against the kernel: atomicity (one bad call leaves the
 * ruleset exactly as it was, and the error names the call), generation
 * conflicts, batches far above the default socket buffer, element lists
 * split over several messages of one batch, O(1) element updates, rule
 * handles and positions, counters read back after traffic, and a foreign
 * table that stays byte-identical while netfwd changes its own.
 * Oracles: `nft list`/`nft -j list` in the test's namespace, and the raw
 * listing messages.
 */
import type { ExecutionContext } from 'ava';
import { ConflictError, NetlinkError } from '../../src/errors.js';
import { Connection } from '../../src/netlink/connection.js';
import { nftExpr as x } from '../../src/nft/builder.js';
import { dumpChains, dumpElements, dumpObjs, dumpRules, dumpSets, dumpTables } from '../../src/nft/messages.js';
import type { NftElement } from '../../src/nft/model.js';
import { Nft } from '../../src/nft/nft.js';
import { nftRuleText } from '../../src/nft/ruleset-text.js';
import { FOREIGN } from '../fixtures/nft-cases.js';
import { nftIn, nftJson } from '../fixtures/nft-oracle.js';
import { freshNetns, kernelTest, run } from '../helpers/kernel.js';

const test = kernelTest(['ip', 'nsenter', 'bash']);

async function setup(t: ExecutionContext): Promise<{ ns: string; nft: Nft }> {
  const ns = freshNetns(t, 'nfttx');
  const nft = await Nft.open({ netns: ns });
  t.teardown(() => nft.close());
  return { ns, nft };
}

const base = (tx: Parameters<Parameters<Nft['transaction']>[0]>[0]) => {
  tx.addTable({ family: 'inet', name: 'netfwd', comment: 'owned by netfwd' });
  tx.addChain({
    family: 'inet',
    table: 'netfwd',
    name: 'fw',
    type: 'filter',
    hook: 'forward',
    priority: 'filter',
    policy: 'accept',
    comment: 'forward',
  });
  tx.addChain({ family: 'inet', table: 'netfwd', name: 'pre', type: 'nat', hook: 'prerouting', priority: 'dstnat' });
};

test('a batch with one bad call changes nothing, and the error names the call', async (t) => {
  const { ns, nft } = await setup(t);
  await nft.transaction(base);
  await nft.transaction((tx) => tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.ct.status.any('dnat'), x.accept()] }));
  const before = nftJson(ns);
  const gen = await nft.generation();

  const err = await t.throwsAsync(
    nft.transaction((tx) => {
      tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.tcp.dport.eq(22), x.accept()] });
      tx.addSet({ family: 'inet', table: 'netfwd', name: 'ports', keyType: 'inet_service', elements: [{ key: 80 }] });
      tx.addRule({ family: 'inet', table: 'netfwd', chain: 'nosuchchain', expr: [x.tcp.dport.in('@ports'), x.drop()] });
      tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.udp.dport.eq(53), x.accept()] });
    }),
    { instanceOf: NetlinkError },
  );
  t.is(err!.code, 'ENOENT');
  t.is(err!.errno, 2);
  t.regex(err!.operation ?? '', /^tx call #2 addRule: inet netfwd nosuchchain: tcp dport @ports drop$/);
  t.is(err!.attribute, 'chain', 'the extended ACK offset points at NFTA_RULE_CHAIN');
  t.regex(err!.message, /No such file or directory \(ENOENT\)/);
  t.deepEqual(nftJson(ns), before, 'ruleset exactly as it was');
  t.is(await nft.generation(), gen, 'nothing was committed');

  // A rule the kernel refuses in this hook (NAT in a filter chain): named, with the kernel's errno.
  const err2 = await t.throwsAsync(
    nft.transaction((tx) => {
      tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.counter()] });
      tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.masquerade()] });
    }),
    { instanceOf: NetlinkError },
  );
  t.is(err2!.code, 'EOPNOTSUPP');
  t.regex(err2!.operation ?? '', /^tx call #1 addRule: inet netfwd fw: masquerade$/);
  t.is(err2!.index, 1, 'index of the failing message in the batch');
  t.deepEqual(nftJson(ns), before);
});

test('a generation id detects a change between read and commit (ConflictError)', async (t) => {
  const { ns, nft } = await setup(t);
  await nft.transaction(base);
  const { generation } = await nft.list({ family: 'inet', table: 'netfwd' });
  await nft.transaction((tx) => tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.accept()] }), { genId: generation });
  const stale = generation;
  nftIn(ns, ['add', 'table', 'ip', 'someone_else']);
  const before = nftJson(ns);
  await t.throwsAsync(
    nft.transaction((tx) => tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.drop()] }), { genId: stale + 1 }),
    { instanceOf: ConflictError, message: /changed since generation/ },
  );
  t.deepEqual(nftJson(ns), before);
  // With the current generation it goes through.
  const g = await nft.generation();
  await nft.transaction((tx) => tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.drop()] }), { genId: g });
  t.is((await nft.list({ table: 'netfwd' })).rules.length, 2);
});

test('a batch of several megabytes goes out as one atomic write', async (t) => {
  const { ns, nft } = await setup(t);
  const N = 12000;
  const res = await nft.transaction((tx) => {
    base(tx);
    for (let i = 0; i < N; i++) {
      tx.addRule({
        family: 'inet',
        table: 'netfwd',
        chain: 'pre',
        expr: [
          x.ip.daddr.eq(`203.0.113.${1 + (i % 200)}`),
          x.tcp.dport.eq(10000 + i),
          x.dnat({ addr: `10.0.0.${2 + (i % 200)}`, port: 20000 + i }),
        ],
        comment: `forward ${i}`,
      });
    }
  });
  t.is(res.messages, N + 3);
  t.true(nft.connection.stats.bytesSent > 4 * 212992, `${nft.connection.stats.bytesSent} bytes sent, far over the default SO_SNDBUF`);
  const out = nftIn(ns, ['list', 'chain', 'inet', 'netfwd', 'pre']);
  t.is(out.split('\n').filter((l) => l.includes('dnat ip to')).length, N);
  t.true(out.includes(`ip daddr 203.0.113.200 tcp dport ${10000 + 11999} dnat ip to 10.0.0.201:${20000 + 11999} comment "forward 11999"`));
});

const FWD_KEY = ['ipv4_addr', 'inet_proto', 'inet_service'];
const forward = (i: number): NftElement => ({
  key: [`203.0.113.${1 + (i % 250)}`, i % 2 ? 'udp' : 'tcp', 1024 + i],
  data: [`10.0.0.${2 + (i % 250)}`, 2000 + i],
});

test('a 10 000-element map in one batch; adding or removing one element is one message', async (t) => {
  const { ns, nft } = await setup(t);
  const elements = Array.from({ length: 10000 }, (_, i) => forward(i));
  const res = await nft.transaction((tx) => {
    base(tx);
    tx.addSet({
      family: 'inet',
      table: 'netfwd',
      name: 'forwards4',
      keyType: FWD_KEY,
      dataType: ['ipv4_addr', 'inet_service'],
      flags: ['interval'],
      elements,
    });
    tx.addRule({
      family: 'inet',
      table: 'netfwd',
      chain: 'pre',
      expr: [
        x.meta.l4proto.in(['tcp', 'udp']),
        x.dnat({ family: 'ip', map: { key: [x.ip.daddr, x.meta.l4proto, x.th.dport], map: '@forwards4', withPort: true } }),
      ],
    });
  });
  t.true(res.messages > 8, `elements split over ${res.messages - 5} messages of one batch`);
  const listed = nftIn(ns, ['-j', 'list', 'map', 'inet', 'netfwd', 'forwards4']);
  t.is((JSON.parse(listed).nftables[1].map.elem as unknown[]).length, 10000);

  const writes = nft.connection.stats.writes;
  const r1 = await nft.transaction((tx) =>
    tx.addElements({ family: 'inet', table: 'netfwd', set: 'forwards4', elements: [forward(20000)] }),
  );
  t.is(r1.messages, 1);
  t.is(nft.connection.stats.writes - writes, 1, 'one state-changing message');
  const r2 = await nft.transaction((tx) =>
    tx.deleteElements({ family: 'inet', table: 'netfwd', set: 'forwards4', elements: [forward(5)] }),
  );
  t.is(r2.messages, 1);
  const set = await nft.getSet('inet', 'netfwd', 'forwards4');
  t.is(set!.elements.length, 10000);
  t.deepEqual(
    set!.elements.find((e) => (e.key as unknown[])[2] === 1024 + 20000),
    forward(20000),
  );
  t.falsy(set!.elements.find((e) => (e.key as unknown[])[2] === 1029));
  // A port range element.
  await nft.transaction((tx) =>
    tx.addElements({
      family: 'inet',
      table: 'netfwd',
      set: 'forwards4',
      elements: [{ key: ['198.51.100.9', 'udp', { range: [51000, 51010] }], data: ['10.0.0.9', 51000] }],
    }),
  );
  t.true(nftIn(ns, ['list', 'map', 'inet', 'netfwd', 'forwards4']).includes('198.51.100.9 . udp . 51000-51010 : 10.0.0.9 . 51000'));
});

test('rule handles, positions, replace, delete, flush; tables, chains and sets removed', async (t) => {
  const { ns, nft } = await setup(t);
  const res = await nft.transaction(
    (tx) => {
      base(tx);
      tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.tcp.dport.eq(22), x.accept()] });
      tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.tcp.dport.eq(80), x.accept()] });
    },
    { echo: true },
  );
  const [h22, h80] = [res.ops[3]!.handle!, res.ops[4]!.handle!];
  t.true(h22 > 0 && h80 > h22);
  await nft.transaction((tx) => {
    tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.tcp.dport.eq(25), x.drop()], position: h22 });
    tx.insertRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.tcp.dport.eq(1), x.drop()] });
    tx.replaceRule({ family: 'inet', table: 'netfwd', chain: 'fw', handle: h80, expr: [x.tcp.dport.eq(8080), x.accept()] });
  });
  const texts = () =>
    nftIn(ns, ['list', 'chain', 'inet', 'netfwd', 'fw'])
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('tcp'));
  t.deepEqual(texts(), ['tcp dport 1 drop', 'tcp dport 22 accept', 'tcp dport 25 drop', 'tcp dport 8080 accept']);
  const listed = await nft.list({ family: 'inet', table: 'netfwd' });
  t.deepEqual(listed.rules.map(nftRuleText), ['tcp dport 1 drop', 'tcp dport 22 accept', 'tcp dport 25 drop', 'tcp dport 8080 accept']);
  t.is(listed.tables[0]!.comment, 'owned by netfwd');
  t.is(listed.chains.find((c) => c.name === 'fw')!.comment, 'forward');
  t.like(
    listed.chains.find((c) => c.name === 'pre'),
    { type: 'nat', hook: 'prerouting', priority: -100, policy: 'accept' },
  );
  await nft.transaction((tx) => tx.deleteRule({ family: 'inet', table: 'netfwd', chain: 'fw', handle: h22 }));
  t.deepEqual(texts(), ['tcp dport 1 drop', 'tcp dport 25 drop', 'tcp dport 8080 accept']);
  await nft.transaction((tx) => {
    tx.flushChain({ family: 'inet', table: 'netfwd', name: 'fw' });
    tx.addSet({ family: 'inet', table: 'netfwd', name: 's', keyType: 'ipv4_addr', elements: [{ key: '192.0.2.1' }] });
  });
  t.deepEqual(texts(), []);
  await nft.transaction((tx) => {
    tx.flushSet({ family: 'inet', table: 'netfwd', name: 's' });
    tx.deleteChain({ family: 'inet', table: 'netfwd', name: 'fw' });
  });
  t.deepEqual((await nft.getSet('inet', 'netfwd', 's'))!.elements, []);
  await nft.transaction((tx) => tx.deleteSet({ family: 'inet', table: 'netfwd', name: 's' }));
  await nft.transaction((tx) => tx.deleteTable({ family: 'inet', name: 'netfwd' }));
  t.is(nftIn(ns, ['list', 'ruleset']).trim(), '');
});

test('counters: rule, named object and per element, read back after traffic', async (t) => {
  const { ns, nft } = await setup(t);
  run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  await nft.transaction((tx) => {
    tx.addTable({ family: 'ip', name: 'netfwd' });
    tx.addChain({ family: 'ip', table: 'netfwd', name: 'out', type: 'filter', hook: 'output', priority: 'filter' });
    tx.addCounter({ family: 'ip', table: 'netfwd', name: 'fwd-lo' });
    tx.addSet({
      family: 'ip',
      table: 'netfwd',
      name: 'dst',
      keyType: 'ipv4_addr',
      counter: true,
      elements: [{ key: '127.0.0.1' }, { key: '192.0.2.1' }],
    });
    tx.addRule({ family: 'ip', table: 'netfwd', chain: 'out', expr: [x.ip.daddr.eq('127.0.0.1'), x.counter()] });
    tx.addRule({ family: 'ip', table: 'netfwd', chain: 'out', expr: [x.ip.daddr.eq('127.0.0.1'), x.counter('fwd-lo')] });
    tx.addRule({ family: 'ip', table: 'netfwd', chain: 'out', expr: [x.ip.daddr.in('@dst')] });
  });
  // Three TCP connection attempts to a closed port on lo: SYNs out, RSTs back (both leave through output).
  run('ip', ['netns', 'exec', ns, 'bash', '-c', 'for i in 1 2 3; do (echo > /dev/tcp/127.0.0.1/9) 2>/dev/null; done; true']);
  const l = await nft.list({ family: 'ip', table: 'netfwd' });
  const ruleCounter = l.rules[0]!.expr[1]!;
  t.is(ruleCounter.type, 'counter');
  t.true(ruleCounter.type === 'counter' && ruleCounter.packets! >= 3 && ruleCounter.bytes! >= 3 * 40, JSON.stringify(ruleCounter));
  const obj = l.counters.find((c) => c.name === 'fwd-lo')!;
  t.true(obj.packets >= 3 && obj.bytes >= 3 * 40);
  t.deepEqual(l.rules[1]!.expr[1], { type: 'counter', name: 'fwd-lo' });
  const dst = l.sets.find((s) => s.name === 'dst')!;
  t.true(dst.counter);
  t.true(dst.elements.find((e) => e.key === '127.0.0.1')!.counter!.packets >= 3);
  t.is(dst.elements.find((e) => e.key === '192.0.2.1')!.counter!.packets, 0);
  t.true(nftIn(ns, ['list', 'counter', 'ip', 'netfwd', 'fwd-lo']).includes(`packets ${obj.packets} bytes ${obj.bytes}`));
});

test('a foreign table stays byte-identical while netfwd changes its own', async (t) => {
  const { ns, nft } = await setup(t);
  nftIn(ns, ['-f', '-'], FOREIGN[0]!.nft!);
  const conn = await Connection.open('netfilter', { netns: ns });
  t.teardown(() => conn.close());
  const snapshot = async () => {
    const out: string[] = [];
    for (const req of [
      dumpTables('inet'),
      dumpChains('inet', 'firewalld'),
      dumpSets('inet', 'firewalld'),
      dumpObjs('inet', 'firewalld'),
      dumpRules('inet', 'firewalld'),
    ]) {
      for (const m of await conn.dumpAll(req)) {
        // Only the foreign table's objects (GETTABLE lists every inet table).
        // nfgenmsg.res_id carries the ruleset generation (it moves with every commit): compare family and attributes.
        if (m.data.includes(Buffer.from('firewalld\0')))
          out.push(m.data.subarray(0, 1).toString('hex') + m.data.subarray(4).toString('hex'));
      }
    }
    for (const m of await conn.dumpAll(dumpElements('inet', 'firewalld', 'allowed6'))) out.push(m.data.subarray(4).toString('hex'));
    return out;
  };
  const before = await snapshot();
  const text = nftIn(ns, ['list', 'table', 'inet', 'firewalld']);
  t.true(before.length > 30);

  await nft.transaction(base);
  await nft.transaction((tx) => {
    tx.addSet({
      family: 'inet',
      table: 'netfwd',
      name: 'forwards4',
      keyType: FWD_KEY,
      dataType: ['ipv4_addr', 'inet_service'],
      flags: ['interval'],
      elements: [forward(1), forward(2)],
    });
    tx.addRule({ family: 'inet', table: 'netfwd', chain: 'fw', expr: [x.ct.status.any('dnat'), x.accept()] });
  });
  await nft.transaction((tx) => tx.deleteElements({ family: 'inet', table: 'netfwd', set: 'forwards4', elements: [forward(1)] }));
  await nft.transaction((tx) => tx.flushChain({ family: 'inet', table: 'netfwd', name: 'fw' }));
  await nft.transaction((tx) => tx.deleteTable({ family: 'inet', name: 'netfwd' }));

  t.deepEqual(await snapshot(), before, 'raw listing of the foreign table unchanged');
  t.is(nftIn(ns, ['list', 'table', 'inet', 'firewalld']), text);
});

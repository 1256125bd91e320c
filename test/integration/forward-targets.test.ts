/**
 * Several targets per forward against the kernel, with nft as the oracle:
 *   - the DNAT maps hold the elements of the target health picks (failover:
 *     the first healthy; hash: each jhash bucket's target);
 *   - a health change is one nftables transaction of element changes only
 *     (counted on an nftables monitor: one generation, no table, chain, set
 *     or rule message), and a second apply writes nothing;
 *   - `apply` without measurements (`netfwd up`) keeps a failed-over forward
 *     where it is;
 *   - the jhash rule: nft lists netfwd's rule as it lists its own, and netfwd
 *     reads nft's own rule back as the builder's statement.
 */
import type { ExecutionContext } from 'ava';
import { forwardService, inspectNamespace, type ServiceForward } from '../../src/forward/index.js';
import { HASH_BUCKETS } from '../../src/forward/plan/nftables-desired.js';
import { nftTableName } from '../../src/forward/plan/ownership.js';
import type { FrontendSpec } from '../../src/forward/spec/spec.js';
import { nftExpr as e, type NftMonitorEvent, openNftMonitor } from '../../src/nft/index.js';
import { Nft } from '../../src/nft/nft.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { nftIn } from '../fixtures/nft-oracle.js';
import { e2eSkipReason, uniqueTag } from '../helpers/e2e.js';
import { freshNetns, kernelTest } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const test = e2eSkipReason() ? base.skip : base;

function frontend(ns: string, ifname: string): FrontendSpec {
  return {
    role: 'frontend',
    netns: ns,
    tunnel: {
      interface: ifname,
      addresses: ['10.0.0.1/24', 'fd00::1/64'],
      listenPort: 51820,
      privateKey: generatePrivateKey().toBase64(),
      peers: [
        { name: 'home', publicKey: publicKey(generatePrivateKey()), addresses: ['10.0.0.2', 'fd00::2'] },
        { name: 'office', publicKey: publicKey(generatePrivateKey()), addresses: ['10.0.0.3', 'fd00::3'] },
      ],
    },
    public: { addresses: ['203.0.113.2', '2001:db8:2::2'] },
    forwards: [
      {
        protocol: 'tcp',
        port: 443,
        to: [
          { peer: 'home', port: 8443 },
          { peer: 'office', port: 8443 },
        ],
      },
      { protocol: 'tcp', port: 80, balance: 'hash', to: [{ peer: 'home' }, { peer: 'office' }] },
      { protocol: 'udp', port: 53, to: { peer: 'office' } },
    ],
  };
}

function cleanup(t: ExecutionContext, f: ServiceForward): void {
  t.teardown(async () => {
    await f.down().catch(() => undefined);
  });
}

type Json = Record<string, any>;

/** The elements of one map of netfwd's table, from `nft -j list map`: [key, data] with nft's JSON values. */
function mapElements(ns: string, table: string, map: string): Array<[unknown, unknown]> {
  const out = JSON.parse(nftIn(ns, ['-j', 'list', 'map', 'inet', table, map])) as { nftables: Json[] };
  const m = out.nftables.find((x) => x.map)?.map as Json;
  return ((m.elem ?? []) as Json[]).map((el) => {
    const [k, d] = el as [unknown, unknown];
    const key = (k as Json).elem ? (k as Json).elem.val : k;
    return [(key as Json).concat ?? key, (d as Json).concat ?? d];
  });
}

/** The target address of each hash bucket of forward 80/tcp on 203.0.113.2. */
function buckets(ns: string, table: string): string[] {
  const els = mapElements(ns, table, 'dnat4_hash').filter(([k]) => (k as unknown[])[2] === 80);
  return els.sort(([a], [b]) => ((a as number[])[3] ?? 0) - ((b as number[])[3] ?? 0)).map(([, d]) => (d as string[])[0]!);
}

/** Records what an nftables monitor sees while `fn` runs (plus a moment for the notifications to arrive). */
async function watched(ns: string, fn: () => Promise<unknown>): Promise<NftMonitorEvent[]> {
  const m = openNftMonitor({ netns: ns });
  const events: NftMonitorEvent[] = [];
  const reading = (async () => {
    for await (const ev of m) events.push(ev);
  })();
  await new Promise((r) => setTimeout(r, 200));
  await fn();
  await new Promise((r) => setTimeout(r, 300));
  m.close();
  await reading.catch(() => undefined);
  return events;
}

test('failover and hash: the maps hold the chosen targets; a health change is one transaction of element changes only', async (t) => {
  const ns = freshNetns(t, 'nftgt');
  const ifname = `nf${uniqueTag()}t`;
  const fe = forwardService(frontend(ns, ifname));
  cleanup(t, fe);
  const tb = nftTableName(ifname);
  await fe.apply();

  // No measurement, no previous table: every forward's first target; the hash buckets alternate.
  t.deepEqual(
    mapElements(ns, tb, 'dnat4').filter(([k]) => (k as unknown[])[2] === 443),
    [
      [
        ['203.0.113.2', 'tcp', 443],
        ['10.0.0.2', 8443],
      ],
    ],
  );
  const home = Array.from({ length: HASH_BUCKETS }, (_, b) => (b % 2 === 0 ? '10.0.0.2' : '10.0.0.3'));
  t.deepEqual(buckets(ns, tb), home);
  t.true((await fe.apply()).plan.empty, 'the jhash rules read back as written: nothing to do');

  // home is down: one step, element changes only, one transaction.
  const down = { downTargets: new Set(['forwards[0] home', 'forwards[1] home']) };
  const plan = await fe.plan({ health: down });
  t.deepEqual(
    plan.changes.map((c) => `${c.action} ${c.kind}`),
    ['update nftables'],
    plan.toString(),
  );
  t.regex(plan.lines()[0]!, /elements \+\d+ -\d+ \(/);
  let writes = 0;
  const events = await watched(ns, async () => {
    writes = (await fe.apply({ health: down })).netlinkWrites;
  });
  t.is(events.filter((x) => x.kind === 'generation').length, 1, 'one nftables transaction');
  t.deepEqual([...new Set(events.filter((x) => x.kind !== 'generation').map((x) => x.kind))], ['element'], 'of element changes only');
  t.log(`failover of two forwards (1 + ${HASH_BUCKETS / 2} elements per family): ${writes} netlink writes`);
  t.deepEqual(
    mapElements(ns, tb, 'dnat4').filter(([k]) => (k as unknown[])[2] === 443),
    [
      [
        ['203.0.113.2', 'tcp', 443],
        ['10.0.0.3', 8443],
      ],
    ],
  );
  t.deepEqual(
    mapElements(ns, tb, 'dnat6').filter(([k]) => (k as unknown[])[2] === 443),
    [
      [
        ['2001:db8:2::2', 'tcp', 443],
        ['fd00::3', 8443],
      ],
    ],
  );
  t.deepEqual(buckets(ns, tb), Array(HASH_BUCKETS).fill('10.0.0.3'), "home's buckets went to office, office's stayed");
  t.deepEqual(
    mapElements(ns, tb, 'dnat4').filter(([k]) => (k as unknown[])[2] === 53),
    [
      [
        ['203.0.113.2', 'udp', 53],
        ['10.0.0.3', 53],
      ],
    ],
    'the single-target forward is untouched',
  );

  // status: each target, whether new connections go to it (no `netfwd run` here: not measured).
  const st = await fe.status();
  t.deepEqual(
    st.targets.map((x) => [x.forward, x.target, x.elements, x.health]),
    [
      ['forwards[0]', 'home', 0, null],
      ['forwards[0]', 'office', 2, null],
      ['forwards[1]', 'home', 0, null],
      ['forwards[1]', 'office', 2 * HASH_BUCKETS, null],
    ],
  );
  // Status without a configuration: a hash forward is one line per target with its bucket count.
  const seen = (await inspectNamespace(ns)).tunnels[0]!.forwards.filter((f) => f.publicPorts === '80' && f.family === 4);
  t.deepEqual(
    seen.map((f) => f.target),
    ['10.0.0.3:80 (hash: 12 of its buckets)'],
  );

  // netfwd up (no measurement) keeps the failed-over state.
  const up = await fe.apply();
  t.true(up.plan.empty, up.plan.toString());
  t.is(up.netlinkWrites, 0);

  // Measured healthy again: back to home, again one transaction of elements.
  const back = await watched(ns, () => fe.apply({ health: { downTargets: new Set() } }));
  t.is(back.filter((x) => x.kind === 'generation').length, 1);
  t.deepEqual([...new Set(back.filter((x) => x.kind !== 'generation').map((x) => x.kind))], ['element']);
  t.deepEqual(buckets(ns, tb), home);
  t.deepEqual(
    mapElements(ns, tb, 'dnat4').filter(([k]) => (k as unknown[])[2] === 443),
    [
      [
        ['203.0.113.2', 'tcp', 443],
        ['10.0.0.2', 8443],
      ],
    ],
  );
  // Every target down: failover keeps the first, hash each bucket's own.
  await fe.apply({
    health: { downTargets: new Set(['forwards[0] home', 'forwards[0] office', 'forwards[1] home', 'forwards[1] office']) },
  });
  t.deepEqual(buckets(ns, tb), home);
  t.true((await fe.plan({ health: { downTargets: new Set() } })).empty);
});

test("the jhash map rule: nft lists netfwd's rule as its own, and netfwd reads nft's rule back", async (t) => {
  const mine = freshNetns(t, 'nftgh');
  const theirs = freshNetns(t, 'nftgh');
  const key = [e.ip.daddr, e.meta.l4proto, e.th.dport, e.jhash(e.ip.saddr, 12, 0x6e66)];
  const key6 = [e.ip6.daddr, e.meta.l4proto, e.th.dport, e.jhash(e.ip6.saddr, 12, 0x6e66)];
  const rules = [
    [e.iifname.neq('wg0'), e.dnat({ family: 'ip', map: { key, map: '@m4', withPort: true } })],
    [e.iifname.neq('wg0'), e.dnat({ family: 'ip6', map: { key: key6, map: '@m6', withPort: true } })],
  ];
  const nft = await Nft.open({ netns: mine });
  const nftTheirs = await Nft.open({ netns: theirs });
  t.teardown(() => {
    nft.close();
    nftTheirs.close();
  });
  const b = { family: 'inet' as const, table: 't' };
  await nft.transaction((tx) => {
    tx.addTable({ family: 'inet', name: 't' });
    tx.addSet({ ...b, name: 'm4', keyType: ['ipv4_addr', 'inet_proto', 'inet_service', 'mark'], dataType: ['ipv4_addr', 'inet_service'] });
    tx.addSet({ ...b, name: 'm6', keyType: ['ipv6_addr', 'inet_proto', 'inet_service', 'mark'], dataType: ['ipv6_addr', 'inet_service'] });
    tx.addChain({ ...b, name: 'pre', type: 'nat', hook: 'prerouting', priority: 'dstnat', policy: 'accept' });
    for (const expr of rules) tx.addRule({ ...b, chain: 'pre', expr });
  });
  // nft 1.0.6 refuses `type ... mark` for a jhash key (it wants typeof), and crashes listing a
  // map declared with typeof and jhash: nft's table uses typeof, and only its chain is listed.
  nftIn(
    theirs,
    ['-f', '-'],
    `table inet t {
  map m4 { typeof ip daddr . meta l4proto . th dport . jhash ip saddr mod 12 seed 0x6e66 : ip daddr . th dport; }
  map m6 { typeof ip6 daddr . meta l4proto . th dport . jhash ip6 saddr mod 12 seed 0x6e66 : ip6 daddr . th dport; }
  chain pre { type nat hook prerouting priority dstnat; policy accept;
    iifname != "wg0" dnat ip to ip daddr . meta l4proto . th dport . jhash ip saddr mod 12 seed 0x6e66 map @m4
    iifname != "wg0" dnat ip6 to ip6 daddr . meta l4proto . th dport . jhash ip6 saddr mod 12 seed 0x6e66 map @m6
  }
}
`,
  );
  const chainJson = (ns: string) =>
    (JSON.parse(nftIn(ns, ['-j', 'list', 'chain', 'inet', 't', 'pre'])) as { nftables: Json[] }).nftables
      .filter((x) => x.rule)
      .map((x) => x.rule.expr);
  t.deepEqual(chainJson(mine), chainJson(theirs), 'nft -j list chain');
  t.regex(nftIn(mine, ['list', 'ruleset']), /dnat ip to ip daddr \. meta l4proto \. th dport \. jhash ip saddr mod 12 seed 0x6e66 map @m4/);
  const listed = await nftTheirs.list();
  t.deepEqual(
    listed.rules.map((r) => r.expr),
    rules,
    "nft's own rules (source loaded into another register) read back as the builder's",
  );
  const ours = await nft.list();
  t.deepEqual(
    ours.rules.map((r) => r.expr),
    rules,
  );
});

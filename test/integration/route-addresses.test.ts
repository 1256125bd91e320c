/**
 * rt.addresses against the real kernel, each test in its own namespace,
 * checked with `ip -j -d address` (iproute2) as the oracle; and the
 * NLM_F_DUMP_INTR retry of a streamed dump, provoked by changing addresses
 * while the dump is only half read.
 */

import { execFileSync } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import { NetlinkError, ValidationError } from '../../src/errors.js';
import { netns } from '../../src/netns/index.js';
import { type Address, addressAddRequest, Route } from '../../src/route/index.js';
import { freshNetns, ipJson, kernelTest } from '../helpers/kernel.js';

const test = kernelTest(['ip']);

async function setup(t: ExecutionContext, options: { receiveBufferSize?: number } = {}): Promise<{ ns: string; rt: Route }> {
  const ns = freshNetns(t);
  // No IPv6 link-local addresses and no DAD: the dump is then stable.
  netns.sysctl(ns, 'net.ipv6.conf.default.addr_gen_mode', 1);
  netns.sysctl(ns, 'net.ipv6.conf.default.accept_dad', 0);
  const rt = await Route.open({ netns: ns, ...options });
  t.teardown(() => rt.close());
  await rt.links.add({ name: 'vA', kind: 'veth', peer: { name: 'vB' }, up: true });
  await rt.links.set('vB', { up: true });
  return { ns, rt };
}

const ipAddrs = (ns: string) =>
  ipJson<any[]>(ns, ['-d', 'address', 'show']).flatMap((l) => l.addr_info.map((a: any) => ({ ifname: l.ifname, ...a })));

/** A listed address in the shape of ip's addr_info (the keys compared). */
function asIp(a: Address) {
  return {
    ifname: a.link,
    family: a.family === 4 ? 'inet' : 'inet6',
    local: a.local,
    address: a.peer,
    prefixlen: a.prefixLength,
    broadcast: a.broadcast,
    scope: a.scope,
    label: a.label,
    metric: a.metric,
    noprefixroute: a.flags.includes('noprefixroute') || undefined,
    valid_life_time: a.validLifetime,
  };
}
function ipView(j: any) {
  return {
    ifname: j.ifname,
    family: j.family,
    local: j.local,
    address: j.address,
    prefixlen: j.prefixlen,
    broadcast: j.broadcast,
    scope: j.scope,
    label: j.label,
    metric: j.metric,
    noprefixroute: j.noprefixroute,
    valid_life_time: j.valid_life_time,
  };
}

test('IPv4 and IPv6 addresses, with peer, broadcast, label and metric, as ip shows them; removing the listed ones restores the dump', async (t) => {
  const { ns, rt } = await setup(t);
  const before = ipAddrs(ns);
  await rt.addresses.add({ link: 'vA', address: '192.0.2.1/24', broadcast: '192.0.2.255', label: 'vA:web', metric: 50 });
  await rt.addresses.add({ link: 'vA', address: '198.51.100.1/24', noPrefixRoute: true });
  await rt.addresses.add({ link: 'vA', address: '10.0.0.1', peer: '10.0.0.2/32' });
  await rt.addresses.add({ link: 'vA', address: '2001:db8::1/64' });
  await rt.addresses.add({ link: 'vB', address: 'fd00::1', peer: 'fd00::2' });
  await rt.addresses.add({ link: 'lo', address: '203.0.113.9/32' });

  const all = ipAddrs(ns);
  t.like(
    all.find((a) => a.local === '192.0.2.1'),
    { prefixlen: 24, broadcast: '192.0.2.255', label: 'vA:web', metric: 50 },
  );
  t.like(
    all.find((a) => a.local === '10.0.0.1'),
    { address: '10.0.0.2', prefixlen: 32 },
  );
  t.like(
    all.find((a) => a.local === 'fd00::1'),
    { address: 'fd00::2', prefixlen: 128, ifname: 'vB' },
  );
  t.true(all.find((a) => a.local === '198.51.100.1').noprefixroute);
  t.like(
    all.find((a) => a.local === '2001:db8::1'),
    { family: 'inet6', prefixlen: 64 },
  );

  const listed = await rt.addresses.list();
  const key = (x: { ifname?: unknown; local?: unknown }) => `${x.ifname} ${x.local}`;
  t.deepEqual(
    listed.map(asIp).sort((a, b) => key(a).localeCompare(key(b))),
    all.map(ipView).sort((a, b) => key(a).localeCompare(key(b))),
  );
  t.deepEqual(
    (await rt.addresses.list({ link: 'vB' })).map((a) => a.address),
    ['fd00::1/128'],
  );
  t.deepEqual(
    (await rt.addresses.list({ link: 'vA', family: 6 })).map((a) => a.address),
    ['2001:db8::1/64'],
  );
  t.deepEqual((await rt.addresses.list({ family: 4, link: 'vA' })).map((a) => a.address).sort(), [
    '10.0.0.1/32',
    '192.0.2.1/24',
    '198.51.100.1/24',
  ]);

  for (const a of listed.filter((x) => x.local !== '127.0.0.1' && x.local !== '::1')) await rt.addresses.remove(a);
  t.deepEqual(ipAddrs(ns), before);
});

test('address errors: EEXIST, EADDRNOTAVAIL, a missing link, bad input before sending', async (t) => {
  const { ns, rt } = await setup(t);
  await rt.addresses.add({ link: 'vA', address: '192.0.2.1/24' });
  const dup = await t.throwsAsync(rt.addresses.add({ link: 'vA', address: '192.0.2.1/24' }), { instanceOf: NetlinkError });
  t.is(dup!.code, 'EEXIST');
  t.regex(dup!.message, /add address 192\.0\.2\.1\/24 on vA/);
  await rt.addresses.replace({ link: 'vA', address: '192.0.2.1/24', metric: 7 });
  t.is(ipAddrs(ns).find((a) => a.local === '192.0.2.1').metric, 7);
  const gone = await t.throwsAsync(rt.addresses.remove({ link: 'vA', address: '192.0.2.99/24' }), { instanceOf: NetlinkError });
  t.is(gone!.code, 'EADDRNOTAVAIL');
  const nolink = await t.throwsAsync(rt.addresses.add({ link: 'nosuch0', address: '192.0.2.2/24' }), { instanceOf: NetlinkError });
  t.is(nolink!.code, 'ENODEV');
  const before = rt.connection.stats.messages;
  await t.throwsAsync(rt.addresses.add({ link: 'vA', address: '192.0.2.1/33' }), { instanceOf: ValidationError });
  await t.throwsAsync(rt.addresses.add({ link: 'vA', address: '192.0.2.1/24', peer: '2001:db8::1' }), { instanceOf: ValidationError });
  await t.throwsAsync(rt.addresses.add({ link: 'x'.repeat(16), address: '192.0.2.1/24' }), { instanceOf: ValidationError });
  t.is(rt.connection.stats.messages, before);
});

test('DUMP_INTR: a dump interrupted by a concurrent change is re-run and yields every address once', async (t) => {
  // A small receive buffer keeps the kernel from producing the dump ahead of
  // the reader, so a change made after the first address lands mid-dump.
  const { ns, rt } = await setup(t, { receiveBufferSize: 64 * 1024 });
  const writer = await Route.open({ netns: ns });
  t.teardown(() => writer.close());
  const LINKS = 12;
  const PER_LINK = 1000;
  const indexes: number[] = [];
  for (let l = 0; l < LINKS; l++) {
    await writer.links.add({ name: `b${l}`, kind: 'bridge' });
    indexes.push(await writer.links.indexOf(`b${l}`));
  }
  const reqs = [];
  for (let i = 0; i < LINKS * PER_LINK; i++) {
    reqs.push(addressAddRequest({ link: `b${i % LINKS}`, address: `10.${(i >> 8) & 255}.${i & 255}.1/32` }, indexes[i % LINKS]!));
  }
  t.is((await writer.connection.bulk(reqs)).failed.length, 0);

  const dumps = rt.streamConnection(); // stream() dumps on a socket of its own
  const retriesBefore = dumps.stats.dumpRetries;
  const seen = new Set<string>();
  let duplicates = 0;
  let changed = false;
  for await (const a of rt.addresses.stream({ family: 4 })) {
    const k = `${a.index} ${a.address}`;
    if (seen.has(k)) duplicates++;
    seen.add(k);
    if (!changed) {
      changed = true;
      await writer.addresses.add({ link: 'vA', address: '192.0.2.1/24' });
    }
  }
  t.true(dumps.stats.dumpRetries > retriesBefore, 'the kernel flagged the dump and it was re-run');
  t.is(duplicates, 0, 'addresses yielded before the retry are not yielded again');
  const big = execFileSync('ip', ['-n', ns, '-j', '-4', 'address', 'show'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const expected = (JSON.parse(big) as any[]).flatMap((l) => l.addr_info.map((x: any) => `${l.ifindex} ${x.local}/${x.prefixlen}`));
  t.is(seen.size, expected.length);
  t.deepEqual([...seen].sort(), expected.sort());
  t.true(seen.has(`${(await rt.links.get('vA'))!.index} 192.0.2.1/24`), 'the address added mid-dump is there too');
});

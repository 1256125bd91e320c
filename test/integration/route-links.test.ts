/**
 * rt.links against the real kernel, each test in its own namespace, checked
 * with `ip -j -d link` (iproute2) as the oracle.
 */
import type { ExecutionContext } from 'ava';
import { NetlinkError, ValidationError } from '../../src/errors.js';
import { netns } from '../../src/netns/index.js';
import { type Link, Route } from '../../src/route/index.js';
import { freshNetns, ipJson, kernelSkipReason, kernelTest, run, uniqueNetnsName } from '../helpers/kernel.js';

const test = kernelTest(['ip']);

/** Whether this kernel can create links of `kind` (probed with ip in a throwaway namespace). */
function kindProbe(kind: string): { available: boolean; reason: string } {
  const why = kernelSkipReason(['ip']);
  if (why) return { available: false, reason: why };
  const ns = uniqueNetnsName('probe');
  netns.create(ns);
  try {
    run('ip', ['-n', ns, 'link', 'add', 'probe0', 'type', kind]);
    return { available: true, reason: '' };
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? err).trim();
    return { available: false, reason: `this kernel has no ${kind} link kind (ip: ${stderr})` };
  } finally {
    netns.remove(ns);
  }
}

async function open(t: ExecutionContext, ns?: string): Promise<{ ns: string; rt: Route }> {
  const name = ns ?? freshNetns(t);
  const rt = await Route.open({ netns: name });
  t.teardown(() => rt.close());
  return { ns: name, rt };
}

const ipLink = (ns: string, name?: string) => ipJson<any[]>(ns, ['-d', 'link', 'show', ...(name ? ['dev', name] : [])]);

/** Our view of a link against ip's, field by field. */
function sameAsIp(t: ExecutionContext, link: Link, j: any): void {
  t.is(link.index, j.ifindex);
  t.is(link.name, j.ifname);
  t.is(link.kind, j.linkinfo?.info_kind);
  t.is(link.slaveKind, j.linkinfo?.info_slave_kind);
  t.deepEqual(
    link.flags,
    j.flags.filter((f: string) => f !== 'M-DOWN'),
  );
  t.is(link.mtu, j.mtu);
  t.is(link.operstate.toUpperCase(), j.operstate);
  t.is(link.alias, j.ifalias);
  t.is(link.master, j.master);
  t.is(link.address, j.address);
  t.is(link.txqlen, j.txqlen);
}

test('veth pair: kind, flags, mtu and alias as ip shows them; get and list agree with ip', async (t) => {
  const { ns, rt } = await open(t);
  await rt.links.add({ name: 'vA', kind: 'veth', peer: { name: 'vB', mtu: 1400 }, mtu: 1420, alias: 'netfwd:test', up: true });
  const [j] = ipLink(ns, 'vA');
  t.is(j.linkinfo.info_kind, 'veth');
  t.is(j.mtu, 1420);
  t.is(j.ifalias, 'netfwd:test');
  t.true(j.flags.includes('UP'));
  t.is(ipLink(ns, 'vB')[0].mtu, 1400);
  t.is(ipLink(ns, 'vB')[0].link, 'vA');

  const vA = (await rt.links.get('vA'))!;
  sameAsIp(t, vA, ipLink(ns, 'vA')[0]);
  t.true(vA.up);
  t.is(vA.alias, 'netfwd:test');
  t.is((await rt.links.get(vA.index))!.name, 'vA', 'get by index');

  const listed = await rt.links.list();
  const all = ipLink(ns);
  t.deepEqual(
    listed.map((l) => l.name),
    all.map((l) => l.ifname),
  );
  for (const l of listed)
    sameAsIp(
      t,
      l,
      all.find((x) => x.ifindex === l.index),
    );
  t.is(listed.find((l) => l.name === 'vB')!.parentIndex, vA.index, 'the peer index');
});

test('veth peer created directly in another namespace', async (t) => {
  const { ns, rt } = await open(t);
  const other = freshNetns(t);
  await rt.links.add({ name: 'up0', kind: 'veth', peer: { name: 'down0', netns: other } });
  t.deepEqual(
    ipLink(ns)
      .map((l) => l.ifname)
      .sort(),
    ['lo', 'up0'],
  );
  const [peer] = ipLink(other, 'down0');
  t.is(peer.linkinfo.info_kind, 'veth');
  t.deepEqual(
    ipLink(other)
      .map((l) => l.ifname)
      .sort(),
    ['down0', 'lo'],
  );
  const up0 = (await rt.links.get('up0'))!;
  t.not(up0.linkNetnsId, undefined, 'the peer is in another namespace');
  const rt2 = await Route.open({ netns: other });
  t.teardown(() => rt2.close());
  t.is((await rt2.links.get('down0'))!.kind, 'veth');
  // A namespace given as a path works as well.
  await rt.links.add({ name: 'up1', kind: 'veth', peer: { name: 'down1', netns: `/run/netns/${other}` } });
  t.is(ipLink(other, 'down1')[0].linkinfo.info_kind, 'veth');
  await t.throwsAsync(rt.links.add({ name: 'up2', kind: 'veth', peer: { name: 'down2', netns: uniqueNetnsName('missing') } }), {
    instanceOf: NetlinkError,
    code: 'ENOENT',
  });
  t.is(ipJson<any[]>(ns, ['link', 'show']).filter((l) => l.ifname === 'up2').length, 0, 'nothing was created');
});

test('set: up and down, mtu, alias, master and nomaster, rename', async (t) => {
  const { ns, rt } = await open(t);
  await rt.links.add({ name: 'br0', kind: 'bridge' });
  await rt.links.add({ name: 'vA', kind: 'veth', peer: { name: 'vB' } });

  await rt.links.set('vA', { up: true, mtu: 1380 });
  let j = ipLink(ns, 'vA')[0];
  t.true(j.flags.includes('UP'));
  t.is(j.mtu, 1380);
  await rt.links.set('vA', { up: false });
  t.false(ipLink(ns, 'vA')[0].flags.includes('UP'));

  await rt.links.set('vA', { alias: 'netfwd:owned' });
  t.is(ipLink(ns, 'vA')[0].ifalias, 'netfwd:owned');
  t.is((await rt.links.get('vA'))!.alias, 'netfwd:owned');
  await rt.links.set('vA', { alias: null });
  t.is(ipLink(ns, 'vA')[0].ifalias, undefined);
  t.is((await rt.links.get('vA'))!.alias, undefined);

  await rt.links.set('vB', { master: 'br0' });
  j = ipLink(ns, 'vB')[0];
  t.is(j.master, 'br0');
  t.is(j.linkinfo.info_slave_kind, 'bridge');
  const vB = (await rt.links.get('vB'))!;
  t.is(vB.master, 'br0');
  t.is(vB.slaveKind, 'bridge');
  sameAsIp(t, vB, ipLink(ns, 'vB')[0]);
  t.is((await rt.links.list()).find((l) => l.name === 'vB')!.master, 'br0');
  await rt.links.set('vB', { master: null });
  t.is(ipLink(ns, 'vB')[0].master, undefined);

  await rt.links.set('vB', { name: 'vB2' });
  t.deepEqual(
    ipLink(ns)
      .map((l) => l.ifname)
      .sort(),
    ['br0', 'lo', 'vA', 'vB2'],
  );
  t.is(await rt.links.get('vB'), null);

  // Created with a master and up in one go.
  await rt.links.add({ name: 'vC', kind: 'veth', peer: { name: 'vD' }, master: 'br0', up: true });
  j = ipLink(ns, 'vC')[0];
  t.is(j.master, 'br0');
  t.true(j.flags.includes('UP'));
});

test('set netns moves a link into another namespace', async (t) => {
  const { ns, rt } = await open(t);
  const other = freshNetns(t);
  await rt.links.add({ name: 'mv0', kind: 'veth', peer: { name: 'mv1' } });
  await rt.links.set('mv1', { netns: other });
  t.deepEqual(
    ipLink(ns)
      .map((l) => l.ifname)
      .sort(),
    ['lo', 'mv0'],
  );
  t.is(ipLink(other, 'mv1')[0].linkinfo.info_kind, 'veth');
  t.is(await rt.links.get('mv1'), null);
  await rt.links.add({ name: 'mv2', kind: 'veth', peer: { name: 'mv3' } });
  await rt.links.set('mv3', { netns: `/run/netns/${other}`, mtu: 1300 });
  t.is(ipLink(other, 'mv3')[0].mtu, 1300, 'moved by path, and the other change applied too');
  // A bridge cannot leave its namespace: the kernel's reason comes through.
  await rt.links.add({ name: 'br9', kind: 'bridge' });
  const e = await t.throwsAsync(rt.links.set('br9', { netns: other }), { instanceOf: NetlinkError });
  t.is(e!.code, 'EINVAL');
  t.regex(e!.message, /set link br9/);
});

test('remove brings the link dump back exactly to what it was', async (t) => {
  const { ns, rt } = await open(t);
  await rt.links.set('lo', { up: true });
  const before = ipLink(ns);
  await rt.links.add({ name: 'vA', kind: 'veth', peer: { name: 'vB' }, up: true, alias: 'x' });
  await rt.links.add({ name: 'br0', kind: 'bridge' });
  await rt.links.add({ name: 'ifb0', kind: 'ifb' });
  t.is(ipLink(ns).length, before.length + 4);
  await rt.links.remove('vA'); // takes vB with it
  await rt.links.remove('br0');
  await rt.links.remove('ifb0');
  t.deepEqual(ipLink(ns), before);
});

test('missing links: get is null, set and remove fail with ENODEV', async (t) => {
  const { rt } = await open(t);
  t.is(await rt.links.get('nosuch0'), null);
  t.is(await rt.links.get(999), null);
  const e1 = await t.throwsAsync(rt.links.remove('nosuch0'), { instanceOf: NetlinkError });
  t.is(e1!.code, 'ENODEV');
  t.regex(e1!.message, /remove link nosuch0/);
  const e2 = await t.throwsAsync(rt.links.set('nosuch0', { up: true }), { instanceOf: NetlinkError });
  t.is(e2!.code, 'ENODEV');
  const e3 = await t.throwsAsync(rt.links.add({ name: 'b0', kind: 'bridge', master: 'nosuch1' }), { instanceOf: NetlinkError });
  t.is(e3!.code, 'ENODEV');
  t.regex(e3!.message, /nosuch1/);
});

test('bridge, ifb and macvlan links', async (t) => {
  const { ns, rt } = await open(t);
  await rt.links.add({ name: 'br0', kind: 'bridge', mtu: 1400 });
  await rt.links.add({ name: 'ifb0', kind: 'ifb' });
  await rt.links.add({ name: 'vA', kind: 'veth', peer: { name: 'vB' } });
  await rt.links.add({ name: 'mv0', kind: 'macvlan', parent: 'vA', mode: 'private', address: '02:00:00:00:00:42' });
  t.is(ipLink(ns, 'br0')[0].linkinfo.info_kind, 'bridge');
  t.is(ipLink(ns, 'br0')[0].mtu, 1400);
  t.is(ipLink(ns, 'ifb0')[0].linkinfo.info_kind, 'ifb');
  const [mv] = ipLink(ns, 'mv0');
  t.is(mv.linkinfo.info_kind, 'macvlan');
  t.is(mv.linkinfo.info_data.mode, 'private');
  t.is(mv.link, 'vA');
  t.is(mv.address, '02:00:00:00:00:42');
  const m = (await rt.links.get('mv0'))!;
  t.is(m.macvlanMode, 'private');
  sameAsIp(t, m, mv);
});

test('invalid input is refused before anything is sent', async (t) => {
  const { ns, rt } = await open(t);
  const before = rt.connection.stats.messages;
  await t.throwsAsync(rt.links.add({ name: 'x'.repeat(16), kind: 'bridge' }), { instanceOf: ValidationError });
  await t.throwsAsync(rt.links.add({ name: 'tap0', kind: 'tap' as never }), { instanceOf: ValidationError });
  await t.throwsAsync(rt.links.set('lo', { mtu: 10 }), { instanceOf: ValidationError });
  t.is(rt.connection.stats.messages, before);
  t.deepEqual(
    ipLink(ns).map((l) => l.ifname),
    ['lo'],
  );
});

const dummy = kindProbe('dummy');
const wireguard = kindProbe('wireguard');
for (const [kind, probe] of [
  ['dummy', dummy],
  ['wireguard', wireguard],
] as const) {
  if (!probe.available) process.stderr.write(`route-links: skipping the ${kind} creation test: ${probe.reason}\n`);
  (probe.available ? test : test.skip)(`${kind} link is created with its kind`, async (t) => {
    const { ns, rt } = await open(t);
    await rt.links.add({ name: `${kind.slice(0, 2)}0`, kind, mtu: 1420, up: true });
    const [j] = ipLink(ns, `${kind.slice(0, 2)}0`);
    t.is(j.linkinfo.info_kind, kind);
    t.is(j.mtu, 1420);
    t.is((await rt.links.get(`${kind.slice(0, 2)}0`))!.kind, kind);
  });
  // Where the kind is missing, the kernel's refusal must come through intact.
  (probe.available ? test.skip : test)(`${kind} link on a kernel without it: EOPNOTSUPP "Unknown device type"`, async (t) => {
    const { ns, rt } = await open(t);
    const e = await t.throwsAsync(rt.links.add({ name: `${kind.slice(0, 2)}0`, kind }), { instanceOf: NetlinkError });
    t.is(e!.code, 'EOPNOTSUPP');
    t.is(e!.extack, 'Unknown device type');
    t.regex(e!.message, new RegExp(`add link ${kind.slice(0, 2)}0 \\(${kind}\\)`));
    t.deepEqual(
      ipLink(ns).map((l) => l.ifname),
      ['lo'],
    );
  });
}

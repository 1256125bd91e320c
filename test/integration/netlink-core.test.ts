/**
 * The socket layer and the protocol core against the real kernel, each test in
 * its own namespace. Requests are built with minimal local schemas here; the
 * full rtnetlink layer has its own tests. Oracles: `ip -j`.
 */
import { readdirSync, readlinkSync, statSync } from 'node:fs';
import { NetlinkError, ValidationError } from '../../src/errors.js';
import { attrs } from '../../src/netlink/attributes.js';
import { Connection } from '../../src/netlink/connection.js';
import { NETLINK_CAP_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, SOL_NETLINK } from '../../src/netlink/constants.js';
import { messageCodec } from '../../src/netlink/message.js';
import { struct } from '../../src/netlink/struct.js';
import { netns } from '../../src/netns/index.js';
import { freshNetns, ipJson, kernelTest, run, toolPath, uniqueNetnsName } from '../helpers/kernel.js';

const test = kernelTest(['ip', 'nft']);

const RTM_NEWLINK = 16;
const RTM_GETLINK = 18;
const RTM_NEWROUTE = 24;
const RTM_GETROUTE = 26;
const RTM_NEWRULE = 32;
const RTNLGRP_LINK = 1;

const ifinfomsg = struct('ifinfomsg', { family: 'u8', pad: { pad: 1 }, type: 'u16', index: 's32', flags: 'u32', change: 'u32' });
const link = messageCodec(
  ifinfomsg,
  attrs('link', {
    ifname: { type: 3, kind: 'string' },
    mtu: { type: 4, kind: 'u32' },
    linkinfo: { type: 18, kind: 'nested', schema: attrs('linkinfo', { kind: { type: 1, kind: 'string' } }) },
  }),
);
const rtmsg = struct('rtmsg', {
  family: 'u8',
  dstLen: 'u8',
  srcLen: 'u8',
  tos: 'u8',
  table: 'u8',
  protocol: 'u8',
  scope: 'u8',
  type: 'u8',
  flags: 'u32',
});
const route = messageCodec(
  rtmsg,
  attrs('route', {
    dst: { type: 1, kind: 'ip' },
    oif: { type: 4, kind: 'u32' },
    gateway: { type: 5, kind: 'ip' },
    table: { type: 15, kind: 'u32' },
  }),
);
const fibRuleHdr = struct('fib_rule_hdr', {
  family: 'u8',
  dstLen: 'u8',
  srcLen: 'u8',
  tos: 'u8',
  table: 'u8',
  res1: { pad: 1 },
  res2: { pad: 1 },
  action: 'u8',
  flags: 'u32',
});
const rule = messageCodec(
  fibRuleHdr,
  attrs('rule', {
    priority: { type: 6, kind: 'u32' },
    table: { type: 15, kind: 'u32' },
    uidRange: { type: 20, kind: 'struct', struct: struct('fib_rule_uid_range', { start: 'u32', end: 'u32' }) },
  }),
);

const addBlackhole = (dst: string) =>
  route.request(
    RTM_NEWROUTE,
    NLM_F_CREATE | NLM_F_EXCL,
    { family: 2, dstLen: 32, table: 0, protocol: 4, scope: 0, type: 6 },
    { dst, table: 5000 },
    `add blackhole ${dst}`,
  );

test('namespaces: create, exists, list, sysctl, exec, remove', async (t) => {
  const name = uniqueNetnsName();
  netns.create(name);
  try {
    t.true(netns.exists(name));
    t.true(netns.list().includes(name));
    t.true(run('ip', ['netns', 'list']).includes(name), 'ip netns list sees it');
    t.throws(() => netns.create(name), { instanceOf: NetlinkError, code: 'EEXIST' });

    const hostForward = run('cat', ['/proc/sys/net/ipv4/ip_forward']).trim();
    t.is(netns.sysctl(name, 'net.ipv4.ip_forward'), '0');
    t.is(netns.sysctl(name, 'net.ipv4.ip_forward', 1), '1');
    t.is(run('ip', ['netns', 'exec', name, 'cat', '/proc/sys/net/ipv4/ip_forward']).trim(), '1', 'seen from inside');
    t.is(run('cat', ['/proc/sys/net/ipv4/ip_forward']).trim(), hostForward, 'the host value is untouched');
    t.throws(() => netns.sysctl(name, 'kernel.hostname'), { instanceOf: ValidationError });

    // A process started in the namespace is in it: compare namespace inodes.
    const child = netns.exec(name, 'readlink', ['/proc/self/ns/net']);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    t.is(code, 0);
    t.is(out.trim(), `net:[${statSync(`/run/netns/${name}`).ino}]`);
    t.not(out.trim(), readlinkSync('/proc/self/ns/net'));

    // With uid/gid the command runs unprivileged, still inside the namespace.
    const unpriv = netns.exec(name, 'sh', ['-c', 'id -u; id -g; readlink /proc/self/ns/net'], { uid: 1000, gid: 1000 });
    let text = '';
    unpriv.stdout!.on('data', (d) => (text += d));
    t.is(await new Promise<number | null>((resolve) => unpriv.on('close', resolve)), 0);
    t.deepEqual(text.trim().split('\n'), ['1000', '1000', `net:[${statSync(`/run/netns/${name}`).ino}]`]);
  } finally {
    netns.remove(name);
  }
  t.false(netns.exists(name));
  t.false(run('ip', ['netns', 'list']).includes(name));
  t.throws(() => netns.remove(name), { instanceOf: NetlinkError, code: 'ENOENT' });
  t.throws(() => netns.create('a/b'), { instanceOf: ValidationError });
});

test('a route connection in a new namespace dumps only lo', async (t) => {
  const ns = freshNetns(t);
  const conn = await Connection.open('route', { netns: ns });
  t.teardown(() => conn.close());
  const msgs = await conn.dumpAll(link.request(RTM_GETLINK, NLM_F_DUMP, { family: 0 }, {}, 'dump links', 'read'));
  const names = msgs.map((m) => link.decode(m.data).attrs.ifname);
  t.deepEqual(names, ['lo']);
  t.deepEqual(
    ipJson(ns, ['link']).map((l: { ifname: string }) => l.ifname),
    names,
  );
});

test('opening a connection in a missing namespace fails with ENOENT', async (t) => {
  const error = await t.throwsAsync(Connection.open('route', { netns: uniqueNetnsName('missing') }), { instanceOf: NetlinkError });
  t.is(error!.code, 'ENOENT');
});

test('EEXIST is decoded with its code and the operation', async (t) => {
  const ns = freshNetns(t);
  const conn = await Connection.open('route', { netns: ns });
  t.teardown(() => conn.close());
  const add = link.request(
    RTM_NEWLINK,
    NLM_F_CREATE | NLM_F_EXCL,
    {},
    { ifname: 'br-test', linkinfo: { kind: 'bridge' } },
    'add link br-test',
  );
  await conn.request(add);
  t.is(ipJson(ns, ['-d', 'link', 'show', 'br-test'])[0].linkinfo.info_kind, 'bridge');
  const error = await t.throwsAsync(conn.request(add), { instanceOf: NetlinkError });
  t.is(error!.code, 'EEXIST');
  t.is(error!.errno, 17);
  t.is(error!.operation, 'add link br-test');
  t.regex(error!.message, /add link br-test: File exists \(EEXIST\)/);
});

test('an extended ACK message (reversed uid range) reaches the error', async (t) => {
  const ns = freshNetns(t);
  const conn = await Connection.open('route', { netns: ns });
  t.teardown(() => conn.close());
  const bad = rule.request(
    RTM_NEWRULE,
    NLM_F_CREATE | NLM_F_EXCL,
    { family: 2, action: 1 },
    { priority: 100, table: 5000, uidRange: { start: 2000, end: 1000 } },
    'add rule',
  );
  const error = await t.throwsAsync(conn.request(bad), { instanceOf: NetlinkError });
  t.is(error!.code, 'EINVAL');
  t.is(error!.extack, 'Invalid uid range');
  t.regex(error!.message, /Invalid uid range/);
  if (error!.offset !== undefined) t.is(error!.attribute, 'uidRange');
  t.false(JSON.stringify(ipJson(ns, ['rule'])).includes('uidrange'), 'nothing was added');
});

test('an offending attribute is mapped back to its schema path', async (t) => {
  const ns = freshNetns(t);
  const conn = await Connection.open('route', { netns: ns });
  t.teardown(() => conn.close());
  // RTA_TABLE sent 2 bytes wide: the kernel's policy check points at it.
  const narrowTable = messageCodec(rtmsg, attrs('route', { dst: { type: 1, kind: 'ip' }, table: { type: 15, kind: 'u16' } }));
  const bad = narrowTable.request(
    RTM_NEWROUTE,
    NLM_F_CREATE | NLM_F_EXCL,
    { family: 2, dstLen: 24, protocol: 4, type: 1 },
    { dst: '192.0.2.0', table: 5000 },
    'add route',
  );
  const error = await t.throwsAsync(conn.request(bad), { instanceOf: NetlinkError });
  t.true(['EINVAL', 'ERANGE'].includes(error!.code), error!.message); // kernels differ: ERANGE since 5.x policies
  t.is(error!.offset, 16 + 12 + 8, `the kernel gave the offset of RTA_TABLE: ${error!.message}`);
  t.is(error!.attribute, 'table');
  t.regex(error!.message, /\[attribute table\]/);
});

test('bulk: 10 000 messages with one bad one in the middle report exactly that one', async (t) => {
  const ns = freshNetns(t);
  const conn = await Connection.open('route', { netns: ns });
  t.teardown(() => conn.close());
  const dsts: string[] = [];
  for (let i = 0; i < 10000; i++) dsts.push(`10.${(i >> 8) & 255}.${i & 255}.1`);
  dsts[5000] = dsts[4999]!; // a duplicate: EEXIST
  const before = { ...conn.stats };
  const result = await conn.bulk(dsts.map(addBlackhole));
  t.is(result.sent, 10000);
  t.is(result.failed.length, 1);
  t.is(result.failed[0]!.index, 5000);
  t.is(result.failed[0]!.error.code, 'EEXIST');
  t.is(result.failed[0]!.error.operation, `add blackhole ${dsts[4999]}`);
  t.true(conn.stats.datagramsSent - before.datagramsSent < 100, 'pipelined: far fewer writes than messages');
  t.is(conn.stats.writes - before.writes, 10000);
  const routes = ipJson<unknown[]>(ns, ['route', 'show', 'table', '5000']);
  t.is(routes.length, 9999);

  // A multipart dump of the same table, decoded message by message.
  let count = 0;
  for await (const m of conn.dump(route.request(RTM_GETROUTE, NLM_F_DUMP, { family: 2 }, {}, 'dump routes', 'read'))) {
    if (route.decode(m.data).attrs.table === 5000) count++;
  }
  t.is(count, 9999);

  // A request made inside a dump loop completes even while the dump is paused
  // (the consumer is behind, so the connection stopped reading dump data).
  let inner = 0;
  const streaming = { key: (m: { data: Buffer }) => m.data.toString('hex') };
  for await (const m of conn.dump(route.request(RTM_GETROUTE, NLM_F_DUMP, { family: 2 }, {}, 'dump routes', 'read'), streaming)) {
    if (inner++ === 0) {
      const replies = await conn.request(link.request(RTM_GETLINK, 0, {}, { ifname: 'lo' }, 'get lo', 'read'));
      t.is(link.decode(replies[0]!.data).attrs.ifname, 'lo');
    }
    void m;
  }
  t.true(inner >= 9999);
});

test('monitor: link notifications made by ip arrive as messages', async (t) => {
  const ns = freshNetns(t);
  const mon = await Connection.open('route', { netns: ns, groups: [RTNLGRP_LINK] });
  t.teardown(() => mon.close());
  const events = mon.monitor();
  run('ip', ['-n', ns, 'link', 'add', 'mon0', 'type', 'bridge']);
  for (;;) {
    const { value } = await events.next();
    if (!value || 'resync' in value) continue;
    if (value.type === RTM_NEWLINK && link.decode(value.data).attrs.ifname === 'mon0') break;
  }
  t.pass();
  await events.return!();
});

test('monitor: an overrun (ENOBUFS) surfaces as a resync item', async (t) => {
  const ns = freshNetns(t);
  const mon = await Connection.open('route', { netns: ns, groups: [RTNLGRP_LINK], receiveBufferSize: 4096 });
  t.teardown(() => mon.close());
  const events = mon.monitor();
  // Flood notifications without letting the event loop read the monitor socket.
  const writer = await Connection.open('route', { netns: ns });
  t.teardown(() => writer.close());
  const adds = [];
  for (let i = 0; i < 200; i++)
    adds.push(link.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, {}, { ifname: `f${i}`, linkinfo: { kind: 'bridge' } }));
  const r = await writer.bulk(adds);
  t.is(r.failed.length, 0);
  let resync = false;
  for (let i = 0; i < 1000 && !resync; i++) {
    const { value } = await events.next();
    if (value && 'resync' in value) resync = true;
  }
  t.true(resync);
  t.true(mon.stats.overruns >= 1);
});

test('requests after close fail with a NetlinkError, not a crash', async (t) => {
  const ns = freshNetns(t);
  const conn = await Connection.open('route', { netns: ns });
  conn.close();
  conn.close();
  t.throws(() => conn.request(link.request(RTM_GETLINK, 0, {}, { ifname: 'lo' })), { instanceOf: NetlinkError, code: 'EBADF' });
});

// Minimal generic netlink and nfnetlink layouts (linux/genetlink.h, linux/netfilter/nfnetlink.h, nf_tables.h).
const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const genlmsghdr = struct('genlmsghdr', { cmd: 'u8', version: 'u8', reserved: 'u16' });
const ctrl = messageCodec(genlmsghdr, attrs('ctrl', { familyId: { type: 1, kind: 'u16' }, familyName: { type: 2, kind: 'string' } }));
const NFT_MSG_GETTABLE = (10 << 8) | 1; // NFNL_SUBSYS_NFTABLES << 8 | NFT_MSG_GETTABLE
const NFT_MSG_NEWTABLE_REPLY = (10 << 8) | 0;
const nfgenmsg = struct('nfgenmsg', { family: 'u8', version: 'u8', resId: 'be16' });
const nftTable = messageCodec(nfgenmsg, attrs('table', { name: { type: 1, kind: 'string' } }));

test('generic and netfilter connections opened in a namespace dump what is there', async (t) => {
  const ns = freshNetns(t);
  const genl = await Connection.open('generic', { netns: ns });
  t.teardown(() => genl.close());
  const families: string[] = [];
  for await (const m of genl.dump(
    ctrl.request(GENL_ID_CTRL, NLM_F_DUMP, { cmd: CTRL_CMD_GETFAMILY, version: 1 }, {}, 'list families', 'read'),
  )) {
    if (m.type === GENL_ID_CTRL) families.push(ctrl.decode(m.data).attrs.familyName ?? '');
  }
  t.true(families.includes('nlctrl'), families.join(' '));

  // A table made with nft inside the namespace, and none outside it on this socket.
  run('ip', ['netns', 'exec', ns, toolPath('nft'), 'add table inet core_probe']);
  const nf = await Connection.open('netfilter', { netns: ns });
  t.teardown(() => nf.close());
  const tables: string[] = [];
  for await (const m of nf.dump(
    nftTable.request(NFT_MSG_GETTABLE, NLM_F_DUMP, { family: 0, version: 0, resId: 0 }, {}, 'list tables', 'read'),
  )) {
    if (m.type === NFT_MSG_NEWTABLE_REPLY) tables.push(nftTable.decode(m.data).attrs.name ?? '');
  }
  t.deepEqual(tables, ['core_probe']);
});

test('a reply longer than the receive buffer is reported as truncated, not cut silently', async (t) => {
  const ns = freshNetns(t);
  const conn = await Connection.open('route', { netns: ns });
  t.teardown(() => conn.close());
  // Without NETLINK_CAP_ACK the kernel echoes a failed request whole in its
  // error; a 160 KiB request (an unknown family fails it) gets a reply
  // longer than the socket's 128 KiB read buffer.
  conn.exchange.sock.setOption(SOL_NETLINK, NETLINK_CAP_ACK, 0);
  const payload = Buffer.alloc(160 * 1024);
  payload[0] = 0xfe; // rtm_family: no such address family
  const error = await t.throwsAsync(
    conn.request({ type: RTM_NEWROUTE, flags: NLM_F_CREATE | NLM_F_EXCL, payload, describe: 'add an oversized route' }),
    {
      instanceOf: NetlinkError,
    },
  );
  t.is(error!.code, 'EMSGSIZE');
  t.regex(error!.message, /truncated/);
  // The connection stays usable.
  const replies = await conn.request(link.request(RTM_GETLINK, 0, {}, { ifname: 'lo' }, 'get lo', 'read'));
  t.is(link.decode(replies[0]!.data).attrs.ifname, 'lo');
});

test('a bulk write in the kernel when the connection closes: the bulk fails with EBADF, the socket closes after the write', async (t) => {
  const ns = freshNetns(t);
  const conn = await Connection.open('route', { netns: ns });
  const fd = conn.exchange.sock.fd;
  const inode = readlinkSync(`/proc/self/fd/${fd}`);
  t.regex(inode, /^socket:/);
  const dsts: string[] = [];
  for (let i = 0; i < 20000; i++) dsts.push(`10.${(i >> 8) & 255}.${i & 255}.2`);
  const bulk = conn.bulk(dsts.map(addBlackhole));
  conn.close(); // the first write was handed to a pool thread before bulk() returned
  const error = await t.throwsAsync(bulk, { instanceOf: NetlinkError });
  t.is(error!.code, 'EBADF');
  const open = readdirSync('/proc/self/fd').map((f) => {
    try {
      return readlinkSync(`/proc/self/fd/${f}`);
    } catch {
      return '';
    }
  });
  t.false(open.includes(inode), 'the socket was closed once the write returned');
  // What reached the kernel before the close is there: a prefix of the input, nothing else.
  const routes = ipJson<Array<{ dst: string }>>(ns, ['route', 'show', 'table', '5000']);
  t.true(routes.length >= 1 && routes.length < 20000, `${routes.length} routes`);
  t.deepEqual(routes.map((r) => r.dst).sort(), dsts.slice(0, routes.length).sort());
});

/**
 * The kernel backend without a kernel: src/wireguard/kernel/backend.ts and
 * kernel/client.ts on stub connections that answer as the kernel does
 * (nlctrl's family lookup, SET_DEVICE acknowledged or refused, a GET_DEVICE
 * dump). What the kernel itself does with the bytes is the integration
 * test's (test/integration/wireguard-kernel.test.ts, in the kernel lane).
 */
import test from 'ava';
import { ConflictError, NetlinkError } from '../../src/errors.js';
import type { Connection } from '../../src/netlink/connection.js';
import { GENL_ID_CTRL, NLM_F_CREATE, NLM_F_EXCL } from '../../src/netlink/constants.js';
import { ctrlMessage, genlmsghdr } from '../../src/netlink/genl.js';
import type { NetlinkMessage, Request } from '../../src/netlink/message.js';
import type { BackendContext } from '../../src/wireguard/backend.js';
import { type ParsedConfig, parseConfigSync } from '../../src/wireguard/config.js';
import { KernelBackend } from '../../src/wireguard/kernel/backend.js';
import { GenlClient } from '../../src/wireguard/kernel/client.js';
import { encodeSetDevice } from '../../src/wireguard/kernel/configure.js';
import {
  deviceMessage,
  encodeGetDevice,
  WG_CMD_GET_DEVICE,
  WG_CMD_SET_DEVICE,
  WGALLOWEDIP_F_REMOVE_ME,
  WGPEER_F_UPDATE_ONLY,
} from '../../src/wireguard/kernel/family.js';
import type { LinkInfo } from '../../src/wireguard/link.js';

const FAMILY_ID = 0x1d;
const RTM_NEWLINK = 16;
const RTM_DELLINK = 17;
const EEXIST = 17;
const EPERM = 1;
const EINVAL = 22;
const EOPNOTSUPP = 95;

const key = (n: number) => Buffer.alloc(32, n);
const b64 = (n: number) => key(n).toString('base64');
const message = (type: number, data: Buffer): NetlinkMessage => ({ type, flags: 0, seq: 0, pid: 0, data });

interface Sent {
  req: Request;
  offload: boolean;
}

/**
 * A generic netlink connection as the kernel with the wireguard family
 * answers it: `set` decides each SET_DEVICE (index among them), `dump` gives
 * the GET_DEVICE replies.
 */
function genericStub(behaviour: { set?: (index: number, payload: Buffer) => void | Promise<void>; dump?: () => NetlinkMessage[] } = {}) {
  const sent: Sent[] = [];
  const dumps: Request[] = [];
  let sets = 0;
  let closed = false;
  const conn = {
    stats: { messages: 0, writes: 0 },
    async request(req: Request, options: { offload?: boolean } = {}): Promise<NetlinkMessage[]> {
      conn.stats.messages++;
      if (req.type === GENL_ID_CTRL) {
        return [
          message(GENL_ID_CTRL, ctrlMessage.encode({ cmd: 1, version: 2 }, { familyId: FAMILY_ID, familyName: 'wireguard', version: 1 })),
        ];
      }
      conn.stats.writes++;
      sent.push({ req, offload: options.offload === true });
      await behaviour.set?.(sets++, req.payload);
      return [];
    },
    async dumpAll(req: Request): Promise<NetlinkMessage[]> {
      conn.stats.messages++;
      dumps.push(req);
      return behaviour.dump?.() ?? [];
    },
    close() {
      closed = true;
    },
  };
  return { conn: conn as unknown as Connection, sent, dumps, isClosed: () => closed };
}

/** An rtnetlink connection whose link requests end as `answer` says (nothing: acknowledged). */
function routeStub(answer?: (req: Request) => void) {
  const sent: Request[] = [];
  const conn = {
    async request(req: Request): Promise<NetlinkMessage[]> {
      sent.push(req);
      answer?.(req);
      return [];
    },
  };
  return { conn: conn as unknown as Connection, sent };
}

function context(route: Connection): BackendContext {
  return { route, netns: 'stub', where: () => 'network namespace stub' };
}

const link = (name: string, kind?: string, index = 7): LinkInfo => ({ name, kind, index, up: false });

/** A GET_DEVICE reply of one message: peer `n` holds `prefixes` (IPv4). */
function deviceReply(peers: Array<{ n: number; prefixes: Array<[string, number]> }>): NetlinkMessage {
  return message(
    FAMILY_ID,
    deviceMessage.encode(
      { cmd: WG_CMD_GET_DEVICE, version: 1 },
      {
        ifindex: 7,
        ifname: 'wg0',
        listenPort: 51820,
        peers: peers.map((p) => ({
          publicKey: key(p.n),
          allowedIps: p.prefixes.map(([a, len]) => ({ family: 2, ipaddr: Buffer.from(a.split('.').map(Number)), cidrMask: len })),
        })),
      },
    ),
  );
}

function manyPeers(count: number): ParsedConfig {
  const peers = Array.from({ length: count }, (_, i) => ({
    publicKey: b64(i + 1),
    allowedIps: [`10.${i >> 8}.${i & 255}.0/24`, `fd00:${i.toString(16)}::/64`],
  }));
  return parseConfigSync({ replacePeers: true, peers }).parsed;
}

test('claims: a link of kind wireguard, nothing else', async (t) => {
  const backend = new KernelBackend(context(routeStub().conn));
  t.is(backend.implementation, 'kernel');
  t.true(await backend.claims(link('wg0', 'wireguard')));
  t.false(await backend.claims(link('wg0', 'tun')));
  t.false(await backend.claims(link('eth0')));
  t.deepEqual(
    await backend.claimAll([link('a', 'wireguard', 1), link('b', 'tun', 2), link('c', 'wireguard', 3), link('d', undefined, 4)]),
    [link('a', 'wireguard', 1), link('c', 'wireguard', 3)],
  );
});

test('create: RTM_NEWLINK of kind wireguard, exclusive', async (t) => {
  const route = routeStub();
  const backend = new KernelBackend(context(route.conn));
  t.is(await backend.create('wg0'), 'created');
  t.is(route.sent.length, 1);
  const req = route.sent[0]!;
  t.is(req.type, RTM_NEWLINK);
  t.is(req.flags, NLM_F_CREATE | NLM_F_EXCL);
  t.true(req.payload.includes(Buffer.from('wireguard\0')));
  t.true(req.payload.includes(Buffer.from('wg0\0')));
});

test('create: a name taken meanwhile is a ConflictError', async (t) => {
  const route = routeStub(() => {
    throw new NetlinkError(EEXIST);
  });
  const err = await t.throwsAsync(new KernelBackend(context(route.conn)).create('wg0'), { instanceOf: ConflictError });
  t.is(
    err!.message,
    'create WireGuard wg0: another process created an interface of that name at the same time; read the state again and retry',
  );
  t.true((err as Error & { cause?: unknown }).cause instanceof NetlinkError);
});

test('create: without the link kind, alone it fails saying so; with a fallback it is unavailable from then on', async (t) => {
  const refuse = () => {
    throw new NetlinkError(EOPNOTSUPP, { operation: 'create WireGuard link wg0' });
  };
  const alone = routeStub(refuse);
  const err = await t.throwsAsync(new KernelBackend(context(alone.conn)).create('wg0'), { instanceOf: NetlinkError });
  t.is(err!.errno, EOPNOTSUPP);
  t.regex(
    err!.message,
    /^create WireGuard wg0: this kernel has no WireGuard link kind \(use implementation 'userspace' or 'auto'\): .*\(EOPNOTSUPP\)$/,
  );

  const auto = routeStub(refuse);
  const backend = new KernelBackend(context(auto.conn), { fallback: true });
  t.is(await backend.create('wg0'), 'unavailable');
  t.is(await backend.create('wg1'), 'unavailable');
  t.is(auto.sent.length, 1, 'the kernel is asked once');

  const other = routeStub(() => {
    throw new NetlinkError(EPERM);
  });
  t.is(
    (await t.throwsAsync(new KernelBackend(context(other.conn), { fallback: true }).create('wg0'), { instanceOf: NetlinkError }))!.errno,
    EPERM,
  );
});

test('remove: RTM_DELLINK of the link', async (t) => {
  const route = routeStub();
  await new KernelBackend(context(route.conn)).remove('wg0', link('wg0', 'wireguard', 42));
  t.is(route.sent.length, 1);
  t.is(route.sent[0]!.type, RTM_DELLINK);
  t.is(route.sent[0]!.payload.readInt32LE(4), 42, 'ifinfomsg.ifi_index');
});

test('configure: the generic connection is opened once, on first use, and its messages are counted', async (t) => {
  const generic = genericStub();
  let opened = 0;
  const backend = new KernelBackend(context(routeStub().conn), {
    openGeneric: async () => {
      opened++;
      return generic.conn;
    },
  });
  t.is(backend.netlinkStats(), undefined, 'no connection before first use');
  const { parsed } = parseConfigSync({ listenPort: 51820, peers: [{ publicKey: b64(1), allowedIps: ['10.0.0.1/32'] }] });
  await Promise.all([backend.configure('wg0', parsed), backend.configure('wg0', parsed)]);
  t.is(opened, 1);
  t.is(generic.sent.length, 2);
  for (const { req, offload } of generic.sent) {
    t.is(req.type, FAMILY_ID, 'sent to the resolved family');
    t.true(offload);
    t.is(req.describe, 'configure WireGuard wg0');
    t.deepEqual(req.payload, encodeSetDevice({ ifname: 'wg0' }, parsed)[0]!.payload);
  }
  t.deepEqual(backend.netlinkStats(), { messages: 3, writes: 2 }, 'one family lookup and two SET_DEVICE');
  backend.close();
  t.true(generic.isClosed());
});

test('close before the generic connection is open: it is closed as soon as it opens', async (t) => {
  const generic = genericStub();
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const backend = new KernelBackend(context(routeStub().conn), {
    openGeneric: async () => {
      await gate;
      return generic.conn;
    },
  });
  const pending = backend.get('wg0');
  backend.close();
  release();
  await pending;
  t.true(generic.isClosed());
});

test('configure: SET_DEVICE messages go out in order, each after the one before is acknowledged', async (t) => {
  const config = manyPeers(40);
  const expected = encodeSetDevice({ ifname: 'wg0' }, config, 1024).map((m) => m.payload);
  t.true(expected.length >= 4, `${expected.length} messages`);
  let inFlight = 0;
  let most = 0;
  const generic = genericStub({
    set: async () => {
      most = Math.max(most, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
    },
  });
  const sent = await new GenlClient(generic.conn, 1024).configure('wg0', config);
  t.is(sent, expected.length);
  t.deepEqual(
    generic.sent.map((s) => s.req.payload),
    expected,
  );
  t.deepEqual(
    generic.sent.map((s) => s.req.describe),
    expected.map((_, i) => `configure WireGuard wg0${i > 0 ? ` (message ${i + 1})` : ''}`),
  );
  t.is(most, 1, 'one SET_DEVICE in flight at a time');
  for (const { req } of generic.sent) t.is(genlmsghdr.decode(req.payload).cmd, WG_CMD_SET_DEVICE);
});

test('configure: a refusal stops the rest and is reported; its offset maps to the input path', async (t) => {
  const config = manyPeers(40);
  const messages = encodeSetDevice({ ifname: 'wg0' }, config, 1024);
  const generic = genericStub({
    set: (index) => {
      if (index === 1) throw new NetlinkError(EINVAL, { operation: 'configure WireGuard wg0 (message 2)' });
    },
  });
  const err = await t.throwsAsync(new GenlClient(generic.conn, 1024).configure('wg0', config), { instanceOf: NetlinkError });
  t.is(err!.errno, EINVAL);
  t.is(generic.sent.length, 2, 'nothing after the refused message');
  // The spans the error would be located with: those of the same message encoded with spans.
  const second = generic.sent[1]!.req;
  t.is(second.locate!(0), 'genlmsghdr');
  const span = messages[1]!.spans.find((s) => /^peers\[\d+\]\.allowedIps\[1\]$/.test(s.path))!;
  t.is(second.locate!(span.start), span.path);
});

test('get: a GET_DEVICE dump by name, merged; messages of other types are left out', async (t) => {
  const generic = genericStub({
    dump: () => [
      deviceReply([{ n: 1, prefixes: [['10.0.0.0', 24]] }]),
      message(3 /* NLMSG_DONE-like */, Buffer.alloc(4)),
      deviceReply([
        { n: 1, prefixes: [['10.0.1.0', 24]] },
        { n: 2, prefixes: [] },
      ]),
    ],
  });
  const device = await new GenlClient(generic.conn).get('wg0');
  t.is(generic.dumps.length, 1);
  t.is(generic.dumps[0]!.type, FAMILY_ID);
  t.is(generic.dumps[0]!.access, 'read');
  t.is(generic.dumps[0]!.describe, 'read WireGuard wg0');
  t.deepEqual(generic.dumps[0]!.payload, encodeGetDevice({ ifname: 'wg0' }));
  t.is(device.listenPort, 51820);
  t.deepEqual(
    device.peers.map((p) => [p.publicKey[0], p.allowedIps.map((a) => `${[...a.address].join('.')}/${a.length}`)]),
    [
      [1, ['10.0.0.0/24', '10.0.1.0/24']],
      [2, []],
    ],
  );
});

/** The single-peer probe message: UPDATE_ONLY and one allowed IP flagged for removal. */
function isProbe(payload: Buffer): boolean {
  const { attrs } = deviceMessage.decode(payload);
  const peer = attrs.peers?.[0];
  return (
    attrs.peers?.length === 1 &&
    peer?.flags === WGPEER_F_UPDATE_ONLY &&
    peer.allowedIps?.length === 1 &&
    peer.allowedIps[0]!.flags === WGALLOWEDIP_F_REMOVE_ME
  );
}

const PREFIX = { family: 4 as const, address: Buffer.from([10, 0, 1, 0]), length: 24 };

test('allowedIpRemoval: a kernel that refuses the flag (before Linux 6.16); asked once per connection', async (t) => {
  const generic = genericStub({
    set: () => {
      throw new NetlinkError(EINVAL, { extack: 'Unknown attribute type' });
    },
  });
  const backend = new KernelBackend(context(routeStub().conn), { openGeneric: async () => generic.conn });
  const first = await backend.allowedIpRemoval('wg0', key(1), PREFIX);
  t.deepEqual(first, {
    supported: false,
    why: 'the kernel refused WGALLOWEDIP_A_FLAGS (EINVAL: Unknown attribute type); Linux 6.16 or later removes allowed IPs itself',
  });
  t.true(isProbe(generic.sent[0]!.req.payload));
  t.is(generic.sent[0]!.req.describe, 'probe allowed-IP removal on WireGuard wg0');
  t.deepEqual(await backend.allowedIpRemoval('wg0', key(1), PREFIX), first);
  t.is(generic.sent.length, 1);
});

test('allowedIpRemoval: the kernel removed the prefix (Linux 6.16+), or ignored the flag', async (t) => {
  const removes = genericStub({ dump: () => [deviceReply([{ n: 1, prefixes: [['10.0.0.0', 24]] }])] });
  t.deepEqual(
    await new KernelBackend(context(routeStub().conn), { openGeneric: async () => removes.conn }).allowedIpRemoval('wg0', key(1), PREFIX),
    {
      supported: true,
      why: 'the kernel removes allowed IPs flagged WGALLOWEDIP_F_REMOVE_ME',
    },
  );
  const ignores = genericStub({
    dump: () => [
      deviceReply([
        {
          n: 1,
          prefixes: [
            ['10.0.0.0', 24],
            ['10.0.1.0', 24],
          ],
        },
      ]),
    ],
  });
  t.deepEqual(
    await new KernelBackend(context(routeStub().conn), { openGeneric: async () => ignores.conn }).allowedIpRemoval('wg0', key(1), PREFIX),
    {
      supported: false,
      why: 'the kernel ignored WGALLOWEDIP_F_REMOVE_ME; Linux 6.16 or later removes allowed IPs itself',
    },
  );
  const denied = genericStub({
    set: () => {
      throw new NetlinkError(EPERM);
    },
  });
  const err = await t.throwsAsync(new GenlClient(denied.conn).allowedIpRemoval('wg0', key(1), PREFIX), { instanceOf: NetlinkError });
  t.is(err!.errno, EPERM, 'other refusals are errors, not answers');
});

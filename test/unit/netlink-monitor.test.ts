/**
 * Monitors over a fake socket (src/netlink/testing.ts): an overrun (ENOBUFS)
 * becomes a Resync item once the notifications queued before it are read;
 * eventMonitor turns notifications into typed events and an undecodable one
 * into a resync.
 */
import test from 'ava';
import { DecodeError } from '../../src/errors.js';
import { type MonitorItem } from '../../src/netlink/exchange.js';
import type { NetlinkMessage } from '../../src/netlink/message.js';
import { eventMonitor } from '../../src/netlink/monitor.js';
import { FakeSocket, fakeConnection, message, socketError } from '../../src/netlink/testing.js';

const NOTIFY = 0x10;
const note = (sock: FakeSocket, text: string) => message(NOTIFY, 0, 0, 0, Buffer.from(text));
const show = (r: IteratorResult<MonitorItem>) => (r.done ? 'end' : 'resync' in r.value ? 'resync' : r.value.data.toString());

test('ENOBUFS: the resync comes after the notifications queued before the overrun was read', async (t) => {
  const { conn, sock } = fakeConnection(() => []);
  const items = conn.monitor();
  sock.deliver(note(sock, 'one'), socketError(105, 'ENOBUFS'), note(sock, 'two'), note(sock, 'three'));
  const seen: string[] = [];
  for (let i = 0; i < 4; i++) seen.push(show(await items.next()));
  t.deepEqual(seen, ['one', 'two', 'three', 'resync']);
  t.is(conn.stats.overruns, 1);
  // Later notifications flow again, with no second resync.
  sock.deliver(note(sock, 'four'));
  t.is(show(await items.next()), 'four');
  conn.close();
  // Closing fails what waits, the monitor included; then it has ended.
  await t.throwsAsync(items.next(), { message: /connection closed/ });
  t.is(show(await items.next()), 'end');
});

test('ENOBUFS with replies awaited: the request fails (its reply may be what was lost)', async (t) => {
  const { conn, sock } = fakeConnection(() => []);
  const pending = conn.request({ type: 0x12, flags: 0, payload: Buffer.alloc(0), describe: 'get' });
  sock.deliver(socketError(105, 'ENOBUFS'));
  const err = await t.throwsAsync(pending);
  t.is((err as { code?: string }).code, 'ENOBUFS');
  conn.close();
});

test('eventMonitor: typed events, resyncs for lost and undecodable notifications, close ends it', async (t) => {
  const { conn, sock } = fakeConnection(() => []);
  let resyncs = 0;
  let closed = 0;
  let prepared = 0;
  type Ev = { kind: 'note' | 'resync'; text: string };
  const events = eventMonitor<Ev, typeof conn>(conn, {
    noun: 'test notification',
    prepare: async () => {
      prepared++;
    },
    decode: (m: NetlinkMessage) => {
      const s = m.data.toString();
      if (s === 'bad') throw new DecodeError('bad bytes', 'test');
      if (s === 'skip') return undefined;
      return { kind: 'note', text: s };
    },
    resync: (reason) => ({ kind: 'resync', text: reason }),
    onResync: () => resyncs++,
    onClose: () => closed++,
  });
  t.is(events.connection, conn);
  sock.deliver(note(sock, 'a'), note(sock, 'skip'), note(sock, 'bad'), socketError(105, 'ENOBUFS'), note(sock, 'b'));
  const got: Array<{ kind: string; text: string }> = [];
  for (let i = 0; i < 4; i++) {
    const r = await events.next();
    if (!r.done) got.push(r.value);
  }
  t.deepEqual(
    got.map((e) => e.kind),
    ['note', 'resync', 'note', 'resync'],
  );
  t.is(got[0]!.text, 'a');
  t.regex(got[1]!.text, /^undecodable test notification \(type 16\): test: bad bytes/);
  t.is(got[2]!.text, 'b');
  t.regex(got[3]!.text, /ENOBUFS/);
  t.is(resyncs, 2);
  t.true(prepared >= 4);
  events.close();
  t.is(closed, 1);
  t.true(conn.isClosed);
  t.deepEqual(await events.next(), { value: undefined, done: true });
});

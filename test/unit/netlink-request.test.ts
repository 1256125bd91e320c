/**
 * Connection.request over a fake socket (src/netlink/testing.ts): replies are
 * matched to their request by port and sequence number, whatever order they
 * arrive in; messages for another port or sequence go to the monitors.
 */
import test from 'ava';
import { NetlinkError } from '../../src/errors.js';
import { NLM_F_ACK, NLM_F_REQUEST } from '../../src/netlink/constants.js';
import type { NetlinkMessage } from '../../src/netlink/message.js';
import { answer, fakeConnection, message } from '../../src/netlink/testing.js';

const GET = 0x12;
const NEW = 0x10;
const req = (tag: string) => ({ type: GET, flags: 0, payload: Buffer.from(tag), describe: `get ${tag}`, access: 'read' as const });
const text = (m: NetlinkMessage) => m.data.toString();

test('replies are matched by sequence number, in whatever order they arrive', async (t) => {
  const held: NetlinkMessage[] = [];
  const { conn, sock } = fakeConnection((msgs) => {
    held.push(...msgs);
    return [];
  });
  const a = conn.request(req('a'));
  const b = conn.request(req('b'));
  const c = conn.request(req('c'));
  t.is(held.length, 3);
  t.deepEqual(new Set(held.map((m) => m.seq)).size, 3, 'each request has its own sequence number');
  for (const m of held) t.is(m.flags, NLM_F_REQUEST | NLM_F_ACK);
  const [ma, mb, mc] = held as [NetlinkMessage, NetlinkMessage, NetlinkMessage];
  // c is answered first, then b with an error, then a (with a reply before its ACK).
  sock.deliver(answer.reply(sock, mc, NEW, Buffer.from('reply-c')), answer.ack(sock, mc));
  sock.deliver(answer.ack(sock, mb, 17 /* EEXIST */));
  sock.deliver(
    Buffer.concat([
      answer.reply(sock, ma, NEW, Buffer.from('reply-a1')),
      answer.reply(sock, ma, NEW, Buffer.from('reply-a2')),
      answer.ack(sock, ma),
    ]),
  );
  t.deepEqual((await c).map(text), ['reply-c']);
  const err = await t.throwsAsync(b, { instanceOf: NetlinkError });
  t.is(err.code, 'EEXIST');
  t.is(err.operation, 'get b');
  t.deepEqual((await a).map(text), ['reply-a1', 'reply-a2']);
  conn.close();
});

test('a message for another sequence number or port is not taken as the reply', async (t) => {
  const { conn, sock } = fakeConnection((msgs, s) => {
    const m = msgs[0]!;
    return [
      message(NEW, 0, m.seq + 1000, s.portId, Buffer.from('other seq')),
      message(NEW, 0, m.seq, s.portId + 1, Buffer.from('other port')),
      answer.reply(s, m, NEW, Buffer.from('mine')),
      answer.ack(s, m),
    ];
  });
  const events = conn.monitor();
  const replies = await conn.request(req('x'));
  t.deepEqual(replies.map(text), ['mine']);
  const seen: string[] = [];
  for (let i = 0; i < 2; i++) {
    const r = await events.next();
    if (!r.done && !('resync' in r.value)) seen.push(text(r.value));
  }
  t.deepEqual(seen, ['other seq', 'other port'], 'unmatched messages go to the monitor');
  t.is(sock.pending, 0);
  conn.close();
});

test('closing fails what is pending', async (t) => {
  const { conn } = fakeConnection(() => []);
  const p = conn.request(req('never'));
  conn.close();
  const err = await t.throwsAsync(p, { instanceOf: NetlinkError });
  t.is(err.code, 'EBADF');
  t.throws(() => conn.request(req('after')), { instanceOf: NetlinkError });
});

/**
 * Bulk sends over a fake socket (src/netlink/testing.ts): requests go out
 * many to a datagram, only the last of each asking for an ACK; windows grow;
 * an error in the middle is reported against its request while the rest are
 * applied; and runBulk reports failures against the inputs.
 */
import test from 'ava';
import { NetlinkError, ValidationError } from '../../src/errors.js';
import { runBulk } from '../../src/netlink/bulk.js';
import { NLM_F_ACK, NLM_F_REQUEST } from '../../src/netlink/constants.js';
import type { NetlinkMessage, Request } from '../../src/netlink/message.js';
import { answer, type FakeSocket, fakeConnection } from '../../src/netlink/testing.js';

const NEW = 0x18;
const add = (i: number): Request => ({ type: NEW, flags: 0, payload: Buffer.from(`route ${i}`), describe: `add ${i}` });

/** The kernel's way: every message is handled; an error is answered at once, a success only when it asks for an ACK. */
function kernel(bad: Set<string>) {
  const handled: string[] = [];
  const script = (msgs: NetlinkMessage[], sock: FakeSocket) => {
    const out: Buffer[] = [];
    for (const m of msgs) {
      const body = m.data.toString();
      handled.push(body);
      if (bad.has(body)) out.push(answer.ack(sock, m, 22 /* EINVAL */));
      else if (m.flags & NLM_F_ACK) out.push(answer.ack(sock, m));
    }
    return out.length ? [Buffer.concat(out)] : [];
  };
  return { handled, script };
}

test('windows: many requests per datagram, one ACK each, windows doubling', async (t) => {
  const { handled, script } = kernel(new Set());
  const { conn, sock } = fakeConnection(script);
  const result = await conn.bulk(
    Array.from({ length: 1000 }, (_, i) => add(i)),
    { window: 256 },
  );
  t.is(result.sent, 1000);
  t.deepEqual(result.failed, []);
  t.is(handled.length, 1000);
  t.deepEqual(
    sock.sent.map((d) => d.length),
    [64, 128, 256, 256, 256, 40],
  );
  for (const d of sock.sent) {
    d.forEach((m, i) => t.is(m.flags, NLM_F_REQUEST | (i === d.length - 1 ? NLM_F_ACK : 0)));
    // consecutive sequence numbers within a window
    d.forEach((m, i) => t.is(m.seq, d[0]!.seq + i));
  }
  t.is(conn.stats.messages, 1000);
  conn.close();
});

test('an error in the middle of a window is reported with its index; the rest are applied', async (t) => {
  const { handled, script } = kernel(new Set(['route 70', 'route 500']));
  const { conn } = fakeConnection(script);
  const result = await conn.bulk(
    Array.from({ length: 600 }, (_, i) => add(i)),
    { window: 128 },
  );
  t.is(result.sent, 600);
  t.deepEqual(
    result.failed.map((f) => [f.index, f.request.describe, f.error.code, f.error.index]),
    [
      [70, 'add 70', 'EINVAL', 70],
      [500, 'add 500', 'EINVAL', 500],
    ],
  );
  t.is(handled.length, 600);
  conn.close();
});

test('acknowledgements arriving late are matched to their window', async (t) => {
  const pending: Array<() => void> = [];
  let windows = 0;
  const { conn, sock } = fakeConnection((msgs, s) => {
    windows++;
    const last = msgs[msgs.length - 1]!;
    const bad = msgs.find((m) => m.data.toString() === 'route 3');
    // Answered only later: the next window is encoded meanwhile.
    pending.push(() => s.deliver(...(bad ? [answer.ack(s, bad, 17)] : []), answer.ack(s, last)));
    return [];
  });
  const done = conn.bulk(
    Array.from({ length: 100 }, (_, i) => add(i)),
    { window: 64 },
  );
  while (windows < 2 || pending.length > 0) {
    await new Promise((r) => setImmediate(r));
    pending.shift()?.();
  }
  const result = await done;
  t.is(sock.sent.length, 2);
  t.deepEqual(
    result.failed.map((f) => f.index),
    [3],
  );
  t.is(result.failed[0]!.error.code, 'EEXIST');
  conn.close();
});

test('runBulk: failures name their input, refused inputs are not sent', async (t) => {
  const { handled, script } = kernel(new Set(['route 4']));
  const { conn } = fakeConnection(script);
  const inputs = [0, 1, 2, -1, 4, 5];
  const report = await runBulk(conn, inputs, (i) => {
    if (i < 0) throw new ValidationError('i', 'negative');
    return add(i);
  });
  t.is(report.total, 6);
  t.is(report.applied, 4);
  t.deepEqual(
    report.failed.map((f) => [f.index, f.input, f.error.constructor.name]),
    [
      [3, -1, ValidationError.name],
      [4, 4, NetlinkError.name],
    ],
  );
  t.is(handled.length, 5);
  conn.close();
});

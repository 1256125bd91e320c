/**
 * Dumps over a fake socket (src/netlink/testing.ts): a dump the kernel marks
 * interrupted (NLM_F_DUMP_INTR) is re-run; with a key only objects not yet
 * yielded are yielded again, without one only the clean pass is yielded; a
 * dump interrupted every time gives up with DumpInterruptedError.
 */
import test from 'ava';
import { DumpInterruptedError, NetlinkError } from '../../src/errors.js';
import { NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTI, NLM_F_REQUEST } from '../../src/netlink/constants.js';
import type { NetlinkMessage } from '../../src/netlink/message.js';
import { answer, type FakeSocket, fakeConnection } from '../../src/netlink/testing.js';

const GET = 0x12;
const NEW = 0x10;
const dumpReq = { type: GET, flags: 0, payload: Buffer.alloc(4), describe: 'dump things', access: 'read' as const };
const text = (m: NetlinkMessage) => m.data.toString();

/** A script that answers pass i of a dump with passes[i] (interrupted when its flag says so). */
function passes(list: Array<{ objects: string[]; interrupted: boolean }>) {
  const requests: NetlinkMessage[] = [];
  const script = (msgs: NetlinkMessage[], sock: FakeSocket) => {
    const m = msgs[0]!;
    requests.push(m);
    const pass = list[Math.min(requests.length - 1, list.length - 1)]!;
    const intr = pass.interrupted ? NLM_F_DUMP_INTR : 0;
    // The kernel sets the flag on the messages it sends after the change, and on DONE.
    const parts = pass.objects.map((o, i) => answer.reply(sock, m, NEW, Buffer.from(o), NLM_F_MULTI | (i > 0 ? intr : 0)));
    return [Buffer.concat(parts), answer.done(sock, m, intr)];
  };
  return { requests, script };
}

test('DUMP_INTR: the dump is re-run and, with a key, each object is yielded once', async (t) => {
  const { requests, script } = passes([
    { objects: ['a', 'b'], interrupted: true },
    { objects: ['a', 'b', 'c'], interrupted: false },
  ]);
  const { conn } = fakeConnection(script);
  const out: string[] = [];
  for await (const m of conn.dump(dumpReq, { key: text })) out.push(text(m));
  t.deepEqual(out, ['a', 'b', 'c']);
  t.is(requests.length, 2, 'the dump ran twice');
  t.not(requests[0]!.seq, requests[1]!.seq);
  for (const r of requests) t.is(r.flags, NLM_F_REQUEST | NLM_F_DUMP);
  t.is(conn.stats.dumpRetries, 1);
  conn.close();
});

test('DUMP_INTR without a key: only the clean pass is yielded', async (t) => {
  const { script } = passes([
    { objects: ['stale1', 'stale2'], interrupted: true },
    { objects: ['x', 'y'], interrupted: false },
  ]);
  const { conn } = fakeConnection(script);
  t.deepEqual((await conn.dumpAll(dumpReq)).map(text), ['x', 'y']);
  conn.close();
});

test('DUMP_INTR every time: DumpInterruptedError after the retries', async (t) => {
  const { requests, script } = passes([{ objects: ['a', 'b'], interrupted: true }]);
  const { conn } = fakeConnection(script);
  await t.throwsAsync(conn.dumpAll(dumpReq, { retries: 2 }), { instanceOf: DumpInterruptedError });
  t.is(requests.length, 3);
  conn.close();
});

test("a clean dump runs once; an error in DONE is the dump's error", async (t) => {
  const { requests, script } = passes([{ objects: ['a'], interrupted: false }]);
  const { conn } = fakeConnection(script);
  t.deepEqual((await conn.dumpAll(dumpReq, { key: text })).map(text), ['a']);
  t.is(requests.length, 1);
  t.is(conn.stats.dumpRetries, 0);
  conn.close();

  const failing = fakeConnection((msgs, sock) => [answer.ack(sock, msgs[0]!, 2 /* ENOENT */)]);
  const err = await t.throwsAsync(failing.conn.dumpAll(dumpReq), { instanceOf: NetlinkError });
  t.is(err.code, 'ENOENT');
  failing.conn.close();
});

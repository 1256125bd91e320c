/**
 * The pieces of `netfwd run` that need no kernel: the systemd notification
 * protocol's text and socket addresses (sd_notify(3)), which environment turns
 * the watchdog on, and the text form of the log lines. The datagrams
 * themselves are received by a real socket in test/integration/cli-run.test.ts.
 */
import test from 'ava';
import { formatEvent } from '../../src/cli/run.js';
import { notifyMessage, notifySocketAddress, systemdNotifier } from '../../src/forward/sd-notify.js';

test('NOTIFY_SOCKET: a path as is, @name as an abstract address (leading NUL), anything else refused', (t) => {
  t.deepEqual(notifySocketAddress('/run/systemd/notify'), Buffer.from('/run/systemd/notify'));
  t.deepEqual(
    notifySocketAddress('@/org/freedesktop/systemd1/notify/123'),
    Buffer.concat([Buffer.from([0]), Buffer.from('/org/freedesktop/systemd1/notify/123')]),
  );
  t.throws(() => notifySocketAddress('vsock:2:1234'), { message: /only a path .* or an abstract socket/ });
});

test('a message is VAR=value lines; a newline in a value cannot start another assignment', (t) => {
  t.is(notifyMessage({ READY: 1, STATUS: 'converged' }), 'READY=1\nSTATUS=converged');
  t.is(notifyMessage({ STATUS: 'apply failed:\nWATCHDOG=trigger' }), 'STATUS=apply failed: WATCHDOG=trigger');
  t.throws(() => notifyMessage({ 'bad name': 1 }), { message: /not a variable name/ });
});

test('no NOTIFY_SOCKET: no notifier; the watchdog only with WATCHDOG_USEC for this process', (t) => {
  t.is(systemdNotifier({}), undefined);
  t.is(systemdNotifier({ NOTIFY_SOCKET: '' }), undefined);
  t.is(systemdNotifier({ NOTIFY_SOCKET: '/tmp/x' })!.watchdogUsec, undefined);
  t.is(systemdNotifier({ NOTIFY_SOCKET: '/tmp/x', WATCHDOG_USEC: '30000000' })!.watchdogUsec, 30_000_000);
  t.is(
    systemdNotifier({ NOTIFY_SOCKET: '/tmp/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: String(process.pid) })!.watchdogUsec,
    30_000_000,
  );
  t.is(systemdNotifier({ NOTIFY_SOCKET: '/tmp/x', WATCHDOG_USEC: '30000000', WATCHDOG_PID: '1' })!.watchdogUsec, undefined);
  t.is(systemdNotifier({ NOTIFY_SOCKET: '/tmp/x', WATCHDOG_USEC: 'soon' })!.watchdogUsec, undefined);
});

test('sending to a socket nobody listens on reports the error instead of throwing', (t) => {
  const errors: Error[] = [];
  const n = systemdNotifier({ NOTIFY_SOCKET: `/nonexistent-${process.pid}/notify` }, (e) => errors.push(e))!;
  t.false(n.notify({ READY: 1 }));
  t.is((errors[0] as Error & { code?: string }).code, 'ENOENT');
});

test('log lines: JSON as is, or TIME LEVEL EVENT key=value with lists joined by "; "', (t) => {
  const e = {
    ts: '2026-01-01T00:00:00.000Z',
    level: 'warn' as const,
    event: 'repaired',
    details: {
      trigger: ['route default table 5000 deleted'],
      changes: ['+ route default dev wg0 table 5000'],
      netlinkWrites: 1,
      empty: [],
    },
  };
  t.deepEqual(JSON.parse(formatEvent(e, true)), e);
  t.is(
    formatEvent(e, false),
    '2026-01-01T00:00:00.000Z warn  repaired trigger=[route default table 5000 deleted] changes=[+ route default dev wg0 table 5000] netlinkWrites=1',
  );
  t.is(
    formatEvent({ ...e, level: 'info', event: 'started', details: { netns: 'a b', role: 'backend' } }, false),
    '2026-01-01T00:00:00.000Z info  started netns="a b" role=backend',
  );
});

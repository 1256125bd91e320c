/**
 * rt.monitor against the real kernel, each test in its own namespace: changes
 * made by `ip` commands arrive as typed events, kinds not asked for stay out,
 * and an overrun (ENOBUFS) surfaces as a resync event.
 */
import { NETFWD_PROTOCOL, Route, type RouteEvent, type RouteMonitor, type RouteSpec } from '../../src/route/index.js';
import { freshNetns, kernelTest, run } from '../helpers/kernel.js';

const test = kernelTest(['ip']);

/** Reads events until `done` says so; gives up (returning what it saw) after `limit` events or 20 s. */
async function collect(monitor: RouteMonitor, done: (seen: RouteEvent[]) => boolean, limit = 10_000): Promise<RouteEvent[]> {
  const seen: RouteEvent[] = [];
  const timer = setTimeout(() => monitor.close(), 20_000);
  try {
    for await (const e of monitor) {
      seen.push(e);
      if (done(seen) || seen.length >= limit) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return seen;
}

const describe = (e: RouteEvent): string => {
  switch (e.kind) {
    case 'link':
      return `${e.action} link ${e.link.name} ${e.link.kind ?? ''}`.trim();
    case 'address':
      return `${e.action} address ${e.address.address} on ${e.address.link}`;
    case 'route':
      return `${e.action} route ${e.route.type} ${e.route.destination} table ${e.route.table} proto ${e.route.protocol}`;
    case 'rule':
      return `${e.action} rule IPv${e.rule.family} ${e.rule.priority} ${e.rule.uidRange?.join('-') ?? ''}${e.rule.fwmark ?? ''} table ${e.rule.table}`;
    case 'resync':
      return `resync`;
  }
};

test('events made by ip commands in the same namespace arrive typed and decoded, both families', async (t) => {
  const ns = freshNetns(t);
  const rt = await Route.open({ netns: ns });
  t.teardown(() => rt.close());
  const monitor = rt.monitor(['link', 'address', 'route', 'rule']);
  const ip = (...args: string[]) => run('ip', ['-n', ns, ...args]);
  ip('link', 'add', 'm0', 'type', 'bridge');
  ip('address', 'add', '192.0.2.1/24', 'dev', 'm0');
  ip('-6', 'address', 'add', '2001:db8::1/64', 'dev', 'm0', 'nodad');
  ip('route', 'add', 'blackhole', '198.51.100.0/24', 'table', '5000', 'proto', '233');
  ip('-6', 'route', 'add', 'unreachable', '2001:db8:1::/48', 'table', '5000');
  ip('rule', 'add', 'priority', '100', 'uidrange', '1000-1001', 'table', '5000');
  ip('-6', 'rule', 'add', 'priority', '101', 'fwmark', '42', 'table', '5000');
  ip('rule', 'del', 'priority', '100', 'uidrange', '1000-1001', 'table', '5000');
  ip('route', 'del', 'blackhole', '198.51.100.0/24', 'table', '5000');
  ip('address', 'del', '192.0.2.1/24', 'dev', 'm0');
  ip('link', 'del', 'm0');

  const events = await collect(monitor, (seen) => seen.some((e) => e.kind === 'link' && e.action === 'del' && e.link.name === 'm0'));
  const text = events.map(describe);
  const expected = [
    'new link m0 bridge',
    'new address 192.0.2.1/24 on m0',
    'new address 2001:db8::1/64 on m0',
    `new route blackhole 198.51.100.0/24 table 5000 proto ${NETFWD_PROTOCOL}`,
    'new route unreachable 2001:db8:1::/48 table 5000 proto 3',
    'new rule IPv4 100 1000-1001 table 5000',
    'new rule IPv6 101 42 table 5000',
    'del rule IPv4 100 1000-1001 table 5000',
    `del route blackhole 198.51.100.0/24 table 5000 proto ${NETFWD_PROTOCOL}`,
    'del address 192.0.2.1/24 on m0',
    'del link m0 bridge',
  ];
  // In order, among the other events the kernel sends (local routes, link changes, ...).
  let at = 0;
  for (const line of text) if (line === expected[at]) at++;
  t.is(at, expected.length, `missing "${expected[at]}" in:\n${text.join('\n')}`);
  t.false(text.includes('resync'));
  const rule = events.find((e) => e.kind === 'rule' && e.rule.family === 6);
  t.like(rule, { kind: 'rule', action: 'new', rule: { priority: 101, fwmark: 42, fwmask: 0xffffffff, table: 5000 } });
});

test('only the kinds asked for are yielded', async (t) => {
  const ns = freshNetns(t);
  const rt = await Route.open({ netns: ns });
  t.teardown(() => rt.close());
  const monitor = rt.monitor(['rule']);
  run('ip', ['-n', ns, 'link', 'add', 'm1', 'type', 'bridge']);
  run('ip', ['-n', ns, 'route', 'add', 'blackhole', '203.0.113.0/24', 'table', '7']);
  run('ip', ['-n', ns, 'rule', 'add', 'priority', '7', 'table', '7']);
  const events = await collect(monitor, (seen) => seen.some((e) => e.kind === 'rule'));
  t.deepEqual(
    events.map((e) => e.kind),
    ['rule'],
  );
});

test('an overrun (ENOBUFS) surfaces as a resync event, never as silence', async (t) => {
  const ns = freshNetns(t);
  const rt = await Route.open({ netns: ns });
  t.teardown(() => rt.close());
  const monitor = rt.monitor(['route'], { receiveBufferSize: 4096 });
  // The monitor is not read while 3000 routes are added: its 4 KiB buffer overflows.
  const specs: RouteSpec[] = [];
  for (let i = 0; i < 3000; i++) specs.push({ destination: `10.0.${i >> 8}.${i & 255}`, type: 'blackhole', table: 5000 });
  t.is((await rt.routes.addMany(specs)).failed.length, 0);
  const events = await collect(monitor, (seen) => seen.some((e) => e.kind === 'resync'), 5000);
  const resync = events.find((e) => e.kind === 'resync');
  t.truthy(resync, `no resync among ${events.length} events`);
  t.regex((resync as { reason: string }).reason, /ENOBUFS/);
  t.true(monitor.connection.stats.overruns >= 1);
  t.true(events.length < 3000, 'notifications were lost, which is why the resync was needed');
});

test('close ends the iteration; closing the Route closes its monitors', async (t) => {
  const ns = freshNetns(t);
  const rt = await Route.open({ netns: ns });
  const m1 = rt.monitor(['link']);
  const m2 = rt.monitor(['route']);
  const pending = m2.next();
  m1.close();
  t.deepEqual(await m1.next(), { value: undefined, done: true });
  rt.close();
  t.deepEqual(await pending, { value: undefined, done: true });
  t.true(m2.connection.isClosed);
});

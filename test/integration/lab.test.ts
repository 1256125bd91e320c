/** The namespace lab: topology checked with `ip -j`, real traffic across the router, teardown. */
import { LAB_ADDRESSES, Lab, runInNetns } from '../../src/lab/index.js';
import { netns } from '../../src/netns/index.js';
import { ipJson, kernelTest } from '../helpers/kernel.js';

const test = kernelTest(['ip']);

test('the lab builds four namespaces, routes between them and removes them', async (t) => {
  const lab = await Lab.create();
  let destroyed = false;
  t.teardown(async () => {
    if (!destroyed) await lab.destroy();
  });
  for (const h of Object.values(lab.hosts)) t.true(netns.exists(h.netns), h.netns);

  const addrs = ipJson(lab.hosts.frontend.netns, ['addr', 'show', 'dev', 'eth0']);
  const local = addrs[0].addr_info
    .filter((a: { scope: string }) => a.scope === 'global')
    .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`);
  t.deepEqual(local.sort(), ['2001:db8:2::2/64', '203.0.113.2/24']);
  const routes = ipJson(lab.hosts.backend.netns, ['route', 'show', 'default']);
  t.is(routes[0].gateway, LAB_ADDRESSES.routerToBackend.ipv4);

  // A TCP server on the outside host sees the client's own address, in both families.
  const server = lab.start('internet', async () => {
    const net = await import('node:net');
    const srv = net.createServer((c) => c.end(`${c.remoteAddress}\n`));
    await new Promise<void>((r) => srv.listen(7000, '::', () => r()));
    return 7000;
  });
  const port = await server.result;
  const ask = (arg: { host: string; port: number }) =>
    new Promise<string>(async (resolve, reject) => {
      const net = await import('node:net');
      const c = net.connect(arg.port, arg.host);
      let data = '';
      c.on('data', (d) => (data += d));
      c.on('end', () => resolve(data.trim()));
      c.on('error', reject);
    });
  t.is(await lab.run('client', ask, { host: LAB_ADDRESSES.outside.ipv4, port }), `::ffff:${LAB_ADDRESSES.client.ipv4}`);
  t.is(await lab.run('backend', ask, { host: LAB_ADDRESSES.outside.ipv6, port }), LAB_ADDRESSES.backend.ipv6);
  t.is(
    await runInNetns(lab.hosts.frontend.netns, ask, { host: LAB_ADDRESSES.outside.ipv4, port }),
    `::ffff:${LAB_ADDRESSES.frontend.ipv4}`,
  );

  // A process in a namespace sees only that namespace's interfaces.
  const child = lab.exec('client', 'cat', ['/proc/net/dev']);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  await new Promise((r) => child.on('close', r));
  t.regex(out, /eth0:/);
  t.notRegex(out, /to-client/);

  await lab.destroy();
  destroyed = true;
  for (const h of Object.values(lab.hosts)) t.false(netns.exists(h.netns), h.netns);
});

test('a function that throws inside a namespace rejects with its message', async (t) => {
  const lab = await Lab.create();
  t.teardown(() => lab.destroy());
  await t.throwsAsync(
    lab.run('client', () => {
      throw new Error('boom');
    }),
    { message: /boom/ },
  );
});

test('a function compiled with esbuild keepNames (its source calls __name, as under tsx) runs inside a namespace', async (t) => {
  const lab = await Lab.create();
  t.teardown(() => lab.destroy());
  // The shape esbuild gives a named inner function under keepNames; __name exists only in the compiled module.
  const fn = new Function('return async (a) => { const add = __name(function add(x) { return x + a; }, "add"); return add(1); }')() as (
    a: number,
  ) => Promise<number>;
  t.regex(fn.toString(), /__name\(/);
  t.is(await runInNetns(lab.hosts.client.netns, fn, 41), 42);
});

test('backends: 2 adds a second backend host on its own segment, routed like the first', async (t) => {
  const lab = await Lab.create({ backends: 2 });
  t.teardown(() => lab.destroy());
  const b2 = lab.host('backend2');
  t.is(b2.ipv4, LAB_ADDRESSES.backend2.ipv4);
  const addrs = ipJson(b2.netns, ['addr', 'show', 'dev', 'eth0']);
  const local = addrs[0].addr_info
    .filter((a: { scope: string }) => a.scope === 'global')
    .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`);
  t.deepEqual(local.sort(), ['192.0.2.130/25', '2001:db8:4::2/64']);
  const server = lab.start('internet', async () => {
    const net = await import('node:net');
    const srv = net.createServer((c) => c.end(`${c.remoteAddress}\n`));
    await new Promise<void>((r) => srv.listen(7000, '::', () => r()));
    return 7000;
  });
  await server.result;
  const ask = (arg: { host: string; port: number }) =>
    new Promise<string>(async (resolve, reject) => {
      const net = await import('node:net');
      const c = net.connect(arg.port, arg.host);
      let data = '';
      c.on('data', (d) => (data += d));
      c.on('end', () => resolve(data.trim()));
      c.on('error', reject);
    });
  // Both backends reach the outside host, each from its own address (the router's /25 beats the first backend's /24).
  t.is(await lab.run('backend2', ask, { host: LAB_ADDRESSES.outside.ipv4, port: 7000 }), `::ffff:${LAB_ADDRESSES.backend2.ipv4}`);
  t.is(await lab.run('backend2', ask, { host: LAB_ADDRESSES.outside.ipv6, port: 7000 }), LAB_ADDRESSES.backend2.ipv6);
  t.is(await lab.run('backend', ask, { host: LAB_ADDRESSES.outside.ipv4, port: 7000 }), `::ffff:${LAB_ADDRESSES.backend.ipv4}`);
  // Without the option there is no such host.
  const one = await Lab.create();
  t.teardown(() => one.destroy());
  t.is(one.hosts.backend2, undefined);
  t.throws(() => one.host('backend2'), { message: /the lab has no host backend2 \(create it with backends: 2\)/ });
});

test('destroy ends processes the lab did not start itself (e.g. a detached daemon)', async (t) => {
  const lab = await Lab.create();
  t.teardown(() => lab.destroy());
  const daemon = netns.exec(lab.hosts.backend.netns, 'sleep', ['300'], { detached: true, stdio: 'ignore' });
  daemon.unref();
  // The helper process enters the namespace and becomes `sleep` a moment after spawn.
  for (let i = 0; i < 400 && netns.processes(lab.hosts.backend.netns).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
  t.deepEqual(netns.processes(lab.hosts.backend.netns), [daemon.pid]);
  const exited = new Promise<string | null>((resolve) => daemon.once('exit', (_code, signal) => resolve(signal)));
  await lab.destroy();
  // The daemon is this process's child: it has ended once node has reaped it (until then a zombie
  // still answers kill 0), so wait for its exit, with a limit.
  const signal = await Promise.race([
    exited,
    new Promise<string>((resolve) => setTimeout(() => resolve('still running after 20 s'), 20_000).unref()),
  ]);
  t.true(signal === 'SIGTERM' || signal === 'SIGKILL', `the daemon ended by a signal (${signal})`);
  t.throws(() => process.kill(daemon.pid!, 0), { code: 'ESRCH' });
  t.false(netns.exists(lab.hosts.backend.netns));
});

/**
 * ServiceForward apply semantics in fresh namespaces, checked with ip, nft
 * and the netlink write counters:
 *   - a second apply makes zero netlink writes;
 *   - adding (or removing) one forward among 2 000 writes exactly as many
 *     messages as among 10 (map elements, never a rebuild);
 *   - a failure at any step — injected with hooks.beforeStep, or a real one
 *     from the kernel — restores the previous state (ip -j -d and nft
 *     listings compared) and the ApplyError names the step;
 *   - the same for an update (a mode change that rebuilds the nft table) and
 *     for down;
 *   - status reports drift and warnings; down and apply leave foreign
 *     objects alone, and refuse objects of netfwd's names that it does not own.
 */

import { execFileSync, spawn } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import { ApplyError, ConfigError } from '../../src/errors.js';
import { forwardService, OwnershipError, type ServiceForward } from '../../src/forward/index.js';
import type { BackendSpec, ForwardSpec, FrontendSpec } from '../../src/forward/spec/spec.js';
import { generatePrivateKey, publicKey, WireGuard } from '../../src/wireguard/index.js';
import { wgDump } from '../fixtures/wireguard-scenarios.js';
import { e2eSkipReason, inNetns, returnPathOf, snapshot, sysctlIn, uniqueTag } from '../helpers/e2e.js';
import { freshNetns, kernelTest, toolPath } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const test = e2eSkipReason() ? base.skip : base;

const peerKey = publicKey(generatePrivateKey());

function frontend(ns: string, ifname: string, forwards: number, extra: Partial<FrontendSpec> = {}): FrontendSpec {
  const list: ForwardSpec[] = Array.from({ length: forwards }, (_, i) => ({
    protocol: 'tcp',
    port: 10000 + i,
    to: { peer: 'home', port: 30000 + i },
  }));
  return {
    role: 'frontend',
    netns: ns,
    tunnel: {
      interface: ifname,
      addresses: ['10.0.0.1/24', 'fd00::1/64'],
      listenPort: 51820,
      privateKey: generatePrivateKey().toBase64(),
      peers: [{ name: 'home', publicKey: peerKey, addresses: ['10.0.0.2', 'fd00::2'] }],
    },
    public: { addresses: ['203.0.113.2', '2001:db8:2::2'] },
    forwards: list,
    ...extra,
  };
}

function backend(ns: string, ifname: string, returnPath: BackendSpec['returnPath']): BackendSpec {
  return {
    role: 'backend',
    netns: ns,
    tunnel: {
      interface: ifname,
      addresses: ['10.0.0.2/24', 'fd00::2/64'],
      privateKey: generatePrivateKey().toBase64(),
      peer: { publicKey: peerKey, endpoint: '203.0.113.2:51820' },
    },
    returnPath,
    services: [
      { protocol: 'tcp', port: 8080 },
      { protocol: 'udp', port: '5353-5354' },
    ],
  };
}

/** Registers down() at teardown (before the namespace goes: ava runs teardowns in reverse). */
function cleanup(t: ExecutionContext, ...fwds: ServiceForward[]): void {
  t.teardown(async () => {
    for (const f of fwds) await f.down().catch(() => undefined);
  });
}

/**
 * Snapshot for rollback comparisons: the ip dumps as they are, nftables as
 * `nft list ruleset` text — handles left out, because restoring a rebuilt or
 * deleted table makes the same table with new handles.
 */
function state(ns: string): Record<string, unknown> {
  const { nft: _nft, ...rest } = snapshot(ns);
  return { ...rest, nft: inNetns(ns, 'nft', ['list', 'ruleset']) };
}

/** Holds UDP port argv[1] on both families (one dual-stack socket) until killed; prints a line once bound. */
const PORT_HOLDER = `
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(('::', int(sys.argv[1])))
print('bound', flush=True)
time.sleep(600)
`;

const injectAt = (position: number) => ({
  beforeStep(_step: unknown, i: number) {
    if (i === position) throw new Error('injected failure');
  },
});

test('a second apply changes nothing and makes zero netlink writes', async (t) => {
  const ns = freshNetns(t, 'nfapply');
  const fe = forwardService(frontend(ns, `nf${uniqueTag()}f`, 3));
  const be = forwardService(
    backend(freshNetns(t, 'nfapply'), `nf${uniqueTag()}b`, returnPathOf('mark', { exclude: ['192.168.1.0/24', 'fd12::/64'] })),
  );
  cleanup(t, fe, be);
  for (const f of [fe, be]) {
    const first = await f.apply();
    t.true(first.netlinkWrites > 0);
    const second = await f.apply();
    t.true(second.plan.empty, second.plan.toString());
    t.is(second.netlinkWrites, 0);
  }
});

test('adding or removing one forward writes as many netlink messages among 2 000 forwards as among 10', async (t) => {
  const writes: Record<number, { add: number; remove: number }> = {};
  for (const n of [10, 2000]) {
    const ns = freshNetns(t, 'nfscale');
    const ifname = `nf${uniqueTag()}f`;
    const key = generatePrivateKey().toBase64();
    const spec = (count: number) => {
      const s = frontend(ns, ifname, count);
      return { ...s, tunnel: { ...s.tunnel, privateKey: key } } as FrontendSpec;
    };
    const fwd = forwardService(spec(n));
    cleanup(t, fwd);
    await fwd.apply();
    t.is((await fwd.apply()).netlinkWrites, 0, `no-op apply with ${n} forwards`);
    const add = await forwardService(spec(n + 1)).apply();
    // One forward, two families: one DNAT element and one stats element each.
    t.deepEqual(add.plan.lines(), [`~ nftables table inet netfwd-${ifname}: elements +4 (dnat4, stats4, dnat6, stats6)`]);
    const remove = await fwd.apply();
    t.deepEqual(remove.plan.lines(), [`~ nftables table inet netfwd-${ifname}: elements -4 (dnat4, stats4, dnat6, stats6)`]);
    writes[n] = { add: add.netlinkWrites, remove: remove.netlinkWrites };
    // The kernel holds what the spec says (nft, the tool, counts the elements).
    const listed = JSON.parse(inNetns(ns, 'nft', ['-j', 'list', 'map', 'inet', `netfwd-${ifname}`, 'dnat4'])) as {
      nftables: Array<{ map?: { elem?: unknown[] } }>;
    };
    t.is(listed.nftables.find((x) => x.map)!.map!.elem!.length, n);
  }
  t.log(`writes to add one forward: ${writes[10]!.add}, to remove it: ${writes[10]!.remove}`);
  t.deepEqual(writes[2000], writes[10]);
  t.is(writes[10]!.add, 4, 'one element message per map it touches');
});

test('a failure at any step of a first apply restores the namespace and the ApplyError names the step', async (t) => {
  const ns = freshNetns(t, 'nfroll');
  const fwd = forwardService(backend(ns, `nf${uniqueTag()}b`, returnPathOf('mark', { exclude: ['192.168.1.0/24', 'fd12::/64'] })));
  cleanup(t, fwd);
  const before = state(ns);
  const plan = await fwd.plan();
  const lines = plan.lines();
  t.true(lines.length >= 10, lines.join('\n'));
  t.deepEqual(
    [...new Set(plan.changes.map((c) => c.kind))],
    ['claim', 'sysctl', 'link', 'wireguard', 'address', 'route', 'rule', 'nftables'],
    'every kind of step is exercised (the claim first, then the sysctl the link changes, the others last)',
  );
  for (let p = 1; p <= lines.length; p++) {
    const err = await t.throwsAsync(fwd.apply({ hooks: injectAt(p) }), { instanceOf: ApplyError });
    t.is(err!.position, p);
    t.is(err!.total, lines.length);
    t.is(err!.step, lines[p - 1]!);
    t.true(err!.restored);
    t.is(err!.message, `step ${p}/${lines.length} "${lines[p - 1]}" failed: injected failure; the previous state was restored`);
    t.deepEqual(state(ns), before, `after a failure at step ${p} (${lines[p - 1]})`);
  }
  t.false((await fwd.apply()).plan.empty);
  t.true((await fwd.apply()).plan.empty);
});

test('a failure while changing the mode (snat → mark: new routes and rules, the nft table rebuilt, a sysctl) restores the previous mode', async (t) => {
  const ns = freshNetns(t, 'nfroll');
  const ifname = `nf${uniqueTag()}b`;
  const snat = backend(ns, ifname, { mode: 'snat' });
  const mark: BackendSpec = { ...snat, returnPath: returnPathOf('mark', { exclude: ['192.168.1.0/24'] }) };
  const fwd = forwardService(snat);
  cleanup(t, fwd);
  await fwd.apply();
  const before = state(ns);
  const change = forwardService(mark);
  const lines = (await change.plan()).lines();
  t.true(
    lines.some((l) => l.includes('rebuilt')),
    lines.join('\n'),
  );
  t.true((lines.at(-1) ?? '').startsWith('~ sysctl'), 'the rebuild is not the last step');
  for (let p = 1; p <= lines.length; p++) {
    const err = await t.throwsAsync(change.apply({ hooks: injectAt(p) }), { instanceOf: ApplyError });
    t.true(err!.restored);
    t.deepEqual(state(ns), before, `after a failure at step ${p} (${lines[p - 1]})`);
  }
  t.true((await fwd.apply()).plan.empty, 'the kernel still matches the snat spec exactly');
});

test('a real failure from the kernel (a foreign route in the way) restores the namespace and names the step', async (t) => {
  const ns = freshNetns(t, 'nfroll');
  inNetns(ns, 'ip', ['route', 'add', 'unreachable', 'default', 'table', '5000', 'metric', '4294967295', 'proto', 'static']);
  const fwd = forwardService(backend(ns, `nf${uniqueTag()}b`, returnPathOf('uid')));
  cleanup(t, fwd);
  const before = state(ns);
  const err = await t.throwsAsync(fwd.apply(), { instanceOf: ApplyError });
  t.is(err!.step, '+ route unreachable default table 5000 metric 4294967295');
  t.regex(
    err!.message,
    /failed: add route unreachable default table 5000 metric 4294967295: File exists \(EEXIST\); the previous state was restored$/,
  );
  t.true(err!.restored);
  t.deepEqual(state(ns), before);
});

test('a WireGuard configuration refused part-way (listen port in use) is undone too: the private key applied before the refusal is put back', async (t) => {
  const ns = freshNetns(t, 'nfroll');
  const ifname = `nf${uniqueTag()}f`;
  const spec = frontend(ns, ifname, 2);
  const fwd = forwardService(spec);
  cleanup(t, fwd);
  await fwd.apply();
  const before = state(ns);
  const wgBefore = wgDump(ns, ifname);
  // A dual-stack UDP socket on 51821 in the namespace: the daemon cannot bind the new port.
  const holder = spawn(toolPath('ip'), ['netns', 'exec', ns, 'python3', '-c', PORT_HOLDER, '51821'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => holder.kill('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.once('data', () => resolve());
    holder.once('exit', (code) => reject(new Error(`the port holder exited (${code})`)));
  });
  // The same frontend with a new private key and the held port.
  const next = frontend(ns, ifname, 2);
  next.tunnel.listenPort = 51821;
  const changed = forwardService(next);
  const err = await t.throwsAsync(changed.apply(), { instanceOf: ApplyError });
  t.regex(err!.step, /wireguard/);
  t.true(err!.restored, err!.message);
  // The daemon applied private_key, then refused listen_port: the undo recorded before the call put the key back.
  t.deepEqual(wgDump(ns, ifname), wgBefore);
  t.deepEqual(state(ns), before);
});

test('a failure at any step of down puts everything back (the nft table from its listing, the sysctls and their state)', async (t) => {
  const ns = freshNetns(t, 'nfroll');
  const fwd = forwardService(
    frontend(ns, `nf${uniqueTag()}f`, 5, { public: { addresses: ['203.0.113.2', '2001:db8:2::2'], interface: 'eth0' } }),
  );
  cleanup(t, fwd);
  const sysctlBefore = sysctlIn(ns, 'net.ipv4.ip_forward');
  await fwd.apply();
  const up = state(ns);
  const lines = (await fwd.planDown()).lines();
  t.true(lines.some((l) => l.startsWith('~ sysctl')) && lines.some((l) => l.startsWith('- nftables')), lines.join('\n'));
  for (let p = 1; p <= lines.length; p++) {
    const err = await t.throwsAsync(fwd.down({ hooks: injectAt(p) }), { instanceOf: ApplyError });
    t.true(err!.restored);
    t.deepEqual(state(ns), up, `after a failure at step ${p} of down (${lines[p - 1]})`);
    t.true((await fwd.plan()).empty, 'apply has nothing to do');
  }
  await fwd.down();
  t.is(sysctlIn(ns, 'net.ipv4.ip_forward'), sysctlBefore, 'down still restores ip_forward: its state was put back too');
});

test('all.send_redirects is turned off before the tunnel exists, recorded, and put back by down (as the kernel WireGuard would leave it off)', async (t) => {
  const ns = freshNetns(t, 'nfredir');
  const key = 'net.ipv4.conf.all.send_redirects';
  t.is(sysctlIn(ns, key), '1', "a new namespace's default");
  const ifname = `nf${uniqueTag()}f`;
  const fwd = forwardService(frontend(ns, ifname, 1));
  cleanup(t, fwd);
  const lines = (await fwd.plan()).lines();
  t.true(lines[0]!.startsWith(`+ claim of ${ifname}: needs ${key}`), lines.join('\n'));
  t.true(lines[1]!.startsWith(`~ sysctl ${key}: 1 → 0`), lines.join('\n'));
  t.true(lines[2]!.startsWith(`+ link ${ifname}`), 'then the link');
  await fwd.apply();
  t.is(sysctlIn(ns, key), '0');
  t.true((await fwd.plan()).empty);
  await fwd.down();
  t.is(sysctlIn(ns, key), '1', 'down restores the value from before up');
  // Changed by someone else while up: down leaves their value.
  await fwd.apply();
  sysctlIn(ns, key, '1');
  t.deepEqual((await fwd.status()).drift, [
    `~ sysctl ${key}: 1 → 0 (no ICMP redirects across the tunnel; the kernel WireGuard sets it as the tunnel comes up)`,
  ]);
  await fwd.down();
  t.is(sysctlIn(ns, key), '1');
});

test('with public.interface, masquerading applies only to packets leaving by that interface', async (t) => {
  const ns = freshNetns(t, 'nfmasq');
  const ifname = `nf${uniqueTag()}f`;
  const fwd = forwardService(frontend(ns, ifname, 1, { public: { interface: 'eth0' } }));
  cleanup(t, fwd);
  await fwd.apply();
  const text = inNetns(ns, 'nft', ['list', 'chain', 'inet', `netfwd-${ifname}`, 'postrouting']);
  t.regex(text, new RegExp(`iifname "${ifname}" oifname @uplinks masquerade`));
  const uplinks = inNetns(ns, 'nft', ['list', 'set', 'inet', `netfwd-${ifname}`, 'uplinks']);
  t.regex(uplinks, /elements = \{ "eth0" \}/, 'the uplinks set holds exactly public.interface');
  const pre = inNetns(ns, 'nft', ['list', 'chain', 'inet', `netfwd-${ifname}`, 'prerouting']);
  t.regex(pre, /iifname "eth0" .*dnat ip to/);
});

test('status: present objects, drift after hand edits, and warnings (a foreign drop policy, forwarding off, no handshake)', async (t) => {
  const fns = freshNetns(t, 'nfstatus');
  const bns = freshNetns(t, 'nfstatus');
  const fifname = `nf${uniqueTag()}f`;
  const bifname = `nf${uniqueTag()}b`;
  const fe = forwardService(frontend(fns, fifname, 2));
  const be = forwardService(backend(bns, bifname, returnPathOf('uid')));
  cleanup(t, fe, be);
  await fe.apply();
  await be.apply();

  const clean = await fe.status();
  t.deepEqual(clean.drift, []);
  // The scratch namespace has no default route: the backends' own traffic has no uplink.
  t.deepEqual(
    clean.warnings.map((w) => w.split(':')[0]),
    ['no default route in the main table'],
  );
  t.deepEqual(clean.present, {
    link: true,
    addresses: ['10.0.0.1/24', 'fd00::1/64'],
    routes: [],
    rules: [],
    nftTable: `inet netfwd-${fifname}`,
  });
  t.is(clean.tunnel.privateKey, '(hidden)');
  t.is(clean.tunnel.listenPort, 51820);
  t.deepEqual(
    clean.forwards.map((f) => [f.publicPorts, f.family, f.connections, f.packets]),
    [
      ['10000', 4, 0, 0],
      ['10000', 6, 0, 0],
      ['10001', 4, 0, 0],
      ['10001', 6, 0, 0],
    ],
  );
  t.false(
    JSON.stringify(clean).includes((fe.config.tunnel.privateKey as unknown as { reveal(): string }).reveal()),
    'the private key is never in a status',
  );

  inNetns(fns, 'nft', ['-f', '-'], 'table inet fw {\n chain forward_drop {\n  type filter hook forward priority 0; policy drop;\n }\n}\n');
  sysctlIn(fns, 'net.ipv4.ip_forward', '0');
  inNetns(fns, 'nft', ['delete', 'element', 'inet', `netfwd-${fifname}`, 'dnat4', '{ 203.0.113.2 . tcp . 10000 }']);
  const drifted = await fe.status();
  t.true(
    drifted.warnings.some((w) =>
      w.startsWith('table inet fw chain forward_drop (hook forward, policy drop) may drop the traffic netfwd forwards'),
    ),
    drifted.warnings.join('\n'),
  );
  t.true(
    drifted.warnings.some((w) => w.startsWith('net.ipv4.ip_forward is off')),
    drifted.warnings.join('\n'),
  );
  t.deepEqual(drifted.drift, [
    `~ nftables table inet netfwd-${fifname}: elements +1 (dnat4)`,
    '~ sysctl net.ipv4.ip_forward: 0 → 1 (forward DNATed connections)',
  ]);
  t.deepEqual((await fe.apply()).plan.lines(), drifted.drift);
  t.deepEqual(
    (await fe.status()).warnings.filter((w) => w.startsWith('net.ipv4')),
    [],
  );

  const b = await be.status();
  t.deepEqual(b.present.rules.sort(), [
    '100: fwmark 0x1388 lookup 5000',
    '100: fwmark 0x1388 lookup 5000 (IPv6)',
    '101: uidrange 1000-1000 lookup 5000',
    '101: uidrange 1000-1000 lookup 5000 (IPv6)',
  ]);
  t.is(b.present.routes.length, 4);
  t.deepEqual(b.warnings, ['no handshake with the frontend yet: check its endpoint and that its UDP port is reachable']);
  inNetns(bns, 'nft', ['-f', '-'], 'table inet fw {\n chain in {\n  type filter hook input priority 0; policy drop;\n }\n}\n');
  inNetns(bns, 'ip', ['-6', 'route', 'del', 'unreachable', 'default', 'table', '5000', 'metric', '4294967295']);
  const bd = await be.status();
  t.true(
    bd.warnings.some((w) => w.includes('chain in (hook input, policy drop)')),
    bd.warnings.join('\n'),
  );
  t.deepEqual(bd.drift, ['+ route unreachable default (IPv6) table 5000 metric 4294967295']);
});

test("objects with netfwd's names that netfwd does not own are refused before anything changes, and down leaves them alone", async (t) => {
  const ns = freshNetns(t, 'nfown');
  // A WireGuard link of the tunnel's name, made by someone else (no netfwd alias).
  const ifname = `nf${uniqueTag()}x`;
  const wg = await WireGuard.open({ netns: ns });
  t.teardown(async () => {
    await wg.remove(ifname).catch(() => undefined);
    wg.close();
  });
  await wg.create(ifname);
  const before = state(ns);
  const fwd = forwardService(frontend(ns, ifname, 1));
  await t.throwsAsync(fwd.apply(), {
    instanceOf: OwnershipError,
    message: new RegExp(`WireGuard interface ${ifname} exists but was not created by netfwd`),
  });
  t.true((await fwd.down()).plan.empty);
  t.deepEqual(state(ns), before);

  // A veth link of the tunnel's name.
  const veth = `nf${uniqueTag()}v`;
  execFileSync(toolPath('ip'), ['-n', ns, 'link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
  await t.throwsAsync(forwardService(frontend(ns, veth, 1)).apply(), {
    instanceOf: OwnershipError,
    message: /is not a WireGuard interface/,
  });

  // An nftables table of netfwd's name without netfwd's comment.
  const other = `nf${uniqueTag()}n`;
  inNetns(ns, 'nft', ['add', 'table', 'inet', `netfwd-${other}`]);
  const before2 = state(ns);
  const err = await t.throwsAsync(forwardService(frontend(ns, other, 1)).apply(), { instanceOf: OwnershipError });
  t.regex(err!.message, new RegExp(`nftables table inet netfwd-${other} exists but was not made by netfwd`));
  t.deepEqual(state(ns), before2, 'the refusal came before any change');
  const down = await forwardService(frontend(ns, other, 1)).down();
  t.true(down.plan.empty);
  t.regex(inNetns(ns, 'nft', ['list', 'tables']), new RegExp(`table inet netfwd-${other}`));
});

test('mode mark with a cgroup that does not exist yet: plan and apply fail with a ConfigError at returnPath.cgroup before any change; status still answers', async (t) => {
  const ns = freshNetns(t, 'nfcgroup');
  const fwd = forwardService(backend(ns, `nf${uniqueTag()}c`, { mode: 'mark', cgroup: 'netfwd-test.slice/never-started.service' }));
  cleanup(t, fwd);
  const before = state(ns);
  for (const attempt of [() => fwd.plan(), () => fwd.apply()]) {
    const err = await t.throwsAsync(attempt(), { instanceOf: ConfigError });
    t.is(err!.field, 'returnPath.cgroup');
    t.regex(
      err!.message,
      /^returnPath\.cgroup: cgroup "netfwd-test\.slice\/never-started\.service" does not exist .*must exist when netfwd up runs/,
    );
  }
  t.deepEqual(state(ns), before, 'nothing was changed');
  const s = await fwd.status();
  t.true(
    s.warnings.some((w) => w.startsWith('returnPath.cgroup: cgroup "netfwd-test.slice/never-started.service" does not exist')),
    s.warnings.join('\n'),
  );
  t.is(s.drift.length, 1);
});

test("plan on a fresh namespace reads the global sysctls (only the tunnel's own are unset) and carries the warnings", async (t) => {
  const ns = freshNetns(t, 'nfplan');
  sysctlIn(ns, 'net.ipv4.ip_forward', '0');
  sysctlIn(ns, 'net.ipv6.conf.all.forwarding', '1');
  inNetns(ns, 'nft', ['-f', '-'], 'table inet fw {\n chain in {\n  type filter hook input priority 0; policy drop;\n }\n}\n');
  const ifname = `nf${uniqueTag()}p`;
  const plan = await forwardService(frontend(ns, ifname, 1)).plan();
  const sysctls = plan.lines().filter((l) => l.includes('sysctl'));
  t.deepEqual(sysctls, [
    // Before the link: the kernel's WireGuard turns it off as the tunnel comes up.
    '~ sysctl net.ipv4.conf.all.send_redirects: 1 → 0 (no ICMP redirects across the tunnel; the kernel WireGuard sets it as the tunnel comes up)',
    '~ sysctl net.ipv4.ip_forward: 0 → 1 (forward DNATed connections)',
    `~ sysctl net/ipv6/conf/${ifname}/keep_addr_on_down: (unset) → 1 (keep tunnel addresses across link flaps)`,
  ]);
  t.deepEqual(plan.warnings, [
    "table inet fw chain in (hook input, policy drop) may drop the tunnel's WireGuard packets (udp port 51820) and with them every forward; add an accept rule for it there",
    // A fresh namespace has no default route.
    "no default route in the main table: the backends' own traffic has no uplink and is refused until there is one (`netfwd run` follows the routes; otherwise run `netfwd up` again), or name the uplink in public.interface",
    'net.ipv4.ip_forward is off: the kernel does not forward; `netfwd up` turns it on',
  ]);
  t.deepEqual(plan.toJSON().warnings, plan.warnings);
});

/**
 * Several netfwd configurations in one namespace (issue 16, item 4): each
 * owns its routing table, rule priorities and marks (its claim, in its state
 * file); another configuration that wants one of them is refused before
 * anything changes; `up` and `down` of one leave the other byte-identical
 * (`ip -j -d rule/route`, `nft -j`, its state file); global sysctls are
 * restored only when no configuration needs them any more; changing the table
 * or priority removes the old rules and routes; a corrupt state file is
 * refused, never read as empty. Oracles: ip, nft, /proc/sys.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ExecutionContext } from 'ava';
import { ConfigError } from '../../src/errors.js';
import { forwardService, type ServiceForward } from '../../src/forward/index.js';
import { StateFileError, stateFilePath } from '../../src/forward/plan/state-file.js';
import type { BackendSpec, FrontendSpec } from '../../src/forward/spec/spec.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { e2eSkipReason, inNetns, sysctlIn, uniqueTag } from '../helpers/e2e.js';
import { freshNetns, kernelTest, toolPath } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const test = e2eSkipReason() ? base.skip : base;

const peerKey = publicKey(generatePrivateKey());

function backend(ns: string, ifname: string, subnet: number, returnPath: BackendSpec['returnPath']): BackendSpec {
  return {
    role: 'backend',
    netns: ns,
    tunnel: {
      interface: ifname,
      addresses: [`10.0.${subnet}.2/24`, `fd00:0:0:${subnet}::2/64`],
      privateKey: generatePrivateKey().toBase64(),
      peer: { publicKey: peerKey, endpoint: `203.0.113.${10 + subnet}:51820` },
    },
    returnPath,
    services: [{ protocol: 'tcp', port: 8080 + subnet }],
  };
}

function frontend(ns: string, ifname: string, subnet: number): FrontendSpec {
  return {
    role: 'frontend',
    netns: ns,
    tunnel: {
      interface: ifname,
      addresses: [`10.0.${subnet}.1/24`, `fd00:0:0:${subnet}::1/64`],
      listenPort: 51820 + subnet,
      privateKey: generatePrivateKey().toBase64(),
      peers: [{ name: 'home', publicKey: peerKey, addresses: [`10.0.${subnet}.2`, `fd00:0:0:${subnet}::2`] }],
    },
    forwards: [{ protocol: 'tcp', port: 10000 + subnet, to: { peer: 'home', port: 8080 } }],
  };
}

/** A namespace with a home uplink (veth, default routes): where unselected traffic would leave. */
function homeNetns(t: ExecutionContext): string {
  const ns = freshNetns(t, 'nfinst');
  const ip = (...args: string[]) => execFileSync(toolPath('ip'), ['-n', ns, ...args]);
  ip('link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0p');
  // No link-local addresses: they arrive asynchronously and would change the snapshots by themselves.
  ip('link', 'set', 'eth0', 'addrgenmode', 'none');
  ip('link', 'set', 'eth0p', 'addrgenmode', 'none');
  ip('link', 'set', 'eth0', 'up');
  ip('link', 'set', 'eth0p', 'up');
  ip('addr', 'add', '192.0.2.2/24', 'dev', 'eth0');
  ip('-6', 'addr', 'add', '2001:db8:3::2/64', 'dev', 'eth0', 'nodad');
  ip('route', 'add', 'default', 'via', '192.0.2.1');
  ip('-6', 'route', 'add', 'default', 'via', '2001:db8:3::1');
  return ns;
}

function cleanup(t: ExecutionContext, ...fwds: ServiceForward[]): void {
  t.teardown(async () => {
    for (const f of fwds) await f.down().catch(() => undefined);
  });
}

const ipJson = (ns: string, ...args: string[]): unknown[] => {
  const text = execFileSync(toolPath('ip'), ['-n', ns, '-j', '-d', ...args], { encoding: 'utf8' }).trim();
  return text ? (JSON.parse(text) as unknown[]) : [];
};

/** What one configuration made, as the tools print it: its rules and routes (by table), its nft table, its link, its state file. */
function objectsOf(ns: string, table: number | undefined, ifname: string): Record<string, unknown> {
  const rules = (f: string) =>
    (ipJson(ns, f, 'rule') as Array<{ table?: string }>).filter((r) => table !== undefined && r.table === String(table));
  const routes = (f: string) => (table === undefined ? [] : ipJson(ns, f, 'route', 'show', 'table', String(table)));
  const nft = inNetns(ns, 'nft', ['-j', 'list', 'table', 'inet', `netfwd-${ifname}`]).replace(/"handle": \d+/g, '"handle": 0');
  const state = stateFilePath(ns, ifname);
  return {
    rules4: rules('-4'),
    rules6: rules('-6'),
    routes4: routes('-4'),
    routes6: routes('-6'),
    nft: JSON.parse(nft) as unknown,
    link: ipJson(ns, 'link', 'show', 'dev', ifname),
    addresses: ipJson(ns, 'addr', 'show', 'dev', ifname),
    state: existsSync(state) ? readFileSync(state, 'utf8') : null,
  };
}

/** The device `ip route get` chooses for uid 1000's traffic to the outside host (IPv4, IPv6). */
function uidRoute(ns: string): string[] {
  return [
    ['-4', '198.51.100.1'],
    ['-6', '2001:db8:1::1'],
  ].map(([f, dst]) => {
    const r = (ipJson(ns, f!, 'route', 'get', dst!, 'uid', '1000') as Array<{ dev?: string; type?: string }>)[0]!;
    return r.type === 'unreachable' ? 'unreachable' : (r.dev ?? '?');
  });
}

test("a second backend configuration (another tunnel, mode snat) leaves the first one's table, rules and routing of uid 1000 alone; down of either leaves the other byte-identical", async (t) => {
  const ns = homeNetns(t);
  const a = forwardService(backend(ns, `nf${uniqueTag()}a`, 0, { mode: 'uid', uids: ['1000'] }));
  const b = forwardService(backend(ns, `nf${uniqueTag()}b`, 1, { mode: 'snat' }));
  cleanup(t, b, a);
  const aName = a.config.tunnel.interface;
  const bName = b.config.tunnel.interface;
  t.deepEqual(uidRoute(ns), ['eth0', 'eth0'], 'before: uid 1000 leaves by the home uplink');
  await a.apply();
  t.deepEqual(uidRoute(ns), [aName, aName], "with A up: uid 1000 goes into A's tunnel");
  const aObjects = objectsOf(ns, 5000, aName);
  const bPlan = await b.plan();
  t.false(
    bPlan.lines().some((l) => l.includes('table 5000')),
    `B plans nothing in A's table:\n${bPlan.toString()}`,
  );
  await b.apply();
  t.deepEqual(objectsOf(ns, 5000, aName), aObjects, "B's up left A byte-identical");
  t.deepEqual(uidRoute(ns), [aName, aName], "and uid 1000 still goes into A's tunnel");
  t.true((await a.plan()).empty, 'A has nothing to repair');
  await b.down();
  t.deepEqual(objectsOf(ns, 5000, aName), aObjects, "B's down left A byte-identical");
  t.deepEqual(uidRoute(ns), [aName, aName]);
  await b.apply();
  const bObjects = objectsOf(ns, undefined, bName);
  await a.down();
  // What A recorded of the global sysctls B needs too passes to B (whose down restores it): the rest of B is as it was.
  const bAfter = objectsOf(ns, undefined, bName);
  const stateOf = (o: Record<string, unknown>) => JSON.parse(o.state as string) as { sysctls: Record<string, unknown>; claim: unknown };
  t.deepEqual(stateOf(bAfter).claim, stateOf(bObjects).claim, "B's claim unchanged");
  t.deepEqual(stateOf(bObjects).sysctls, {});
  t.deepEqual(
    stateOf(bAfter).sysctls,
    { 'net.ipv4.conf.all.send_redirects': { before: '1', set: '0' } },
    'A handed its record of send_redirects to B',
  );
  t.deepEqual({ ...bAfter, state: null }, { ...bObjects, state: null }, "A's down left B byte-identical");
  t.deepEqual(uidRoute(ns), ['eth0', 'eth0']);
  t.deepEqual(ipJson(ns, 'rule', 'show', 'table', '5000'), [], 'nothing of A is left');
});

test('a table, rule priority or mark another configuration claims is refused before anything changes, naming it; free ones are accepted', async (t) => {
  const ns = homeNetns(t);
  const a = forwardService(backend(ns, `nf${uniqueTag()}a`, 0, { mode: 'uid', uids: ['1000'] }));
  cleanup(t, a);
  await a.apply();
  const aName = a.config.tunnel.interface;
  const snapshot = () => ({
    rules: ipJson(ns, 'rule'),
    rules6: ipJson(ns, '-6', 'rule'),
    routes: ipJson(ns, 'route', 'show', 'table', 'all'),
    links: (ipJson(ns, 'link') as Array<{ ifname: string }>).map((l) => l.ifname),
    nft: inNetns(ns, 'nft', ['list', 'tables']),
  });
  const before = snapshot();
  const cases: Array<[BackendSpec['returnPath'], string, RegExp]> = [
    [{ mode: 'connmark' }, 'returnPath.table', /table 5000 is used by the netfwd configuration of tunnel/],
    [{ mode: 'mark', uids: ['1001'], table: 6000, priority: 101 }, 'returnPath.priority', /rule priority 101 is used by/],
    [{ mode: 'connmark', table: 6000, priority: 200, mark: 5000 }, 'returnPath.mark', /mark 0x1388 is used by/],
  ];
  for (const [rp, field, message] of cases) {
    const b = forwardService(backend(ns, `nf${uniqueTag()}b`, 1, rp));
    const err = await t.throwsAsync(b.apply(), { instanceOf: ConfigError });
    t.is((err as ConfigError).field, field);
    t.regex(err!.message, message);
    t.true(err!.message.includes(aName) && err!.message.includes(stateFilePath(ns, aName)), err!.message);
    t.deepEqual(snapshot(), before, `nothing changed (${field})`);
    // status (and doctor, which reports its warnings as failed checks) still answers, and says why up refuses.
    const st = await b.status();
    t.deepEqual(st.drift, [`? (unknown: netfwd up refuses: ${field})`]);
    t.true(
      st.warnings.some((w) => message.test(w)),
      st.warnings.join('\n'),
    );
  }
  // A service port of A: each configuration closes its services to every interface but its own tunnel.
  const sameService = forwardService({
    ...backend(ns, `nf${uniqueTag()}b`, 1, { mode: 'snat' }),
    services: [{ protocol: 'tcp+udp', port: '8000-8100' }],
  });
  const err = await t.throwsAsync(sameService.apply(), { instanceOf: ConfigError });
  t.is((err as ConfigError).field, 'services[0]');
  t.regex(err!.message, new RegExp(`tcp 8000-8100 is also a port of the netfwd configuration of tunnel ${aName}`));
  t.deepEqual(snapshot(), before);
  const ok = forwardService(backend(ns, `nf${uniqueTag()}b`, 1, { mode: 'connmark', table: 6000, priority: 200 }));
  cleanup(t, ok);
  await ok.apply();
  t.true((await a.plan()).empty);
});

test("changing returnPath.table or priority removes the old table's rules and routes (none orphaned)", async (t) => {
  const ns = homeNetns(t);
  const ifname = `nf${uniqueTag()}a`;
  const spec = backend(ns, ifname, 0, { mode: 'uid', uids: ['1000'] });
  const a = forwardService(spec);
  cleanup(t, a);
  await a.apply();
  const own = (table: string) =>
    (ipJson(ns, 'rule') as Array<{ table?: string; protocol?: string }>).filter((r) => r.table === table && r.protocol === '233').length;
  t.is(own('5000'), 2);
  const moved = forwardService({ ...spec, returnPath: { mode: 'uid', uids: ['1000'], table: 6000, priority: 300 } });
  cleanup(t, moved);
  await moved.apply();
  t.is(own('5000'), 0, "the old table's rules are gone");
  t.deepEqual(ipJson(ns, 'route', 'show', 'table', '5000'), [], 'and its routes (IPv4)');
  t.deepEqual(ipJson(ns, '-6', 'route', 'show', 'table', '5000'), [], 'and its routes (IPv6)');
  t.is(own('6000'), 2);
  t.deepEqual(uidRoute(ns), [ifname, ifname]);
  t.deepEqual(
    (ipJson(ns, 'rule') as Array<{ priority: number; table?: string }>).filter((r) => r.table === '6000').map((r) => r.priority),
    [300, 301],
  );
  await moved.down();
  t.is(own('6000') + own('5000'), 0);
});

test('global sysctls are restored by down only when no other configuration still needs them', async (t) => {
  const ns = freshNetns(t, 'nfinst');
  const key = 'net.ipv4.ip_forward';
  t.is(sysctlIn(ns, key), '0');
  const redirects = 'net.ipv4.conf.all.send_redirects';
  t.is(sysctlIn(ns, redirects), '1');
  const a = forwardService(frontend(ns, `nf${uniqueTag()}f`, 0));
  const b = forwardService(frontend(ns, `nf${uniqueTag()}g`, 1));
  cleanup(t, b, a);
  await a.apply();
  await b.apply();
  t.is(sysctlIn(ns, key), '1');
  const downA = await a.down();
  t.true(
    downA.plan
      .lines()
      .some(
        (l) =>
          l ===
          `~ sysctl ${key}: left as it is: the netfwd configuration of ${b.config.tunnel.interface} still needs it (its down restores it)`,
      ),
    downA.plan.toString(),
  );
  t.is(sysctlIn(ns, key), '1', 'B still forwards');
  t.is(sysctlIn(ns, redirects), '0');
  t.true((await b.plan()).empty, 'B has nothing to repair');
  await b.down();
  t.is(sysctlIn(ns, key), '0', 'the last one restores the value from before the first up');
  t.is(sysctlIn(ns, redirects), '1');
});

test('a corrupt state file is refused with its path and how to recover (not read as empty); a stale temporary file is removed', async (t) => {
  const ns = freshNetns(t, 'nfinst');
  const fwd = forwardService(frontend(ns, `nf${uniqueTag()}f`, 0));
  cleanup(t, fwd);
  await fwd.apply();
  const path = stateFilePath(ns, fwd.config.tunnel.interface);
  const good = readFileSync(path, 'utf8');
  t.regex(good, /"net\.ipv4\.ip_forward"/);
  for (const bad of [
    '{"sysctls": {"net.ipv4.ip_forward": ',
    '[]',
    '{"sysctls": {"net.ipv4.ip_forward": {"before": 0}}}',
    '{"sysctls": {}, "claim": {"role": "x", "sysctls": []}}',
  ]) {
    writeFileSync(path, bad);
    const err = await t.throwsAsync(fwd.down(), { instanceOf: StateFileError });
    t.true(err!.message.includes(path), err!.message);
    t.regex(err!.message, /remove it .* run the command again/);
    t.is(sysctlIn(ns, 'net.ipv4.ip_forward'), '1', 'nothing was restored from a guess');
  }
  writeFileSync(path, good);
  const stale = `${path}.999999999.tmp`;
  mkdirSync(dirname(stale), { recursive: true });
  writeFileSync(stale, '{');
  await forwardService(frontend(ns, `nf${uniqueTag()}g`, 1)).plan();
  t.false(existsSync(stale), 'the temporary file of a process that is gone was removed');
  await fwd.down();
  t.is(sysctlIn(ns, 'net.ipv4.ip_forward'), '0');
});

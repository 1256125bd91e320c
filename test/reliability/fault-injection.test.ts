/**
 * Fault injection: for every step of a ServiceForward apply, on a frontend and
 * on a backend, the step is made to fail (the applier's beforeStep hook
 * throws; afterStep on the last step fails the apply after everything was
 * written) and the namespace must be exactly as before: links, addresses,
 * routes of every table, rules, the nftables ruleset, the sysctls, the
 * WireGuard device and its UAPI socket, compared as `ip -j -d`, `nft -j` and
 * `wg show dump` print them. Two more faults come from the kernel itself: the
 * WireGuard port already taken, and a route netfwd needs already there.
 *
 * Each scenario starts from an empty namespace (every step creates) or from a
 * running deployment that the new spec changes (steps that update and
 * delete). Every step tried is listed in the test output.
 */
import type { ExecutionContext } from 'ava';
import { ApplyError } from '../../src/errors.js';
import { forwardService } from '../../src/forward/index.js';
import type { ServiceForwardSpec } from '../../src/forward/spec/spec.js';
import { netns } from '../../src/netns/index.js';
import { kernelTest, run, uniqueNetnsName } from '../helpers/kernel.js';
import { backendSpec, frontendSpec, keyPair, removeNetns, snapshot, snapshotDiff, uniqueInterface } from './helpers.js';

const test = kernelTest(['ip', 'nft', 'wg', 'wireguard-go']);

class InjectedFault extends Error {
  override name = 'InjectedFault';
}

interface Scenario {
  /**
   * Keep IPv6 duplicate address detection on. Off by default: with it on, the
   * link-local address the kernel gives the tunnel while it is up changes its
   * flags (tentative or not) on the kernel's own schedule.
   */
  dad?: boolean;
  /** Brings a fresh namespace to the state the failing apply starts from. */
  setup(ns: string): Promise<void>;
  /** The spec whose apply is made to fail. */
  spec: ServiceForwardSpec;
  /** The tunnel interface(s): their WireGuard state is compared, their daemons removed. */
  wg: string | string[];
}

/**
 * Tries every failure point of the apply of `s.spec`: before step 1..N and
 * after step N. Returns the failure points whose rollback left a different
 * state (the namespace is rebuilt after such a point, so each is independent).
 */
async function everyStep(t: ExecutionContext, title: string, s: Scenario): Promise<string[]> {
  const wgs = typeof s.wg === 'string' ? [s.wg] : s.wg;
  let ns = '';
  const fresh = async () => {
    if (ns) await removeNetns(ns, wgs);
    ns = uniqueNetnsName('nfri');
    netns.create(ns);
    if (!s.dad) {
      netns.sysctl(ns, 'net.ipv6.conf.all.accept_dad', 0);
      netns.sysctl(ns, 'net.ipv6.conf.default.accept_dad', 0);
    }
    await s.setup(ns);
  };
  t.teardown(() => removeNetns(ns, wgs));
  await fresh();
  const spec = { ...s.spec, netns: ns } as ServiceForwardSpec;
  const plan = await forwardService(spec).plan();
  const lines = plan.lines();
  t.true(lines.length > 0, `${title}: the plan has steps`);
  t.log(`${title}: ${lines.length} steps`);
  const bad: string[] = [];
  const points = [
    ...lines.map((line, i) => ({ position: i + 1, when: 'before' as const, line })),
    { position: lines.length, when: 'after' as const, line: lines[lines.length - 1]! },
  ];
  for (const p of points) {
    const before = snapshot(ns, wgs);
    const fwd = forwardService({ ...s.spec, netns: ns } as ServiceForwardSpec);
    let error: unknown;
    try {
      await fwd.apply({
        hooks: {
          beforeStep: (_step, position) => {
            if (p.when === 'before' && position === p.position) throw new InjectedFault(`injected before step ${position}`);
          },
          afterStep: (_step, position) => {
            if (p.when === 'after' && position === p.position) throw new InjectedFault(`injected after step ${position}`);
          },
        },
      });
    } catch (err) {
      error = err;
    }
    const label = `${title}: fail ${p.when} step ${p.position}/${lines.length} "${p.line}"`;
    if (!(error instanceof ApplyError)) {
      t.fail(`${label}: expected an ApplyError, got ${String(error)}`);
      bad.push(label);
      await fresh();
      continue;
    }
    t.true(error.cause instanceof InjectedFault, `${label}: the cause is the injected fault`);
    const after = snapshot(ns, wgs);
    const diff = snapshotDiff(before, after);
    if (diff || !error.restored) {
      t.log(`${label}: NOT restored (ApplyError.restored=${error.restored}) ${error.message}\n${diff}`);
      bad.push(label);
      await fresh();
    } else {
      t.log(`${label}: rolled back, dumps equal`);
    }
  }
  // And with no fault the same apply converges: a second one has nothing to do.
  const fwd = forwardService({ ...s.spec, netns: ns } as ServiceForwardSpec);
  await fwd.apply();
  const again = await fwd.apply();
  t.true(again.plan.empty, `${title}: a second apply has nothing to do, but plans:\n${again.plan.toString()}`);
  t.is(again.netlinkWrites, 0, `${title}: a second apply writes nothing`);
  return bad;
}

const empty = async () => undefined;

/** Deploys `spec` in the namespace (the state an update starts from). */
const deployed = (spec: ServiceForwardSpec, then?: (ns: string) => void) => async (ns: string) => {
  await forwardService({ ...spec, netns: ns } as ServiceForwardSpec).apply();
  then?.(ns);
};

test('frontend from nothing: a failure at every step leaves the namespace as it was', async (t) => {
  const wg = uniqueInterface('f');
  const bad = await everyStep(t, 'frontend, create', { setup: empty, spec: frontendSpec('', wg), wg });
  t.deepEqual(bad, []);
});

test('backend (uid mode) from nothing: a failure at every step leaves the namespace as it was', async (t) => {
  const wg = uniqueInterface('b');
  const bad = await everyStep(t, 'backend uid, create', { setup: empty, spec: backendSpec('', wg), wg });
  t.deepEqual(bad, []);
});

test('backend (mark mode) from nothing: a failure at every step leaves the namespace as it was', async (t) => {
  const wg = uniqueInterface('m');
  const bad = await everyStep(t, 'backend mark, create', { setup: empty, spec: backendSpec('', wg, keyPair(), 'mark'), wg });
  t.deepEqual(bad, []);
});

test('backend with two tunnels (uid mode) from nothing: a failure at every step leaves the namespace as it was', async (t) => {
  const [a, b] = [uniqueInterface('a'), uniqueInterface('b')];
  const keys = keyPair();
  const one = backendSpec('', a, keys);
  const spec: ServiceForwardSpec = {
    ...one,
    tunnel: undefined,
    tunnels: [
      { ...one.tunnel!, interface: a },
      { ...one.tunnel!, interface: b, addresses: ['10.0.9.2/24'], peer: { ...one.tunnel!.peer!, endpoint: '203.0.113.3:51820' } },
    ],
  };
  const bad = await everyStep(t, 'backend uid, two tunnels, create', { setup: empty, spec, wg: [a, b] });
  t.deepEqual(bad, []);
});

test('frontend update (link down, port, peers, forwards): a failure at every step restores the running deployment', async (t) => {
  const wg = uniqueInterface('g');
  const keys = keyPair();
  const v1 = frontendSpec('', wg, keys);
  const v2 = frontendSpec('', wg, keys);
  v2.tunnel.listenPort = 51821;
  v2.tunnel.peers = [v1.tunnel.peers[0]!, { name: 'shop', publicKey: keyPair().backendPublic, addresses: ['10.0.0.4'] }];
  v2.forwards = [
    v1.forwards[0]!,
    { protocol: 'udp', port: 5353, to: { peer: 'home' } },
    { protocol: 'tcp', port: 443, to: { peer: 'shop' } },
  ];
  // The operator took the link down since.
  const setup = deployed(v1, (ns) => run('ip', ['-n', ns, 'link', 'set', wg, 'down']));
  const bad = await everyStep(t, 'frontend, update', { setup, spec: v2, wg });
  t.deepEqual(bad, []);
});

// The undo of a global sysctl step puts back the state-file entry that the
// first `up` recorded (the value to restore at `down`); it used to delete it.
test('frontend with forwarding turned off since the last up: a failure after the sysctl step restores the state file', async (t) => {
  const wg = uniqueInterface('h');
  const keys = keyPair();
  const setup = deployed(frontendSpec('', wg, keys), (ns) => netns.sysctl(ns, 'net.ipv4.ip_forward', 0));
  const bad = await everyStep(t, 'frontend, forwarding off', { setup, spec: frontendSpec('', wg, keys), wg });
  t.deepEqual(bad, []);
});

test('backend update (link down, endpoint, uids, exclusions, services): a failure at every step restores the running deployment', async (t) => {
  const wg = uniqueInterface('u');
  const keys = keyPair();
  const v1 = backendSpec('', wg, keys);
  const v2 = backendSpec('', wg, keys);
  v2.tunnel!.peer!.endpoint = '203.0.113.9:51820';
  v2.returnPath = { mode: 'uid', uids: ['1000-1001', '2000'], exclude: ['192.168.2.0/24', '198.18.0.0/15'] };
  v2.services = [
    { protocol: 'tcp', port: 9735 },
    { protocol: 'tcp', port: 443 },
  ];
  const setup = deployed(v1, (ns) => run('ip', ['-n', ns, 'link', 'set', wg, 'down']));
  const bad = await everyStep(t, 'backend, update', { setup, spec: v2, wg });
  t.deepEqual(bad, []);
});

// The undo of "- address fd00::2/64" must add it back with the nodad flag netfwd
// gave it (else it comes back tentative), and the old address may only go once
// the IPv6 default route's source (prefsrc) moved to the new one: deleting it
// first made the kernel drop the prefsrc, which no undo put back.
test('backend update of the IPv6 tunnel address: a failure at every step restores the running deployment', async (t) => {
  const wg = uniqueInterface('e');
  const keys = keyPair();
  const v2 = backendSpec('', wg, keys);
  v2.tunnel!.addresses = ['10.0.0.2/24', 'fd00::5/64'];
  const bad = await everyStep(t, 'backend, new IPv6 address', { setup: deployed(backendSpec('', wg, keys)), spec: v2, wg, dad: true });
  t.deepEqual(bad, []);
});

// Changing the IPv4 tunnel address within its subnet: the new address is added
// as a secondary, and deleting the old primary would take it along unless
// promote_secondaries is on; the default route differs only in its source and
// is replaced in place (adding it first collides with the old one: EEXIST).
test('backend update of the IPv4 tunnel address: a failure at every step restores the running deployment', async (t) => {
  const wg = uniqueInterface('a');
  const keys = keyPair();
  const v2 = backendSpec('', wg, keys);
  v2.tunnel!.addresses = ['10.0.0.5/24', 'fd00::2/64'];
  const bad = await everyStep(t, 'backend, new IPv4 address', { setup: deployed(backendSpec('', wg, keys)), spec: v2, wg });
  t.deepEqual(bad, []);
});

// A change of shape (another return-path mode, sourceNat on) rebuilds netfwd's
// nftables table in one transaction; its undo puts the listed table back.
test('backend mode change uid → mark: a failure at every step restores the running deployment', async (t) => {
  const wg = uniqueInterface('c');
  const keys = keyPair();
  const bad = await everyStep(t, 'backend, uid → mark', {
    setup: deployed(backendSpec('', wg, keys, 'uid')),
    spec: backendSpec('', wg, keys, 'mark'),
    wg,
  });
  t.deepEqual(bad, []);
});

test('frontend sourceNat on (table rebuilt): a failure at every step restores the running deployment', async (t) => {
  const wg = uniqueInterface('s');
  const keys = keyPair();
  const v2 = frontendSpec('', wg, keys);
  v2.sourceNat = true;
  const setup = deployed(frontendSpec('', wg, keys), (ns) => run('ip', ['-n', ns, 'link', 'set', wg, 'down']));
  const bad = await everyStep(t, 'frontend, sourceNat on', { setup, spec: v2, wg });
  t.deepEqual(bad, []);
});

// ---------------------------------------------------------------- faults from the kernel

test('kernel fault on the frontend: the WireGuard port is taken, the apply fails and leaves nothing', async (t) => {
  const ns = uniqueNetnsName('nfri');
  netns.create(ns);
  const wg = uniqueInterface('p');
  t.teardown(() => removeNetns(ns, [wg]));
  // Another program holds UDP 51820 (both families) in the namespace.
  const holder = netns.exec(
    ns,
    process.execPath,
    [
      '-e',
      "const d=require('node:dgram');const a=d.createSocket('udp4'),b=d.createSocket({type:'udp6',ipv6Only:true});a.bind(51820,()=>b.bind(51820,()=>process.stdout.write('ready\\n')));",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => {
    holder.kill('SIGKILL');
  });
  await new Promise<void>((resolve, reject) => {
    holder.stdout!.once('data', () => resolve());
    holder.once('exit', (code) => reject(new Error(`the port holder exited (${code})`)));
  });
  const before = snapshot(ns, [wg]);
  const fwd = forwardService(frontendSpec(ns, wg));
  const error = await t.throwsAsync(fwd.apply(), { instanceOf: ApplyError });
  t.log(`the kernel refused: ${error?.message}`);
  t.true(error?.restored);
  t.regex(error?.step ?? '', /wireguard/);
  t.is(snapshotDiff(before, snapshot(ns, [wg])), '');
});

test('kernel fault on the backend: a route of the same key exists in table 5000, the apply fails at it and leaves nothing', async (t) => {
  const ns = uniqueNetnsName('nfri');
  netns.create(ns);
  const wg = uniqueInterface('r');
  t.teardown(() => removeNetns(ns, [wg]));
  // The user's own unreachable default in netfwd's table, with another protocol.
  run('ip', ['-n', ns, 'route', 'add', 'unreachable', 'default', 'metric', '4294967295', 'table', '5000', 'proto', 'static']);
  const before = snapshot(ns, [wg]);
  const fwd = forwardService(backendSpec(ns, wg));
  const error = await t.throwsAsync(fwd.apply(), { instanceOf: ApplyError });
  t.log(`the kernel refused: ${error?.message}`);
  t.true(error?.restored);
  t.regex(error?.step ?? '', /route/);
  t.is(snapshotDiff(before, snapshot(ns, [wg])), '');
});

/**
 * Host name endpoints against the kernel, at the API level with an injected
 * resolver (a real name would need an entry in this machine's /etc/hosts or
 * DNS, which the tests must not change): apply resolves the name and WireGuard
 * gets the address (`wg show … dump`); a name that does not resolve stops the
 * apply before anything is made; the supervisor of `netfwd run` resolves again
 * once the last handshake is older than its threshold, writes the endpoint
 * only when the address changed, and logs it.
 */
import type { ExecutionContext } from 'ava';
import { forwardService } from '../../src/forward/index.js';
import { ResolveError, type Resolver } from '../../src/forward/plan/resolve.js';
import type { BackendSpec } from '../../src/forward/spec/spec.js';
import { validateSpec } from '../../src/forward/spec/validate/index.js';
import { Supervisor, type SupervisorEvent } from '../../src/forward/supervisor.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { e2eSkipReason, uniqueTag } from '../helpers/e2e.js';
import { freshNetns, ipJson, kernelTest, run } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const skip = e2eSkipReason();
const test = skip ? base.skip : base;

function backend(t: ExecutionContext): { spec: BackendSpec; ns: string; ifname: string; frontendKey: string } {
  const ns = freshNetns(t, 'nfres');
  const ifname = `nfh${uniqueTag()}`;
  const frontendKey = publicKey(generatePrivateKey());
  const spec: BackendSpec = {
    role: 'backend',
    netns: ns,
    tunnel: {
      interface: ifname,
      addresses: ['10.0.0.2/24'],
      privateKey: generatePrivateKey().toBase64(),
      peer: { publicKey: frontendKey, endpoint: 'vpn.example.org:51820', persistentKeepalive: 0 },
    },
    returnPath: { mode: 'uid', uids: ['1000'] },
    services: [],
  };
  return { spec, ns, ifname, frontendKey };
}

/** The peer's endpoint as `wg show NAME dump` prints it. */
function wgEndpoint(ns: string, ifname: string, peer: string): string | undefined {
  const dump = run('ip', ['netns', 'exec', ns, '/usr/bin/wg', 'show', ifname, 'dump']).trim().split('\n').slice(1);
  return dump.map((l) => l.split('\t')).find((f) => f[0] === peer)?.[2];
}

/** A resolver whose answer the test changes; counts its calls. */
function switchable(first: string): Resolver & { answer: string; calls: number } {
  const r = (async () => {
    r.calls++;
    return [r.answer];
  }) as unknown as Resolver & { answer: string; calls: number };
  r.answer = first;
  r.calls = 0;
  return r;
}

test('apply resolves a host name endpoint; an unresolvable name changes nothing', async (t) => {
  const { spec, ns, ifname, frontendKey } = backend(t);
  const failing: Resolver = async () => {
    throw Object.assign(new Error('getaddrinfo ENOTFOUND vpn.example.org'), { code: 'ENOTFOUND' });
  };
  await t.throwsAsync(forwardService(spec, { resolver: failing }).apply(), {
    instanceOf: ResolveError,
    message: /cannot resolve vpn\.example\.org: ENOTFOUND/,
  });
  t.false(
    ipJson<Array<{ ifname: string }>>(ns, ['link', 'show']).some((l) => l.ifname === ifname),
    'no link was made',
  );

  const resolver = switchable('198.51.100.20');
  const fwd = forwardService(spec, { resolver });
  t.teardown(() => fwd.down().then(() => undefined));
  await fwd.apply();
  t.is(wgEndpoint(ns, ifname, frontendKey), '198.51.100.20:51820');
  // Applying again resolves again; the same answer writes nothing.
  t.is((await fwd.apply()).plan.changes.length, 0);
  // A new answer: only the peer's endpoint changes.
  resolver.answer = '198.51.100.21';
  const again = await fwd.apply();
  t.deepEqual(again.plan.lines(), [`~ wireguard ${ifname}: ~peer frontend (${frontendKey.slice(0, 8)}…): endpoint`]);
  t.is(wgEndpoint(ns, ifname, frontendKey), '198.51.100.21:51820');
  // status with a name that no longer resolves: a warning, not an error.
  const status = await forwardService(spec, { resolver: failing }).status();
  t.true(
    status.warnings.some((w) => /cannot resolve vpn\.example\.org/.test(w)),
    status.warnings.join('\n'),
  );
});

test('the supervisor resolves again when the handshake is stale and writes the endpoint only when the address changed', async (t) => {
  const { spec, ns, ifname, frontendKey } = backend(t);
  const resolver = switchable('198.51.100.30');
  const events: SupervisorEvent[] = [];
  const sup = new Supervisor(validateSpec(spec), {
    resolver,
    reresolveAfterSeconds: 1,
    handshakeCheckMs: 150,
    recheckMs: 0,
    log: (e) => events.push(e),
  });
  t.teardown(async () => {
    await sup.stop({ down: true });
  });
  await sup.start();
  await sup.ready;
  t.is(wgEndpoint(ns, ifname, frontendKey), '198.51.100.30:51820');
  t.like(
    events.find((e) => e.event === 'endpoint-resolved'),
    { details: { hostname: 'vpn.example.org', address: '198.51.100.30:51820' } },
  );
  t.is(resolver.calls, 1);

  // Nobody answers at 198.51.100.30: no handshake, so after the threshold the name is asked again.
  const waitFor = async <T>(what: string, f: () => T | undefined, ms = 15_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = f();
      if (v) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${events.map((e) => e.event).join(', ')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  await waitFor('a second resolution', () => (resolver.calls >= 2 ? true : undefined));
  await new Promise((r) => setTimeout(r, 300));
  t.truthy(events.find((e) => e.event === 'endpoint-unchanged'));
  t.falsy(events.find((e) => e.event === 'endpoint-changed'));
  t.is(events.filter((e) => e.event === 'repaired').length, 0, 'the same address writes nothing');
  t.is(sup.stats.endpointChanges, 0);

  // The name moves: the next stale check finds it and the peer gets the new address.
  resolver.answer = '198.51.100.31';
  const changed = await waitFor('endpoint-changed', () => events.find((e) => e.event === 'endpoint-changed'));
  t.deepEqual(changed.details, { hostname: 'vpn.example.org', from: '198.51.100.30:51820', to: '198.51.100.31:51820' });
  const repaired = await waitFor('the repair', () => events.find((e) => e.event === 'repaired'));
  t.true(
    (repaired.details.changes as string[]).some((c) => c.includes('endpoint')),
    JSON.stringify(repaired),
  );
  t.is(wgEndpoint(ns, ifname, frontendKey), '198.51.100.31:51820');
  // Resolved no more often than the threshold: about one call per second here.
  const calls = resolver.calls;
  await new Promise((r) => setTimeout(r, 600));
  t.true(resolver.calls - calls <= 1, `${resolver.calls - calls} calls in 0.6 s`);
});

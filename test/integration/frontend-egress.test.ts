/**
 * A frontend's egress containment is made of what its kernel holds (issue
 * 16, item 1): the uplinks are the interfaces of the main table's default
 * routes (or public.interface), and the backends' own traffic is refused the
 * uplinks' own networks and the link-local ranges (169.254.0.0/16, where a
 * cloud's metadata service lives, and fe80::/10). Read back with nft -j; the
 * sets follow address and route changes at the next plan, and a frontend
 * without a default route says why its backends cannot get out.
 * (Traffic through these sets is played by test/e2e/containment-*.test.ts;
 * the link-local ranges are checked here only, since tests send nothing to
 * addresses outside the documentation ranges.)
 */

import { execFileSync } from 'node:child_process';
import type { ExecutionContext } from 'ava';
import { forwardService, type ServiceForward } from '../../src/forward/index.js';
import type { FrontendSpec } from '../../src/forward/spec/spec.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { e2eSkipReason, inNetns, uniqueTag } from '../helpers/e2e.js';
import { freshNetns, kernelTest, toolPath } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const test = e2eSkipReason() ? base.skip : base;

function vps(t: ExecutionContext): string {
  const ns = freshNetns(t, 'nfegr');
  const ip = (...args: string[]) => execFileSync(toolPath('ip'), ['-n', ns, ...args]);
  for (const [dev, peer] of [
    ['eth0', 'eth0p'],
    ['eth1', 'eth1p'],
  ] as const) {
    ip('link', 'add', dev, 'type', 'veth', 'peer', 'name', peer);
    ip('link', 'set', dev, 'up');
    ip('link', 'set', peer, 'up');
  }
  ip('addr', 'add', '203.0.113.2/24', 'dev', 'eth0');
  ip('-6', 'addr', 'add', '2001:db8:2::2/64', 'dev', 'eth0', 'nodad');
  ip('route', 'add', 'default', 'via', '203.0.113.1');
  ip('-6', 'route', 'add', 'default', 'via', '2001:db8:2::1');
  // Another network of the VPS (a provider's private network).
  ip('addr', 'add', '198.51.100.241/28', 'dev', 'eth1');
  ip('-6', 'addr', 'add', '2001:db8:5::1/64', 'dev', 'eth1', 'nodad');
  return ns;
}

function frontend(ns: string, extra: Partial<FrontendSpec> = {}): FrontendSpec {
  return {
    role: 'frontend',
    netns: ns,
    tunnel: {
      interface: `nf${uniqueTag()}f`,
      addresses: ['10.0.0.1/24', 'fd00::1/64'],
      listenPort: 51820,
      privateKey: generatePrivateKey().toBase64(),
      peers: [{ name: 'home', publicKey: publicKey(generatePrivateKey()), addresses: ['10.0.0.2', 'fd00::2'] }],
    },
    forwards: [{ protocol: 'tcp', port: 80, to: { peer: 'home', port: 8080 } }],
    ...extra,
  };
}

function cleanup(t: ExecutionContext, fwd: ServiceForward): void {
  t.teardown(async () => {
    await fwd.down().catch(() => undefined);
  });
}

/** The elements of a set of netfwd's table, as nft -j prints them (prefixes as "addr/len"). */
function elements(ns: string, fwd: ServiceForward, set: string): string[] {
  const j = JSON.parse(inNetns(ns, 'nft', ['-j', 'list', 'set', 'inet', `netfwd-${fwd.config.tunnel.interface}`, set])) as {
    nftables: Array<{ set?: { elem?: unknown[] } }>;
  };
  const elem = j.nftables.find((x) => x.set)!.set!.elem ?? [];
  return elem
    .map((e) => {
      if (typeof e === 'string') return e;
      const p = (e as { prefix?: { addr: string; len: number } }).prefix;
      return p ? `${p.addr}/${p.len}` : JSON.stringify(e);
    })
    .sort();
}

test("the uplinks are the default routes' interfaces; the uplinks' networks and link-local are refused; both follow the kernel", async (t) => {
  const ns = vps(t);
  const fwd = forwardService(frontend(ns, { egress: { allow: ['192.0.2.64/26', '2001:db8:9::7'] } }));
  cleanup(t, fwd);
  t.false(
    (await fwd.plan()).warnings.some((w) => w.startsWith('no default route')),
    'it has an uplink',
  );
  await fwd.apply();
  t.deepEqual(elements(ns, fwd, 'uplinks'), ['eth0'], 'eth1 has no default route: not an uplink, so its networks are out of reach anyway');
  t.deepEqual(elements(ns, fwd, 'egress_refused4'), ['169.254.0.0/16', '203.0.113.0/24']);
  t.deepEqual(elements(ns, fwd, 'egress_refused6'), ['2001:db8:2::/64', 'fe80::/10']);
  t.deepEqual(elements(ns, fwd, 'egress_allow4'), ['192.0.2.64/26']);
  t.deepEqual(elements(ns, fwd, 'egress_allow6'), ['2001:db8:9::7']);
  t.true((await fwd.plan()).empty);

  // A new address on the uplink: its network is refused at the next plan.
  execFileSync(toolPath('ip'), ['-n', ns, 'addr', 'add', '192.0.2.77/28', 'dev', 'eth0']);
  t.deepEqual((await fwd.plan()).lines(), [`~ nftables table inet netfwd-${fwd.config.tunnel.interface}: elements +1 (egress_refused4)`]);
  await fwd.apply();
  t.deepEqual(elements(ns, fwd, 'egress_refused4'), ['169.254.0.0/16', '192.0.2.64/28', '203.0.113.0/24']);

  // No default route: no uplink, and the plan says why the backends cannot get out.
  execFileSync(toolPath('ip'), ['-n', ns, 'route', 'del', 'default']);
  execFileSync(toolPath('ip'), ['-n', ns, '-6', 'route', 'del', 'default']);
  const plan = await fwd.plan();
  t.deepEqual(plan.lines(), [
    `~ nftables table inet netfwd-${fwd.config.tunnel.interface}: elements -4 (egress_refused4, egress_refused6, uplinks)`,
  ]);
  t.true(
    plan.warnings.some((w) => w.startsWith('no default route in the main table')),
    plan.warnings.join('\n'),
  );
  await fwd.apply();
  t.deepEqual(elements(ns, fwd, 'uplinks'), []);
  t.deepEqual(elements(ns, fwd, 'egress_refused4'), ['169.254.0.0/16'], 'link-local stays refused');
});

test('with public.interface the uplink is that interface, whatever the routes', async (t) => {
  const ns = vps(t);
  const fwd = forwardService(frontend(ns, { public: { interface: 'eth1' } }));
  cleanup(t, fwd);
  await fwd.apply();
  t.deepEqual(elements(ns, fwd, 'uplinks'), ['eth1']);
  t.deepEqual(elements(ns, fwd, 'egress_refused4'), ['169.254.0.0/16', '198.51.100.240/28']);
  t.deepEqual(elements(ns, fwd, 'egress_refused6'), ['2001:db8:5::/64', 'fe80::/10']);
  const masq = inNetns(ns, 'nft', ['list', 'chain', 'inet', `netfwd-${fwd.config.tunnel.interface}`, 'postrouting']);
  t.regex(masq, new RegExp(`iifname "${fwd.config.tunnel.interface}" oifname @uplinks masquerade`));
});

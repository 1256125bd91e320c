/**
 * Peers on a userspace (wireguard-go) interface: 1 000 peers × 4 allowed IPs
 * set and read back identical; replace and update semantics; invalid input
 * refused before anything is sent. Checked against `wg show NAME dump`.
 */
import { spawnSync } from 'node:child_process';
import type { WireGuardNotice } from '../../src/wireguard/index.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { openWg, semanticsScenario, thousandPeersScenario, uniqueIfname, wgDump } from '../fixtures/wireguard-scenarios.js';
import { freshNetns, kernelTest } from '../helpers/kernel.js';

const hasDaemon = spawnSync('wireguard-go', ['--version'], { stdio: 'ignore' }).error === undefined;
const base = kernelTest(['ip', 'wg']);
const test = hasDaemon ? base : base.skip;

test('replace and update semantics (userspace)', async (t) => {
  const ns = freshNetns(t);
  const wg = await openWg(t, { netns: ns, implementation: 'userspace' });
  const name = uniqueIfname();
  await wg.create(name);
  await semanticsScenario(t, wg, ns, name);
});

test('1 000 peers × 4 allowed IPs read back identical (userspace)', async (t) => {
  const ns = freshNetns(t);
  const wg = await openWg(t, { netns: ns, implementation: 'userspace' });
  const name = uniqueIfname();
  await wg.create(name);
  await thousandPeersScenario(t, wg, ns, name);
});

test('removeAllowedIps on wireguard-go: replaced with the remaining ones, and a notice says so (userspace)', async (t) => {
  const ns = freshNetns(t);
  const wg = await openWg(t, { netns: ns, implementation: 'userspace' });
  const notices: WireGuardNotice[] = [];
  wg.on('notice', (n) => notices.push(n));
  const name = uniqueIfname();
  await wg.create(name);
  const [a, b] = [publicKey(generatePrivateKey()), publicKey(generatePrivateKey())];
  await wg.configure(name, {
    peers: [
      { publicKey: a, allowedIps: ['10.0.0.1/32', '10.0.1.0/24', 'fd00::/64'] },
      { publicKey: b, allowedIps: ['10.0.9.0/24'] },
    ],
  });
  await wg.configure(name, { peers: [{ publicKey: a, removeAllowedIps: ['10.0.1.0/24', '10.0.9.0/24'] }] });
  const ips = (key: string) => [...(wgDump(ns, name).peers.find((p) => p.publicKey === key)?.allowedIps ?? [])].sort();
  t.deepEqual(ips(a), ['10.0.0.1/32', 'fd00::/64']);
  t.deepEqual(ips(b), ['10.0.9.0/24'], "another peer's prefix is not taken");
  t.is(notices.length, 1);
  t.is(notices[0]!.implementation, 'userspace');
  t.regex(notices[0]!.message, /no allowed-IP removal in its UAPI.*replaceAllowedIps/);
});

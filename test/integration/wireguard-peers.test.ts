/**
 * Peers on a userspace (wireguard-go) interface: 1 000 peers × 4 allowed IPs
 * set and read back identical; replace and update semantics; invalid input
 * refused before anything is sent. Checked against `wg show NAME dump`.
 */
import { spawnSync } from 'node:child_process';
import { openWg, semanticsScenario, thousandPeersScenario, uniqueIfname } from '../fixtures/wireguard-scenarios.js';
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

/**
 * Two namespaces joined by a veth pair, a WireGuard interface in each created
 * and configured only through netfwd (wireguard-go here): a real handshake,
 * TCP over IPv4 and IPv6 inside the tunnel, and `wg show dump` agreeing with
 * get() on both sides. The underlay is IPv4 in one test and IPv6 in the other.
 */
import { spawnSync } from 'node:child_process';
import { tunnelScenario } from '../fixtures/wireguard-scenarios.js';
import { kernelTest } from '../helpers/kernel.js';

const hasDaemon = spawnSync('wireguard-go', ['--version'], { stdio: 'ignore' }).error === undefined;
const base = kernelTest(['ip', 'wg']);
const test = hasDaemon ? base : base.skip;

test('userspace tunnel over an IPv4 underlay: handshake and TCP', async (t) => {
  await tunnelScenario(t, { implementation: 'userspace', underlay: 4 });
});

test('userspace tunnel over an IPv6 underlay: handshake and TCP', async (t) => {
  await tunnelScenario(t, { implementation: 'userspace', underlay: 6 });
});

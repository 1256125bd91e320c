/**
 * The userspace backend's answers that need no daemon
 * (src/wireguard/userspace/backend.ts): which links it claims, and that it
 * has no allowed-IP removal. Daemons themselves are the integration tests'
 * (test/integration/wireguard-userspace.test.ts).
 */
import test from 'ava';
import type { Connection } from '../../src/netlink/connection.js';
import type { LinkInfo } from '../../src/wireguard/link.js';
import { UserspaceBackend } from '../../src/wireguard/userspace/backend.js';

const unused = {} as Connection;
const backend = () => new UserspaceBackend({ route: unused, where: () => 'this network namespace' }, {}, () => undefined);
const link = (name: string, kind?: string): LinkInfo => ({ name, kind, index: 3, up: false });
/** A name no daemon of this machine answers for. */
const nobody = `nfu${process.pid % 100000}`;

test('claims: a TUN link whose daemon answers; without the probe, any TUN link', async (t) => {
  const b = backend();
  t.is(b.implementation, 'userspace');
  t.true(await b.claims(link(nobody, 'tun'), false));
  t.false(await b.claims(link(nobody, 'tun'), true), 'no daemon answers on its socket');
  t.false(await b.claims(link(nobody, 'wireguard'), false));
  t.false(await b.claims(link(nobody), false));
  t.deepEqual(await b.claimAll([link(nobody, 'tun'), link('wg0', 'wireguard')]), []);
});

test('allowed-IP removal is not in the UAPI; no netlink of its own', async (t) => {
  const b = backend();
  t.deepEqual(await b.allowedIpRemoval(), { supported: false, why: 'the userspace implementation has no allowed-IP removal in its UAPI' });
  t.is(b.netlinkStats(), undefined);
  t.is(b.daemonPid('wg0'), undefined);
  t.notThrows(() => b.close());
});

/**
 * The OpenVPN helper (test/helpers/openvpn.ts): a real OpenVPN 2.6 tunnel
 * between the frontend and the VPN client, through the home router's NAT,
 * carries TCP both ways in both families, `ip -j` shows its addresses and no
 * route of its own, and a killed daemon takes its interface with it.
 */
import test from 'ava';
import { LAN_LAB_ADDRESSES as A, LAB_ADDRESSES, Lab, LanLab, tcpAsk, whoami } from '../../src/lab/index.js';
import { ipJson, kernelSkipReason } from '../helpers/kernel.js';
import { openVpnSkipReason, startOpenVpn } from '../helpers/openvpn.js';

const reason = kernelSkipReason(['ip']) ?? openVpnSkipReason();
if (reason) process.stderr.write(`skipping the OpenVPN harness tests: ${reason}\n`);
const t0 = reason ? test.skip : test;
const PORT = 7100;

const globalAddresses = (ns: string, dev: string): string[] =>
  (ipJson(ns, ['addr', 'show', 'dev', dev])[0]?.addr_info ?? [])
    .filter((a: { scope: string }) => a.scope === 'global')
    .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)
    .sort();

t0(
  'OpenVPN over UDP through the home NAT: addresses, TCP both ways in both families, no routes of its own, gone when killed',
  async (t) => {
    const lab = await LanLab.create();
    t.teardown(() => lab.destroy());
    const vpn = await startOpenVpn({
      server: { netns: lab.host('frontend').netns, address: A.frontend.ipv4 },
      client: { netns: lab.host('vpnclient').netns },
    });
    t.teardown(() => vpn.stop());
    await vpn.waitUp();
    t.log(`component: ${vpn.version}`);
    t.log(`mode: ${vpn.mode}`);
    t.regex(vpn.version, /^OpenVPN 2\.\d+/);

    t.deepEqual(globalAddresses(lab.host('frontend').netns, vpn.server.interface), ['10.0.8.1/24', 'fd00:8::1/64']);
    t.deepEqual(globalAddresses(lab.host('vpnclient').netns, vpn.client.interface), ['10.0.8.2/24', 'fd00:8::2/64']);
    t.deepEqual(vpn.server.addresses, ['10.0.8.1/24', 'fd00:8::1/64']);
    t.deepEqual(vpn.client.addresses, ['10.0.8.2/24', 'fd00:8::2/64']);
    const kind = ipJson(lab.host('vpnclient').netns, ['-d', 'link', 'show', vpn.client.interface])[0].linkinfo?.info_kind;
    t.is(kind, 'tun');
    // Only the kernel's connected routes use the tunnel: OpenVPN added none.
    for (const e of [vpn.server, vpn.client]) {
      for (const family of ['-4', '-6']) {
        const routes = ipJson(e.netns, [family, 'route', 'show', 'table', 'all', 'dev', e.interface]) as Array<{
          protocol?: string;
          dst: string;
        }>;
        const own = routes.filter((r) => r.protocol !== 'kernel' && !r.dst.startsWith('fe80') && !r.dst.startsWith('ff00'));
        t.deepEqual(own, [], `${e.netns} ${family}`);
      }
    }
    t.deepEqual(
      ipJson(lab.host('vpnclient').netns, ['-4', 'route', 'show', 'default']).map((r: { gateway: string }) => r.gateway),
      [A.homerouter.ipv4],
      'the default route is still the home router',
    );
    // The frontend sees the client's OpenVPN packets from the home's public address (the home router's NAT).
    t.regex(vpn.server.log(), new RegExp(`${A.home.ipv4.replace(/\./g, '\\.')}:\\d+ \\[client\\] Peer Connection Initiated`));

    await lab.start('frontend', whoami, PORT).result;
    await lab.start('vpnclient', whoami, PORT).result;
    t.is(await lab.run('vpnclient', tcpAsk, { host: vpn.server.ipv4, port: PORT }), vpn.client.ipv4);
    t.is(await lab.run('frontend', tcpAsk, { host: vpn.client.ipv4, port: PORT }), vpn.server.ipv4);
    t.is(await lab.run('vpnclient', tcpAsk, { host: vpn.server.ipv6!, port: PORT }), vpn.client.ipv6!);
    t.is(await lab.run('frontend', tcpAsk, { host: vpn.client.ipv6!, port: PORT }), vpn.server.ipv6!);

    // A crash (SIGKILL) takes the client's interface away, as a dead daemon does.
    await vpn.kill('client');
    t.deepEqual(
      ipJson(lab.host('vpnclient').netns, ['link', 'show'])
        .map((l: { ifname: string }) => l.ifname)
        .includes(vpn.client.interface),
      false,
    );
    await vpn.stop();
    t.deepEqual(
      ipJson(lab.host('frontend').netns, ['link', 'show'])
        .map((l: { ifname: string }) => l.ifname)
        .includes(vpn.server.interface),
      false,
    );
  },
);

t0('OpenVPN over TCP, IPv4 only, in the two-machine Lab with other names and subnet', async (t) => {
  const lab = await Lab.create();
  t.teardown(() => lab.destroy());
  const vpn = await startOpenVpn({
    server: { netns: lab.hosts.frontend.netns, address: LAB_ADDRESSES.frontend.ipv4, interface: 'tun-fe' },
    client: { netns: lab.hosts.backend.netns, interface: 'tun-be' },
    proto: 'tcp',
    port: 4443,
    subnet4: '10.0.9.0/24',
    subnet6: false,
  });
  t.teardown(() => vpn.stop());
  await vpn.waitUp();
  t.log(`component: ${vpn.version}; mode: ${vpn.mode}`);
  t.deepEqual(globalAddresses(lab.hosts.backend.netns, 'tun-be'), ['10.0.9.2/24']);
  t.deepEqual(globalAddresses(lab.hosts.frontend.netns, 'tun-fe'), ['10.0.9.1/24']);
  await lab.start('backend', whoami, PORT).result;
  t.is(await lab.run('frontend', tcpAsk, { host: '10.0.9.2', port: PORT }), '10.0.9.1');
  t.is(vpn.client.ipv6, undefined);
});

/**
 * The LAN lab (the recipe's home LAN behind a masquerading router): its
 * namespaces and addresses checked with `ip -j`, real TCP across the internet
 * router and out of the home, what the outside host sees, counters on the
 * gateway's uplink, and teardown checked with `ip netns list`.
 */
import { LAN_LAB_ADDRESSES as A, LAN_LAB_NFT_TABLE, LanLab, tcpAsk, whoami } from '../../src/lab/index.js';
import { netns } from '../../src/netns/index.js';
import { inNetns, sysctlIn } from '../helpers/e2e.js';
import { ipJson, kernelTest } from '../helpers/kernel.js';
import { installUplinkCounters, listedNamespaces } from '../helpers/lan.js';

const test = kernelTest(['ip', 'nft']);
const PORT = 7000;

const globalAddresses = (ns: string, dev: string): string[] =>
  ipJson(ns, ['addr', 'show', 'dev', dev])[0]
    .addr_info.filter((a: { scope: string }) => a.scope === 'global')
    .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`)
    .sort();

const defaultGateways = (ns: string): string[] =>
  [...ipJson(ns, ['-4', 'route', 'show', 'default']), ...ipJson(ns, ['-6', 'route', 'show', 'default'])].map(
    (r: { gateway: string }) => r.gateway,
  );

test('the recipe LAN: router, VPN client and two hosts on a switch, masqueraded out of the home, removed at destroy', async (t) => {
  const lab = await LanLab.create({ hosts: 2 });
  let destroyed = false;
  t.teardown(async () => {
    if (!destroyed) await lab.destroy();
  });
  const listed = listedNamespaces();
  for (const ns of lab.namespaces) t.true(listed.includes(ns), `${ns} in ip netns list`);
  t.is(lab.namespaces.length, 8);
  t.is(lab.gatewayHost.name, 'homerouter');

  // Addresses and routes, as ip prints them.
  const router = lab.host('homerouter');
  t.deepEqual(globalAddresses(router.netns, 'eth0'), ['192.0.2.2/25', '2001:db8:3::2/64']);
  t.deepEqual(globalAddresses(router.netns, 'lan0'), ['198.51.100.129/25', '2001:db8:100::1/64']);
  t.deepEqual(defaultGateways(router.netns), [A.routerToHome.ipv4, A.routerToHome.ipv6]);
  for (const name of ['vpnclient', 'servicehost', 'extrahost'] as const) {
    const h = lab.host(name);
    t.deepEqual(globalAddresses(h.netns, 'eth0'), [`${A[name].ipv4}/25`, `${A[name].ipv6}/64`].sort(), name);
    t.deepEqual(defaultGateways(h.netns), [A.homerouter.ipv4, A.homerouter.ipv6], name);
  }
  t.deepEqual(globalAddresses(lab.host('frontend').netns, 'eth0'), ['2001:db8:2::2/64', '203.0.113.2/25']);
  t.deepEqual(
    ipJson(lab.host('internet').netns, ['-6', 'route', 'show', A.lan.ipv6]).map((r: { gateway: string }) => r.gateway),
    [A.home.ipv6],
  );
  // The switch: four ports on br0, br_netfilter off in its namespace (where the host has it).
  const ports = ipJson(lab.switchNetns, ['link', 'show', 'master', 'br0']).map((l: { ifname: string }) => l.ifname);
  t.deepEqual(ports.sort(), ['p-extrahost', 'p-homerouter', 'p-servicehost', 'p-vpnclient']);
  try {
    t.is(sysctlIn(lab.switchNetns, 'net.bridge.bridge-nf-call-iptables'), '0');
  } catch {
    t.log('no br_netfilter sysctls on this host');
  }
  // The router's own table: masquerade of IPv4 out of eth0 only.
  const table = inNetns(router.netns, 'nft', ['list', 'table', 'inet', LAN_LAB_NFT_TABLE]);
  t.regex(table, /oifname "eth0" meta nfproto ipv4 masquerade/);
  t.notRegex(table, /ipv6 masquerade|invalid/);

  // client ↔ frontend across the internet router, both ways, both families.
  await lab.start('frontend', whoami, PORT).result;
  await lab.start('client', whoami, PORT).result;
  await lab.start('internet', whoami, PORT).result;
  await lab.start('servicehost', whoami, PORT).result;
  t.is(await lab.run('client', tcpAsk, { host: A.frontend.ipv4, port: PORT }), A.client.ipv4);
  t.is(await lab.run('client', tcpAsk, { host: A.frontend.ipv6, port: PORT }), A.client.ipv6);
  t.is(await lab.run('frontend', tcpAsk, { host: A.client.ipv4, port: PORT }), A.frontend.ipv4);
  t.is(await lab.run('frontend', tcpAsk, { host: A.client.ipv6, port: PORT }), A.frontend.ipv6);

  // LAN hosts → the outside host: IPv4 arrives masqueraded to the home's address, IPv6 routed as is.
  const counters = installUplinkCounters(lab, [
    { name: 'out-home', direction: 'out', saddr: A.home.ipv4, daddr: A.outside.ipv4, protocol: 'tcp', dport: PORT },
    { name: 'out-lan-after-nat', direction: 'out', saddr: A.lan.ipv4, protocol: 'tcp', dport: PORT },
    { name: 'out-lan-before-nat', direction: 'out-before-nat', saddr: A.lan.ipv4, protocol: 'tcp', dport: PORT },
    { name: 'in-home', direction: 'in', daddr: A.home.ipv4, protocol: 'tcp', sport: PORT },
    { name: 'out-v6', direction: 'out', saddr: A.lan.ipv6, dport: PORT },
  ]);
  for (const name of ['vpnclient', 'servicehost', 'extrahost'] as const) {
    t.is(await lab.run(name, tcpAsk, { host: A.outside.ipv4, port: PORT }), A.home.ipv4, name);
    t.is(await lab.run(name, tcpAsk, { host: A.outside.ipv6, port: PORT }), A[name].ipv6, name);
  }
  const c = counters.read();
  t.true(c['out-home']! >= 9, `3 connections' packets leave with the home's address (${c['out-home']})`);
  t.is(c['out-lan-after-nat'], 0, 'no LAN address leaves the home');
  t.is(c['out-lan-before-nat'], c['out-home'], 'the same packets, before the masquerade');
  t.true(c['in-home']! >= 6, `the replies arrive for the home's address (${c['in-home']})`);
  t.true(c['out-v6']! >= 9, `IPv6 leaves with the LAN addresses (${c['out-v6']})`);
  counters.reset();
  t.is(counters.read()['out-home'], 0);

  // On the LAN, hosts talk directly through the switch; the router is one hop for the client.
  t.is(await lab.run('vpnclient', tcpAsk, { host: A.servicehost.ipv4, port: PORT }), A.vpnclient.ipv4);
  t.is(await lab.run('vpnclient', tcpAsk, { host: A.servicehost.ipv6, port: PORT }), A.vpnclient.ipv6);
  t.is(counters.read()['out-lan-before-nat'], 0, 'LAN traffic stays on the LAN');
  // The LAN is private: the client cannot reach it, but it reaches the home's public address (nothing listens: refused).
  t.is(await lab.run('client', tcpAsk, { host: A.servicehost.ipv4, port: PORT, timeoutMs: 1500 }), '(error ENETUNREACH)');
  t.is(await lab.run('client', tcpAsk, { host: A.home.ipv4, port: PORT }), '(error ECONNREFUSED)');

  await lab.destroy();
  destroyed = true;
  const after = listedNamespaces();
  for (const ns of lab.namespaces) {
    t.false(after.includes(ns), `${ns} gone from ip netns list`);
    t.false(netns.exists(ns), ns);
  }
});

test("gateway 'vpnclient': no home router, the VPN client has the uplink, masquerades and is the LAN's gateway (IPv4 only)", async (t) => {
  const lab = await LanLab.create({ gateway: 'vpnclient', ipv6: false });
  t.teardown(() => lab.destroy());
  t.is(lab.hosts.homerouter, undefined);
  t.throws(() => lab.host('homerouter'), { message: /gateway: 'router'/ });
  t.deepEqual(
    lab.namespaces.map((n) => n.slice(lab.prefix.length + 1)),
    ['client', 'internet', 'frontend', 'vpnclient', 'servicehost', 'lanswitch'],
  );
  const vpn = lab.host('vpnclient');
  t.is(lab.gatewayHost, vpn);
  t.deepEqual(globalAddresses(vpn.netns, 'eth0'), ['192.0.2.2/25']);
  t.deepEqual(globalAddresses(vpn.netns, 'lan0'), ['198.51.100.130/25']);
  t.deepEqual(defaultGateways(lab.host('servicehost').netns), [A.vpnclient.ipv4]);
  t.deepEqual(globalAddresses(lab.host('servicehost').netns, 'eth0'), ['198.51.100.131/25']);
  t.is(sysctlIn(vpn.netns, 'net.ipv4.ip_forward'), '1');

  await lab.start('internet', whoami, PORT).result;
  const counters = installUplinkCounters(lab, [
    { name: 'out', direction: 'out', saddr: A.home.ipv4, dport: PORT },
    { name: 'out-lan', direction: 'out-before-nat', saddr: A.servicehost.ipv4, dport: PORT },
  ]);
  t.is(counters.iface, 'eth0');
  t.is(counters.netns, vpn.netns);
  t.is(await lab.run('servicehost', tcpAsk, { host: A.outside.ipv4, port: PORT }), A.home.ipv4);
  t.is(await lab.run('vpnclient', tcpAsk, { host: A.outside.ipv4, port: PORT }), A.home.ipv4);
  const c = counters.read();
  t.true(c.out! >= 6, `${c.out}`);
  t.true(c['out-lan']! >= 3, `${c['out-lan']}`);
  t.is(await lab.run('servicehost', tcpAsk, { host: A.outside.ipv6, port: PORT, timeoutMs: 1000 }), '(error ENETUNREACH)');
});

test('nat66 and dropInvalid: the router masquerades IPv6 too and drops invalid forwarded packets; hosts: 0', async (t) => {
  const lab = await LanLab.create({ nat66: true, dropInvalid: true, hosts: 0 });
  t.teardown(() => lab.destroy());
  t.is(lab.hosts.servicehost, undefined);
  t.deepEqual(
    lab.lanHosts.map((h) => h.name),
    ['homerouter', 'vpnclient'],
  );
  const table = inNetns(lab.gatewayHost.netns, 'nft', ['list', 'table', 'inet', LAN_LAB_NFT_TABLE]);
  t.regex(table, /oifname "eth0" meta nfproto ipv6 masquerade/);
  t.regex(table, /ct state invalid drop/);
  t.deepEqual(ipJson(lab.host('internet').netns, ['-6', 'route', 'show', A.lan.ipv6]), []);
  await lab.start('internet', whoami, PORT).result;
  t.is(await lab.run('vpnclient', tcpAsk, { host: A.outside.ipv6, port: PORT }), A.home.ipv6);
  t.is(await lab.run('vpnclient', tcpAsk, { host: A.outside.ipv4, port: PORT }), A.home.ipv4);
});

test('a lab that fails half-way removes what it made', async (t) => {
  const prefix = `nfn-fail-${process.pid}`;
  netns.create(`${prefix}-frontend`);
  t.teardown(() => {
    if (netns.exists(`${prefix}-frontend`)) netns.remove(`${prefix}-frontend`);
  });
  await t.throwsAsync(LanLab.create({ prefix }), { message: /frontend/ });
  const left = listedNamespaces().filter((n) => n.startsWith(`${prefix}-`));
  // Only the namespace the lab did not make is left.
  t.deepEqual(left, [`${prefix}-frontend`]);
});

/**
 * Issue 18's tagged-routing recipe end to end, in the LAN lab: a client on
 * the internet connects to the VPS frontend's public TCP 443 (444); netfwd's
 * frontend DNATs it straight to the service host on the home LAN (port
 * 8080/8081), routing the LAN into the tunnel; netfwd's backend on the VPN
 * client (mode dscp: 42 / mark 42 / table 42) forwards it to the service host
 * with the DSCP tag; the service host (role service-host) tags its replies;
 * the home router (role lan-router) — the service host's default gateway —
 * sends the tagged replies to the VPN client, which routes them back into
 * the tunnel. The service sees the client's real address.
 *
 * Three setups, one after the other (each removed before the next is built):
 * 1. netfwd's own WireGuard tunnel (wireguard-go or the kernel's);
 * 2. a real OpenVPN 2.6 tunnel, `tunnel.external: true` on both ends;
 * 3. a home router with a foreign `ct state invalid drop` (LanLab dropInvalid).
 * Oracles: what the service and the client see, nft counters of the test's
 * own tables on every hop (read with `nft -j`), `ip -j` dumps.
 */
import avaTest, { type ExecutionContext, type TestFn } from 'ava';
import { forwardService, type ServiceForward } from '../../src/forward/index.js';
import { LAN_LAB_ADDRESSES as A, LanLab, tcpAsk } from '../../src/lab/index.js';
import {
  e2eSuite,
  inNetns,
  linkKind,
  type RunningService,
  snapshot,
  startService,
  sysctlIn,
  uniqueTag,
  wgBackend,
} from '../helpers/e2e.js';
import { ipJson } from '../helpers/kernel.js';
import { type OpenVpnTunnel, openVpnSkipReason, startOpenVpn } from '../helpers/openvpn.js';
import {
  addr,
  delta,
  FAMILIES,
  type Family,
  installRecipeCounters,
  type LanRoles,
  openVpnComponent,
  RECIPE,
  type RecipeCounters,
  type RecipeSpecs,
  recipeLanRoles,
  recipeSpecs,
  streamWatch,
  tagOutgoing,
  uplinkLeakCounters,
  wireGuardComponent,
} from '../helpers/recipe.js';

type Kind = 'wireguard' | 'openvpn' | 'dropInvalid';

interface Scenario {
  kind: Kind;
  lab: LanLab;
  specs: RecipeSpecs;
  frontend: ServiceForward;
  backend: ServiceForward;
  /** What carried the tunnel, for the test output. */
  component: string;
  counters: RecipeCounters;
  roles: LanRoles;
  rolesApplied: boolean;
  /** The service on the service host, once started. */
  service?: RunningService;
  vpn?: OpenVpnTunnel;
  /** The VPN client's namespace as the system tools print it, before netfwd's backend was applied (OpenVPN only). */
  vpnclientBefore?: Record<string, unknown>;
  /** The OpenVPN interface's rp_filter before netfwd (OpenVPN only). */
  rpFilterBefore?: string;
  close(): Promise<void>;
}

const fam = (f: Family) => (f === 4 ? 'IPv4' : 'IPv6');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Builds one setup: the lab, the tunnel, netfwd on both ends, the hop counters (not yet the LAN roles, nor the service). */
async function build(kind: Kind): Promise<Scenario> {
  const tag = uniqueTag();
  const lab = await LanLab.create({ prefix: `nfrc-${tag}`, dropInvalid: kind === 'dropInvalid' });
  const closers: Array<() => Promise<void> | void> = [];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    const errors: unknown[] = [];
    for (const c of closers.reverse()) {
      try {
        await c();
      } catch (err) {
        errors.push(err);
      }
    }
    await lab.destroy();
    if (errors.length) throw errors[0];
  };
  try {
    let vpn: OpenVpnTunnel | undefined;
    let specs: RecipeSpecs;
    if (kind === 'openvpn') {
      vpn = await startOpenVpn({
        server: { netns: lab.host('frontend').netns, address: A.frontend.ipv4 },
        client: { netns: lab.host('vpnclient').netns, networks: [A.lan.ipv4, A.lan.ipv6] },
      });
      closers.push(() => vpn!.stop());
      await vpn.waitUp();
      specs = recipeSpecs(lab, {
        kind: 'external',
        frontend: { interface: vpn.server.interface, addresses: vpn.server.addresses },
        backend: { interface: vpn.client.interface, addresses: vpn.client.addresses },
      });
    } else {
      specs = recipeSpecs(lab, { kind: 'wireguard', tag });
    }
    const counters = installRecipeCounters(lab, specs.backendTunnel);
    const vpnclient = lab.host('vpnclient').netns;
    const vpnclientBefore = vpn ? snapshot(vpnclient) : undefined;
    const rpFilterBefore = vpn ? sysctlIn(vpnclient, `net.ipv4.conf.${specs.backendTunnel}.rp_filter`) : undefined;
    const implementation = wgBackend();
    const frontend = forwardService(specs.frontend, { implementation });
    const backend = forwardService(specs.backend, { implementation });
    closers.push(() => frontend.down().then(() => undefined));
    await frontend.apply();
    closers.push(() => backend.down().then(() => undefined));
    await backend.apply();
    let component: string;
    if (vpn) {
      component = `${openVpnComponent(vpn.version)}; ${vpn.mode}`;
    } else {
      component = wireGuardComponent(linkKind(vpnclient, specs.backendTunnel));
      await waitFor('the WireGuard handshake', async () => (await backend.status()).tunnel.peers[0]?.lastHandshake != null);
    }
    const roles = recipeLanRoles(lab);
    closers.push(() => roles.remove());
    const s: Scenario = {
      kind,
      lab,
      specs,
      frontend,
      backend,
      component,
      counters,
      roles,
      rolesApplied: false,
      vpn,
      vpnclientBefore,
      rpFilterBefore,
      close,
    };
    closers.push(() => s.service?.stop());
    return s;
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}

/** The service on the service host (uid 1000): "sh CLIENTADDRESS PORT" on 8080, "tick N" every 100 ms on 8081. */
async function serve(s: Scenario): Promise<RunningService> {
  s.service?.stop();
  s.service = await startService(s.lab, 'servicehost', {
    name: 'sh',
    tcp: [RECIPE.servicePort],
    tcpStream: [RECIPE.streamPort],
    udp: [],
  });
  return s.service;
}

interface Setups {
  /**
   * The setup of `kind`, built at the first call; `ready` (the default): with
   * the LAN roles applied and the service running.
   */
  scenario(kind: Kind, o?: { ready: boolean }): Promise<Scenario>;
  /** Takes a setup down and removes its lab (the next one is built after). */
  release(kind: Kind): Promise<void>;
}

const { test, env } = e2eSuite<Setups>(async () => {
  const built = new Map<Kind, Promise<Scenario>>();
  return {
    async scenario(kind, o = { ready: true }) {
      let p = built.get(kind);
      if (!p) {
        p = build(kind);
        built.set(kind, p);
      }
      const s = await p;
      if (o.ready) {
        if (!s.rolesApplied) {
          await s.roles.apply();
          s.rolesApplied = true;
        }
        if (!s.service) await serve(s);
      }
      return s;
    },
    async release(kind) {
      const p = built.get(kind);
      if (!p) return;
      const s = await p.catch(() => undefined);
      await s?.close();
    },
    async close() {
      const errors: unknown[] = [];
      for (const p of built.values()) {
        try {
          const s = await p.catch(() => undefined);
          await s?.close();
        } catch (err) {
          errors.push(err);
        }
      }
      if (errors.length) throw errors[0];
    },
  };
});

const ovpnReason = openVpnSkipReason();
if (ovpnReason) process.stderr.write(`skipping the OpenVPN variant of the recipe: ${ovpnReason}\n`);
const ovpnTest: TestFn = ovpnReason ? (avaTest.skip as unknown as TestFn) : test;

/** The client's two connections to public port 443, at once. */
function askBoth(s: Scenario, timeoutMs = 5000): Promise<string[]> {
  return Promise.all(FAMILIES.map((f) => s.lab.run('client', tcpAsk, { host: addr(A.frontend, f), port: RECIPE.publicPort, timeoutMs })));
}

const expectedAnswers = FAMILIES.map((f) => `sh ${addr(A.client, f)} ${RECIPE.servicePort}`);

/**
 * The hop counters after traffic went through: every hop saw what it should,
 * the uplink nothing; the roles' own counters (their status) agree.
 */
async function checkHops(t: ExecutionContext, s: Scenario): Promise<void> {
  const c = s.counters.read();
  t.log(
    'counters:',
    Object.entries(c)
      .map(([k, v]) => `${k}: ${v}`)
      .join('; '),
  );
  for (const f of FAMILIES) {
    const F = `(${fam(f)})`;
    // The VPN client forwarded the requests tagged; the service host tagged every reply.
    t.true(c[`servicehost in: tagged requests ${F}`]! >= 3, `tagged requests arrived at the service host ${F}`);
    t.true(c[`servicehost out: tagged replies ${F}`]! >= 3, `the service host's replies left tagged ${F}`);
    t.is(c[`servicehost out: untagged replies to the client ${F}`], 0, `no reply left the service host untagged ${F}`);
    // The home router: tagged replies in from the LAN and out again by the LAN, untracked (notrack).
    t.true(c[`homerouter lan in: tagged replies ${F}`]! >= 3, `the home router got the tagged replies on its LAN side ${F}`);
    t.is(
      c[`homerouter lan out: tagged replies, untracked ${F}`],
      c[`homerouter lan in: tagged replies ${F}`],
      `and sent each back into the LAN, untracked ${F}`,
    );
    t.is(c[`homerouter lan out: requests to the service host ${F}`], 0, `the requests did not pass the router ${F}`);
    // The VPN client: the replies came from the router's MAC address, never straight from the service host.
    t.is(
      c[`vpnclient lan in: tagged replies from the router's MAC ${F}`],
      c[`homerouter lan in: tagged replies ${F}`],
      `the VPN client got them from the router ${F}`,
    );
    t.is(c[`vpnclient lan in: replies from the service host's MAC ${F}`], 0, `none straight from the service host ${F}`);
    t.is(c[`vpnclient lan out: replies ${F}`], 0, `the VPN client sent none back into the LAN ${F}`);
    // Into the tunnel, the tag cleared.
    t.is(c[`vpnclient tunnel out: replies ${F}`], c[`homerouter lan in: tagged replies ${F}`], `every reply went into the tunnel ${F}`);
    t.is(c[`vpnclient tunnel out: replies still tagged ${F}`], 0, `with the tag cleared ${F}`);
  }
  t.deepEqual(
    Object.entries(uplinkLeakCounters(c)).filter(([, v]) => v !== 0),
    [],
    'nothing of these connections on the home uplink, before or after NAT',
  );
  const router = (await s.roles.router.status()).counters;
  const host = (await s.roles.serviceHost.status()).counters;
  t.log(`lan-router status: ${JSON.stringify(router)}; service-host status: ${JSON.stringify(host)}`);
  for (const f of FAMILIES) {
    const k = f === 4 ? 'ipv4' : 'ipv6';
    t.is(
      router.tagged[k]?.packets,
      c[`homerouter lan in: tagged replies (${fam(f)})`],
      `the router role counted the tagged replies it marked (${fam(f)})`,
    );
    t.is(
      host.replies?.[k]?.packets,
      c[`servicehost out: tagged replies (${fam(f)})`],
      `the service-host role counted the replies it tagged (${fam(f)})`,
    );
  }
  t.is(router.leakDropped?.packets, 0, 'the router dropped nothing as a leak');
}

/**
 * The backend's tunnel goes away while a stream runs in each family: the
 * client gets nothing more, the service host's further replies (tagged)
 * go to the VPN client and die there — none leaves by the home uplink — and
 * a new connection fails.
 */
async function tunnelDownCheck(t: ExecutionContext, s: Scenario, takeDown: () => Promise<void>): Promise<void> {
  const service = s.service!;
  const seen = service.seen().length;
  const before = s.counters.read();
  const watches = FAMILIES.map((f) =>
    s.lab.start('client', streamWatch, { host: addr(A.frontend, f), port: RECIPE.publicStreamPort, durationMs: 3500 }),
  );
  await waitFor(
    'both streams at the service',
    () =>
      service
        .seen()
        .slice(seen)
        .filter((l) => l.startsWith('stream ')).length === 2,
  );
  await sleep(500);
  // The moment the tunnel is down is when takeDown returns: starting `ip` in a namespace can itself
  // take a second under software emulation, while the stream still flows.
  await takeDown();
  const downAt = Date.now();
  const atDown = s.counters.read();
  // New connections while the tunnel is down.
  const fresh = await askBoth(s, 2500);
  const results = await Promise.all(watches.map((w) => w.result));
  const after = s.counters.read();
  const d = delta(atDown, after);
  for (const [i, f] of FAMILIES.entries()) {
    const F = `(${fam(f)})`;
    const r = results[i]!;
    const early = r.lines.filter((l) => l.at <= downAt);
    const late = r.lines.filter((l) => l.at > downAt + 150);
    t.log(`${fam(f)} stream: ${early.length} lines before the tunnel went, ${late.length} after; ${r.end}; new connection: ${fresh[i]}`);
    t.true(early.length >= 2, `the stream ran ${F}`);
    t.deepEqual(late, [], `nothing reached the client after the tunnel went ${F}`);
    t.is(fresh[i], '(timeout)', `a new connection fails ${F}`);
    t.true(
      d[`servicehost out: tagged replies ${F}`]! >= 2,
      `the service kept sending, tagged: ${d[`servicehost out: tagged replies ${F}`]} ${F}`,
    );
    t.true(d[`homerouter lan in: tagged replies ${F}`]! >= 2, `the router got them ${F}`);
    t.is(d[`vpnclient tunnel out: replies ${F}`], 0, `none went into the tunnel ${F}`);
    t.is(d[`vpnclient lan out: replies ${F}`], 0, `the VPN client did not send them back into the LAN ${F}`);
    t.is(d[`servicehost out: untagged replies to the client ${F}`], 0, `none left the service host untagged ${F}`);
  }
  t.deepEqual(
    Object.entries(uplinkLeakCounters(delta(before, after))).filter(([, v]) => v !== 0),
    [],
    'nothing of these connections on the home uplink while the tunnel was down',
  );
}

// ================================================================ 1. WireGuard

test('WireGuard: control — without the LAN roles the connection fails and its replies leave by the home uplink (IPv4 un-NATed): the counters see a leak', async (t) => {
  const s = await env().scenario('wireguard', { ready: false });
  t.log(`tunnel: ${s.component}`);
  const control = await serve(s);
  t.deepEqual(await askBoth(s, 1500), ['(timeout)', '(timeout)']);
  const c = s.counters.read();
  for (const f of FAMILIES) {
    const F = `(${fam(f)})`;
    t.true(c[`servicehost out: untagged replies to the client ${F}`]! > 0, `the service host answered, untagged ${F}`);
    t.true(c[`uplink out, before NAT: to the client ${F}`]! > 0, `the replies left by the home uplink ${F}`);
    t.is(c[`vpnclient tunnel out: replies ${F}`], 0, `none went into the tunnel ${F}`);
  }
  // The home router saw only the reply half: INVALID to its conntrack, so not NATed.
  t.true(c['uplink out, after NAT: from a LAN address (IPv4)']! > 0, 'IPv4 leaked with the LAN source address');
  // The control's half-open connections go with their listener (no more retransmitted SYN-ACKs).
  control.stop();
  s.service = undefined;
  await sleep(200);
  s.counters.reset();
});

test('WireGuard: the LAN roles apply (lan-router on the home router, service-host on the service host)', async (t) => {
  const s = await env().scenario('wireguard', { ready: false });
  t.log(s.roles.how);
  if (!s.rolesApplied) {
    for (const r of await s.roles.apply()) {
      t.false(r.plan.empty);
      t.log(r.plan.toString());
    }
    s.rolesApplied = true;
  }
  for (const r of await s.roles.apply()) {
    t.true(r.plan.empty, `applying again changes nothing: ${r.plan.toString()}`);
    t.is(r.netlinkWrites, 0);
  }
  for (const role of [s.roles.router, s.roles.serviceHost]) {
    const st = await role.status();
    t.deepEqual(st.drift, [], `${st.role}: no drift`);
    t.deepEqual(st.warnings, [], `${st.role}: no warnings`);
  }
});

test('WireGuard: the client reaches the service host through the forward, and the service sees its real address (IPv4, IPv6)', async (t) => {
  const s = await env().scenario('wireguard');
  t.log(`tunnel: ${s.component}`);
  const seen = s.service!.seen().length;
  t.deepEqual(await askBoth(s), expectedAnswers);
  t.deepEqual(s.service!.seen().slice(seen).sort(), FAMILIES.map((f) => `tcp ${addr(A.client, f)} ${RECIPE.servicePort}`).sort());
  // Although the service host's default gateway is the home router, not the VPN client.
  const sh = s.lab.host('servicehost').netns;
  t.deepEqual(
    [...ipJson(sh, ['-4', 'route', 'show', 'default']), ...ipJson(sh, ['-6', 'route', 'show', 'default'])].map(
      (r: { gateway: string }) => r.gateway,
    ),
    [A.homerouter.ipv4, A.homerouter.ipv6],
  );
});

test('WireGuard: every hop — tagged at the service host, through the home router back into the LAN, from the router to the VPN client, into the tunnel; nothing on the home uplink', async (t) => {
  const s = await env().scenario('wireguard');
  // Three more connections per family, so that every counter has something to count.
  for (let i = 0; i < 3; i++) t.deepEqual(await askBoth(s), expectedAnswers);
  await checkHops(t, s);
});

test('WireGuard: attacker — the service host’s port from the internet, not through the forward: IPv4 never reaches the LAN (refused by the home router); IPv6 (routed, no firewall in the lab) is answered directly and untagged, not diverted to the VPN client', async (t) => {
  const s = await env().scenario('wireguard');
  const service = s.service!;
  const seen = service.seen().length;
  const before = s.counters.read();
  t.is(await s.lab.run('internet', tcpAsk, { host: A.home.ipv4, port: RECIPE.servicePort, timeoutMs: 2000 }), '(error ECONNREFUSED)');
  let d = delta(before, s.counters.read());
  t.is(d['homerouter lan out: requests to the service host (IPv4)'], 0, 'nothing was forwarded to the service host');
  t.is(d['servicehost in: tagged requests (IPv4)'], 0);
  t.deepEqual(service.seen().slice(seen), []);

  const mid = s.counters.read();
  const answer = await s.lab.run('internet', tcpAsk, { host: A.servicehost.ipv6, port: RECIPE.servicePort, timeoutMs: 2000 });
  d = delta(mid, s.counters.read());
  t.log(`IPv6 straight to the service host: ${answer}`);
  t.is(answer, `sh ${A.routerToHome.ipv6} ${RECIPE.servicePort}`);
  t.is(d['servicehost out: tagged replies (IPv6)'], 0, 'an untagged connection gets untagged replies');
  t.is(d['homerouter lan in: tagged replies (IPv6)'], 0);
  t.is(d["vpnclient lan in: tagged replies from the router's MAC (IPv6)"], 0, 'nothing was diverted to the VPN client');
  t.true(d['uplink out, after NAT: from the service ports (IPv6)']! > 0, 'the answers took the home uplink, as any LAN host’s');
});

test('WireGuard: attacker — a packet tagged outside the home: IPv4 never enters the LAN; IPv6 loses the tag at the router, so nothing is diverted to the VPN client and nothing loops', async (t) => {
  const s = await env().scenario('wireguard');
  const service = s.service!;
  const seen = service.seen().length;
  const internet = s.lab.host('internet').netns;
  for (const f of FAMILIES) {
    const F = `(${fam(f)})`;
    const target = f === 4 ? A.home.ipv4 : A.servicehost.ipv6;
    const before = s.counters.read();
    const untag = tagOutgoing(internet, target, RECIPE.servicePort);
    let answer: string;
    try {
      answer = await s.lab.run('internet', tcpAsk, { host: target, port: RECIPE.servicePort, timeoutMs: 2500 });
    } finally {
      untag();
    }
    await sleep(300);
    const d = delta(before, s.counters.read());
    t.log(
      `tagged from outside to ${target}: ${answer};`,
      Object.entries(d)
        .filter(([, v]) => v !== 0)
        .map(([k, v]) => `${k}: +${v}`)
        .join('; ') || 'no counter moved',
    );
    const uplink = Object.entries(uplinkLeakCounters(d)).filter(([, v]) => v !== 0);
    if (f === 4) {
      // The home's public address: the router itself refuses it (its own reset is all the uplink carries); nothing enters the LAN.
      t.is(answer, '(error ECONNREFUSED)');
      t.is(d[`homerouter lan out: requests to the service host ${F}`], 0, 'nothing was forwarded into the LAN');
      t.is(d[`servicehost in: tagged requests ${F}`], 0);
      t.deepEqual(
        uplink,
        [
          [`uplink out, before NAT: from the service ports ${F}`, 1],
          [`uplink out, after NAT: from the service ports ${F}`, 1],
        ],
        "only the router's own reset left by the uplink",
      );
    } else {
      // The router clears a tag that comes from outside (lan-router): the service host takes it for
      // an ordinary connection — IPv6 is routed and the lab's router has no inbound firewall, so it
      // answers as to any direct IPv6 connection — and nothing is diverted to the VPN client. (Without
      // the clearing the tagged answer went router → VPN client → router … until the hop limit.)
      t.is(answer, `sh ${A.routerToHome.ipv6} ${RECIPE.servicePort}`, 'answered untagged, like any direct IPv6 connection');
      t.is(d[`servicehost in: tagged requests ${F}`], 0, 'the tag did not reach the service host');
      t.is(d[`homerouter lan in: tagged replies ${F}`], 0, 'no tagged answer came back to the router: no loop');
      t.is(d[`vpnclient tunnel out: replies ${F}`], 0, 'nothing went into the tunnel');
    }
  }
  t.deepEqual(
    service
      .seen()
      .slice(seen)
      .filter((l) => !l.startsWith('tcp 2001:')),
    [],
    'over IPv4 the service accepted no connection',
  );
});

test('WireGuard: the backend’s tunnel goes down mid-stream — the client gets nothing more and fails anew, nothing leaves by the home uplink; apply() brings it back', async (t) => {
  const s = await env().scenario('wireguard');
  const vpnclient = s.lab.host('vpnclient').netns;
  await tunnelDownCheck(t, s, async () => {
    inNetns(vpnclient, 'ip', ['link', 'set', 'dev', s.specs.backendTunnel, 'down']);
  });
  // The kernel deleted the routes through the link; apply() puts the link and the routes back.
  await s.backend.apply();
  await waitFor('a fresh handshake', async () => (await askBoth(s, 1500)).every((a, i) => a === expectedAnswers[i]), 20000);
  t.deepEqual(await askBoth(s), expectedAnswers);
  await env().release('wireguard');
});

// ================================================================== 2. OpenVPN

ovpnTest(
  'OpenVPN: netfwd on both ends with tunnel.external — the client reaches the service host, which sees its real address (IPv4, IPv6)',
  async (t) => {
    const s = await env().scenario('openvpn');
    t.log(`tunnel: ${s.component}`);
    const seen = s.service!.seen().length;
    t.deepEqual(await askBoth(s), expectedAnswers);
    t.deepEqual(s.service!.seen().slice(seen).sort(), FAMILIES.map((f) => `tcp ${addr(A.client, f)} ${RECIPE.servicePort}`).sort());
  },
);

ovpnTest('OpenVPN: every hop as with WireGuard; nothing on the home uplink', async (t) => {
  const s = await env().scenario('openvpn');
  for (let i = 0; i < 3; i++) t.deepEqual(await askBoth(s), expectedAnswers);
  await checkHops(t, s);
});

ovpnTest(
  'OpenVPN: netfwd down on the backend leaves the OpenVPN interface, its addresses and the namespace as they were; up again works',
  async (t) => {
    const s = await env().scenario('openvpn');
    const ns = s.lab.host('vpnclient').netns;
    const dev = s.specs.backendTunnel;
    const link = () => ipJson(ns, ['-d', 'link', 'show', 'dev', dev]);
    const addrs = () => ipJson(ns, ['-d', 'addr', 'show', 'dev', dev]);
    const linkBefore = (s.vpnclientBefore!.link as Array<{ ifname: string }>).filter((l) => l.ifname === dev);
    const addrBefore = (s.vpnclientBefore!.addr as Array<{ ifname: string }>).filter((l) => l.ifname === dev);
    t.is(linkBefore.length, 1);
    t.is(sysctlIn(ns, `net.ipv4.conf.${dev}.rp_filter`), '2', 'netfwd loosened the reverse-path filter on the tunnel');
    await s.backend.down();
    let up = false;
    t.teardown(async () => {
      if (!up) await s.backend.apply();
    });
    t.deepEqual(link(), linkBefore, 'the interface is as OpenVPN made it');
    t.deepEqual(addrs(), addrBefore, 'with its addresses');
    t.is(sysctlIn(ns, `net.ipv4.conf.${dev}.rp_filter`), s.rpFilterBefore!);
    t.deepEqual(
      snapshot(ns),
      s.vpnclientBefore,
      'the whole namespace as before netfwd (links, addresses, routes, rules, nftables, sysctls)',
    );
    t.true(s.vpn!.client.process.exitCode === null, 'OpenVPN still runs');
    // Without the backend nothing is forwarded into the LAN (ip_forward is back to 0).
    t.deepEqual(await askBoth(s, 1500), ['(timeout)', '(timeout)']);
    await s.backend.apply();
    up = true;
    t.deepEqual(await askBoth(s), expectedAnswers, 'up again: the recipe works again');
  },
);

ovpnTest(
  'OpenVPN: the client daemon dies mid-stream (its interface goes) — the client gets nothing more and fails anew, nothing leaves by the home uplink',
  async (t) => {
    const s = await env().scenario('openvpn');
    await tunnelDownCheck(t, s, async () => {
      await s.vpn!.kill('client');
    });
    await env().release('openvpn');
  },
);

// ======================================================= 3. a router dropping ct state invalid

test('a home router with a foreign `ct state invalid drop` in its forward chain: the recipe still works, nothing on the home uplink', async (t) => {
  const s = await env().scenario('dropInvalid');
  t.log(`tunnel: ${s.component}`);
  const router = s.lab.host('homerouter').netns;
  t.regex(inNetns(router, 'nft', ['list', 'table', 'inet', 'lanlab']), /ct state invalid drop/);
  for (let i = 0; i < 3; i++) t.deepEqual(await askBoth(s), expectedAnswers);
  await checkHops(t, s);
  await env().release('dropInvalid');
});

/**
 * `netfwd status --probe` (the built CLI) in the lab: from the frontend a TCP
 * connect through each forward to its backend target — ok, refused (no
 * service on the port), timeout (the backend's tunnel down) — and on the
 * backend the route its selected traffic takes (through the tunnel, from the
 * tunnel address; the leak guard when the tunnel is down) and, with
 * --probe-egress, the address a whoami service outside sees (the frontend's).
 * Text and JSON.
 */

import { join } from 'node:path';
import ava, { type ExecutionContext } from 'ava';
import { cli, missingBuild, tempDir, writeFile } from '../helpers/cli.js';
import { type Env, e2eSkipReason, inNetns, LAB_ADDRESSES, OUTSIDE_PORT, serve, startEnv, whoami } from '../helpers/e2e.js';
import { kernelTest } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const skip = e2eSkipReason();
const test = skip ? base.skip : base.serial;

let env: Env | undefined;
if (!skip) {
  ava.before(async (t) => {
    const missing = missingBuild();
    if (missing) return t.fail(missing);
    env = await startEnv({
      backends: [
        {
          host: 'backend',
          name: 'home',
          mode: 'uid',
          addresses: ['10.0.0.2/24', 'fd00::2/64'],
          services: [
            { protocol: 'tcp', port: '8080-8099' },
            { protocol: 'udp', port: 5353 },
          ],
        },
      ],
      forwards: [
        { protocol: 'tcp', port: 80, to: { peer: 'home', port: 8080 } },
        { protocol: 'tcp', port: 81, to: { peer: 'home', port: 8099 } },
        { protocol: 'udp', port: 5353, to: { peer: 'home' } },
      ],
    });
    await env.handshakes();
    await serve(env, 'backend', { name: 'home', tcp: [8080], udp: [] });
    env.lab.start('internet', whoami, OUTSIDE_PORT);
    t.pass();
  });
  ava.after.always(async () => {
    await env?.close();
  });
}

function files(t: ExecutionContext, e: Env) {
  const dir = tempDir(t);
  return {
    frontend: writeFile(join(dir, 'frontend.json'), JSON.stringify(e.specs.frontend), 0o600),
    backend: writeFile(join(dir, 'backend.json'), JSON.stringify(e.specs.backends[0]), 0o600),
  };
}

test("the probe connects through every TCP forward and shows where the backend's selected traffic leaves", async (t) => {
  const e = env!;
  const f = files(t, e);
  const fe = await cli(['status', '-c', f.frontend, '--probe', '--json']);
  t.is(fe.code, 0, fe.stderr);
  const fs = JSON.parse(fe.stdout);
  const byTarget = Object.fromEntries(fs.probe.forwards.map((p: any) => [`${p.protocol} ${p.target}`, p]));
  t.like(byTarget['tcp 10.0.0.2:8080'], { result: 'ok', family: 4, source: 'forwards[0]' });
  t.true(byTarget['tcp 10.0.0.2:8080'].ms >= 0 && byTarget['tcp 10.0.0.2:8080'].ms < 3000);
  t.like(byTarget['tcp [fd00::2]:8080'], { result: 'ok', family: 6 });
  t.like(byTarget['tcp 10.0.0.2:8099'], { result: 'refused' });
  t.like(byTarget['udp 10.0.0.2:5353'], { result: 'not probed' });
  t.true(
    fs.probe.forwards.every((p: any) => p.dnat === 'installed'),
    'every forward is in the DNAT map',
  );
  t.deepEqual(fs.probe.egress, []);

  const text = await cli(['status', '-c', f.frontend, '--probe']);
  t.log(text.stdout);
  t.regex(text.stdout, /forwards\[0\] tcp IPv4 → 10\.0\.0\.2:8080: ok in [0-9.]+ ms/);
  t.regex(text.stdout, /forwards\[1\] tcp IPv4 → 10\.0\.0\.2:8099: refused/);

  const be = await cli(['status', '-c', f.backend, '--probe', '--probe-egress', `${LAB_ADDRESSES.outside.ipv4}:${OUTSIDE_PORT}`, '--json']);
  t.is(be.code, 0, be.stderr);
  const bs = JSON.parse(be.stdout);
  const tunnel = e.specs.backends[0]!.tunnel!.interface;
  t.like(
    bs.probe.egress.find((x: any) => x.family === 4),
    { selector: 'uid 1000', interface: tunnel, source: '10.0.0.2', table: 5000, throughTunnel: true },
  );
  t.like(
    bs.probe.egress.find((x: any) => x.family === 6),
    { interface: tunnel, source: 'fd00::2', table: 5000, throughTunnel: true },
  );
  t.deepEqual(bs.probe.observed, {
    target: `${LAB_ADDRESSES.outside.ipv4}:${OUTSIDE_PORT}`,
    as: 'uid 1000',
    result: 'ok',
    address: LAB_ADDRESSES.frontend.ipv4,
  });
  // The same lookup by the system tool.
  const ipGet = JSON.parse(inNetns(e.lab.hosts.backend.netns, 'ip', ['-j', 'route', 'get', '198.51.100.254', 'uid', '1000']))[0];
  t.is(ipGet.dev, tunnel);

  const beText = await cli(['status', '-c', f.backend, '--probe', '--probe-egress', `${LAB_ADDRESSES.outside.ipv4}:${OUTSIDE_PORT}`]);
  t.log(beText.stdout);
  t.regex(
    beText.stdout,
    new RegExp(`egress IPv4 of uid 1000: leaves by ${tunnel} from 10\\.0\\.0\\.2 \\(table 5000\\), through the tunnel`),
  );
  t.regex(
    beText.stdout,
    new RegExp(
      `egress seen by ${LAB_ADDRESSES.outside.ipv4.replace(/\./g, '\\.')}:${OUTSIDE_PORT} \\(as uid 1000\\): ${LAB_ADDRESSES.frontend.ipv4.replace(/\./g, '\\.')}`,
    ),
  );
});

test("with the backend's tunnel down the forward probe times out and the egress lookup hits the leak guard", async (t) => {
  const e = env!;
  const f = files(t, e);
  const ns = e.lab.hosts.backend.netns;
  const tunnel = e.specs.backends[0]!.tunnel!.interface;
  inNetns(ns, 'ip', ['link', 'set', tunnel, 'down']);
  t.teardown(() => e.backends[0]!.apply().then(() => undefined));
  const be = JSON.parse(
    (await cli(['status', '-c', f.backend, '--probe', '--probe-egress', `${LAB_ADDRESSES.outside.ipv4}:${OUTSIDE_PORT}`, '--json'])).stdout,
  );
  const v4 = be.probe.egress.find((x: any) => x.family === 4);
  t.false(v4.throughTunnel);
  t.regex(v4.error, /^E(NET|HOST)UNREACH \(unreachable: the leak guard/);
  t.is(be.probe.observed.result, 'error');
  t.regex(be.probe.observed.detail, /UNREACH/);
  const fe = JSON.parse((await cli(['status', '-c', f.frontend, '--probe', '--json'])).stdout);
  t.like(
    fe.probe.forwards.find((p: any) => p.target === '10.0.0.2:8080'),
    { result: 'timeout' },
  );
});

test('a forward whose DNAT map element is gone is shown as DNAT missing, the others as installed', async (t) => {
  const e = env!;
  const f = files(t, e);
  const ns = e.lab.hosts.frontend.netns;
  // The element of forwards[0] (tcp 80 → 10.0.0.2:8080) in netfwd's IPv4 DNAT map, found in nft's JSON.
  const ruleset = JSON.parse(inNetns(ns, 'nft', ['-j', 'list', 'ruleset'])).nftables as any[];
  let found: { table: string; set: string; key: string } | undefined;
  for (const o of ruleset) {
    const set = o.map ?? o.set;
    if (!set || !String(set.name).startsWith('dnat4')) continue;
    for (const el of set.elem ?? []) {
      const [wrapped, data] = Array.isArray(el) ? el : [el, undefined];
      const key = wrapped?.elem?.val ?? wrapped; // with a counter, the key is wrapped
      const parts: unknown[] = key?.concat ?? [key];
      const target = JSON.stringify(data);
      if (parts.includes('tcp') && parts.includes(80) && target.includes('10.0.0.2') && target.includes('8080'))
        found = { table: set.table, set: set.name, key: parts.join(' . ') };
    }
  }
  t.truthy(found, 'the element of tcp port 80 is in a dnat4 map');
  inNetns(ns, 'nft', ['delete', 'element', 'inet', found!.table, found!.set, `{ ${found!.key} }`]);
  t.teardown(() => e.frontend.apply().then(() => undefined));
  const fe = await cli(['status', '-c', f.frontend, '--probe', '--json']);
  const probe = JSON.parse(fe.stdout).probe;
  t.like(
    probe.forwards.find((p: any) => p.source === 'forwards[0]' && p.family === 4),
    { dnat: 'missing', result: 'ok' },
  );
  t.like(
    probe.forwards.find((p: any) => p.source === 'forwards[0]' && p.family === 6),
    { dnat: 'installed' },
  );
  t.like(
    probe.forwards.find((p: any) => p.source === 'forwards[1]' && p.family === 4),
    { dnat: 'installed' },
  );
  const text = await cli(['status', '-c', f.frontend, '--probe']);
  t.regex(text.stdout, /forwards\[0\] tcp IPv4 → 10\.0\.0\.2:8080: ok in [0-9.]+ ms; DNAT MISSING/);
  t.regex(text.stdout, /forwards\[1\] tcp IPv4 → 10\.0\.0\.2:8099: refused[^;\n]*; DNAT installed/);
});

test('status without --probe has no probe', async (t) => {
  const f = files(t, env!);
  const s = JSON.parse((await cli(['status', '-c', f.frontend, '--json'])).stdout);
  t.is(s.probe, undefined);
  t.is((await cli(['status', '-c', f.backend, '--probe-egress', 'nowhere'])).code, 2);
});

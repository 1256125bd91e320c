/**
 * The built CLI driving a whole lab: plan, up (twice: the second has nothing
 * to change), real traffic through what it set up, status with and without a
 * configuration (text and --json), doctor, the exit codes of a failed apply
 * (1, state restored) and of a name netfwd does not own (8), then down
 * (twice) — configurations in a temporary directory: the frontend's YAML,
 * the backend's JSON, keys in 0600 files next to them (the configurations
 * themselves name key files, so they may be 0644).
 */

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import ava from 'ava';
import { EXIT } from '../../src/cli/exit-codes.js';
import { Lab } from '../../src/lab/index.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { socketPath } from '../../src/wireguard/userspace/socket.js';
import { cli, missingBuild, tempDir, writeFile } from '../helpers/cli.js';
import { e2eSkipReason, inNetns, LAB_ADDRESSES, startService, tcpAsk, uniqueTag } from '../helpers/e2e.js';
import { freshNetns, kernelTest } from '../helpers/kernel.js';

const base = kernelTest(['ip', 'wg', 'nft']);
const skip = e2eSkipReason();
const test = skip ? base.skip : base;

if (!skip) {
  ava.before('the CLI is built', (t) => {
    const missing = missingBuild();
    if (missing) t.fail(missing);
    else t.pass();
  });
}

interface Files {
  dir: string;
  frontend: string;
  backend: string;
  ifname: { frontend: string; backend: string };
  keys: { frontend: string; backend: string };
}

function writeConfigs(dir: string, lab: Lab, tag: string): Files {
  const fe = generatePrivateKey().toBase64();
  const be = generatePrivateKey().toBase64();
  writeFile(join(dir, 'frontend.key'), `${fe}\n`, 0o600);
  writeFile(join(dir, 'backend.key'), `${be}\n`, 0o600);
  const ifname = { frontend: `nf${tag}f`, backend: `nf${tag}b` };
  const frontend = writeFile(
    join(dir, 'frontend.yaml'),
    [
      'role: frontend',
      `netns: ${lab.hosts.frontend.netns}`,
      'tunnel:',
      `  interface: ${ifname.frontend}`,
      '  addresses: [10.0.0.1/24, fd00::1/64]',
      '  listenPort: 51820',
      '  privateKeyFile: frontend.key',
      '  peers:',
      `    - { name: home, publicKey: ${publicKey(be)}, addresses: [10.0.0.2, fd00::2] }`,
      'public:',
      `  addresses: [${LAB_ADDRESSES.frontend.ipv4}, ${LAB_ADDRESSES.frontend.ipv6}]`,
      'forwards:',
      '  - { protocol: tcp, port: 80, to: { peer: home, port: 8080 } }',
      '  - { protocol: tcp+udp, port: 9000-9001, to: { peer: home } }',
      '',
    ].join('\n'),
    0o644,
  );
  const backend = writeFile(
    join(dir, 'backend.json'),
    JSON.stringify(
      {
        role: 'backend',
        netns: lab.hosts.backend.netns,
        tunnel: {
          interface: ifname.backend,
          addresses: ['10.0.0.2/24', 'fd00::2/64'],
          privateKeyFile: 'backend.key',
          peer: { publicKey: publicKey(fe), endpoint: `${LAB_ADDRESSES.frontend.ipv4}:51820` },
        },
        returnPath: { mode: 'uid', uids: ['1000'] },
        services: [
          { protocol: 'tcp', port: 8080 },
          { protocol: 'tcp+udp', port: '9000-9001' },
        ],
      },
      null,
      2,
    ),
    0o644,
  );
  return { dir, frontend, backend, ifname, keys: { frontend: fe, backend: be } };
}

const json = <T = any>(text: string): T => JSON.parse(text) as T;

test('plan, up, up again, traffic, status, doctor, down, down again — all through the CLI', async (t) => {
  const tag = uniqueTag();
  const lab = await Lab.create({ prefix: `nfcli-${tag}` });
  const dir = tempDir(t);
  const f = writeConfigs(dir, lab, tag);
  t.teardown(async () => {
    await cli(['down', '-c', f.backend]);
    await cli(['down', '-c', f.frontend]);
    await lab.destroy();
  });
  const noSecrets = (r: { stdout: string; stderr: string }) =>
    t.false(
      `${r.stdout}${r.stderr}`.includes(f.keys.frontend) || `${r.stdout}${r.stderr}`.includes(f.keys.backend),
      'no private key in the output',
    );

  // plan: text and JSON.
  const plan = await cli(['plan', '-c', f.frontend]);
  t.is(plan.code, EXIT.OK, plan.stderr);
  // First the claim (what this configuration uses), then the sysctl the kernel's WireGuard changes as the tunnel
  // comes up (recorded before it), then the link.
  t.regex(
    plan.stdout,
    new RegExp(
      `^\\+ claim of ${f.ifname.frontend}: needs [^\\n]*\\n~ sysctl net\\.ipv4\\.conf\\.all\\.send_redirects: 1 → 0 \\([^\\n]*\\)\\n\\+ link ${f.ifname.frontend}: wireguard, up\\n`,
    ),
  );
  t.regex(plan.stdout, /\+ nftables table inet netfwd-\S+: 4 chains, 18 sets and maps, \d+ elements/);
  const planJson = json((await cli(['plan', '-c', f.backend, '--json'])).stdout);
  t.is(planJson.role, 'backend');
  t.is(planJson.netns, lab.hosts.backend.netns);
  t.deepEqual(
    [...new Set(planJson.changes.map((c: { kind: string }) => c.kind))],
    ['claim', 'sysctl', 'link', 'wireguard', 'address', 'route', 'rule', 'nftables'],
  );
  for (const c of planJson.changes) t.is(typeof c.text, 'string');
  t.deepEqual(planJson.warnings, []);
  noSecrets(plan);

  // up, then up again: nothing to change.
  const up = await cli(['up', '-c', f.frontend]);
  t.is(up.code, EXIT.OK, up.stderr);
  t.regex(up.stdout, /\nup: \d+ change\(s\) applied\n$/);
  // plan prints its warnings after the changes (forwarding is still off in the lab's frontend); up prints the changes.
  t.regex(plan.stdout, /\nwarning: net\.ipv4\.ip_forward is off: the kernel does not forward; `netfwd up` turns it on\n/);
  t.is(up.stdout.replace(/\nup: .*\n$/, '\n'), plan.stdout.replace(/^warning: .*\n/gm, ''), 'up applied what plan showed');
  const again = await cli(['up', '-c', f.frontend]);
  t.is(again.code, EXIT.OK);
  t.is(again.stdout, 'up: nothing to change\n');
  const upJson = await cli(['up', '-c', f.backend, '--json']);
  t.is(upJson.code, EXIT.OK, upJson.stderr);
  const applied = json(upJson.stdout);
  t.is(applied.command, 'up');
  t.true(applied.applied.length > 5);
  t.true(applied.netlinkWrites > 0);
  t.deepEqual(json((await cli(['up', '-c', f.backend, '--json'])).stdout), { command: 'up', applied: [], netlinkWrites: 0 });
  t.is((await cli(['plan', '-c', f.backend])).stdout, 'no changes\n');

  // What the CLI set up carries real traffic.
  const service = await startService(lab, 'backend', { name: 'home', tcp: [8080, 9000, 9001], udp: [] });
  t.teardown(() => service.stop());
  let answer = '';
  for (let i = 0; i < 50 && !answer.startsWith('home'); i++)
    answer = await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: 80, timeoutMs: 2000 });
  t.is(answer, `home ${LAB_ADDRESSES.client.ipv4} 8080`);
  t.is(await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv6, port: 9001 }), `home ${LAB_ADDRESSES.client.ipv6} 9001`);

  // status with a configuration: text and JSON.
  const st = await cli(['status', '-c', f.backend]);
  t.is(st.code, EXIT.OK, st.stderr);
  t.regex(
    st.stdout,
    new RegExp(
      `^backend ${f.ifname.backend} \\(namespace ${lab.hosts.backend.netns}\\)\\n  tunnel: (userspace|kernel), up, listening on \\d+, public key ${publicKey(f.keys.backend).replace(/[+/]/g, '\\$&')}, private key \\(hidden\\)\\n`,
    ),
  );
  t.regex(st.stdout, /\n {2}peer frontend \S+: handshake \d+ s ago, endpoint 203\.0\.113\.2:51820, received \d+ B, sent \d+ B\n/);
  t.regex(st.stdout, /\n {2}drift: none\n/);
  noSecrets(st);
  const fst = json((await cli(['status', '-c', f.frontend, '--json'])).stdout);
  t.is(fst.role, 'frontend');
  t.is(fst.tunnel.privateKey, '(hidden)');
  t.is(fst.tunnel.peers[0].name, 'home');
  t.is(typeof fst.tunnel.peers[0].handshakeAge, 'number');
  t.deepEqual(fst.drift, []);
  const counter = (proto: string, family: number, ports: string) =>
    fst.forwards.find((x: any) => x.protocol === proto && x.family === family && x.publicPorts === ports);
  t.is(counter('tcp', 4, '80').connections, 1);
  t.is(counter('tcp', 6, '9000-9001').connections, 1);
  t.true(counter('tcp', 4, '80').packets > 0);

  // status without a configuration: --netns, and inside the namespace (ip netns exec).
  const ns = json((await cli(['status', '--netns', lab.hosts.frontend.netns, '--json'])).stdout);
  t.is(ns.tunnels.length, 1);
  t.like(ns.tunnels[0], {
    interface: f.ifname.frontend,
    role: 'frontend',
    up: true,
    listenPort: 51820,
    privateKey: '(hidden)',
    nftTable: `inet netfwd-${f.ifname.frontend}`,
  });
  t.deepEqual(
    ns.tunnels[0].forwards.map((x: any) => `${x.protocol} ${x.publicAddress}:${x.publicPorts} → ${x.target} ${x.connections}`),
    [
      'tcp 203.0.113.2:80 → 10.0.0.2:8080 1',
      'tcp 203.0.113.2:9000-9001 → 10.0.0.2 0',
      'udp 203.0.113.2:9000-9001 → 10.0.0.2 0',
      'tcp 2001:db8:2::2:80 → [fd00::2]:8080 0',
      'tcp 2001:db8:2::2:9000-9001 → fd00::2 1',
      'udp 2001:db8:2::2:9000-9001 → fd00::2 0',
    ],
  );
  const inside = await cli(['status', '--json'], { netns: lab.hosts.backend.netns });
  t.is(inside.code, EXIT.OK, inside.stderr);
  const bns = json(inside.stdout);
  t.is(bns.netns, null);
  t.like(bns.tunnels[0], { interface: f.ifname.backend, role: 'backend', up: true });
  t.deepEqual(bns.rules.sort(), [
    '100: fwmark 0x1388 lookup 5000',
    '100: fwmark 0x1388 lookup 5000 (IPv6)',
    '101: uidrange 1000-1000 lookup 5000',
    '101: uidrange 1000-1000 lookup 5000 (IPv6)',
  ]);
  t.is(bns.routes.length, 4);
  const text = await cli(['status', '--netns', lab.hosts.frontend.netns]);
  t.regex(text.stdout, /\n {2}forward tcp 203\.0\.113\.2:80 \(IPv4\) → 10\.0\.0\.2:8080: 1 connection\n/);

  // doctor: text and JSON.
  const doc = await cli(['doctor', '-c', f.frontend]);
  t.is(doc.code, EXIT.OK, doc.stdout + doc.stderr);
  for (const line of doc.stdout.trim().split('\n')) t.regex(line, /^(ok {2}|warn) /);
  const docJson = json((await cli(['doctor', '-c', f.backend, '--json'])).stdout);
  t.true(docJson.ok);
  t.deepEqual(
    docJson.checks.map((c: { name: string }) => c.name),
    [
      'privileges',
      `permissions of ${f.backend}`,
      `permissions of ${join(dir, 'backend.key')}`,
      'nftables',
      'policy routing',
      'WireGuard',
      'state',
    ],
  );
  t.is(docJson.checks.at(-1).detail, 'the kernel matches the configuration');

  // down, and down again.
  const down = await cli(['down', '-c', f.backend]);
  t.is(down.code, EXIT.OK, down.stderr);
  t.regex(down.stdout, /\ndown: \d+ change\(s\) applied\n$/);
  t.is((await cli(['down', '-c', f.backend])).stdout, 'down: nothing to change\n');
  t.deepEqual(json((await cli(['down', '-c', f.frontend, '--json'])).stdout).command, 'down');
  t.deepEqual(json((await cli(['down', '-c', f.frontend, '--json'])).stdout), { command: 'down', applied: [], netlinkWrites: 0 });
  for (const h of ['frontend', 'backend'] as const) {
    t.deepEqual(json((await cli(['status', '--netns', lab.hosts[h].netns, '--json'])).stdout), {
      netns: lab.hosts[h].netns,
      tunnels: [],
      routes: [],
      rules: [],
      warnings: [],
    });
    t.false(existsSync(socketPath(f.ifname[h])));
  }
  t.is(
    (await cli(['status', '--netns', lab.hosts.frontend.netns])).stdout,
    `netfwd has nothing set up in namespace ${lab.hosts.frontend.netns}\n`,
  );
});

test('a failed up exits 1, names the step and leaves the namespace as it was; a name netfwd does not own exits 8', async (t) => {
  const ns = freshNetns(t, 'nfclifail');
  const dir = tempDir(t);
  const tag = uniqueTag();
  const key = writeFile(join(dir, 'b.key'), `${generatePrivateKey().toBase64()}\n`, 0o600);
  const cfg = writeFile(
    join(dir, 'b.yaml'),
    [
      'role: backend',
      `netns: ${ns}`,
      'tunnel:',
      `  interface: nf${tag}b`,
      '  addresses: [10.0.0.2/24]',
      `  privateKeyFile: ${key}`,
      `  peer: { publicKey: ${publicKey(generatePrivateKey())}, endpoint: "203.0.113.2:51820" }`,
      'returnPath: { mode: uid, uids: [1000] }',
      'services: []',
      '',
    ].join('\n'),
    0o644,
  );
  t.teardown(() => cli(['down', '-c', cfg]));
  inNetns(ns, 'ip', ['route', 'add', 'unreachable', 'default', 'table', '5000', 'metric', '4294967295', 'proto', 'static']);
  const before = execFileSync('/usr/sbin/ip', ['-n', ns, '-j', '-d', 'link', 'show'], { encoding: 'utf8' });
  const r = await cli(['up', '-c', cfg]);
  t.is(r.code, EXIT.FAILED, r.stderr);
  t.regex(
    r.stderr,
    /^netfwd: step \d+\/\d+ "\+ route unreachable default table 5000 metric 4294967295" failed: .*File exists \(EEXIST\); the previous state was restored\n$/,
  );
  t.is(
    execFileSync('/usr/sbin/ip', ['-n', ns, '-j', '-d', 'link', 'show'], { encoding: 'utf8' }),
    before,
    'the tunnel link was removed again',
  );
  t.false(existsSync(socketPath(`nf${tag}b`)));

  inNetns(ns, 'ip', ['route', 'del', 'unreachable', 'default', 'table', '5000', 'metric', '4294967295']);
  inNetns(ns, 'nft', ['add', 'table', 'inet', `netfwd-nf${tag}b`]);
  const owned = await cli(['up', '-c', cfg]);
  t.is(owned.code, EXIT.OWNERSHIP, owned.stderr);
  t.regex(owned.stderr, new RegExp(`nftables table inet netfwd-nf${tag}b exists but was not made by netfwd`));
});

/**
 * `netfwd import` through the built CLI: files written (key files 0600, the
 * YAML naming them, nothing overwritten), standard output without secrets,
 * --json, the notes on stderr with file:line, exit codes 2 and 3 — and then
 * seed 000's own NetworkManager keyfiles and iptables files, imported and
 * applied with `netfwd up` in a namespace lab: `nft -j list ruleset` on the
 * frontend holds the seed's DNAT of 9735 to 10.0.0.2, `ip -j rule` on the
 * backend its uidrange 1000-1001 rule into table 5000, `wg show` the seed's
 * keys and port. The seed's public address is replaced by the lab's
 * documentation-range address, and the interface name by a unique one,
 * before anything touches the kernel. Seed 002's VPS as one wg-quick file
 * (PostUp iptables lines, the key in the file `wg set` names) is applied the
 * same way: DNAT 80 → 10.8.0.2:8080 with source NAT on the uplink.
 */

import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ava from 'ava';
import { EXIT } from '../../src/cli/exit-codes.js';
import { Lab } from '../../src/lab/index.js';
import { generatePrivateKey, publicKey } from '../../src/wireguard/index.js';
import { cli, missingBuild, tempDir, writeFile } from '../helpers/cli.js';
import { e2eSkipReason, inNetns, LAB_ADDRESSES, uniqueTag } from '../helpers/e2e.js';
import { kernelTest } from '../helpers/kernel.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/import');
const SEED = join(FIXTURES, 'seed-000-networkmanager-iptables');
const SECRETS = [
  'mH7ne9DOC4jCESHYjzsc91qDSVXhOLY3oPiADurPMHc=',
  'yKWZSjXoOaoEHF+wBmZVU+bIs9KGF49dD7pxxvghwH8=',
  'rzZQ8bvdD1W1wPzHKFWO5k1D/ddsGT9lYQPp05Cvdn0=',
];

ava.before('the CLI is built', (t) => {
  const missing = missingBuild();
  if (missing) t.fail(missing);
  else t.pass();
});

const noSecrets = (t: import('ava').ExecutionContext, text: string) => {
  for (const s of SECRETS) t.false(text.includes(s), 'no key in the output');
};
const mode = (path: string) => statSync(path).mode & 0o777;

ava('import -o writes the YAML and 0600 key files, prints the notes on stderr, and never overwrites', async (t) => {
  const dir = tempDir(t);
  const out = join(dir, 'frontend.yaml');
  const r = await cli(['import', join(SEED, 'frontend/wg0.nmconnection'), join(SEED, 'frontend/iptables'), '-o', out]);
  t.is(r.code, EXIT.OK, r.stderr);
  t.is(r.stdout, '');
  noSecrets(t, r.stdout + r.stderr);
  t.regex(r.stderr, /^netfwd import: frontend \(DNAT to a WireGuard peer at .*frontend\/iptables:8\)\n/);
  t.regex(r.stderr, new RegExp(`wrote ${dir}/frontend\\.key \\(mode 0600\\)\\n`));
  t.regex(r.stderr, /not translated \(\d+\):\n/);
  t.regex(r.stderr, /frontend\/iptables:26: -t mangle -A WIREGUARD_PRT .* — CHECKSUM/);
  t.is(mode(join(dir, 'frontend.key')), 0o600);
  t.is(mode(join(dir, 'frontend-peer1.psk')), 0o600);
  t.is(readFileSync(join(dir, 'frontend.key'), 'utf8'), `${SECRETS[0]}\n`);
  const yaml = readFileSync(out, 'utf8');
  noSecrets(t, yaml);
  t.regex(yaml, /^# Imported by `netfwd import`/);
  t.regex(yaml, /\n#   \S*frontend\/iptables:42: -A INPUT -p tcp --dport 22/);
  t.regex(yaml, /\n {2}privateKeyFile: frontend\.key\n/);
  // What was written is what `netfwd plan -c` loads (here only as far as loading: plan needs root and a namespace).
  const again = await cli(['import', join(SEED, 'frontend/wg0.nmconnection'), join(SEED, 'frontend/iptables'), '-o', out]);
  t.is(again.code, EXIT.USAGE);
  t.regex(again.stderr, /frontend\.yaml exists: netfwd import does not overwrite files/);
  t.is(readFileSync(out, 'utf8'), yaml);
  // A key file of the same name with another key is never replaced.
  const other = join(dir, 'other.yaml');
  writeFile(join(dir, 'other.key'), 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE=\n', 0o600);
  const clash = await cli(['import', join(SEED, 'frontend/wg0.nmconnection'), join(SEED, 'frontend/iptables'), '-o', other]);
  t.is(clash.code, EXIT.USAGE);
  t.regex(clash.stderr, /other\.key exists and holds another key/);
  t.throws(() => statSync(other), { code: 'ENOENT' }, 'nothing written');
  t.throws(() => statSync(join(dir, 'other-peer1.psk')), { code: 'ENOENT' });
});

ava('import without -o prints the YAML (no key) and writes key files in the current directory; --json', async (t) => {
  const dir = tempDir(t);
  const r = await cli(['import', join(SEED, 'backend/wg0.nmconnection'), join(SEED, 'backend/iptables')], { cwd: dir });
  t.is(r.code, EXIT.OK, r.stderr);
  noSecrets(t, r.stdout + r.stderr);
  t.regex(r.stdout, /\nrole: backend\n/);
  t.regex(r.stdout, /\n {2}privateKeyFile: wg0\.key\n/);
  t.regex(r.stdout, /\nreturnPath:\n {2}mode: uid\n {2}uids:\n {4}- 1000-1001\n {2}table: 5000\n {2}priority: 100\n/);
  t.is(readFileSync(join(dir, 'wg0.key'), 'utf8'), `${SECRETS[1]}\n`);
  t.is(mode(join(dir, 'wg0.psk')), 0o600);
  // Again: the key files hold the same keys, so they are kept.
  const json = await cli(['import', join(SEED, 'backend/wg0.nmconnection'), join(SEED, 'backend/iptables'), '--json'], { cwd: dir });
  t.is(json.code, EXIT.OK, json.stderr);
  noSecrets(t, json.stdout + json.stderr);
  t.regex(json.stderr, /kept .*wg0\.key/);
  const doc = JSON.parse(json.stdout) as {
    role: string;
    config: { returnPath: unknown; services: unknown };
    notTranslated: Array<{ file: string; line: number; reason: string }>;
    yaml: string;
  };
  t.is(doc.role, 'backend');
  t.deepEqual(doc.config.returnPath, { mode: 'uid', uids: ['1000-1001'], table: 5000, priority: 100 });
  t.deepEqual(doc.config.services, [{ protocol: 'tcp', port: 9735 }]);
  t.true(doc.notTranslated.some((n) => n.file.endsWith('backend/iptables') && n.line === 9));
  t.regex(doc.yaml, /^# Imported/);
});

ava('bad input exits 3 with file:line and writes nothing; usage errors exit 2', async (t) => {
  const dir = tempDir(t);
  const bad = writeFile(
    join(dir, 'wg0.conf'),
    '[Interface]\nAddress = 10.0.0.1/24\nPrivateKey = <privatekey of VPS>\nListenPort = 51820\n[Peer]\nPublicKey = AaxtOheAXrhGAIrOboi2Cjq+u2vNmVDb3rSQSv02NXU=\nAllowedIPs = 10.0.0.2/32\n',
    0o600,
  );
  const rules = writeFile(
    join(dir, 'nat.sh'),
    'iptables -t nat -A PREROUTING -p tcp --dport 80 -j DNAT --to-destination 10.0.0.2\n',
    0o644,
  );
  const r = await cli(['import', bad, rules, '-o', join(dir, 'out.yaml')]);
  t.is(r.code, EXIT.CONFIG);
  t.is(
    r.stderr,
    `netfwd: ${bad}:3: PrivateKey is not a WireGuard key (a placeholder such as <privatekey>, or a typo?) (expected 32 bytes in base64, 44 characters ending in "=", as wg genkey prints)\n`,
  );
  t.throws(() => statSync(join(dir, 'out.yaml')), { code: 'ENOENT' });
  const broken = writeFile(join(dir, 'r.sh'), '#!/bin/sh\nsudo iptables -t nat -A POSTROUTING -o wg0 -j SNAT MASQURADE\n', 0o644);
  const r2 = await cli(['import', join(SEED, 'frontend/wg0.nmconnection'), broken]);
  t.is(r2.code, EXIT.CONFIG);
  t.regex(r2.stderr, new RegExp(`^netfwd: ${broken}:2: unexpected word "MASQURADE" in an iptables rule`));
  const missing = await cli(['import', join(dir, 'nope.conf')]);
  t.is(missing.code, EXIT.CONFIG);
  t.regex(missing.stderr, /nope\.conf: cannot read the file: No such file or directory \(ENOENT\)/);
  for (const args of [['import'], ['import', bad, '--role', 'vps'], ['import', bad, '--frob']]) {
    const u = await cli(args);
    t.is(u.code, EXIT.USAGE, args.join(' '));
    t.is(u.stdout, '');
  }
});

ava('a key file the sources name but this machine lacks stays a reference; the import still loads and succeeds', async (t) => {
  const dir = tempDir(t);
  const keyPath = join(dir, 'elsewhere', 'privatekey');
  const conf = writeFile(
    join(dir, 'wg0.conf'),
    readFileSync(join(FIXTURES, 'seed-002-wg-quick-vps/vps-postup/wg0.conf'), 'utf8')
      .replace('<publickey of RPi>', publicKey(generatePrivateKey()))
      .replace('<publickey of peer 2>', publicKey(generatePrivateKey()))
      .replace('/etc/wireguard/privatekey', keyPath),
    0o600,
  );
  const out = join(dir, 'vps.yaml');
  const r = await cli(['import', conf, '-o', out]);
  t.is(r.code, EXIT.OK, r.stderr);
  t.regex(r.stderr, new RegExp(`wg0\\.conf:6: private key file ${keyPath} — cannot be read here`));
  t.regex(readFileSync(out, 'utf8'), new RegExp(`\\n {2}privateKeyFile: ${keyPath}\\n`));
  t.regex(r.stderr, /^netfwd import: frontend /);
});

// ------------------------------------------------------------- in the lab

const base = kernelTest(['ip', 'wg', 'nft']);
const skip = e2eSkipReason();
const labTest = skip ? base.skip : base;

labTest('seed 000 imported and applied: the DNAT of 9735 and the uidrange rule are in the kernel', async (t) => {
  const tag = uniqueTag();
  const lab = await Lab.create({ prefix: `nfimp-${tag}` });
  const dir = tempDir(t);
  const names = { frontend: `nf${tag}f`, backend: `nf${tag}b` };
  // Documentation-range addresses and unique interface names before anything touches the kernel.
  const local = (side: 'frontend' | 'backend', file: string) =>
    writeFile(
      join(dir, `${side}-${file}`),
      readFileSync(join(SEED, side, file), 'utf8')
        .replaceAll('142.250.179.110', LAB_ADDRESSES.frontend.ipv4)
        .replace(/\bwg0\b/g, names[side]),
      0o600,
    );
  const files = {
    frontend: [local('frontend', 'wg0.nmconnection'), local('frontend', 'iptables')],
    backend: [local('backend', 'wg0.nmconnection'), local('backend', 'iptables')],
  };
  const cfg = { frontend: join(dir, 'frontend.yaml'), backend: join(dir, 'backend.yaml') };
  t.teardown(async () => {
    await cli(['down', '-c', cfg.backend], { netns: lab.hosts.backend.netns });
    await cli(['down', '-c', cfg.frontend], { netns: lab.hosts.frontend.netns });
    await lab.destroy();
  });
  for (const side of ['frontend', 'backend'] as const) {
    const r = await cli(['import', ...files[side], '-o', cfg[side]]);
    t.is(r.code, EXIT.OK, r.stderr);
    const up = await cli(['up', '-c', cfg[side]], { netns: lab.hosts[side].netns });
    t.is(up.code, EXIT.OK, up.stderr);
    noSecrets(t, up.stdout + up.stderr);
  }

  // Frontend: nft (the tool) finds the seed's forward in netfwd's table: public 203.0.113.2 tcp 9735 → 10.0.0.2 . 9735.
  const fns = lab.hosts.frontend.netns;
  const ruleset = JSON.parse(inNetns(fns, 'nft', ['-j', 'list', 'ruleset'])) as { nftables: Array<Record<string, any>> };
  const table = `netfwd-${names.frontend}`;
  t.true(
    ruleset.nftables.some((x) => x.table?.name === table),
    "netfwd's table",
  );
  const dnat = ruleset.nftables.find((x) => x.map?.table === table && x.map?.name === 'dnat4')?.map as { elem?: unknown[] } | undefined;
  t.truthy(dnat, 'the dnat4 map');
  const elems = JSON.stringify(dnat!.elem ?? []);
  t.is((dnat!.elem ?? []).length, 1, elems);
  for (const part of [LAB_ADDRESSES.frontend.ipv4, '"tcp"', '9735', '10.0.0.2']) t.true(elems.includes(part), `${part} in ${elems}`);
  t.true(
    ruleset.nftables.some((x) => x.rule?.table === table && JSON.stringify(x.rule.expr).includes('masquerade')),
    "the seed's MASQUERADE",
  );
  // wg (the tool): the seed's keys and port.
  const fdump = inNetns(fns, 'wg', ['show', names.frontend, 'dump'])
    .trim()
    .split('\n')
    .map((l) => l.split('\t'));
  t.is(fdump[0]![1], 'tDbXnzbg81/H9HY1a7AhO+G7FsDkOuzbXJA6k8mGbiM=');
  t.is(fdump[0]![2], '12345');
  t.is(fdump[1]![0], 'AaxtOheAXrhGAIrOboi2Cjq+u2vNmVDb3rSQSv02NXU=');
  t.is(fdump[1]![3], '10.0.0.2/32');
  const faddr = JSON.parse(inNetns(fns, 'ip', ['-4', '-j', 'addr', 'show', 'dev', names.frontend])) as Array<{
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>;
  t.deepEqual(
    faddr[0]!.addr_info.map((a) => `${a.local}/${a.prefixlen}`),
    ['10.0.0.1/24'],
  );

  // Backend: ip (the tool) finds the seed's routing rule and table 5000's default into the tunnel.
  const bns = lab.hosts.backend.netns;
  const rules = JSON.parse(inNetns(bns, 'ip', ['-j', 'rule', 'show'])) as Array<Record<string, unknown>>;
  t.true(
    rules.some((r) => r.priority === 101 && r.uid_start === 1000 && r.uid_end === 1001 && r.table === '5000'),
    JSON.stringify(rules),
  );
  const routes = JSON.parse(inNetns(bns, 'ip', ['-j', 'route', 'show', 'table', '5000'])) as Array<Record<string, unknown>>;
  t.true(
    routes.some((r) => r.dst === 'default' && r.dev === names.backend),
    JSON.stringify(routes),
  );
  const bdump = inNetns(bns, 'wg', ['show', names.backend, 'dump'])
    .trim()
    .split('\n')
    .map((l) => l.split('\t'));
  t.is(bdump[0]![1], 'AaxtOheAXrhGAIrOboi2Cjq+u2vNmVDb3rSQSv02NXU=');
  t.is(bdump[1]![0], 'tDbXnzbg81/H9HY1a7AhO+G7FsDkOuzbXJA6k8mGbiM=');
  t.is(bdump[1]![2], `${LAB_ADDRESSES.frontend.ipv4}:12345`);
  t.is(bdump[1]![7], '25');
});

labTest(
  'seed 002 as one wg-quick file (PostUp iptables lines, wg set private-key FILE) imported and applied: DNAT 80 → 8080 with source NAT',
  async (t) => {
    const tag = uniqueTag();
    const lab = await Lab.create({ prefix: `nfimq-${tag}` });
    const dir = tempDir(t);
    const name = `nf${tag}f`;
    const key = generatePrivateKey().toBase64();
    const rpi = publicKey(generatePrivateKey());
    writeFile(join(dir, 'privatekey'), `${key}\n`, 0o600);
    // The seed's placeholders filled in, its key file and uplink (ens3) replaced by the lab's, the interface named uniquely.
    const conf = writeFile(
      join(dir, `${name}.conf`),
      readFileSync(join(FIXTURES, 'seed-002-wg-quick-vps/vps-postup/wg0.conf'), 'utf8')
        .replace('<publickey of RPi>', rpi)
        .replace('<publickey of peer 2>', publicKey(generatePrivateKey()))
        .replace('/etc/wireguard/privatekey', join(dir, 'privatekey'))
        .replaceAll('ens3', 'eth0'),
      0o600,
    );
    const cfg = join(dir, 'vps.yaml');
    const ns = lab.hosts.frontend.netns;
    t.teardown(async () => {
      await cli(['down', '-c', cfg], { netns: ns });
      await lab.destroy();
    });
    const r = await cli(['import', conf, '-o', cfg]);
    t.is(r.code, EXIT.OK, r.stderr);
    t.false(r.stdout.includes(key) || r.stderr.includes(key) || readFileSync(cfg, 'utf8').includes(key));
    t.regex(readFileSync(cfg, 'utf8'), new RegExp(`\\n {2}privateKeyFile: ${join(dir, 'privatekey')}\\n`));
    const up = await cli(['up', '-c', cfg], { netns: ns });
    t.is(up.code, EXIT.OK, up.stderr);

    const ruleset = JSON.parse(inNetns(ns, 'nft', ['-j', 'list', 'ruleset'])) as { nftables: Array<Record<string, any>> };
    const table = `netfwd-${name}`;
    const dnat = ruleset.nftables.find((x) => x.map?.table === table && x.map?.name === 'dnat4_any')?.map as
      | { elem?: unknown[] }
      | undefined;
    // No -d in the seed's DNAT: the forward covers every local address (the map keyed by protocol and port).
    const elems = JSON.stringify(dnat?.elem ?? []);
    t.is((dnat?.elem ?? []).length, 1, elems);
    for (const part of ['"tcp"', '80', '10.8.0.2', '8080']) t.true(elems.includes(part), `${part} in ${elems}`);
    const rules = JSON.stringify(ruleset.nftables.filter((x) => x.rule?.table === table).map((x) => x.rule.expr));
    t.true(rules.includes('"snat"') && rules.includes('10.8.0.1'), 'source NAT to the tunnel address (sourceNat: true)');
    t.true(rules.includes('"eth0"'), 'public.interface from -i ens3 (eth0 here)');
    const dump = inNetns(ns, 'wg', ['show', name, 'dump'])
      .trim()
      .split('\n')
      .map((l) => l.split('\t'));
    t.is(dump[0]![1], publicKey(key), 'the key from the file wg set named');
    t.is(dump[0]![2], '42069');
    const peers = dump.slice(1).map((p) => [p[0], p[3]]);
    t.true(
      peers.some(([k, a]) => k === rpi && a === '10.8.0.2/32'),
      JSON.stringify(peers),
    );
    t.deepEqual(peers.map((p) => p[1]).sort(), ['10.8.0.2/32', '10.8.0.3/32']);
  },
);

ava('import --help prints its usage and exits 0; import with no file is a usage error', async (t) => {
  const help = await cli(['import', '--help']);
  t.is(help.code, EXIT.OK, help.stderr);
  t.regex(help.stdout, /^usage: netfwd import FILE\.\.\./);
  const none = await cli(['import']);
  t.is(none.code, EXIT.USAGE);
  t.regex(none.stderr, /at least one input file/);
});

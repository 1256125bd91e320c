/**
 * `netfwd import` of the tagged-routing recipe (seed 003) through the built
 * CLI: one configuration per machine — `-o DIR/` writes DIR/frontend.yaml,
 * backend.yaml, lan-router.yaml and service-host.yaml, each the expected
 * YAML of test/fixtures/import/seed-003-openvpn-dscp/expected; without -o one
 * YAML stream on standard output; --json; nothing overwritten (exit 2); a
 * machine whose configuration cannot be made (a DSCP value the others do not
 * use) is not written, the others are, and the exit status is 3. Nothing
 * here needs root or touches the kernel.
 */

import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ava from 'ava';
import { parseAllDocuments } from 'yaml';
import { EXIT } from '../../src/cli/exit-codes.js';
import { cli, missingBuild, tempDir, writeFile } from '../helpers/cli.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../fixtures/import');
const DIR = 'seed-003-openvpn-dscp';
const RECIPE = [
  'remote-server/firewall.sh',
  'remote-server/route.sh',
  'remote-server/sysctl.conf',
  'vpn-server/server.vpn.example.net.conf',
  'vpn-server/client/home.vpn.example.net',
  'vpn-server/firewall.sh',
  'vpn-server/sysctl.conf',
  'vpn-client/home.vpn.example.net.conf',
  'vpn-client/up.sh',
  'vpn-client/down.sh',
  'vpn-client/firewall.sh',
  'vpn-client/sysctl.conf',
  'home-server/routing.sh',
  'home-server/connmark.sh',
].map((f) => `${DIR}/${f}`);
const MACHINES = ['frontend', 'backend', 'lan-router', 'service-host'];
const expected = (machine: string) => readFileSync(join(FIXTURES, DIR, 'expected', `${machine}.yaml`), 'utf8');

ava.before('the CLI is built', (t) => {
  const missing = missingBuild();
  if (missing) t.fail(missing);
  else t.pass();
});

ava('import -o DIR/ writes one configuration per machine, as expected, and overwrites nothing', async (t) => {
  const out = join(tempDir(t), 'netfwd/');
  const r = await cli(['import', ...RECIPE, '-o', out], { cwd: FIXTURES });
  t.is(r.code, EXIT.OK, r.stderr);
  t.is(r.stdout, '');
  t.deepEqual(readdirSync(out).sort(), MACHINES.map((m) => `${m}.yaml`).sort());
  for (const m of MACHINES) {
    t.is(readFileSync(join(out, `${m}.yaml`), 'utf8'), expected(m), m);
    t.is(statSync(join(out, `${m}.yaml`)).mode & 0o777, 0o644);
  }
  t.regex(r.stderr, /^netfwd import: 4 machines\n/);
  t.regex(
    r.stderr,
    new RegExp(
      `\\nfrontend \\(${DIR}/vpn-server/server\\.vpn\\.example\\.net\\.conf is an OpenVPN server's configuration\\): wrote ${out}frontend\\.yaml\\n`,
    ),
  );
  t.regex(
    r.stderr,
    /\nbackend: not translated \(1\):\n {2}\S*vpn-client\/firewall\.sh:6: -t mangle -A POSTROUTING -o tun0 -j DSCP --set-dscp 0 — clears the DSCP tag/,
  );
  t.regex(
    r.stderr,
    /\nfrontend: not translated \(3\):\n {2}\S*remote-server\/firewall\.sh:3: .*--dport 1194 -j DNAT --to 192\.168\.200\.2 — /,
  );

  const again = await cli(['import', ...RECIPE, '-o', out], { cwd: FIXTURES });
  t.is(again.code, EXIT.USAGE);
  t.regex(again.stderr, /frontend\.yaml exists: netfwd import does not overwrite files/);
  for (const m of MACHINES) t.is(readFileSync(join(out, `${m}.yaml`), 'utf8'), expected(m), `${m} unchanged`);
});

ava('import -o FILE takes one configuration; --role picks it; several are a usage error', async (t) => {
  const dir = tempDir(t);
  const many = await cli(['import', ...RECIPE, '-o', join(dir, 'all.yaml')], { cwd: FIXTURES });
  t.is(many.code, EXIT.USAGE);
  t.regex(many.stderr, /4 configurations \(frontend, backend, lan-router, service-host\): -o names a directory/);
  t.deepEqual(readdirSync(dir), []);
  const one = await cli(['import', ...RECIPE, '--role', 'backend', '-o', join(dir, 'vpn-client.yaml')], { cwd: FIXTURES });
  t.is(one.code, EXIT.OK, one.stderr);
  t.is(readFileSync(join(dir, 'vpn-client.yaml'), 'utf8'), expected('backend'));
  t.regex(one.stderr, /^netfwd import: 1 machine\nbackend \(/);
  // A WireGuard machine is a frontend or a backend.
  mkdirSync(join(dir, 'wg'));
  const wg = writeFile(join(dir, 'wg', 'wg0.conf'), '[Interface]\nAddress = 10.0.0.1/24\n', 0o600);
  const lan = await cli(['import', wg, '--role', 'lan-router']);
  t.is(lan.code, EXIT.USAGE);
  t.regex(lan.stderr, /--role lan-router is for the machines of an OpenVPN setup/);
});

ava('import without -o prints the configurations as one YAML stream; --json has each machine with its notes', async (t) => {
  const r = await cli(['import', ...RECIPE], { cwd: FIXTURES });
  t.is(r.code, EXIT.OK, r.stderr);
  t.is(r.stdout, MACHINES.map(expected).join('---\n'));
  const docs = parseAllDocuments(r.stdout);
  t.deepEqual(
    (Array.isArray(docs) ? docs : [docs]).map((d) => (d.toJS() as { role: string }).role),
    MACHINES,
  );
  const json = await cli(['import', ...RECIPE, '--json'], { cwd: FIXTURES });
  t.is(json.code, EXIT.OK, json.stderr);
  const doc = JSON.parse(json.stdout) as {
    machines: Array<{
      machine: string;
      output: null;
      notWritten: null;
      yaml: string;
      config: Record<string, unknown>;
      notTranslated: Array<{ file: string; line: number }>;
    }>;
    notTranslated: unknown[];
    inputs: Array<{ path: string; format: string; machine: string }>;
  };
  t.deepEqual(
    doc.machines.map((m) => [m.machine, m.output, m.notWritten, m.yaml === expected(m.machine)]),
    MACHINES.map((m) => [m, null, null, true]),
  );
  t.deepEqual(doc.machines[1]!.config.returnPath, { mode: 'dscp', dscp: 42, mark: 42, table: 42 });
  t.deepEqual(
    doc.machines[0]!.notTranslated.map((n) => `${n.file}:${n.line}`),
    [`${DIR}/remote-server/firewall.sh:3`, `${DIR}/remote-server/firewall.sh:8`, `${DIR}/vpn-server/server.vpn.example.net.conf:28`],
  );
  t.deepEqual(doc.notTranslated, []);
  t.is(doc.inputs.find((i) => i.path.endsWith('connmark.sh'))!.machine, 'service-host');
});

ava('a machine whose configuration cannot be made is not written, with the reason; the others are, and the exit status is 3', async (t) => {
  const dir = tempDir(t);
  const host = join(dir, 'home-server');
  mkdirSync(host);
  writeFile(join(host, 'routing.sh'), readFileSync(join(FIXTURES, DIR, 'home-server/routing.sh'), 'utf8'), 0o644);
  const connmark = writeFile(
    join(host, 'connmark.sh'),
    readFileSync(join(FIXTURES, DIR, 'home-server/connmark.sh'), 'utf8').replaceAll('dscp 42', 'dscp 43'),
    0o644,
  );
  const files = RECIPE.filter((f) => !f.includes('home-server/')).map((f) => join(FIXTURES, f));
  const out = join(dir, 'out/');
  const r = await cli(['import', ...files, join(host, 'routing.sh'), connmark, '-o', out]);
  t.is(r.code, EXIT.CONFIG, r.stderr);
  t.deepEqual(readdirSync(out).sort(), ['backend.yaml', 'frontend.yaml', 'lan-router.yaml']);
  t.regex(
    r.stderr,
    new RegExp(
      `\\nservice-host \\(.*\\): not written — DSCP 43 \\(${connmark}:3, which matches it\\) is not the tag 42 that the VPN client sets on what it forwards to the LAN \\(.*vpn-client/firewall\\.sh:3\\)`,
    ),
  );

  // Nothing at all: exit 3 and the reasons.
  const none = await cli(['import', join(FIXTURES, DIR, 'vpn-server/server.vpn.example.net.conf'), '-o', join(dir, 'none/')]);
  t.is(none.code, EXIT.CONFIG);
  t.regex(none.stderr, /frontend \(.*\): not written — .*no client with a fixed address among the inputs/);
  t.regex(none.stderr, /netfwd: netfwd import: no configuration could be made \(the reasons are above\)\n$/);
  t.throws(() => statSync(join(dir, 'none')), { code: 'ENOENT' });
});

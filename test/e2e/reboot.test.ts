/**
 * The setup comes back after a reboot: `netfwd run` (the built CLI, as the
 * systemd unit starts it) on the frontend and the backend of the lab, traffic
 * from the client through the tunnel; then a simulated power cut and boot:
 *
 * - the run processes are killed with SIGKILL (no clean exit), every process
 *   in the two machines' namespaces ends (wireguard-go, the service);
 * - the kernel state netfwd made is gone, as after a boot: its links, routes,
 *   rules, nftables tables, and the forwarding sysctls back at their boot
 *   values — removed with the system tools (ip, nft), not with netfwd;
 * - /run is a tmpfs: netfwd's state directory (NETFWD_STATE_DIR) is deleted;
 *   /etc survives: the configuration files and keys stay.
 *
 * Then `netfwd run` starts again on both machines (backend first, as boot
 * order does not promise anything) and the client's connection works again,
 * the backend seeing the client's real address, and the service's own
 * outgoing connection leaving with the frontend's address.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type ExecutionContext } from 'ava';
import type { Lab } from '../../src/lab/index.js';
import { endProcessesIn, Lab as LabClass } from '../../src/lab/index.js';
import { CLI, missingBuild, tempDir, writeFile } from '../helpers/cli.js';
import {
  buildSpecs,
  dialAs,
  e2eSuite,
  inNetns,
  LAB_ADDRESSES,
  OUTSIDE_PORT,
  SERVICE_UID,
  type Specs,
  startService,
  tcpAsk,
  uniqueTag,
  whoami,
} from '../helpers/e2e.js';

interface RebootEnv {
  lab: Lab;
  specs: Specs;
  files: { frontend: string; backend: string };
  stateDir: string;
  runs: ChildProcess[];
  close(): Promise<void>;
}

const { test, env } = e2eSuite<RebootEnv>(async () => {
  const missing = missingBuild();
  if (missing) throw new Error(missing);
  const tag = uniqueTag();
  const lab = await LabClass.create({ prefix: `nfrb-${tag}` });
  const runs: ChildProcess[] = [];
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const root = mkdtempSync(join(tmpdir(), 'netfwd-reboot-'));
  const etc = join(root, 'etc');
  const stateDir = join(root, 'run', 'netfwd', 'state');
  mkdirSync(etc, { recursive: true, mode: 0o700 });
  const specs = buildSpecs(lab, tag, {
    backends: [
      { host: 'backend', name: 'home', mode: 'uid', addresses: ['10.0.0.2/24', 'fd00::2/64'], services: [{ protocol: 'tcp', port: 8080 }] },
    ],
    forwards: [{ protocol: 'tcp', port: 80, to: { peer: 'home', port: 8080 } }],
  });
  // The specs carry their keys inline: the files must be 0600.
  const files = {
    frontend: writeFile(join(etc, 'frontend.json'), JSON.stringify(specs.frontend), 0o600),
    backend: writeFile(join(etc, 'backend.json'), JSON.stringify(specs.backends[0]), 0o600),
  };
  return {
    lab,
    specs,
    files,
    stateDir,
    runs,
    async close() {
      for (const r of runs) if (r.exitCode === null && r.signalCode === null) r.kill('SIGKILL');
      await lab.destroy();
      rmSync(root, { recursive: true, force: true });
    },
  };
});

interface Run {
  child: ChildProcess;
  lines: string[];
  ready: Promise<void>;
}

function startRun(e: RebootEnv, file: string): Run {
  const child = spawn(process.execPath, [CLI, 'run', '-c', file, '--json'], {
    env: { ...process.env, NETFWD_STATE_DIR: e.stateDir, NOTIFY_SOCKET: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  e.runs.push(child);
  const lines: string[] = [];
  let stderr = '';
  let buf = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (line.includes('"event":"ready"')) resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`netfwd run exited (${code}) before it was ready:\n${lines.join('\n')}\n${stderr}`)));
    setTimeout(() => reject(new Error(`netfwd run not ready after 60 s:\n${lines.join('\n')}\n${stderr}`)), 60_000).unref();
  });
  ready.catch(() => undefined);
  return { child, lines, ready };
}

/** The client's request through the frontend's forward, retried while the tunnel comes up. */
async function askUntilAnswered(lab: Lab, ms = 30_000): Promise<string> {
  const end = Date.now() + ms;
  let last = '';
  while (Date.now() < end) {
    last = await lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: 80, timeoutMs: 2000 });
    if (!last.startsWith('(')) return last;
    await new Promise((r) => setTimeout(r, 300));
  }
  return last;
}

const ipj = (ns: string, args: string[]) => {
  const text = inNetns(ns, 'ip', ['-j', ...args]).trim();
  return (text ? JSON.parse(text) : []) as Array<Record<string, any>>;
};

/** Routes of table 5000 (`ip route show table 5000` fails while the table does not exist). */
const table5000 = (ns: string, family: '-4' | '-6') => ipj(ns, [family, 'route', 'show', 'table', 'all']).filter((r) => r.table === '5000');

/** What a boot leaves of netfwd's kernel state in a machine: nothing. Done with the system tools. */
function bootState(ns: string, tunnel: string): void {
  if (ipj(ns, ['link', 'show']).some((l) => l.ifname === tunnel)) inNetns(ns, 'ip', ['link', 'del', tunnel]);
  inNetns(ns, 'nft', ['flush', 'ruleset']);
  for (const family of ['-4', '-6'] as const) {
    for (const r of ipj(ns, [family, 'rule', 'show'])) {
      if (r.protocol === '233') inNetns(ns, 'ip', [family, 'rule', 'del', 'priority', String(r.priority)]);
    }
    // One by one: `ip -6 route flush` leaves unreachable routes.
    for (const r of table5000(ns, family)) {
      inNetns(ns, 'ip', [
        family,
        'route',
        'del',
        ...(r.type && r.type !== 'unicast' ? [r.type] : []),
        r.dst,
        'table',
        '5000',
        ...(r.metric !== undefined ? ['metric', String(r.metric)] : []),
      ]);
    }
  }
  inNetns(ns, 'tee', ['/proc/sys/net/ipv4/ip_forward'], '0');
  inNetns(ns, 'tee', ['/proc/sys/net/ipv6/conf/all/forwarding'], '0');
}

function netfwdState(ns: string, tunnel: string) {
  return {
    link: ipj(ns, ['link', 'show']).some((l) => l.ifname === tunnel),
    table: inNetns(ns, 'nft', ['list', 'tables']).includes(`netfwd-${tunnel}`),
    rules: [...ipj(ns, ['-4', 'rule', 'show']), ...ipj(ns, ['-6', 'rule', 'show'])].filter((r) => r.protocol === '233').length,
    routes: table5000(ns, '-4').length + table5000(ns, '-6').length,
  };
}

async function checkTraffic(t: ExecutionContext, e: RebootEnv): Promise<void> {
  const answer = await askUntilAnswered(e.lab);
  t.is(answer, `home ${LAB_ADDRESSES.client.ipv4} 8080`, 'the backend answers and sees the client');
  const [seen] = await dialAs(e.lab, 'backend', SERVICE_UID, [{ host: LAB_ADDRESSES.outside.ipv4, port: OUTSIDE_PORT }]);
  t.is(seen, LAB_ADDRESSES.frontend.ipv4, "the service's own connection leaves with the frontend's address");
}

test('traffic flows with netfwd run on both ends, and again after a power cut and a boot', async (t) => {
  const e = env();
  const fe = e.lab.hosts.frontend.netns;
  const be = e.lab.hosts.backend.netns;
  const feIf = e.specs.frontend.tunnel.interface;
  const beIf = e.specs.backends[0]!.tunnel!.interface;
  e.lab.start('internet', whoami, OUTSIDE_PORT);
  let service = await startService(e.lab, 'backend', { name: 'home', tcp: [8080], udp: [] });

  const front = startRun(e, e.files.frontend);
  const back = startRun(e, e.files.backend);
  await Promise.all([front.ready, back.ready]);
  await checkTraffic(t, e);

  // Power cut.
  front.child.kill('SIGKILL');
  back.child.kill('SIGKILL');
  service.stop();
  await endProcessesIn([fe, be]);
  bootState(fe, feIf);
  bootState(be, beIf);
  rmSync(e.stateDir, { recursive: true, force: true });
  t.deepEqual(netfwdState(fe, feIf), { link: false, table: false, rules: 0, routes: 0 });
  t.deepEqual(netfwdState(be, beIf), { link: false, table: false, rules: 0, routes: 0 });
  t.is(inNetns(fe, 'cat', ['/proc/sys/net/ipv4/ip_forward']).trim(), '0');
  t.regex(
    await e.lab.run('client', tcpAsk, { host: LAB_ADDRESSES.frontend.ipv4, port: 80, timeoutMs: 1000 }),
    /^\(/,
    'nothing answers after the boot',
  );

  // Boot: the units start `netfwd run` (backend first), the service starts after netfwd@backend.
  const back2 = startRun(e, e.files.backend);
  await back2.ready;
  service = await startService(e.lab, 'backend', { name: 'home', tcp: [8080], udp: [] });
  const front2 = startRun(e, e.files.frontend);
  await front2.ready;
  await checkTraffic(t, e);
  // Per family the fwmark rule of the connections that arrived through the tunnel and the uid rule; the tunnel default and the leak guard.
  t.deepEqual(netfwdState(be, beIf), { link: true, table: true, rules: 4, routes: 4 });
  t.is(inNetns(fe, 'cat', ['/proc/sys/net/ipv4/ip_forward']).trim(), '1');
  // The applied event of each run lists what it had to make from nothing.
  const applied = (r: Run) => JSON.parse(r.lines.find((l) => l.includes('"event":"applied"'))!) as { details: { changes: string[] } };
  t.true(applied(back2).details.changes.some((c) => c.startsWith('+ link')));
  t.true(applied(front2).details.changes.some((c) => c.startsWith('+ link')));
  // The backend's run reports the handshake with the frontend (it reads them every 10 s).
  const end = Date.now() + 25_000;
  while (!back2.lines.some((l) => l.includes('"event":"peer-up"')) && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  const up = back2.lines.find((l) => l.includes('"event":"peer-up"'));
  t.truthy(up, back2.lines.join('\n'));
  t.like(JSON.parse(up!), { level: 'info', details: { peer: 'frontend', endpoint: `${LAB_ADDRESSES.frontend.ipv4}:51820` } });

  // Stopping both (SIGTERM) leaves the configuration: the backend's leak guard stays.
  back2.child.kill('SIGTERM');
  front2.child.kill('SIGTERM');
  await Promise.all([back2, front2].map((r) => new Promise((res) => (r.child.exitCode !== null ? res(null) : r.child.once('exit', res)))));
  t.is(back2.child.exitCode, 0);
  t.true(table5000(be, '-4').some((r) => r.type === 'unreachable' && r.dst === 'default'));
  t.true(netfwdState(be, beIf).table);
  service.stop();
});

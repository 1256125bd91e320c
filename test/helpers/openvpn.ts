/**
 * A real OpenVPN tunnel between two namespaces — a tunnel netfwd does not own
 * (`tunnel.external`). Debian's OpenVPN 2.6 in its ordinary, non-deprecated
 * mode: TLS with a tiny PKI made by the openssl tool at start (an EC P-256 CA,
 * a server and a client certificate, `--dh none`), the server macro with
 * `topology subnet` on the frontend, `--client` on the backend, device type
 * tun (no DCO module here: the kernel's tun driver).
 *
 * OpenVPN adds no route: the server's `--server` with topology subnet only
 * gives its interface the subnet's first address (the kernel's connected
 * route comes with it), the client takes what is pushed except routes
 * (`--route-nopull`, and `--route-noexec` besides). The client's addresses
 * are fixed by a client-config-dir entry (`ifconfig-push`), not taken from
 * the pool. Reverse-path filtering is left as the namespace has it: netfwd
 * sets what the tunnel needs.
 */
import { type ChildProcess, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNetns } from '../../src/lab/index.js';
import { netns } from '../../src/netns/index.js';
import { ipJson, isRoot, toolPath } from './kernel.js';

export interface OpenVpnEndOptions {
  /** The namespace OpenVPN runs in. */
  netns: string;
  /** The tun interface's name (default 'ovpn-s' on the server, 'ovpn-c' on the client). */
  interface?: string;
}

export interface OpenVpnOptions {
  /** The server (the frontend): it listens on `address`. */
  server: OpenVpnEndOptions & { address: string };
  /** The client (the VPN client, netfwd's backend): it dials the server's address, or `remote`. */
  client: OpenVpnEndOptions & { remote?: string };
  /** Transport (default 'udp'). */
  proto?: 'udp' | 'tcp';
  /** Port (default 1194). */
  port?: number;
  /** The tunnel's IPv4 subnet: the server takes the first address, the client the second (default '10.0.8.0/24'). */
  subnet4?: string;
  /** The tunnel's IPv6 subnet, a /64 (default 'fd00:8::/64'); false: no IPv6 in the tunnel. */
  subnet6?: string | false;
}

export interface OpenVpnEnd {
  netns: string;
  interface: string;
  ipv4: string;
  ipv6?: string;
  /** The addresses as `ip addr` shows them: ['10.0.8.1/24', 'fd00:8::1/64']. */
  addresses: string[];
  /** The OpenVPN process. */
  process: ChildProcess;
  /** Its log so far. */
  log(): string;
}

export interface OpenVpnTunnel {
  /** `openvpn --version`'s first line: which component ran. */
  version: string;
  /** How it runs, for the test output. */
  mode: string;
  server: OpenVpnEnd;
  client: OpenVpnEnd;
  /** Resolves when both ends logged "Initialization Sequence Completed", `ip -j addr` shows the addresses, and TCP crosses both ways. */
  waitUp(timeoutMs?: number): Promise<void>;
  /** Ends one side at once (SIGKILL, as a crash): its tun interface disappears. */
  kill(side: 'server' | 'client'): Promise<void>;
  /** Ends both (SIGTERM, then SIGKILL) and removes the key material. Safe to call twice. */
  stop(): Promise<void>;
}

/** `openvpn --version`'s first line, or undefined when OpenVPN is not installed. */
export function openVpnVersion(): string | undefined {
  const r = spawnSync(toolPath('openvpn'), ['--version'], { encoding: 'utf8' });
  if (r.error) return undefined;
  return r.stdout.split('\n')[0]?.trim() || undefined;
}

/** Why the OpenVPN helper cannot run here, or undefined. */
export function openVpnSkipReason(): string | undefined {
  if (!isRoot) return 'needs root';
  if (!openVpnVersion()) return 'needs openvpn (Debian: apt-get install openvpn)';
  if (spawnSync(toolPath('openssl'), ['version'], { stdio: 'ignore' }).error) return 'needs the openssl tool for the test PKI';
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  return undefined;
}

const prefixOf = (cidr: string) => Number(cidr.split('/')[1]);

/** The n-th address of an IPv4 subnet. */
function nth4(cidr: string, n: number): string {
  const [base, len] = cidr.split('/');
  const v = base!.split('.').reduce((a, o) => a * 256 + Number(o), 0) + n;
  if (!(Number(len) <= 30)) throw new Error(`subnet4 ${cidr}: needs at least a /30`);
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
}

function netmask(len: number): string {
  const v = len === 0 ? 0 : 2 ** 32 - 2 ** (32 - len);
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
}

/** Makes the CA, the server's and the client's key and certificate (EC P-256) in `dir`. */
function makePki(dir: string): void {
  const ssl = (args: string[]) => execFileSync(toolPath('openssl'), args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=netfwd-test-ca']);
  for (const [name, usage] of [
    ['server', 'serverAuth'],
    ['client', 'clientAuth'],
  ] as const) {
    ssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
    writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=${usage}\n`);
    const sign = ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2'];
    ssl([...sign, '-extfile', `${name}.ext`, '-out', `${name}.crt`]);
  }
}

function collect(child: ChildProcess): { log: () => string; completed: Promise<void> } {
  let text = '';
  let resolveDone: () => void;
  let rejectDone: (e: Error) => void;
  const completed = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  completed.catch(() => undefined);
  const on = (d: Buffer) => {
    text += d;
    if (text.includes('Initialization Sequence Completed')) resolveDone();
  };
  child.stdout?.on('data', on);
  child.stderr?.on('data', on);
  child.once('exit', (code, signal) =>
    rejectDone(new Error(`openvpn exited (${code ?? signal}):\n${text.split('\n').slice(-15).join('\n')}`)),
  );
  return { log: () => text, completed };
}

/** Whether a TCP connect to `host` (port 9, nothing listens) is answered: refused means the tunnel carried it (portable). */
async function answers(arg: { host: string; timeoutMs: number }): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const c = net.connect(9, arg.host);
    const timer = setTimeout(() => {
      c.destroy();
      resolve(false);
    }, arg.timeoutMs);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      c.destroy();
      resolve(ok);
    };
    c.on('connect', () => done(true));
    c.on('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED'));
  });
}

/** Starts the server, then the client; call waitUp() before using the tunnel. */
export async function startOpenVpn(o: OpenVpnOptions): Promise<OpenVpnTunnel> {
  const version = openVpnVersion();
  if (!version) throw new Error('openvpn is not installed');
  const proto = o.proto ?? 'udp';
  const port = o.port ?? 1194;
  const subnet4 = o.subnet4 ?? '10.0.8.0/24';
  const subnet6 = o.subnet6 === undefined ? 'fd00:8::/64' : o.subnet6;
  const len4 = prefixOf(subnet4);
  if (subnet6 !== false && prefixOf(subnet6) !== 64) throw new Error(`subnet6 ${subnet6}: OpenVPN's server-ipv6 here takes a /64`);
  if (subnet6 !== false && !subnet6.split('/')[0]!.endsWith('::'))
    throw new Error(`subnet6 ${subnet6}: write it ending in '::' (e.g. fd00:8::/64)`);
  const v6 = (n: number) => (subnet6 === false ? undefined : `${subnet6.split('/')[0]}${n}`);
  const fam = o.server.address.includes(':') ? '6' : '4';

  const dir = mkdtempSync(join(tmpdir(), 'nfovpn-'));
  const children: ChildProcess[] = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
    const deadline = Date.now() + 3000;
    while (children.some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    makePki(dir);
    mkdirSync(join(dir, 'ccd'));
    const server = { ipv4: nth4(subnet4, 1), ipv6: v6(1) };
    const client = { ipv4: nth4(subnet4, 2), ipv6: v6(2) };
    writeFileSync(
      join(dir, 'ccd', 'client'),
      `ifconfig-push ${client.ipv4} ${netmask(len4)}\n${client.ipv6 ? `ifconfig-ipv6-push ${client.ipv6}/64 ${server.ipv6}\n` : ''}`,
    );
    const common = ['--dev-type', 'tun', '--ca', join(dir, 'ca.crt'), '--verb', '3', '--keepalive', '2', '10'];
    const serverIf = o.server.interface ?? 'ovpn-s';
    const clientIf = o.client.interface ?? 'ovpn-c';
    const serverArgs = [
      ...common,
      '--dev',
      serverIf,
      '--proto',
      proto === 'udp' ? `udp${fam}` : `tcp${fam}-server`,
      '--local',
      o.server.address,
      '--port',
      String(port),
      '--topology',
      'subnet',
      '--server',
      subnet4.split('/')[0]!,
      netmask(len4),
      ...(subnet6 === false ? [] : ['--server-ipv6', subnet6]),
      '--client-config-dir',
      join(dir, 'ccd'),
      '--ccd-exclusive',
      '--cert',
      join(dir, 'server.crt'),
      '--key',
      join(dir, 'server.key'),
      '--dh',
      'none',
    ];
    const clientArgs = [
      ...common,
      '--client',
      '--dev',
      clientIf,
      '--proto',
      proto === 'udp' ? `udp${fam}` : `tcp${fam}-client`,
      '--remote',
      o.client.remote ?? o.server.address,
      String(port),
      '--nobind',
      '--cert',
      join(dir, 'client.crt'),
      '--key',
      join(dir, 'client.key'),
      '--remote-cert-tls',
      'server',
      '--route-nopull',
      '--route-noexec',
    ];
    const launch = (ns: string, args: string[]) => {
      const child = netns.exec(ns, toolPath('openvpn'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      return { child, ...collect(child) };
    };
    const s = launch(o.server.netns, serverArgs);
    const c = launch(o.client.netns, clientArgs);
    const end = (ns: string, iface: string, a: { ipv4: string; ipv6?: string }, p: ReturnType<typeof launch>): OpenVpnEnd => ({
      netns: ns,
      interface: iface,
      ipv4: a.ipv4,
      ipv6: a.ipv6,
      addresses: [`${a.ipv4}/${len4}`, ...(a.ipv6 ? [`${a.ipv6}/64`] : [])],
      process: p.child,
      log: p.log,
    });
    const tunnel: OpenVpnTunnel = {
      version,
      mode: `TLS (test PKI: EC P-256 CA by openssl), --server topology subnet / --client, ${proto}${fam} port ${port}, tun, routes not pulled`,
      server: end(o.server.netns, serverIf, server, s),
      client: end(o.client.netns, clientIf, client, c),
      async waitUp(timeoutMs = 20000) {
        const deadline = Date.now() + timeoutMs;
        const left = () => Math.max(0, deadline - Date.now());
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, rej) => {
          timer = setTimeout(
            () =>
              rej(
                new Error(
                  `OpenVPN: no "Initialization Sequence Completed" after ${timeoutMs} ms\nserver:\n${s.log()}\nclient:\n${c.log()}`,
                ),
              ),
            left(),
          );
        });
        try {
          await Promise.race([Promise.all([s.completed, c.completed]), timeout]);
        } finally {
          clearTimeout(timer);
        }
        for (const e of [tunnel.server, tunnel.client]) {
          for (;;) {
            const info = ipJson(e.netns, ['addr', 'show', 'dev', e.interface])[0]?.addr_info ?? [];
            const have = info
              .filter((a: { scope: string }) => a.scope === 'global')
              .map((a: { local: string; prefixlen: number }) => `${a.local}/${a.prefixlen}`);
            if (e.addresses.every((a) => have.includes(a))) break;
            if (left() === 0)
              throw new Error(
                `OpenVPN: ${e.interface} in ${e.netns} has ${have.join(', ') || 'no addresses'}, wants ${e.addresses.join(', ')}`,
              );
            await new Promise((r) => setTimeout(r, 50));
          }
        }
        const probes: Array<[OpenVpnEnd, string]> = [
          [tunnel.client, tunnel.server.ipv4],
          [tunnel.server, tunnel.client.ipv4],
        ];
        if (server.ipv6 && client.ipv6) probes.push([tunnel.client, server.ipv6], [tunnel.server, client.ipv6]);
        for (const [from, host] of probes) {
          while (!(await runInNetns(from.netns, answers, { host, timeoutMs: 1000 }))) {
            if (left() === 0) throw new Error(`OpenVPN: ${host} does not answer through the tunnel from ${from.netns}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      },
      async kill(side) {
        const child = side === 'server' ? s.child : c.child;
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGKILL');
        await exited;
      },
      stop,
    };
    return tunnel;
  } catch (err) {
    await stop();
    throw err;
  }
}

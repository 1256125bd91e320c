/**
 * The fallback of test/helpers/docker.ts where Docker Engine cannot run: a
 * "docker0" bridge in the namespace, one namespace per container behind it,
 * Docker's own userland proxy (when installed), and the iptables rules Docker
 * Engine 20.10 installs, made with the same iptables(-nft) commands in the
 * same order. The rules, as `iptables-save` shows them after `dockerd --bip B
 * --ip6tables=false` and `docker run -p HP:P[/udp]` (measured with Debian's
 * 20.10.24 in a namespace of this machine; the same as moby's iptablesdoc):
 *
 *   filter  FORWARD policy DROP, when the daemon had to turn ip_forward on
 *           -A FORWARD -j DOCKER-USER
 *           -A FORWARD -j DOCKER-ISOLATION-STAGE-1
 *           -A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
 *           -A FORWARD -o docker0 -j DOCKER
 *           -A FORWARD -i docker0 ! -o docker0 -j ACCEPT
 *           -A FORWARD -i docker0 -o docker0 -j ACCEPT
 *           -A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
 *           -A DOCKER-ISOLATION-STAGE-1 -j RETURN
 *           -A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
 *           -A DOCKER-ISOLATION-STAGE-2 -j RETURN
 *           -A DOCKER-USER -j RETURN
 *           per port: -A DOCKER -d C/32 ! -i docker0 -o docker0 -p PROTO -m PROTO --dport P -j ACCEPT
 *   nat     -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
 *           -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
 *           -A POSTROUTING -s NET ! -o docker0 -j MASQUERADE
 *           -A DOCKER -i docker0 -j RETURN
 *           per port: -A POSTROUTING -s C/32 -d C/32 -p PROTO -m PROTO --dport P -j MASQUERADE
 *                     -A DOCKER ! -i docker0 -p PROTO -m PROTO --dport HP -j DNAT --to-destination C:P
 *
 * plus net.ipv4.ip_forward=1, and docker-proxy for each published port on
 * 0.0.0.0 and :: (what answers IPv6 and 127.0.0.1: the container then sees
 * the bridge's address, not the client's).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { endProcessesIn } from '../../src/lab/index.js';
import { netns } from '../../src/netns/index.js';
import type { DockerContainer, DockerPort } from './docker.js';
import { toolPath } from './kernel.js';

/** The container's server: answers each TCP connection and UDP datagram with "NAME CLIENT LOCALPORT", logs "tcp|udp CLIENT PORT". */
export const WHOAMI_SOURCE = `
const net = require('node:net'), dgram = require('node:dgram');
const o = JSON.parse(process.env.WHOAMI);
const strip = (a) => a.replace(/^::ffff:/, '');
let pending = o.tcp.length + o.udp.length;
const up = () => { if (--pending === 0) console.log('ready'); };
for (const port of o.tcp) {
  net.createServer((c) => {
    const who = strip(c.remoteAddress);
    console.log('tcp ' + who + ' ' + c.localPort);
    c.end(o.name + ' ' + who + ' ' + c.localPort + '\\n');
  }).listen(port, up);
}
for (const port of o.udp) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => {
    console.log('udp ' + r.address + ' ' + port);
    s.send(o.name + ' ' + r.address + ' ' + port, r.port, r.address);
  });
  s.bind(port, '0.0.0.0', up);
}
if (pending === 0) console.log('ready');
setInterval(() => {}, 1 << 30); // a container without ports stays up too
`;

/** A TCP request from inside the container (argv: host port timeoutMs): prints what the peer sent, "(timeout)" or "(error CODE)". */
export const ASK_SOURCE = `
const net = require('node:net');
const [host, port, ms] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
let data = '', done = false;
const finish = (s) => { if (!done) { done = true; clearTimeout(t); c.destroy(); process.stdout.write(s + '\\n'); } };
const c = net.connect(port, host);
const t = setTimeout(() => finish('(timeout)'), ms);
c.on('data', (d) => (data += d));
c.on('end', () => finish(data.trim()));
c.on('error', (e) => finish('(error ' + e.code + ')'));
`;

/** The whoami server's configuration, as WHOAMI_SOURCE reads it from its environment. */
export function whoamiEnv(name: string, ports: DockerPort[]): string {
  return JSON.stringify({
    name,
    tcp: ports.filter((p) => p.protocol === 'tcp').map((p) => p.port),
    udp: ports.filter((p) => p.protocol === 'udp').map((p) => p.port),
  });
}

/** Adds `n` to an IPv4 address. */
export function addIpv4(a: string, n: number): string {
  const v = a.split('.').reduce((x, o) => x * 256 + Number(o), 0) + n;
  return [24, 16, 8, 0].map((s) => Math.floor(v / 2 ** s) % 256).join('.');
}

/** The network of an address/prefix ('203.0.113.129/26' → '203.0.113.128/26'). */
export function networkOf(cidr: string): string {
  const [a, len] = cidr.split('/');
  const v = a!.split('.').reduce((x, o) => x * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(len));
  return `${addIpv4('0.0.0.0', v - (v % size))}/${len}`;
}

const ipt = (ns: string, args: string[]) =>
  execFileSync(toolPath('ip'), ['netns', 'exec', ns, toolPath('iptables'), '--wait', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
const ip = (args: string[]) => execFileSync(toolPath('ip'), args, { stdio: ['ignore', 'pipe', 'pipe'] });

/** Docker's daemon-start part: the bridge, ip_forward, the chains. */
export function emulateDaemon(ns: string, bip: string): void {
  const net = networkOf(bip);
  ip(['-n', ns, 'link', 'add', 'docker0', 'type', 'bridge']);
  ip(['-n', ns, 'addr', 'add', bip, 'dev', 'docker0']);
  ip(['-n', ns, 'link', 'set', 'docker0', 'up']);
  const forwardWasOff = netns.sysctl(ns, 'net.ipv4.ip_forward') !== '1';
  // In an order that also gives nft's listing Docker's order of tables and chains.
  ipt(ns, ['-t', 'nat', '-N', 'DOCKER']);
  ipt(ns, ['-t', 'nat', '-A', 'POSTROUTING', '-s', net, '!', '-o', 'docker0', '-j', 'MASQUERADE']);
  ipt(ns, ['-t', 'nat', '-A', 'PREROUTING', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DOCKER']);
  ipt(ns, ['-t', 'nat', '-A', 'OUTPUT', '!', '-d', '127.0.0.0/8', '-m', 'addrtype', '--dst-type', 'LOCAL', '-j', 'DOCKER']);
  ipt(ns, ['-t', 'nat', '-A', 'DOCKER', '-i', 'docker0', '-j', 'RETURN']);
  for (const chain of ['DOCKER', 'DOCKER-ISOLATION-STAGE-1', 'DOCKER-ISOLATION-STAGE-2']) ipt(ns, ['-N', chain]);
  ipt(ns, ['-A', 'FORWARD', '-j', 'DOCKER-ISOLATION-STAGE-1']);
  ipt(ns, ['-A', 'FORWARD', '-o', 'docker0', '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
  ipt(ns, ['-A', 'FORWARD', '-o', 'docker0', '-j', 'DOCKER']);
  ipt(ns, ['-A', 'FORWARD', '-i', 'docker0', '!', '-o', 'docker0', '-j', 'ACCEPT']);
  ipt(ns, ['-A', 'FORWARD', '-i', 'docker0', '-o', 'docker0', '-j', 'ACCEPT']);
  ipt(ns, ['-A', 'DOCKER-ISOLATION-STAGE-1', '-i', 'docker0', '!', '-o', 'docker0', '-j', 'DOCKER-ISOLATION-STAGE-2']);
  ipt(ns, ['-A', 'DOCKER-ISOLATION-STAGE-1', '-j', 'RETURN']);
  ipt(ns, ['-A', 'DOCKER-ISOLATION-STAGE-2', '-o', 'docker0', '-j', 'DROP']);
  ipt(ns, ['-A', 'DOCKER-ISOLATION-STAGE-2', '-j', 'RETURN']);
  ipt(ns, ['-N', 'DOCKER-USER']);
  ipt(ns, ['-A', 'DOCKER-USER', '-j', 'RETURN']);
  ipt(ns, ['-I', 'FORWARD', '-j', 'DOCKER-USER']);
  if (forwardWasOff) {
    // The daemon turns forwarding on itself, and then drops what it does not accept.
    netns.sysctl(ns, 'net.ipv4.ip_forward', 1);
    ipt(ns, ['-P', 'FORWARD', 'DROP']);
  }
}

function portRules(c: string, p: DockerPort): Array<[add: string[], del: string[]]> {
  const m = ['-p', p.protocol, '-m', p.protocol, '--dport'];
  const rules = [
    ['-t', 'nat', 'POSTROUTING', '-s', `${c}/32`, '-d', `${c}/32`, ...m, String(p.port), '-j', 'MASQUERADE'],
    ['-t', 'nat', 'DOCKER', '!', '-i', 'docker0', ...m, String(p.hostPort ?? p.port), '-j', 'DNAT', '--to-destination', `${c}:${p.port}`],
    ['-t', 'filter', 'DOCKER', '-d', `${c}/32`, '!', '-i', 'docker0', '-o', 'docker0', ...m, String(p.port), '-j', 'ACCEPT'],
  ];
  return rules.map(([t, table, chain, ...rest]) => [
    [t!, table!, '-A', chain!, ...rest],
    [t!, table!, '-D', chain!, ...rest],
  ]);
}

/** A container: its namespace behind docker0, the whoami server, the port rules and proxies. */
export async function emulateContainer(
  ns: string,
  o: { index: number; name: string; bip: string; ports: DockerPort[]; userlandProxy: boolean },
): Promise<DockerContainer & { remove(): Promise<void> }> {
  const address = addIpv4(o.bip.split('/')[0]!, o.index);
  const len = o.bip.split('/')[1];
  const cns = `${ns}-ctr${o.index}`;
  const hostSide = `veth${randomBytes(4).toString('hex').slice(0, 7)}`;
  netns.create(cns);
  const children: ChildProcess[] = [];
  const rules: string[][] = [];
  const lines: string[] = [];
  const remove = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const del of rules.reverse()) {
      try {
        ipt(ns, del);
      } catch {
        // the namespace (and its rules) may be gone already
      }
    }
    await endProcessesIn([cns]);
    if (netns.exists(cns)) netns.remove(cns);
  };
  try {
    ip(['-n', ns, 'link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', cns]);
    ip(['-n', ns, 'link', 'set', hostSide, 'master', 'docker0', 'up']);
    ip(['-n', cns, 'link', 'set', 'lo', 'up']);
    ip(['-n', cns, 'addr', 'add', `${address}/${len}`, 'dev', 'eth0']);
    ip(['-n', cns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', cns, 'route', 'add', 'default', 'via', o.bip.split('/')[0]!]);
    for (const p of o.ports) {
      for (const [add, del] of portRules(address, p)) {
        ipt(ns, add);
        rules.push(del);
      }
    }
    const server = netns.exec(cns, process.execPath, ['-e', WHOAMI_SOURCE], {
      env: { ...process.env, WHOAMI: whoamiEnv(o.name, o.ports) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(server);
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      server.stdout!.on('data', (d) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (line === 'ready') resolve();
          else lines.push(line);
        }
      });
      server.once('exit', (code) => reject(new Error(`the emulated container's server exited (${code})`)));
    });
    const proxy = toolPath('docker-proxy');
    if (o.userlandProxy && existsSync(proxy)) {
      for (const p of o.ports) {
        for (const hostIp of ['0.0.0.0', '::']) {
          const args = ['-proto', p.protocol, '-host-ip', hostIp, '-host-port', String(p.hostPort ?? p.port)];
          // docker-proxy reports "0\n" (or an error) on fd 3 once it listens. (netns.exec's helper does
          // not pass fd 3 on; ip netns exec does.)
          const child = spawn(
            toolPath('ip'),
            ['netns', 'exec', ns, proxy, ...args, '-container-ip', address, '-container-port', String(p.port)],
            {
              stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
            },
          );
          children.push(child);
          await new Promise<void>((resolve, reject) => {
            let said = '';
            (child.stdio[3] as NodeJS.ReadableStream).on('data', (d) => {
              said += d;
              if (said.startsWith('0')) resolve();
              else reject(new Error(`docker-proxy ${args.join(' ')}: ${said}`));
            });
            child.once('exit', (code) => reject(new Error(`docker-proxy ${args.join(' ')} exited (${code})`)));
          });
        }
      }
    }
    return {
      name: o.name,
      address,
      ports: o.ports,
      netns: cns,
      seen: async () => {
        // The server logs before it answers, but its pipe may deliver after the answer arrived.
        await new Promise((r) => setTimeout(r, 100));
        return [...lines];
      },
      ask: async (host, port, timeoutMs = 5000) => {
        const out = execFileSync(
          toolPath('ip'),
          ['netns', 'exec', cns, process.execPath, '-e', ASK_SOURCE, host, String(port), String(timeoutMs)],
          {
            encoding: 'utf8',
            env: { ...process.env, NODE_OPTIONS: '' },
          },
        );
        return out.trim();
      },
      remove,
    };
  } catch (err) {
    await remove();
    throw err;
  }
}

/**
 * Takes away what a Docker daemon left in a namespace: docker0, the DOCKER*
 * chains and every rule that names them or docker0 (the nat and filter tables
 * are saved, filtered and restored; other rules stay).
 */
export function removeDockerNetworking(ns: string): void {
  try {
    ip(['-n', ns, 'link', 'del', 'docker0']);
  } catch {
    // none
  }
  const inNs = (cmd: string, args: string[], input?: string) =>
    execFileSync(toolPath('ip'), ['netns', 'exec', ns, toolPath(cmd), ...args], {
      encoding: 'utf8',
      input,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  for (const table of ['nat', 'filter']) {
    const saved = inNs('iptables-save', ['-t', table]);
    if (!/DOCKER|docker0/.test(saved)) continue;
    const kept = saved
      .split('\n')
      // Docker's hairpin masquerade of each published port names neither.
      .filter((l) => !/DOCKER|docker0/.test(l) && !/^-A POSTROUTING -s (\S+)\/32 -d \1\/32 .* -j MASQUERADE$/.test(l))
      .join('\n');
    inNs('iptables-restore', ['-T', table], `${kept}\n`);
  }
}

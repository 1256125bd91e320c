/**
 * wg-quick configuration files (`/etc/wireguard/wg0.conf`): [Interface]
 * with wg-quick's own keys (Address, DNS, MTU, Table, Pre/PostUp/Down,
 * SaveConfig) and `wg setconf`'s (PrivateKey, ListenPort, FwMark), and one
 * [Peer] section per peer. The interface is named after the file, as
 * wg-quick names it. Hook commands are read as commands (see commands.ts)
 * with `%i` replaced by the interface name.
 */
import { basename } from 'node:path';
import { parseIfname } from '../grammar/index.js';
import { readCommandLine } from './commands.js';
import type { Facts, PeerFacts, TunnelFacts } from './facts.js';
import { parseIni } from './ini.js';
import { ImportError } from './source.js';

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');
}

function integer(value: string, what: string, origin: { file: string; line: number }, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
    throw new ImportError(
      origin,
      `${what} "${value.slice(0, 20)}" is not a number from ${min} to ${max}`,
      `${what} = a number from ${min} to ${max}`,
    );
  return Number(value);
}

/** Reads a wg-quick file into `facts`. `file` is the name used in notes and errors. */
export function readWgQuick(text: string, file: string, path: string, facts: Facts): void {
  const sections = parseIni(text, { dialect: 'wg-quick', file });
  const tunnel: TunnelFacts = { format: 'wg-quick', file, addresses: [], peers: [] };
  const stem = basename(path).replace(/\.conf$/, '');
  if (parseIfname(stem, { rule: 'wg-quick' }).ok) tunnel.name = { value: stem, origin: { file, line: 0 } };
  const iface = tunnel.name?.value ?? 'wg0';
  const interfaces = sections.filter((s) => s.name.toLowerCase() === 'interface');
  if (interfaces.length !== 1) {
    throw new ImportError(
      file,
      interfaces.length === 0 ? 'no [Interface] section' : `${interfaces.length} [Interface] sections`,
      'exactly one [Interface] section, as wg-quick reads',
    );
  }
  for (const section of sections) {
    const kind = section.name.toLowerCase();
    if (kind !== 'interface' && kind !== 'peer')
      throw new ImportError({ file, line: section.line }, `unknown section [${section.name}]`, '[Interface] or [Peer]');
    const peer: PeerFacts | undefined = kind === 'peer' ? { origin: { file, line: section.line }, allowedIps: [] } : undefined;
    if (peer) tunnel.peers.push(peer);
    for (const { key, value, line } of section.entries) {
      const origin = { file, line };
      const k = key.toLowerCase();
      if (peer) {
        switch (k) {
          case 'publickey':
            peer.publicKey = { value, origin };
            break;
          case 'presharedkey':
            peer.presharedKey = { kind: 'inline', key: value, origin };
            break;
          case 'endpoint':
            peer.endpoint = { value, origin };
            break;
          case 'allowedips':
            for (const cidr of splitList(value)) peer.allowedIps.push({ value: cidr, origin });
            break;
          case 'persistentkeepalive':
            peer.keepalive = { value: value === 'off' ? 0 : integer(value, 'PersistentKeepalive', origin, 0, 65535), origin };
            break;
          default:
            throw new ImportError(
              origin,
              `unknown [Peer] setting "${key.slice(0, 30)}"`,
              'PublicKey, PresharedKey, Endpoint, AllowedIPs or PersistentKeepalive',
            );
        }
        continue;
      }
      switch (k) {
        case 'privatekey':
          tunnel.privateKey = { kind: 'inline', key: value, origin };
          break;
        case 'listenport':
          tunnel.listenPort = { value: integer(value, 'ListenPort', origin, 1, 65535), origin };
          break;
        case 'address':
          for (const cidr of splitList(value)) tunnel.addresses.push({ value: cidr, origin });
          break;
        case 'table':
          tunnel.table = { value: value === 'off' || value === 'auto' ? value : integer(value, 'Table', origin, 1, 0xffffffff), origin };
          break;
        case 'preup':
        case 'postup':
          readCommandLine(value, origin, facts, { phase: 'up', iface, onPrivateKeyFile: (ref) => (tunnel.privateKey = ref) });
          break;
        case 'predown':
        case 'postdown':
          readCommandLine(value, origin, facts, { phase: 'down', iface });
          break;
        case 'dns':
          facts.notes.notTranslated(
            origin,
            `DNS = ${value}`,
            'netfwd does not configure DNS resolvers (resolvconf); set them in the system resolver configuration',
          );
          break;
        case 'mtu':
          integer(value, 'MTU', origin, 576, 65535);
          facts.notes.notTranslated(
            origin,
            `MTU = ${value}`,
            'netfwd leaves the tunnel MTU at the WireGuard default (1420) and clamps the TCP MSS instead',
          );
          break;
        case 'fwmark':
          facts.notes.notTranslated(origin, `FwMark = ${value}`, "netfwd sets no firewall mark on the tunnel's own packets");
          break;
        case 'saveconfig':
          facts.notes.notTranslated(
            origin,
            `SaveConfig = ${value}`,
            'netfwd never writes the running state back to a file; the configuration file is the source of truth',
          );
          break;
        default:
          throw new ImportError(
            origin,
            `unknown [Interface] setting "${key.slice(0, 30)}"`,
            'a wg-quick setting: Address, PrivateKey, ListenPort, DNS, MTU, Table, FwMark, PreUp, PostUp, PreDown, PostDown or SaveConfig',
          );
      }
    }
  }
  facts.tunnels.push(tunnel);
}

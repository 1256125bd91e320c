/**
 * NetworkManager keyfiles of WireGuard connections
 * (`/etc/NetworkManager/system-connections/wg0.nmconnection`):
 * [connection] type=wireguard, interface-name; [wireguard] private-key,
 * listen-port; [wireguard-peer.PUBLICKEY] endpoint, allowed-ips,
 * preshared-key, persistent-keepalive; [ipv4]/[ipv6] addressN, routeN with
 * routeN_options=table=N, routing-ruleN, route-table, method.
 */
import { parseIp } from '../grammar/index.js';
import { parseCidr } from './cidr.js';
import type { Facts, PeerFacts, TunnelFacts } from './facts.js';
import { type IniEntry, keyfileList, parseIni } from './ini.js';
import { type IpRoute, parseIpRule } from './iproute.js';
import { ImportError, type Origin } from './source.js';

/** Settings that change nothing netfwd would set up differently. */
const HARMLESS: Record<string, (value: string) => boolean> = {
  'connection.id': () => true,
  'connection.uuid': () => true,
  'connection.timestamp': () => true,
  'connection.permissions': (v) => v === '',
  'connection.autoconnect': (v) => v === 'true',
  'wireguard.private-key-flags': (v) => v === '0',
  'wireguard.peer-routes': (v) => v === 'true',
  'ip.dns-search': (v) => v === '',
  'ip.dns': (v) => v === '',
  'ip.never-default': (v) => v === 'true',
  'ip.ignore-auto-routes': () => true,
  'ip.ignore-auto-dns': () => true,
  'ip.may-fail': () => true,
  'ip.addr-gen-mode': () => true,
  'peer.preshared-key-flags': (v) => v === '0',
};

function integer(value: string, what: string, origin: Origin, min: number, max: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max)
    throw new ImportError(
      origin,
      `${what} "${value.slice(0, 20)}" is not a number from ${min} to ${max}`,
      `a number from ${min} to ${max}`,
    );
  return Number(value);
}

/** Reads a NetworkManager keyfile into `facts`. */
export function readKeyfile(text: string, file: string, facts: Facts): void {
  const sections = parseIni(text, { dialect: 'keyfile', file });
  const get = (section: string, key: string) => sections.find((s) => s.name === section)?.entries.find((e) => e.key === key);
  const type = get('connection', 'type');
  if (!type) throw new ImportError(file, 'no [connection] type=', 'a NetworkManager keyfile of a WireGuard connection (type=wireguard)');
  if (type.value !== 'wireguard')
    throw new ImportError({ file, line: type.line }, `a "${type.value.slice(0, 30)}" connection, not a WireGuard one`, 'type=wireguard');
  const tunnel: TunnelFacts = { format: 'keyfile', file, addresses: [], peers: [] };
  const notes = facts.notes;
  const harmless = (group: string, e: IniEntry) => HARMLESS[`${group}.${e.key}`]?.(e.value) === true;
  const routes = new Map<string, { entry?: IniEntry; options?: IniEntry; family: 4 | 6 }>();
  let routeTable: Record<4 | 6, number | undefined> = { 4: undefined, 6: undefined };

  for (const section of sections) {
    const name = section.name;
    const peerMatch = /^wireguard-peer\.(.+)$/.exec(name);
    if (peerMatch) {
      const origin = { file, line: section.line };
      const peer: PeerFacts = { origin, publicKey: { value: peerMatch[1]!, origin }, allowedIps: [] };
      tunnel.peers.push(peer);
      for (const e of section.entries) {
        const o = { file, line: e.line };
        switch (e.key) {
          case 'endpoint':
            peer.endpoint = { value: e.value, origin: o };
            break;
          case 'allowed-ips':
            for (const cidr of keyfileList(e.value)) peer.allowedIps.push({ value: cidr, origin: o });
            break;
          case 'preshared-key':
            peer.presharedKey = { kind: 'inline', key: e.value, origin: o };
            break;
          case 'persistent-keepalive':
            peer.keepalive = { value: integer(e.value, 'persistent-keepalive', o, 0, 65535), origin: o };
            break;
          default:
            if (!harmless('peer', e)) notes.notTranslated(o, `${e.key}=${e.value}`, 'a WireGuard peer setting netfwd has no equivalent of');
        }
      }
      continue;
    }
    for (const e of section.entries) {
      const o = { file, line: e.line };
      if (name === 'connection') {
        if (e.key === 'type') continue;
        if (e.key === 'interface-name') tunnel.name = { value: e.value, origin: o };
        else if (!harmless('connection', e))
          notes.notTranslated(
            o,
            `${e.key}=${e.value}`,
            'a NetworkManager connection setting; netfwd is started by its own unit (see docs/systemd.md)',
          );
      } else if (name === 'wireguard') {
        if (e.key === 'private-key') tunnel.privateKey = { kind: 'inline', key: e.value, origin: o };
        else if (e.key === 'listen-port') tunnel.listenPort = { value: integer(e.value, 'listen-port', o, 0, 65535), origin: o };
        else if (e.key === 'private-key-flags' && e.value !== '0')
          notes.notTranslated(
            o,
            `${e.key}=${e.value}`,
            'the private key is kept by a secret agent, not in the file; netfwd needs the key or a key file',
          );
        else if (!harmless('wireguard', e))
          notes.notTranslated(o, `${e.key}=${e.value}`, 'a WireGuard interface setting netfwd has no equivalent of');
      } else if (name === 'ipv4' || name === 'ipv6') {
        const family = name === 'ipv4' ? 4 : 6;
        const address = /^address(\d*)$/.exec(e.key);
        const route = /^route(\d+)(_options)?$/.exec(e.key);
        if (address || e.key === 'addresses') {
          for (const item of keyfileList(e.value)) {
            const [cidr, gateway] = item.split(',');
            tunnel.addresses.push({ value: cidr!.trim(), origin: o });
            if (gateway !== undefined && gateway.trim() !== '')
              notes.notTranslated(
                o,
                `${e.key}=${e.value}`,
                'a gateway on the tunnel address; netfwd adds no default route in the main table',
              );
          }
        } else if (route) {
          const r = routes.get(route[1]!) ?? { family };
          if (route[2]) r.options = e;
          else r.entry = e;
          routes.set(route[1]!, r);
        } else if (e.key === 'route-table') {
          const t = integer(e.value, 'route-table', o, 0, 0xffffffff);
          routeTable = { ...routeTable, [family]: t === 0 ? undefined : t };
          if (t !== 0 && family === 4) tunnel.table = { value: t, origin: o };
        } else if (/^routing-rule\d+$/.test(e.key)) {
          facts.ipRules.push(
            parseIpRule(
              e.value.split(/\s+/).filter((w) => w !== ''),
              o,
              family,
              false,
            ),
          );
        } else if (e.key === 'method') {
          if (!['manual', 'disabled', 'ignore', 'link-local'].includes(e.value))
            notes.notTranslated(
              o,
              `method=${e.value}`,
              'netfwd sets the tunnel addresses itself (manual); it runs no DHCP or autoconfiguration',
            );
        } else if (!harmless('ip', e))
          notes.notTranslated(o, `${e.key}=${e.value}`, `a NetworkManager [${name}] setting netfwd has no equivalent of`);
      } else if (e.key !== '') {
        notes.notTranslated(o, `[${name}] ${e.key}=${e.value}`, 'a NetworkManager setting netfwd has no equivalent of');
      }
    }
  }

  for (const [n, r] of routes) {
    if (!r.entry) {
      const o = { file, line: r.options!.line };
      throw new ImportError(o, `route${n}_options without route${n}`, `a route${n}= line`);
    }
    facts.ipRoutes.push(nmRoute(r.entry, r.options, r.family, routeTable[r.family], file));
  }
  facts.tunnels.push(tunnel);
}

/** `routeN=DEST/PREFIX[,GATEWAY[,METRIC]]` and `routeN_options=table=N,type=throw,…`. */
function nmRoute(entry: IniEntry, options: IniEntry | undefined, family: 4 | 6, defaultTable: number | undefined, file: string): IpRoute {
  const origin = { file, line: entry.line };
  const [dest, gateway, metric] = entry.value.split(',').map((x) => x.trim());
  // The prefix as a whole: one '/', a length in range (NetworkManager's own parser refuses the rest).
  if (dest === undefined || parseCidr(dest) === undefined)
    throw new ImportError(
      origin,
      `route "${entry.value.slice(0, 50)}" does not start with a destination prefix`,
      'routeN=DEST/PREFIX,GATEWAY,METRIC',
    );
  const route: IpRoute = { origin, family, action: 'add', type: 'unicast', destination: dest!, other: [] };
  if (gateway !== undefined && gateway !== '' && gateway !== '0.0.0.0' && gateway !== '::') {
    if (!parseIp(gateway).ok)
      throw new ImportError(origin, `route gateway "${gateway.slice(0, 50)}" is not an address`, 'routeN=DEST/PREFIX,GATEWAY,METRIC');
    route.via = gateway;
  }
  if (metric !== undefined && metric !== '') route.metric = integer(metric, 'route metric', origin, 0, 0xffffffff);
  if (defaultTable !== undefined) route.table = defaultTable;
  for (const opt of options
    ? options.value
        .split(',')
        .map((x) => x.trim())
        .filter((x) => x !== '')
    : []) {
    const [k, v] = opt.split('=');
    const o = { file, line: options!.line };
    if (k === 'table') route.table = integer(v ?? '', 'table', o, 1, 0xffffffff);
    else if (k === 'type') route.type = v ?? 'unicast';
    else route.other.push(opt);
  }
  return route;
}

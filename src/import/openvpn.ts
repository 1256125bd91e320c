/**
 * OpenVPN configuration files: a server's (`mode server`, `server NET MASK`),
 * a client's (`client`, `remote`), a server's client-config-dir file (named
 * after the client's certificate name: `ifconfig-push`, `iroute`), or a
 * point-to-point one (`ifconfig LOCAL REMOTE`). Only what places the tunnel
 * in the network is read: the interface (`dev`), its addresses, the routes
 * into it, which client is behind which network (`iroute`), and the up/down
 * scripts. The rest — TLS, ciphers, keepalive, compression, logging — is
 * OpenVPN's own and stays so (netfwd takes the interface as `external`).
 * Inline blocks (`<key>…</key>`) are skipped unread: they hold keys.
 */
import { parseIp, parsePrefix } from '../grammar/index.js';
import { ImportError, type Located, type Notes, type Origin } from './source.js';

export type OpenVpnKind = 'server' | 'client' | 'ccd' | 'p2p';

/** `ifconfig A B`: B is the remote end (tun, net30/p2p) or a netmask (tap, topology subnet). */
export interface IfconfigFacts {
  local: string;
  /** The remote end of a point-to-point pair. */
  remote?: string;
  /** The prefix length, when the second value is a netmask (or IPv6's /LEN). */
  length?: number;
}

export interface OpenVpnFacts {
  file: string;
  kind: OpenVpnKind;
  dev?: Located<string>;
  devType?: Located<string>;
  topology?: Located<string>;
  ifconfig?: Located<IfconfigFacts>;
  ifconfig6?: Located<IfconfigFacts>;
  /** A client-config-dir file's addresses for its client. */
  push?: Located<IfconfigFacts>;
  push6?: Located<IfconfigFacts>;
  /** `server NET MASK` / `server-ipv6 NET/LEN`: the server takes the first address. */
  server?: Located<{ network: string; length: number }>;
  server6?: Located<{ network: string; length: number }>;
  /** `route` / `route-ipv6` into the tunnel, as CIDRs. */
  routes: Array<Located<string>>;
  /** `iroute` / `iroute-ipv6` of a client-config-dir file, as CIDRs. */
  iroutes: Array<Located<string>>;
  remotes: Array<Located<string>>;
  scripts: Array<Located<{ hook: 'up' | 'down'; path: string }>>;
  clientConfigDir?: Located<string>;
  /** Certificate file names (a client's tells its name). */
  certs: Array<Located<string>>;
}

/** OpenVPN's own settings: they make the tunnel, which stays OpenVPN's. */
const OWN = new Set(
  `mode tls-server tls-client client pull proto port lport rport nobind bind float ca cert key dh pkcs12 tls-auth tls-crypt tls-crypt-v2
  key-direction cipher data-ciphers data-ciphers-fallback ncp-ciphers auth reneg-sec reneg-bytes tls-version-min tls-cipher
  tls-ciphersuites remote-cert-tls verify-x509-name ns-cert-type crl-verify keepalive ping ping-restart ping-exit comp-lzo compress
  allow-compression persist-key persist-tun persist-remote-ip persist-local-ip verb mute status status-version log log-append
  explicit-exit-notify route-delay script-security user group chroot daemon writepid management resolv-retry connect-retry
  connect-retry-max auth-nocache auth-user-pass tun-mtu link-mtu mssfix fragment sndbuf rcvbuf txqueuelen fast-io ifconfig-pool-persist
  duplicate-cn max-clients push-reset setenv setenv-safe ignore-unknown-option opt-verify replay-window mute-replay-warnings
  remote-random server-poll-timeout hand-window tran-window ccd-exclusive username-as-common-name verify-client-cert`.split(/\s+/),
);

/** Whether a file reads as an OpenVPN configuration: its first directive is one of OpenVPN's. */
export function looksLikeOpenVpn(text: string): boolean {
  for (const raw of text.split(/\r?\n/)) {
    const s = raw.trim();
    if (s === '' || s.startsWith('#') || s.startsWith(';')) continue;
    const [w, second] = s.split(/\s+/);
    const word = (w ?? '').replace(/^--/, '').toLowerCase();
    if (word === 'route') return second !== undefined && parseIp(second).ok; // not `route add …` (net-tools)
    if (/^<[a-z-]+>$/.test(word)) return true;
    return OWN.has(word) || KNOWN.has(word);
  }
  return false;
}

/** What this reader interprets besides OWN. */
const KNOWN = new Set(
  `dev dev-type topology ifconfig ifconfig-ipv6 ifconfig-push ifconfig-ipv6-push server server-ipv6 route route-ipv6 iroute iroute-ipv6 remote up down
  client-config-dir push route-gateway redirect-gateway client-to-client learn-address client-connect client-disconnect
  ifconfig-pool server-bridge route-noexec route-nopull ifconfig-noexec`.split(/\s+/),
);

/** The words of one line: quotes and backslashes as OpenVPN reads them; a word starting with # or ; ends the line. */
function words(line: string, origin: Origin): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i]!)) i++;
    if (i >= line.length || line[i] === '#' || line[i] === ';') break;
    let w = '';
    while (i < line.length && !/\s/.test(line[i]!)) {
      const c = line[i]!;
      if (c === '"' || c === "'") {
        const end = line.indexOf(c, i + 1);
        if (end === -1) throw new ImportError(origin, 'a quote is not closed', 'a complete OpenVPN directive');
        w += line.slice(i + 1, end);
        i = end + 1;
      } else if (c === '\\' && i + 1 < line.length) {
        w += line[i + 1];
        i += 2;
      } else {
        w += c;
        i++;
      }
    }
    out.push(w);
  }
  return out;
}

/** A dotted netmask as a prefix length, or undefined when the text is not one. */
function maskLength(text: string): number | undefined {
  const ip = parseIp(text);
  if (!ip.ok || ip.value.family !== 4) return undefined;
  const n = ip.value.bytes.readUInt32BE(0);
  let len = 0;
  while (len < 32 && (n >>> (31 - len)) & 1) len++;
  return (len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0) === n ? len : undefined;
}

function address(text: string | undefined, what: string, origin: Origin, family?: 4 | 6): string {
  const ip = text === undefined ? undefined : parseIp(text);
  if (!ip?.ok || (family !== undefined && ip.value.family !== family))
    throw new ImportError(
      origin,
      `${what} "${(text ?? '').slice(0, 50)}" is not an IPv${family ?? '4 or IPv6'} address`,
      `${what} as an address`,
    );
  return text!;
}

function cidr4(net: string | undefined, mask: string | undefined, what: string, origin: Origin): string {
  const n = address(net, what, origin, 4);
  const len = mask === undefined ? 32 : maskLength(mask);
  if (len === undefined) throw new ImportError(origin, `"${mask!.slice(0, 20)}" is not a netmask`, 'a netmask such as 255.255.255.0');
  return `${n}/${len}`;
}

function cidr6(text: string | undefined, what: string, origin: Origin): { address: string; length: number } {
  const p = text?.includes('/') ? parsePrefix(text) : undefined;
  if (!p?.ok || p.value.family !== 6)
    throw new ImportError(origin, `${what} "${(text ?? '').slice(0, 50)}" is not an IPv6 prefix`, 'ADDRESS/LENGTH');
  return { address: text!.slice(0, text!.indexOf('/')), length: p.value.length };
}

/** `ifconfig L R` or `ifconfig L MASK`. */
function ifconfig4(args: string[], what: string, origin: Origin): IfconfigFacts {
  const local = address(args[0], what, origin, 4);
  const second = args[1];
  if (second === undefined) throw new ImportError(origin, `${what} needs two addresses`, `${what} LOCAL REMOTE (or LOCAL NETMASK)`);
  const len = second.startsWith('255.') ? maskLength(second) : undefined;
  if (len !== undefined) return { local, length: len };
  return { local, remote: address(second, what, origin, 4) };
}

function ifconfig6(args: string[], what: string, origin: Origin): IfconfigFacts {
  const p = cidr6(args[0], what, origin);
  return { local: p.address, length: p.length, ...(args[1] !== undefined ? { remote: address(args[1], what, origin, 6) } : {}) };
}

/** Reads an OpenVPN configuration; notes what it does not take, at its line. */
export function readOpenVpn(text: string, file: string, notes: Notes): OpenVpnFacts {
  const f: OpenVpnFacts = { file, kind: 'p2p', routes: [], iroutes: [], remotes: [], scripts: [], certs: [] };
  const own: Array<{ name: string; origin: Origin }> = [];
  const names = new Set<string>();
  let block: { name: string; origin: Origin } | undefined;
  text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .forEach((raw, index) => {
      const origin = { file, line: index + 1 };
      const s = raw.trim();
      if (block) {
        if (s.toLowerCase() === `</${block.name}>`) block = undefined;
        return; // inline certificates and keys: never read, never quoted
      }
      const open = /^<([a-z0-9-]+)>$/i.exec(s);
      if (open) {
        block = { name: open[1]!.toLowerCase(), origin };
        own.push({ name: `<${block.name}>`, origin });
        return;
      }
      const w = words(raw, origin);
      if (w.length === 0) return;
      const name = w[0]!.replace(/^--/, '').toLowerCase();
      const args = w.slice(1);
      names.add(name);
      const one = (what = name) => {
        if (args[0] === undefined) throw new ImportError(origin, `${what} needs a value`, 'a complete OpenVPN directive');
        return args[0];
      };
      switch (name) {
        case 'dev':
          f.dev = { value: one(), origin };
          break;
        case 'dev-type':
          f.devType = { value: one(), origin };
          break;
        case 'topology':
          f.topology = { value: one(), origin };
          break;
        case 'ifconfig':
          f.ifconfig = { value: ifconfig4(args, name, origin), origin };
          break;
        case 'ifconfig-ipv6':
          f.ifconfig6 = { value: ifconfig6(args, name, origin), origin };
          break;
        case 'ifconfig-push':
          f.push = { value: ifconfig4(args, name, origin), origin };
          break;
        case 'ifconfig-ipv6-push':
          f.push6 = { value: ifconfig6(args, name, origin), origin };
          break;
        case 'server': {
          const c = cidr4(args[0], args[1] ?? '', name, origin);
          const [network, len] = c.split('/');
          f.server = { value: { network: network!, length: Number(len) }, origin };
          break;
        }
        case 'server-ipv6': {
          const p = cidr6(one(), name, origin);
          f.server6 = { value: { network: p.address, length: p.length }, origin };
          break;
        }
        case 'route': {
          const gw = args[2];
          if (args[0] !== undefined && !parseIp(args[0]).ok) {
            notes.notTranslated(origin, w.join(' '), 'a route to a host name (or a keyword); netfwd routes networks given as addresses');
            break;
          }
          if (gw === 'net_gateway') {
            notes.notTranslated(origin, w.join(' '), 'a route around the tunnel (net_gateway); netfwd routes nothing around it');
            break;
          }
          f.routes.push({ value: cidr4(args[0], args[1], name, origin), origin });
          if (gw !== undefined && gw !== 'vpn_gateway' && gw !== 'default')
            notes.changed(origin, w.join(' '), `netfwd routes the network into the tunnel interface, not via ${gw}`);
          break;
        }
        case 'route-ipv6': {
          const p = cidr6(one(), name, origin);
          f.routes.push({ value: `${p.address}/${p.length}`, origin });
          break;
        }
        case 'iroute':
          f.iroutes.push({ value: cidr4(args[0], args[1], name, origin), origin });
          break;
        case 'iroute-ipv6': {
          const p = cidr6(one(), name, origin);
          f.iroutes.push({ value: `${p.address}/${p.length}`, origin });
          break;
        }
        case 'remote':
          f.remotes.push({ value: args.join(' '), origin });
          own.push({ name, origin });
          break;
        case 'up':
        case 'down':
          f.scripts.push({ value: { hook: name, path: one() }, origin });
          break;
        case 'client-config-dir':
          f.clientConfigDir = { value: one(), origin };
          break;
        case 'cert':
          f.certs.push({ value: one(), origin });
          own.push({ name, origin });
          break;
        case 'push':
          notes.notTranslated(
            origin,
            w.join(' '),
            /^route(-ipv6)? /.test(args[0] ?? '')
              ? 'a route OpenVPN pushes to its clients; netfwd routes nothing on the backend but the return path (OpenVPN keeps pushing it)'
              : 'an option OpenVPN pushes to its clients; OpenVPN keeps pushing it',
          );
          break;
        case 'route-gateway':
          notes.changed(origin, w.join(' '), 'netfwd routes the networks behind a client into the tunnel interface itself');
          break;
        case 'redirect-gateway':
          notes.notTranslated(
            origin,
            w.join(' '),
            "all traffic through the tunnel; netfwd's return path routes only the forwarded connections",
          );
          break;
        case 'client-to-client':
          notes.notTranslated(
            origin,
            w.join(' '),
            'traffic between clients: netfwd forwards only the configured ports (OpenVPN still relays it)',
          );
          break;
        case 'learn-address':
        case 'client-connect':
        case 'client-disconnect':
          notes.notTranslated(origin, w.join(' '), `a ${name} script; netfwd cannot read what it does`);
          break;
        case 'ifconfig-pool':
        case 'server-bridge':
          notes.notTranslated(
            origin,
            w.join(' '),
            "addresses given out from a pool: netfwd needs each client's fixed address (ifconfig-push)",
          );
          break;
        case 'route-noexec':
        case 'route-nopull':
        case 'ifconfig-noexec':
          notes.notTranslated(
            origin,
            w.join(' '),
            'OpenVPN leaves addresses or routes to a script; netfwd reads them from the configuration',
          );
          break;
        default:
          if (OWN.has(name)) own.push({ name, origin });
          else notes.notTranslated(origin, w.join(' '), 'an OpenVPN option netfwd import does not know');
      }
    });
  if (block) throw new ImportError(block.origin, `<${block.name}> is not closed`, `</${block.name}>`);
  if (names.has('client') || (names.has('pull') && f.remotes.length > 0)) f.kind = 'client';
  else if (names.has('mode') || f.server || f.server6 || names.has('tls-server')) f.kind = 'server';
  else if ((f.push || f.push6 || f.iroutes.length > 0) && !f.dev && !f.ifconfig) f.kind = 'ccd';
  if (own.length > 0) {
    const list = [...new Set(own.map((o) => o.name))];
    notes.changed(
      own[0]!.origin,
      `OpenVPN's own settings: ${list.slice(0, 12).join(', ')}${list.length > 12 ? ', …' : ''}`,
      "they make the tunnel, which stays OpenVPN's (tunnel.external: true): netfwd neither reads nor changes them",
    );
  }
  return f;
}

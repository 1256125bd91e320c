/**
 * A frontend spec: its tunnel and peers (the backends), public addresses and
 * interface, forwards (forwards.ts), NAT options, egress and tunnelPorts.
 */
import { bitsOf, inPrefix, isAllOnesHost, isNetworkAddress, type Prefix, parseIp } from '../../../grammar/index.js';
import { child, fail, item, show } from '../field.js';
import type {
  AddressByFamily,
  HostAddress,
  NormalizedFrontend,
  NormalizedFrontendPeer,
  NormalizedFrontendTunnel,
} from '../normalized-config.js';
import { DEFAULTS } from '../spec.js';
import { ipAddress, prefixList, type TunnelAddress } from './addresses.js';
import { frontendForwards } from './forwards.js';
import { type Context, KEY_EXPECTED, keySource, publicKey, withPresharedKey } from './key-sources.js';
import { portEntries } from './port-entries.js';
import { overlapsPrefix, prefixOf } from './prefixes.js';
import { boolean, integer, interfaceName, list, mapping, netnsName, onlyIn, own, required, string } from './shapes.js';
import { tunnelCommon } from './tunnel.js';

const PEER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;
const PEER_NAME_EXPECTED = 'a name of 1 to 32 letters, digits, ".", "_" or "-", starting with a letter or digit, e.g. "home"';

const FRONTEND_KEYS = [
  'role',
  'netns',
  'tunnel',
  'public',
  'forwards',
  'sourceNat',
  'masquerade',
  'mssClamp',
  'egress',
  'tunnelPorts',
] as const;
const EGRESS_KEYS = ['enabled', 'allow'] as const;
const FRONTEND_TUNNEL_KEYS = ['interface', 'external', 'addresses', 'listenPort', 'privateKey', 'privateKeyFile', 'peers'] as const;
const FRONTEND_PEER_KEYS = ['name', 'publicKey', 'presharedKey', 'presharedKeyFile', 'addresses', 'routes'] as const;
const EXTERNAL_PEER_KEYS = ['name', 'addresses', 'routes'] as const;
const PUBLIC_KEYS = ['addresses', 'interface'] as const;

export function validateFrontend(ctx: Context, root: Record<string, unknown>): NormalizedFrontend {
  mapping(root, '', FRONTEND_KEYS, 'a frontend spec', {
    returnPath: onlyIn('backend'),
    services: `${onlyIn('backend')}; a frontend lists forwards`,
  });
  const netns = netnsName(own(root, 'netns'), 'netns');

  const tunnelField = 'tunnel';
  const t = mapping(
    required(root, 'tunnel', '', 'a mapping with interface, addresses, listenPort, privateKey and peers'),
    tunnelField,
    FRONTEND_TUNNEL_KEYS,
    'a mapping with interface, addresses, listenPort, privateKey and peers',
    {
      peer: 'a frontend lists its backends under peers (a list)',
      endpoint: 'the frontend has no endpoint; the backends dial its listenPort',
    },
  );
  const { base, addrs } = tunnelCommon(ctx, t, tunnelField, '"10.0.0.1/24" or "fd00::1/64"');
  const ifname = base.interface;
  const families = addrs.map((a) => a.prefix.family);
  const listenPort = base.external
    ? undefined
    : integer(
        required(t, 'listenPort', tunnelField, 'a UDP port 1-65535, e.g. 51820'),
        child(tunnelField, 'listenPort'),
        1,
        65535,
        'a UDP port 1-65535, e.g. 51820',
      );
  const peers = frontendPeers(
    ctx,
    required(t, 'peers', tunnelField, 'a list of the backends'),
    child(tunnelField, 'peers'),
    addrs,
    base.publicKey,
  );
  const tunnel: NormalizedFrontendTunnel = { ...base, listenPort, peers };

  // public
  const pub = own(root, 'public');
  const publicAddresses: HostAddress[] = [];
  let publicInterface: string | undefined;
  if (pub !== undefined) {
    const p = mapping(pub, 'public', PUBLIC_KEYS, 'a mapping with addresses and/or interface');
    const pa = own(p, 'addresses');
    if (pa !== undefined) {
      const expected = 'the frontend\'s public IP addresses, e.g. ["203.0.113.1", "2001:db8::1"]';
      list(pa, 'public.addresses', expected, 1).forEach((v, i) => {
        const f = item('public.addresses', i);
        const a = ipAddress(v, f, expected);
        if (!families.includes(a.family))
          fail(
            f,
            `is an IPv${a.family} address but the tunnel has no IPv${a.family} address`,
            `addresses of the tunnel's families (IPv${families.join(' and IPv')}), or an IPv${a.family} address in tunnel.addresses`,
          );
        const dup = publicAddresses.findIndex((x) => x.address === a.address);
        if (dup !== -1) fail(f, `repeats public.addresses[${dup}]`, 'each address once');
        const inside = addrs.find((x) => inPrefix(x.prefix, a.bytes));
        if (inside)
          fail(f, `${show(a.address)} is inside the tunnel subnet ${inside.normalized.network}`, 'a public address of the frontend');
        const behind = peers.find((p) => p.routes.some((r) => inPrefix(prefixOf(r), a.bytes)));
        if (behind) fail(f, `${show(a.address)} is inside the routes of peer ${show(behind.name)}`, 'a public address of the frontend');
        publicAddresses.push({ family: a.family, address: a.address });
      });
    }
    const pi = own(p, 'interface');
    if (pi !== undefined) {
      publicInterface = interfaceName(pi, 'public.interface');
      if (publicInterface === ifname)
        fail('public.interface', `is the tunnel interface ${show(ifname)}`, 'the uplink interface, e.g. "eth0"');
    }
  }

  // forwards
  const forwardsValue = required(root, 'forwards', '', 'a list of forwards (may be empty)');
  const forwards = frontendForwards(forwardsValue, 'forwards', { tunnel: addrs, peers, families, publicAddresses, listenPort });

  const sourceNat = boolean(own(root, 'sourceNat'), 'sourceNat', DEFAULTS.sourceNat);
  const masquerade = boolean(own(root, 'masquerade'), 'masquerade', DEFAULTS.masquerade);
  const mssClamp = boolean(own(root, 'mssClamp'), 'mssClamp', DEFAULTS.mssClamp);

  // egress
  let egress: NormalizedFrontend['egress'] = { enabled: DEFAULTS.egress, allow: [] };
  const egressValue = own(root, 'egress');
  if (egressValue !== undefined) {
    const eg = mapping(egressValue, 'egress', EGRESS_KEYS, 'a mapping with enabled and/or allow', {
      deny: 'what is refused by default is fixed (this machine, its connected networks, link-local); list exceptions in allow',
    });
    egress = {
      enabled: boolean(own(eg, 'enabled'), 'egress.enabled', DEFAULTS.egress),
      allow: prefixList(own(eg, 'allow'), 'egress.allow', families, {
        expected: 'CIDRs or addresses of the tunnel\'s families the backends may reach, e.g. ["192.168.10.0/24"]',
        hosts: true,
        what: 'allow',
      }),
    };
  }
  const tunnelPorts = portEntries(
    own(root, 'tunnelPorts') ?? [],
    'tunnelPorts',
    undefined,
    'ports of this frontend the backends may reach, e.g. [{ protocol: udp, port: 53 }]',
  );

  return {
    role: 'frontend',
    netns,
    families,
    tunnel,
    public: { addresses: publicAddresses, interface: publicInterface },
    forwards,
    sourceNat,
    masquerade,
    mssClamp,
    egress,
    tunnelPorts,
  };
}

function frontendPeers(
  ctx: Context,
  value: unknown,
  field: string,
  tunnel: TunnelAddress[],
  ownPublicKey: string | undefined,
): NormalizedFrontendPeer[] {
  const external = ownPublicKey === undefined;
  const expected = external ? 'a list of peers, each with name and addresses' : 'a list of peers, each with name, publicKey and addresses';
  const out: NormalizedFrontendPeer[] = [];
  const byAddress = new Map<string, number>();
  // Indexes by name and key: a frontend may have a thousand peers.
  const byName = new Map<string, number>();
  const byKey = new Map<string, number>();
  const families = tunnel.map((t) => t.prefix.family);
  list(value, field, expected, 1).forEach((v, i) => {
    const pf = item(field, i);
    const keyless = 'netfwd does not configure an external tunnel, so its peers have no keys';
    const p = external
      ? mapping(v, pf, EXTERNAL_PEER_KEYS, 'a mapping with name and addresses', {
          publicKey: keyless,
          presharedKey: keyless,
          presharedKeyFile: keyless,
          allowedIps: 'netfwd does not configure an external tunnel',
        })
      : mapping(v, pf, FRONTEND_PEER_KEYS, 'a mapping with name, publicKey and addresses', {
          endpoint: 'the frontend does not dial its backends; they dial it',
          persistentKeepalive: 'keepalives are set on the backend, which is the side behind NAT',
          allowedIps: 'allowed IPs are derived from addresses and routes',
        });
    const nameField = child(pf, 'name');
    const name = string(required(p, 'name', pf, PEER_NAME_EXPECTED), nameField, PEER_NAME_EXPECTED);
    if (name.length > 32) fail(nameField, `is ${name.length} characters long`, PEER_NAME_EXPECTED);
    if (!PEER_NAME.test(name)) fail(nameField, `${show(name)} is not a valid peer name`, PEER_NAME_EXPECTED);
    const sameName = byName.get(name) ?? -1;
    if (sameName !== -1) fail(nameField, `${show(name)} is already the name of ${item(field, sameName)}`, 'a name no other peer has');

    let pk: string | undefined;
    let psk: ReturnType<typeof keySource>;
    if (!external) {
      const keyField = child(pf, 'publicKey');
      pk = publicKey(required(p, 'publicKey', pf, KEY_EXPECTED), keyField);
      if (pk === ownPublicKey)
        fail(
          keyField,
          "is this frontend's own public key (derived from tunnel.privateKey)",
          "the backend's public key (`wg pubkey` on the backend)",
        );
      const sameKey = byKey.get(pk) ?? -1;
      if (sameKey !== -1) fail(keyField, `is already the public key of ${item(field, sameKey)}`, 'a different key for each peer');
      psk = keySource(ctx, p, pf, 'presharedKey', 'presharedKeyFile', false);
    }

    const af = child(pf, 'addresses');
    const addrExpected = 'one or two host addresses in the tunnel subnets (at most one per family), e.g. ["10.0.0.2", "fd00::2"]';
    const addresses: HostAddress[] = [];
    list(required(p, 'addresses', pf, addrExpected), af, addrExpected, 1, 2).forEach((a, j) => {
      const f = item(af, j);
      const h = peerAddress(a, f, tunnel);
      if (addresses.some((x) => x.family === h.family))
        fail(f, `is a second IPv${h.family} address`, 'at most one address per family (it is the DNAT target)');
      const prev = byAddress.get(h.address);
      if (prev !== undefined)
        fail(
          f,
          `${show(h.address)} is already an address of ${item(field, prev)} (${show(out[prev]!.name)})`,
          'a tunnel address no other peer has',
        );
      byAddress.set(h.address, i);
      addresses.push(h);
    });
    addresses.sort((a, b) => a.family - b.family);
    const addressByFamily: AddressByFamily = {};
    for (const a of addresses) addressByFamily[a.family] = a.address;
    const routesField = child(pf, 'routes');
    const routes = prefixList(own(p, 'routes'), routesField, families, {
      expected: 'the networks behind this peer, e.g. ["198.51.100.128/25", "2001:db8:100::/64"]',
      hosts: false,
      what: 'routes',
    });
    routes.forEach((r, j) => {
      const rp = prefixOf(r);
      const tun = tunnel.find((t) => t.prefix.family === r.family && overlapsPrefix(t.prefix, rp));
      if (tun)
        fail(
          item(routesField, j),
          `${show(r.cidr)} overlaps the tunnel subnet ${tun.normalized.network}`,
          'a network behind the peer, outside the tunnel subnet',
        );
      out.forEach((o, k) => {
        const clash = o.routes.find((x) => x.family === r.family && overlapsPrefix(prefixOf(x), rp));
        if (clash)
          fail(
            item(routesField, j),
            `${show(r.cidr)} overlaps ${clash.cidr} of ${item(field, k)} (${show(o.name)})`,
            'networks no other peer routes (WireGuard sends each address to one peer)',
          );
      });
    });
    const peer: NormalizedFrontendPeer = {
      name,
      ...(pk !== undefined ? { publicKey: pk } : {}),
      addresses,
      addressByFamily,
      routes,
      allowedIps: [...addresses.map((a) => `${a.address}/${bitsOf(a.family)}`), ...routes.map((r) => r.cidr)],
      source: pf,
    };
    if (psk) withPresharedKey(peer, psk);
    byName.set(name, out.length);
    if (pk !== undefined) byKey.set(pk, out.length);
    out.push(peer);
  });
  return out;
}

/** A peer's tunnel address: a single host inside the tunnel subnet of its family. */
function peerAddress(value: unknown, field: string, tunnel: TunnelAddress[]): HostAddress {
  const expected = 'a host address in the tunnel subnet, e.g. "10.0.0.2" (or "10.0.0.2/32")';
  const text = string(value, field, expected);
  let addrText = text;
  const slash = text.indexOf('/');
  if (slash !== -1) {
    addrText = text.slice(0, slash);
    const len = text.slice(slash + 1);
    const ip = parseIp(addrText);
    if (!ip.ok) fail(field, `${show(addrText)} is not an IP address`, expected);
    if (len !== String(bitsOf(ip.value.family)))
      fail(field, `${show(text)} is not a single host`, `a host address, e.g. "10.0.0.2", "10.0.0.2/32" or "fd00::2/128"`);
  }
  const a = ipAddress(addrText, field, expected);
  const mine = tunnel.find((t) => t.prefix.family === a.family);
  if (!mine)
    fail(
      field,
      `is an IPv${a.family} address but the tunnel has no IPv${a.family} address`,
      `an address of the tunnel's families, or add an IPv${a.family} address to tunnel.addresses`,
    );
  if (!inPrefix(mine.prefix, a.bytes))
    fail(field, `${show(a.address)} is outside the tunnel subnet ${mine.normalized.network}`, `an address in ${mine.normalized.network}`);
  if (a.bytes.equals(mine.prefix.address))
    fail(field, `${show(a.address)} is this machine's own tunnel address`, `another address in ${mine.normalized.network}`);
  const max = bitsOf(a.family);
  if (mine.prefix.length <= max - 2) {
    const host: Prefix = { family: a.family, address: a.bytes, length: mine.prefix.length };
    if (isNetworkAddress(host))
      fail(
        field,
        `${show(a.address)} is the network address of ${mine.normalized.network}`,
        `a host address in ${mine.normalized.network}`,
      );
    if (a.family === 4 && isAllOnesHost(host))
      fail(
        field,
        `${show(a.address)} is the broadcast address of ${mine.normalized.network}`,
        `a host address in ${mine.normalized.network}`,
      );
  }
  return { family: a.family, address: a.address };
}

/**
 * One backend tunnel: `tunnel`, or an item of `tunnels` (several frontends),
 * which may also give its own table, mark and checkAddress: interface,
 * addresses, key and its one peer, the frontend with the endpoint it dials.
 */
import { inPrefix, parseIp } from '../../../grammar/index.js';
import { child, fail, show } from '../field.js';
import type { NormalizedBackendPeer, NormalizedBackendTunnel } from '../normalized-config.js';
import { DEFAULTS } from '../spec.js';
import type { TunnelAddress } from './addresses.js';
import { ENDPOINT_EXPECTED, parseEndpoint } from './endpoint.js';
import { type Context, KEY_EXPECTED, keySource, publicKey, withPresharedKey } from './key-sources.js';
import { integer, mapping, own, required } from './shapes.js';
import { tunnelCommon } from './tunnel.js';

const BACKEND_TUNNEL_KEYS = ['interface', 'external', 'addresses', 'listenPort', 'privateKey', 'privateKeyFile', 'peer'] as const;
/** What only an item of `tunnels` has (one tunnel takes them from returnPath). */
export const SEVERAL_KEYS = ['table', 'mark', 'checkAddress'] as const;
const BACKEND_PEER_KEYS = ['publicKey', 'endpoint', 'endpointFamily', 'presharedKey', 'presharedKeyFile', 'persistentKeepalive'] as const;

/** Validates one tunnel; `several`: an item of `tunnels`, whose own fields table, mark and checkAddress the caller reads. */
export function backendTunnel(
  ctx: Context,
  value: unknown,
  tunnelField: string,
  several: boolean,
): { tunnel: NormalizedBackendTunnel; addrs: TunnelAddress[] } {
  const tunnelExpected = 'a mapping with interface, addresses, privateKey and peer';
  const t = mapping(value, tunnelField, several ? [...BACKEND_TUNNEL_KEYS, ...SEVERAL_KEYS] : BACKEND_TUNNEL_KEYS, tunnelExpected, {
    peers: 'a backend has exactly one peer per tunnel, its frontend: use peer (a mapping)',
    ...(several
      ? {}
      : Object.fromEntries(
          SEVERAL_KEYS.map((k) => [k, `only items of tunnels (several frontends) have ${k}; with one tunnel see returnPath`]),
        )),
  });
  const { base, addrs } = tunnelCommon(ctx, t, tunnelField, '"10.0.0.2/24" or "fd00::2/64"');
  const ownPublicKey = base.publicKey;
  const families = addrs.map((a) => a.prefix.family);
  if (base.external) return { tunnel: { ...base, listenPort: undefined, source: tunnelField }, addrs };
  const lp = own(t, 'listenPort');
  const listenPort =
    lp === undefined
      ? undefined
      : integer(lp, child(tunnelField, 'listenPort'), 1, 65535, 'a UDP port 1-65535 (or leave it out for a random port)');

  const peerField = child(tunnelField, 'peer');
  const peerExpected = 'a mapping with publicKey and endpoint';
  const p = mapping(required(t, 'peer', tunnelField, peerExpected), peerField, BACKEND_PEER_KEYS, peerExpected, {
    name: 'the backend has one peer, the frontend, and it needs no name',
    addresses: "the frontend's allowed IPs are derived (everything of the tunnel's families)",
    allowedIps: "the frontend's allowed IPs are derived (everything of the tunnel's families)",
  });
  const keyField = child(peerField, 'publicKey');
  const pk = publicKey(required(p, 'publicKey', peerField, KEY_EXPECTED), keyField);
  if (pk === ownPublicKey)
    fail(
      keyField,
      `is this backend's own public key (derived from ${tunnelField}.privateKey)`,
      "the frontend's public key (`wg pubkey` on the frontend)",
    );
  const psk = keySource(ctx, p, peerField, 'presharedKey', 'presharedKeyFile', false);
  const endpointField = child(peerField, 'endpoint');
  const endpoint = parseEndpoint(required(p, 'endpoint', peerField, ENDPOINT_EXPECTED), endpointField);
  const familyValue = own(p, 'endpointFamily');
  if (familyValue !== undefined) {
    const familyField = child(peerField, 'endpointFamily');
    if (familyValue !== 4 && familyValue !== 6) fail(familyField, `${show(familyValue)} is not an IP version`, '4 or 6');
    if (endpoint.hostname === undefined)
      fail(familyField, 'only applies to an endpoint given as a host name', 'leave it out (the address says its family)');
    endpoint.family = familyValue;
    endpoint.preferFamily = familyValue;
  }
  const endpointIp = endpoint.hostname === undefined ? parseIp(endpoint.host) : undefined;
  const insideTunnel = endpointIp?.ok
    ? addrs.find((a) => a.prefix.family === endpoint.family && inPrefix(a.prefix, endpointIp.value.bytes))
    : undefined;
  if (insideTunnel)
    fail(
      endpointField,
      `${show(endpoint.host)} is inside the tunnel subnet ${insideTunnel.normalized.network}`,
      "the frontend's public address and listenPort, e.g. 203.0.113.1:51820",
    );
  const keepaliveValue = own(p, 'persistentKeepalive');
  const persistentKeepalive =
    keepaliveValue === undefined
      ? DEFAULTS.persistentKeepalive
      : integer(keepaliveValue, child(peerField, 'persistentKeepalive'), 0, 65535, 'seconds 0-65535 (0 turns keepalives off)');

  const peer: NormalizedBackendPeer = {
    publicKey: pk,
    endpoint,
    persistentKeepalive,
    allowedIps: families.map((f) => (f === 4 ? '0.0.0.0/0' : '::/0')),
  };
  withPresharedKey(peer, psk);
  return { tunnel: { ...base, listenPort, peer, source: tunnelField }, addrs };
}

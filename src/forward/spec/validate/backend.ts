/**
 * A backend spec: its tunnel and its one peer (the frontend, with the
 * endpoint it dials), the return path (return-path.ts), services and
 * tunnelPorts.
 */
import { inPrefix, parseIp } from '../../../grammar/index.js';
import { child, fail, listWords, show } from '../field.js';
import type { IpFamily, NormalizedBackend, NormalizedBackendPeer, NormalizedBackendTunnel } from '../normalized-config.js';
import { DEFAULTS, RETURN_PATH_MODES } from '../spec.js';
import { ENDPOINT_EXPECTED, parseEndpoint } from './endpoint.js';
import { type Context, KEY_EXPECTED, keySource, publicKey, withPresharedKey } from './key-sources.js';
import { portEntries, serviceEntries } from './port-entries.js';
import { validateReturnPath } from './return-path.js';
import { integer, mapping, netnsName, onlyIn, own, required } from './shapes.js';
import { tunnelCommon } from './tunnel.js';

const BACKEND_KEYS = ['role', 'netns', 'tunnel', 'returnPath', 'services', 'tunnelPorts'] as const;
const BACKEND_TUNNEL_KEYS = ['interface', 'external', 'addresses', 'listenPort', 'privateKey', 'privateKeyFile', 'peer'] as const;
const BACKEND_PEER_KEYS = ['publicKey', 'endpoint', 'endpointFamily', 'presharedKey', 'presharedKeyFile', 'persistentKeepalive'] as const;

export function validateBackend(ctx: Context, root: Record<string, unknown>): NormalizedBackend {
  const frontendOnly = onlyIn('frontend');
  mapping(root, '', BACKEND_KEYS, 'a backend spec', {
    public: frontendOnly,
    forwards: `${frontendOnly}; a backend lists services`,
    sourceNat: `${frontendOnly}; on the backend use returnPath: { mode: snat }`,
    masquerade: frontendOnly,
    mssClamp: frontendOnly,
    egress: `${frontendOnly}; a backend's own traffic is selected by returnPath`,
  });
  const netns = netnsName(own(root, 'netns'), 'netns');

  const tunnelField = 'tunnel';
  const tunnelExpected = 'a mapping with interface, addresses, privateKey and peer';
  const t = mapping(required(root, 'tunnel', '', tunnelExpected), tunnelField, BACKEND_TUNNEL_KEYS, tunnelExpected, {
    peers: 'a backend has exactly one peer, the frontend: use peer (a mapping)',
  });
  const { base, addrs } = tunnelCommon(ctx, t, tunnelField, '"10.0.0.2/24" or "fd00::2/64"');
  const ownPublicKey = base.publicKey;
  const families = addrs.map((a) => a.prefix.family);
  if (base.external) {
    const tunnel: NormalizedBackendTunnel = { ...base, listenPort: undefined };
    return { role: 'backend', netns, families, tunnel, ...backendRest(root, families, undefined) };
  }
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
      "is this backend's own public key (derived from tunnel.privateKey)",
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
  const tunnel: NormalizedBackendTunnel = { ...base, listenPort, peer };
  return { role: 'backend', netns, families, tunnel, ...backendRest(root, families, listenPort) };
}

/** returnPath, services and tunnelPorts, and how the services' hosts fit the return path. */
function backendRest(
  root: Record<string, unknown>,
  families: IpFamily[],
  listenPort: number | undefined,
): Pick<NormalizedBackend, 'returnPath' | 'services' | 'tunnelPorts'> {
  const returnPath = validateReturnPath(
    required(root, 'returnPath', '', `a mapping with mode ${listWords(RETURN_PATH_MODES)}`),
    'returnPath',
    families,
  );
  const services = serviceEntries(
    required(root, 'services', '', 'a list of services (may be empty)'),
    'services',
    listenPort,
    families,
    returnPath,
  );
  const tunnelPorts = portEntries(
    own(root, 'tunnelPorts') ?? [],
    'tunnelPorts',
    listenPort,
    'more ports open to the tunnel, e.g. [{ protocol: tcp, port: 22 }]',
  );
  return { returnPath, services, tunnelPorts };
}

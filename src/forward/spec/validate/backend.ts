/**
 * A backend spec: its tunnel and its one peer (the frontend, with the
 * endpoint it dials), the return path (return-path.ts), services and
 * tunnelPorts.
 */
import { inPrefix, parseIp } from '../../../grammar/index.js';
import { child, fail, listWords, show } from '../field.js';
import type {
  IpFamily,
  NormalizedBackend,
  NormalizedBackendPeer,
  NormalizedBackendTunnel,
  NormalizedReturnPath,
} from '../normalized-config.js';
import { DEFAULTS, RETURN_PATH_MODES } from '../spec.js';
import { backendTunnel } from './backend-tunnel.js';
import { tunnelList, withTunnelRoutes } from './backend-tunnels.js';
import { ENDPOINT_EXPECTED, parseEndpoint } from './endpoint.js';
import { type Context, KEY_EXPECTED, keySource, publicKey, withPresharedKey } from './key-sources.js';
import { portEntries, serviceEntries } from './port-entries.js';
import { validateReturnPath } from './return-path.js';
import { integer, mapping, netnsName, onlyIn, own, required } from './shapes.js';
import { tunnelCommon } from './tunnel.js';

const BACKEND_KEYS = ['role', 'netns', 'tunnel', 'tunnels', 'returnPath', 'services', 'tunnelPorts'] as const;

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
  if (own(root, 'tunnels') !== undefined) {
    if (own(root, 'tunnel') !== undefined)
      fail('tunnels', 'is given together with tunnel', 'tunnel (one frontend) or tunnels (several), not both');
    const list = tunnelList(ctx, own(root, 'tunnels'), 'tunnels');
    const families = [...new Set(list.flatMap((t) => t.addresses.map((a) => a.family)))].sort();
    const rest = backendRest(root, families, undefined, list.length);
    const tunnels = withTunnelRoutes(list, rest.returnPath, own(root, 'tunnels'), 'tunnels');
    return { role: 'backend', netns, families, tunnel: tunnels[0]!, tunnels, ...rest };
  }
  const tunnelExpected = 'a mapping with interface, addresses, privateKey and peer';
  const { tunnel } = backendTunnel(ctx, required(root, 'tunnel', '', tunnelExpected), 'tunnel', false);
  const families = tunnel.addresses.map((a) => a.family);
  const rest = backendRest(root, families, tunnel.listenPort);
  const single = withRoute(tunnel, rest.returnPath);
  return { role: 'backend', netns, families, tunnel: single, tunnels: [single], ...rest };
}

/** A single tunnel's table and mark are the return path's own. */
function withRoute(tunnel: NormalizedBackendTunnel, rp: NormalizedReturnPath): NormalizedBackendTunnel {
  const out: NormalizedBackendTunnel = { ...tunnel };
  if (rp.mode !== 'snat') {
    out.table = rp.table;
    out.mark = rp.mark;
  }
  return out;
}

/** returnPath, services and tunnelPorts, and how the services' hosts fit the return path. */
function backendRest(
  root: Record<string, unknown>,
  families: IpFamily[],
  listenPort: number | undefined,
  tunnelCount = 1,
): Pick<NormalizedBackend, 'returnPath' | 'services' | 'tunnelPorts'> {
  const returnPath = validateReturnPath(
    required(root, 'returnPath', '', `a mapping with mode ${listWords(RETURN_PATH_MODES)}`),
    'returnPath',
    families,
    tunnelCount,
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

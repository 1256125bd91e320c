/**
 * A backend's `tunnels`: several frontends at once, one WireGuard interface
 * and peer each (WireGuard's allowed IPs cannot overlap on one interface).
 * A connection that arrives by tunnel N is answered by tunnel N: each tunnel
 * has its own routing table and connection mark (default: returnPath.table +
 * N and returnPath.mark + N; in mode mark, whose own mark selects the
 * services' sockets, returnPath.mark + 1 + N). Each tunnel also names the
 * frontend's tunnel address that `netfwd run` checks through it
 * (checkAddress).
 */
import { formatIp, inPrefix, parseIp } from '../../../grammar/index.js';
import { child, fail, isPlainObject, item, show } from '../field.js';
import type { HostAddress, NormalizedBackendTunnel, NormalizedReturnPath } from '../normalized-config.js';
import { ipAddress } from './addresses.js';
import { backendTunnel } from './backend-tunnel.js';
import type { Context } from './key-sources.js';
import { routingTable } from './return-path.js';
import { integer, list, own } from './shapes.js';

/** At most this many tunnels: each is a table, a mark and a check every few seconds. */
export const MAX_TUNNELS = 8;

const TUNNELS_EXPECTED = `a list of 2 to ${MAX_TUNNELS} tunnels, one per frontend (with one frontend use tunnel)`;

/** The items of `tunnels`, each with its checkAddress (tables and marks come with withTunnelRoutes). */
export function tunnelList(ctx: Context, value: unknown, field: string): NormalizedBackendTunnel[] {
  const items = list(value, field, TUNNELS_EXPECTED, 2, MAX_TUNNELS);
  const out: NormalizedBackendTunnel[] = [];
  items.forEach((v, i) => {
    const f = item(field, i);
    const { tunnel, addrs } = backendTunnel(ctx, v, f, true);
    const twin = out.findIndex((o) => o.interface === tunnel.interface);
    if (twin !== -1)
      fail(child(f, 'interface'), `${show(tunnel.interface)} is also ${item(field, twin)}.interface`, 'one interface per tunnel');
    // Two tunnels in one subnet would both route it: replies and checks could leave by the wrong one.
    for (const [j, other] of out.entries()) {
      for (const a of addrs) {
        const clash = other.addresses.find((b) => {
          if (b.family !== a.prefix.family) return false;
          const bp = parseIp(b.address);
          const shorter = Math.min(a.prefix.length, b.prefixLength);
          return bp.ok && inPrefix({ ...a.prefix, length: shorter }, bp.value.bytes);
        });
        if (clash)
          fail(
            child(f, 'addresses'),
            `${a.normalized.cidr} overlaps ${item(field, j)}'s subnet ${clash.network}`,
            'a subnet of its own for each tunnel, e.g. 10.0.1.2/24 and 10.0.2.2/24',
          );
      }
    }
    const raw = isPlainObject(v) ? v : {};
    tunnel.checkAddress = checkAddress(own(raw, 'checkAddress'), child(f, 'checkAddress'), tunnel);
    out.push(tunnel);
  });
  return out;
}

/** The frontend's tunnel address netfwd run checks: given, or the first host of the tunnel's first subnet. */
function checkAddress(value: unknown, field: string, tunnel: NormalizedBackendTunnel): HostAddress {
  const expected = "the frontend's own address in this tunnel, e.g. 10.0.1.1";
  if (value !== undefined) {
    const a = ipAddress(value, field, expected);
    const subnet = tunnel.addresses.find((t) => t.family === a.family);
    const sp = subnet ? parseIp(subnet.network.split('/')[0]!) : undefined;
    if (!subnet || !sp?.ok || !inPrefix({ family: a.family, address: sp.value.bytes, length: subnet.prefixLength }, a.bytes))
      fail(field, `${a.address} is not inside the tunnel's subnet${subnet ? ` ${subnet.network}` : ` of IPv${a.family}`}`, expected);
    if (a.address === subnet.address) fail(field, `${a.address} is this backend's own tunnel address`, expected);
    return { family: a.family, address: a.address };
  }
  const first = tunnel.addresses[0]!;
  const net = parseIp(first.network.split('/')[0]!);
  if (!net.ok) throw new Error(`unparsable subnet ${first.network}`);
  const bytes = Buffer.from(net.value.bytes);
  bytes[bytes.length - 1] = bytes[bytes.length - 1]! + 1;
  const address = formatIp(bytes);
  if (address === first.address)
    fail(field, `is needed: the default, the subnet's first host ${address}, is this backend's own address`, expected);
  return { family: first.family, address };
}

/**
 * Gives each tunnel its table and mark (routed modes; none in mode snat,
 * where the fields are refused): `tunnels[N].table` / `.mark` or the
 * defaults above, all distinct, none equal to the mark that selects the
 * services in mode mark. `raw`: the spec's `tunnels` list.
 */
export function withTunnelRoutes(
  list: NormalizedBackendTunnel[],
  rp: NormalizedReturnPath,
  raw: unknown,
  field: string,
): NormalizedBackendTunnel[] {
  const given = Array.isArray(raw) ? raw : [];
  const out: NormalizedBackendTunnel[] = [];
  list.forEach((t, i) => {
    const f = item(field, i);
    const r = isPlainObject(given[i]) ? (given[i] as Record<string, unknown>) : {};
    const tableValue = own(r, 'table');
    const markValue = own(r, 'mark');
    if (rp.mode === 'snat') {
      const key = tableValue !== undefined ? 'table' : markValue !== undefined ? 'mark' : undefined;
      if (key)
        fail(
          child(f, key),
          'is not used in mode snat: the frontend SNATs and the backend needs no policy routing',
          `no ${key} in mode snat`,
        );
      out.push(t);
      return;
    }
    const table = tableValue === undefined ? rp.table + i : routingTable(tableValue, child(f, 'table'));
    const mark =
      markValue === undefined
        ? rp.mark + (rp.mode === 'mark' ? 1 : 0) + i
        : integer(markValue, child(f, 'mark'), 1, 0xffffffff, 'a firewall mark 1-4294967295');
    if (table > 0xffffffff || [252, 253, 254, 255].includes(table))
      fail(
        child(f, 'table'),
        `the default, returnPath.table + ${i} = ${table}, is not a table netfwd may use`,
        'a table of its own, e.g. 5001',
      );
    if (mark > 0xffffffff) fail(child(f, 'mark'), `the default ${mark} is not a firewall mark`, 'a firewall mark 1-4294967295');
    const twin = out.findIndex((o) => o.table === table);
    if (twin !== -1) fail(child(f, 'table'), `table ${table} is also ${item(field, twin)}'s`, 'a table of its own for each tunnel');
    const markTwin = out.findIndex((o) => o.mark === mark);
    if (markTwin !== -1) fail(child(f, 'mark'), `mark ${mark} is also ${item(field, markTwin)}'s`, 'a mark of its own for each tunnel');
    if (rp.mode === 'mark' && mark === rp.mark)
      fail(child(f, 'mark'), `mark ${mark} is returnPath.mark, which selects the services' sockets`, 'another mark for the tunnel');
    out.push({ ...t, table, mark });
  });
  return out;
}

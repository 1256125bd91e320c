/**
 * The part of `tunnel` that a frontend and a backend spec have in common.
 */

import { child, fail } from '../field.js';
import { publicKeyOf } from '../key-text.js';
import type { NormalizedFrontendTunnel } from '../normalized-config.js';
import { type TunnelAddress, tunnelAddresses } from './addresses.js';
import { type Context, keySource } from './key-sources.js';
import { boolean, IFNAME_EXPECTED, interfaceName, own, required } from './shapes.js';

export type TunnelBase = Pick<
  NormalizedFrontendTunnel,
  'interface' | 'external' | 'addresses' | 'privateKey' | 'privateKeyFile' | 'publicKey'
>;

/** Fields of `tunnel` that only a tunnel netfwd configures has, with the reason an external one has none. */
const NOT_EXTERNAL: Record<string, string> = {
  privateKey: 'netfwd does not configure an external tunnel, so it needs no key',
  privateKeyFile: 'netfwd does not configure an external tunnel, so it needs no key',
  listenPort: 'netfwd does not configure an external tunnel; its own configuration sets the port',
  peer: 'netfwd does not configure an external tunnel; its own configuration names the peer',
};

/** tunnel.external: true when the interface is not netfwd's; then the fields netfwd would configure are refused. */
export function tunnelExternal(t: Record<string, unknown>, field: string): boolean {
  const external = boolean(own(t, 'external'), child(field, 'external'), false);
  if (!external) return false;
  for (const [key, why] of Object.entries(NOT_EXTERNAL))
    if (own(t, key) !== undefined) fail(child(field, key), `is not used with external: true: ${why}`, `no ${key} (or external: false)`);
  return true;
}

/** The fields both roles' tunnels share: interface, addresses and private key (with the public key derived from it). */
export function tunnelCommon(
  ctx: Context,
  t: Record<string, unknown>,
  field: string,
  example: string,
): { base: TunnelBase; addrs: TunnelAddress[] } {
  const name = interfaceName(required(t, 'interface', field, IFNAME_EXPECTED), child(field, 'interface'));
  const addrs = tunnelAddresses(
    required(t, 'addresses', field, `e.g. [${example.replace(' or ', ', ')}]`),
    child(field, 'addresses'),
    example,
  );
  if (tunnelExternal(t, field)) return { base: { interface: name, external: true, addresses: addrs.map((a) => a.normalized) }, addrs };
  const privateKey = keySource(ctx, t, field, 'privateKey', 'privateKeyFile', true)!;
  const base: TunnelBase = {
    interface: name,
    external: false,
    addresses: addrs.map((a) => a.normalized),
    privateKey: privateKey.secret,
    publicKey: publicKeyOf(privateKey.bytes),
  };
  if (privateKey.file !== undefined) base.privateKeyFile = privateKey.file;
  return { base, addrs };
}

/**
 * The part of `tunnel` that a frontend and a backend spec have in common.
 */

import { child } from '../field.js';
import { publicKeyOf } from '../key-text.js';
import type { NormalizedFrontendTunnel } from '../normalized-config.js';
import { type TunnelAddress, tunnelAddresses } from './addresses.js';
import { type Context, keySource } from './key-sources.js';
import { IFNAME_EXPECTED, interfaceName, required } from './shapes.js';

export type TunnelBase = Pick<NormalizedFrontendTunnel, 'interface' | 'addresses' | 'privateKey' | 'privateKeyFile' | 'publicKey'>;

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
  const privateKey = keySource(ctx, t, field, 'privateKey', 'privateKeyFile', true)!;
  const base: TunnelBase = {
    interface: name,
    addresses: addrs.map((a) => a.normalized),
    privateKey: privateKey.secret,
    publicKey: publicKeyOf(privateKey.bytes),
  };
  if (privateKey.file !== undefined) base.privateKeyFile = privateKey.file;
  return { base, addrs };
}

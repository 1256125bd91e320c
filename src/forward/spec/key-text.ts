/**
 * WireGuard keys as they appear in a spec. Their text is the grammar's
 * (src/grammar/key.ts: parseKey, whose problems never quote the text, and
 * isZeroKey); what is left here is the one derivation a spec needs.
 */
import { WireGuardSecret } from '../../wireguard/curve25519.js';

/** The base64 public key of a 32-byte X25519 private key (what `wg pubkey` prints). */
export function publicKeyOf(privateKey: Uint8Array): string {
  return WireGuardSecret.fromBytes(privateKey).publicKey();
}

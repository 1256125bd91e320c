/** The input files of `netfwd import` and how each one's format is told. */
import { looksLikeOpenVpn } from './openvpn.js';

export interface ImportInput {
  /** The path (used for the interface name of a wg-quick file and in notes). */
  path: string;
  text: string;
}

export type InputFormat = 'wg-quick' | 'keyfile' | 'openvpn' | 'rules';

/** A file's format by its content: [Interface] (wg-quick), [connection] (keyfile), OpenVPN directives, else rules and commands. */
export function inputFormat(text: string): InputFormat {
  const firstSection = /^\s*\[([^\]]+)\]/m.exec(text.replace(/^\s*[#;].*$/gm, ''));
  const name = firstSection?.[1]?.trim().toLowerCase();
  if (name === 'interface' || name === 'peer') return 'wg-quick';
  if (name !== undefined && /^(connection|wireguard|wireguard-peer\..*|ipv4|ipv6)$/.test(name)) return 'keyfile';
  if (looksLikeOpenVpn(text)) return 'openvpn';
  return 'rules';
}

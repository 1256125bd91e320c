/**
 * The text of `netfwd status`: a configuration's status (tunnel, tunnels,
 * peers, forwards, targets, present objects, drift, warnings, probe) and a
 * namespace's (what netfwd set up there, found by its tags).
 */
import type { ForwardStatus, NamespaceStatus } from '../forward/index.js';
import { probeLines } from './run.js';

export const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** `netfwd status -c FILE` as text, one line each. */
export function statusLines(s: ForwardStatus): string[] {
  const lines: string[] = [];
  const out = (l: string) => lines.push(l);
  out(`${s.role} ${s.interface}${s.netns ? ` (namespace ${s.netns})` : ''}`);
  const t = s.tunnel;
  out(
    `  tunnel: ${
      t.external
        ? `external (not netfwd's), ${t.present ? (t.up ? 'up' : 'DOWN') : 'absent'}`
        : t.present
          ? `${t.implementation}, ${t.up ? 'up' : 'DOWN'}, listening on ${t.listenPort}, public key ${t.publicKey}, private key (hidden)`
          : 'absent'
    }`,
  );
  for (const p of t.peers) {
    const hs = p.handshakeAge === null ? 'no handshake yet' : `handshake ${p.handshakeAge} s ago`;
    out(
      `  peer ${p.name ?? '(not in the configuration)'} ${p.publicKey}: ${hs}, endpoint ${p.endpoint ?? '-'}, received ${p.rxBytes} B, sent ${p.txBytes} B`,
    );
  }
  for (const x of s.tunnels ?? []) {
    const hs = x.handshakeAge === null ? 'no handshake yet' : `handshake ${x.handshakeAge} s ago`;
    out(
      `  tunnel ${x.interface}: ${x.present ? (x.up ? 'up' : 'DOWN') : 'absent'}, frontend ${x.check.alive ? 'alive' : 'NOT ANSWERING'} (check ${x.check.result}), ${hs}, endpoint ${x.endpoint ?? '-'}${x.table !== undefined ? `, table ${x.table}, mark 0x${x.mark!.toString(16)}` : ''}, checks ${x.checkAddress ?? '-'}${x.egress ? ', carries the egress' : ''}`,
    );
  }
  for (const f of s.forwards) {
    out(
      `  forward ${f.protocol} ${f.publicPorts} (IPv${f.family}) → ${f.peer}: ${plural(f.connections, 'connection')}, ${plural(f.packets, 'packet')}, ${plural(f.bytes, 'byte')}`,
    );
  }
  for (const x of s.targets ?? []) {
    const h = x.health
      ? `${x.health.up ? 'up' : 'DOWN'} since ${x.health.since} (${x.health.reason})`
      : 'not measured (netfwd run is not running)';
    out(
      `  target ${x.forward} → ${x.target}: ${h}; ${x.elements ? `new connections go here (${plural(x.elements, 'map element')})` : 'not chosen now'}`,
    );
  }
  const p = s.present;
  out(`  present: link ${p.link ? 'yes' : 'no'}; addresses ${p.addresses.join(', ') || '-'}; nftables ${p.nftTable ?? '-'}`);
  for (const r of p.routes) out(`    route ${r}`);
  for (const r of p.rules) out(`    rule ${r}`);
  if (s.drift.length) {
    out('  drift (netfwd up would change):');
    for (const d of s.drift) out(`    ${d}`);
  } else out('  drift: none');
  for (const w of s.warnings) out(`  warning: ${w}`);
  for (const l of probeLines(s)) out(l);
  return lines;
}

/** `netfwd status` without a file (what netfwd set up in a namespace) as text, one line each. */
export function namespaceLines(s: NamespaceStatus): string[] {
  const lines: string[] = [];
  const out = (l: string) => lines.push(l);
  if (s.tunnels.length === 0 && s.routes.length === 0 && s.rules.length === 0)
    out(`netfwd has nothing set up${s.netns ? ` in namespace ${s.netns}` : ' here'}`);
  for (const t of s.tunnels) {
    out(`${t.role ?? 'tunnel'} ${t.interface}${s.netns ? ` (namespace ${s.netns})` : ''}`);
    out(
      `  tunnel: ${t.implementation ? `${t.implementation}, ${t.up ? 'up' : 'DOWN'}, listening on ${t.listenPort}, public key ${t.publicKey}, private key (hidden)` : 'not a WireGuard interface'}`,
    );
    for (const p of t.peers) {
      const hs = p.handshakeAge === null ? 'no handshake yet' : `handshake ${p.handshakeAge} s ago`;
      out(`  peer ${p.publicKey}: ${hs}, endpoint ${p.endpoint ?? '-'}, received ${p.rxBytes} B, sent ${p.txBytes} B`);
    }
    out(`  addresses: ${t.addresses.join(', ') || '-'}; nftables ${t.nftTable ?? '-'}`);
    for (const f of t.forwards) {
      out(
        `  forward ${f.protocol} ${f.publicAddress ?? (f.family === 4 ? '*' : '[*]')}:${f.publicPorts} (IPv${f.family}) → ${f.target}: ${plural(f.connections, 'connection')}`,
      );
    }
  }
  for (const r of s.routes) out(`route ${r}`);
  for (const r of s.rules) out(`rule ${r}`);
  for (const w of s.warnings) out(`warning: ${w}`);
  return lines;
}

/**
 * What the translation of one machine of a multi-machine setup (an OpenVPN
 * tunnel, the tagged-routing recipe's LAN) is given: the facts of its own
 * files, its OpenVPN configurations, and every input for what one machine's
 * configuration needs from another's files (a client's address is in the
 * server's client-config-dir file).
 */
import { basename } from 'node:path';
import { isScript, type SetupFile } from '../classify.js';
import type { Facts } from '../facts.js';
import type { OpenVpnFacts } from '../openvpn.js';
import type { Located } from '../source.js';
import type { Machine } from './context.js';

export interface SetupCtx {
  machine: Machine;
  /** The facts of the machine's files, their notes, and the notes of its translation. */
  facts: Facts;
  /** Its OpenVPN configurations. */
  vpn: OpenVpnFacts[];
  /** Every input file. */
  all: readonly SetupFile[];
  /** Its own input files. */
  files: readonly SetupFile[];
}

/** The tunnel-like interfaces (tunN, tapN) the rules and commands name, with where. */
export function tunnelNames(facts: Facts): Array<Located<string>> {
  const out: Array<Located<string>> = [];
  const add = (name: string | undefined, origin: Located<string>['origin']) => {
    if (name !== undefined && /^(tun|tap)\d+$/.test(name)) out.push({ value: name, origin });
  };
  for (const r of facts.iptables) {
    add(r.inInterface?.value, r.origin);
    add(r.outInterface?.value, r.origin);
  }
  for (const r of facts.ipRoutes) add(r.dev, r.origin);
  for (const r of facts.rpFilter) add(r.value.iface, r.origin);
  return out;
}

/** The up/down scripts an OpenVPN configuration names: translated when among the inputs, listed otherwise. */
export function noteScripts(m: SetupCtx, v: OpenVpnFacts): void {
  for (const s of v.scripts) {
    const given = m.all.find((f) => f.format === 'rules' && isScript(s.value.path, f.path));
    const what = `${s.value.hook} ${s.value.path}`;
    if (given)
      m.facts.notes.changed(
        s.origin,
        what,
        s.value.hook === 'up'
          ? `read from ${given.path}: netfwd sets up what it adds itself (\`netfwd run\` waits for the interface and applies the configuration when it appears)`
          : `read from ${given.path}: what it removes, \`netfwd down\` removes (and \`netfwd run\` applies the configuration again when the interface comes back)`,
      );
    else
      m.facts.notes.notTranslated(
        s.origin,
        what,
        `the script ${basename(s.value.path)} is not among the inputs: give it to netfwd import too, so that its commands are translated`,
      );
  }
}

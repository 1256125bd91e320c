/**
 * `netfwd import` of a setup of several machines around a tunnel netfwd does
 * not own — the tagged-routing recipe's OpenVPN server and client, its LAN
 * router and its service host: every input file is given to the machine its
 * content belongs to (classify.ts), and each machine whose configuration can
 * be made gets one — loaded by netfwd's own parser and validator, as the
 * single-machine import's is. A machine whose configuration cannot be made
 * (a missing piece, a DSCP value that differs from the other machines') gets
 * none, and `notWritten` says why. Nothing is dropped silently: each note is
 * the machine's whose file it is, and the notes of a file no machine took are
 * in `notes`.
 */
import { dirname } from 'node:path';
import { ConfigError } from '../errors.js';
import { type AnyNormalizedConfig, validateLanSpec } from '../forward/lan/index.js';
import { parseConfig } from '../forward/spec/config-file.js';
import { yaml as yamlPackage } from '../forward/spec/config-text.js';
import { classify, namedScript, type Placement, type SetupFile } from './classify.js';
import { readRulesFile } from './commands.js';
import { emptyFacts, type Facts } from './facts.js';
import type { ImportInput, InputFormat } from './input.js';
import { looksLikeOpenVpn, readOpenVpn } from './openvpn.js';
import { header, specYaml } from './output.js';
import { ImportError, type ImportNote, Notes } from './source.js';
import { MACHINES, type Machine } from './translate/context.js';
import { checkTags, setDscp, type TagUse, tagUses } from './translate/dscp.js';
import { lanRouter, serviceHost } from './translate/lan.js';
import { openVpnBackend } from './translate/openvpn-backend.js';
import { forwardHosts, type OpenVpnFrontend, openVpnFrontend } from './translate/openvpn-frontend.js';
import type { SetupCtx } from './translate/setup-context.js';

export interface MachineImport {
  machine: Machine;
  /** Why its files are this machine's. */
  reason: string;
  files: string[];
  /** The configuration as written (when one could be made, also when it did not load). */
  spec?: Record<string, unknown>;
  /** The YAML text (notes as comments, then the spec); only when the configuration loads. */
  yaml?: string;
  /** The configuration as netfwd loads it. */
  config?: AnyNormalizedConfig;
  /** Why no configuration is written for this machine. */
  notWritten?: string;
  /** The notes of its files and of its translation. */
  notes: ImportNote[];
}

export interface SetupImport {
  /** The machines the inputs belong to, in the order frontend, backend, lan-router, service-host. */
  machines: MachineImport[];
  /** Notes of the files no machine took. */
  notes: ImportNote[];
  inputs: Array<{ path: string; format: InputFormat; machine?: Machine }>;
}

/** Whether the inputs are a setup of several machines (an OpenVPN tunnel, the recipe's DSCP tagging) rather than one WireGuard machine. */
export function isSetup(inputs: readonly ImportInput[], formatOf: (text: string) => InputFormat): boolean {
  const formats = inputs.map((i) => formatOf(i.text));
  if (formats.some((f) => f === 'wg-quick' || f === 'keyfile')) return false;
  return formats.includes('openvpn') || inputs.some((i) => /(-j\s+DSCP\b|--dscp\b|--dscp-class\b)/.test(i.text));
}

/** Reads the inputs of a setup and makes each machine's configuration. Throws ImportError for input that cannot be read. */
export function importSetup(inputs: readonly ImportInput[], o: { role?: Machine } = {}): SetupImport {
  const files: SetupFile[] = [];
  for (const input of inputs) {
    if (input.text.includes('\0')) throw new ImportError(input.path, 'a binary file', 'a text file');
    const facts = emptyFacts();
    facts.files.push(input.path);
    if (looksLikeOpenVpn(input.text))
      files.push({ path: input.path, format: 'openvpn', facts, vpn: readOpenVpn(input.text, input.path, facts.notes) });
    else files.push({ path: input.path, format: 'rules', facts });
  }
  // Scripts after the configurations: a configuration's `down` script is read as what runs at interface down.
  for (const [i, f] of files.entries()) {
    if (f.format !== 'rules') continue;
    const named = namedScript(files, f);
    readRulesFile(inputs[i]!.text, f.path, f.facts, named?.hook === 'down' ? 'down' : 'script');
  }
  const placed = classify(files);
  const order = files.map((f) => f.path);
  const loose = new Notes();
  for (const f of files) {
    if (placed.get(f)) continue;
    loose.absorb(f.facts.notes);
    loose.notTranslated(
      { file: f.path, line: 0 },
      'the whole file',
      "none of its lines tells which machine it belongs to (a DNAT, the tunnel's interface, DSCP tagging, a route via the LAN), nor do other files of its directory; give it with the files it goes with",
    );
  }

  // ---- each machine's facts
  const machines = new Map<Machine, { ctx: SetupCtx; placement: Placement }>();
  for (const machine of MACHINES) {
    const own = files.filter((f) => placed.get(f)?.machine === machine);
    if (own.length === 0) continue;
    const facts: Facts = emptyFacts();
    for (const f of own) {
      facts.files.push(f.path);
      facts.iptables.push(...f.facts.iptables);
      facts.ipRules.push(...f.facts.ipRules);
      facts.ipRoutes.push(...f.facts.ipRoutes);
      facts.forwarding.push(...f.facts.forwarding);
      facts.rpFilter.push(...f.facts.rpFilter);
      facts.ifupHooks.push(...f.facts.ifupHooks);
      facts.notes.absorb(f.facts.notes);
    }
    const placement = own.map((f) => placed.get(f)!).reduce((a, b) => (b.rank < a.rank ? b : a));
    machines.set(machine, { ctx: { machine, facts, vpn: own.flatMap((f) => (f.vpn ? [f.vpn] : [])), all: files, files: own }, placement });
  }
  if (o.role && !machines.has(o.role))
    throw new ImportError(
      undefined,
      `none of the inputs is the ${o.role}'s`,
      `the ${o.role}'s files (see docs/import.md for how each file's machine is told)`,
    );

  // ---- the tag: the value the VPN client sets on what it forwards; every machine must use it
  const uses: TagUse[] = [];
  for (const [machine, { ctx }] of machines) uses.push(...tagUses(machine, ctx.facts.iptables));
  const backendRules = machines.get('backend')?.ctx.facts.iptables ?? [];
  const set = backendRules.find((r) => r.table === 'mangle' && r.chain !== 'OUTPUT' && (setDscp(r) ?? 0) > 0);
  const reference = set && uses.find((u) => u.machine === 'backend' && u.origin === set.origin);
  const { tag, conflicts } = checkTags(uses, reference);

  // ---- translate, frontend first (the backend's services follow its forwards)
  const out: MachineImport[] = [];
  let front: OpenVpnFrontend | undefined;
  for (const [machine, { ctx, placement }] of machines) {
    const m: MachineImport = { machine, reason: placement.reason, files: ctx.files.map((f) => f.path), notes: [] };
    try {
      const conflict = conflicts.get(machine);
      if (conflict) throw new ImportError(undefined, conflict, 'one DSCP value on every machine');
      const siblingHooks = files
        .filter((f) => !ctx.files.includes(f) && ctx.files.some((g) => dirname(g.path) === dirname(f.path)))
        .flatMap((f) => f.facts.ifupHooks);
      if (machine === 'frontend') {
        front = openVpnFrontend(ctx);
        m.spec = { role: 'frontend', ...front.spec };
      } else if (machine === 'backend')
        m.spec = {
          role: 'backend',
          ...openVpnBackend(ctx, { forwarded: front ? forwardHosts(front.forwards) : [], ...(tag ? { tag: tag.value } : {}) }),
        };
      else if (machine === 'lan-router') m.spec = lanRouter(ctx, { ...(tag ? { tag: tag.value } : {}), hooks: siblingHooks });
      else m.spec = serviceHost(ctx, { hooks: siblingHooks });
    } catch (e) {
      if (!(e instanceof ImportError)) throw e;
      m.notWritten = e.message;
    }
    if (m.spec) {
      const body = specYaml(m.spec);
      try {
        m.config =
          machine === 'lan-router' || machine === 'service-host'
            ? validateLanSpec(yamlPackage().parse(body))
            : parseConfig(body, { fileName: `the imported ${machine} configuration`, format: 'yaml' });
        m.yaml = header(m.files, machine, m.reason, ctx.facts.notes.all(order)) + body;
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        m.notWritten = `the translated configuration is not valid for netfwd: ${e.message}`;
      }
    }
    m.notes = ctx.facts.notes.all(order);
    if (!o.role || o.role === machine) out.push(m);
  }
  return {
    machines: out,
    notes: loose.all(order),
    inputs: files.map((f) => ({ path: f.path, format: f.format, ...(placed.get(f) ? { machine: placed.get(f)!.machine } : {}) })),
  };
}

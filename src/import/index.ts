/**
 * `netfwd import`: reads the configuration of an existing setup — a wg-quick
 * `.conf` (with its PostUp iptables and ip commands) or a NetworkManager
 * WireGuard keyfile, plus iptables rules (`iptables-save` format or
 * `iptables …` command lines) and ip rule/route commands — and writes the
 * equivalent netfwd configuration. What cannot be expressed is listed with
 * its file:line and the reason, never dropped silently.
 *
 * The result has been loaded by netfwd's own configuration parser and
 * validator before it is returned. Keys are never put in the YAML: private
 * and preshared keys written inline in the sources become key files (the
 * caller writes them with mode 0600, see `keyFiles`); key files the sources
 * referred to stay references.
 */
import { basename, dirname, extname, isAbsolute, resolve as resolvePath } from 'node:path';
import { ConfigError } from '../errors.js';
import { parseConfig } from '../forward/spec/config-file.js';
import type { NormalizedConfig } from '../forward/spec/normalized-config.js';
import { type FileContent, readRegularFile } from '../forward/spec/private-file.js';
import { generatePrivateKey } from '../wireguard/curve25519.js';
import { readRulesFile } from './commands.js';
import { emptyFacts } from './facts.js';
import { type ImportInput, type InputFormat, inputFormat } from './input.js';
import { readKeyfile } from './nm-keyfile.js';
import { formatNote, header, specYaml } from './output.js';
import { ImportError, type ImportNote } from './source.js';
import { type PlannedKeyFile, type Role, translate } from './translate/index.js';
import { readWgQuick } from './wg-quick.js';

export { type ImportInput, type InputFormat, inputFormat } from './input.js';
export { formatNote } from './output.js';
export { importSetup, isSetup, type MachineImport, type SetupImport } from './setup.js';
export { ImportError, type ImportNote } from './source.js';
export type { Machine } from './translate/context.js';
export type { PlannedKeyFile, Role as ImportRole } from './translate/index.js';

export interface ImportOptions {
  /** Force the role instead of deciding it from the sources. */
  role?: Role;
  /**
   * Where the configuration will be written; key files go next to it and are
   * named after it (`frontend.yaml` → `frontend.key`). Default: standard
   * output, key files in the current directory named after the interface.
   */
  output?: string;
}

export interface ImportResult {
  role: Role;
  roleReason: string;
  /** The spec as written to the YAML (key files named, no key inline). */
  spec: Record<string, unknown>;
  /** The YAML text: the notes as comments, then the spec. */
  yaml: string;
  /** The configuration as netfwd loads it. */
  config: NormalizedConfig;
  notes: ImportNote[];
  /** Key files to write next to the output, mode 0600 (absolute paths). */
  keyFiles: Array<{ path: string; name: string; key: string }>;
  /** Key files the sources named and the configuration refers to (absolute paths; they may not exist here). */
  referencedKeyFiles: string[];
  /** How each input was read. */
  inputs: Array<{ path: string; format: InputFormat }>;
}

/** Translates the inputs. Throws ImportError (a ConfigError) for input that cannot be read or translated. */
export function importConfig(inputs: readonly ImportInput[], options: ImportOptions = {}): ImportResult {
  if (inputs.length === 0)
    throw new ImportError(undefined, 'no input files', 'a wg-quick .conf or NetworkManager keyfile, and optionally iptables files');
  const facts = emptyFacts();
  const read: ImportResult['inputs'] = [];
  const names = inputs.map((i) => i.path);
  inputs.forEach((input, index) => {
    const file = names[index]!;
    facts.files.push(file);
    const format = inputFormat(input.text);
    read.push({ path: input.path, format });
    if (input.text.includes('\0')) throw new ImportError(file, 'a binary file', 'a text file');
    if (format === 'openvpn')
      throw new ImportError(
        file,
        'an OpenVPN configuration among the files of a WireGuard machine',
        'the files of one tunnel: a WireGuard interface, or an OpenVPN setup (docs/import.md)',
      );
    if (format === 'wg-quick') readWgQuick(input.text, file, input.path, facts);
    else if (format === 'keyfile') readKeyfile(input.text, file, facts);
    else readRulesFile(input.text, file, facts);
  });

  const outDir = options.output ? dirname(resolvePath(options.output)) : process.cwd();
  const iface = facts.tunnels[0]?.name?.value ?? 'wg0';
  const stem = options.output ? basename(options.output, extname(options.output)) : iface;
  const t = translate(facts, { ...(options.role ? { role: options.role } : {}), keyFileStem: stem });

  // Load it as netfwd would: the planned key files from memory, referenced ones from disk.
  const planned = new Map<string, PlannedKeyFile>(t.keyFiles.map((k) => [resolvePath(outDir, k.name), k]));
  const readFile = (path: string): FileContent => {
    const p = planned.get(path);
    if (p) return { data: `${p.key}\n`, mode: 0o100600 };
    try {
      return readRegularFile(path, 4096);
    } catch (e) {
      const ref = t.referencedKeyFiles.find((r) => resolvePath(outDir, r.path) === path);
      if (!ref) throw e;
      // The key file lives on the machine the sources came from: check the rest with a stand-in key.
      facts.notes.changed(
        ref.origin,
        `private key file ${ref.path}`,
        'cannot be read here; the configuration refers to it and loads once it exists on the machine',
      );
      return { data: `${generatePrivateKey().toBase64()}\n`, mode: 0o100600 };
    }
  };
  for (const r of t.referencedKeyFiles) {
    if (!isAbsolute(r.path))
      facts.notes.changed(
        r.origin,
        `private key file ${r.path}`,
        `a relative path: netfwd reads it relative to the configuration file's directory, wg relative to where wg-quick ran`,
      );
  }
  const body = specYaml(t.spec);
  let config: NormalizedConfig;
  try {
    config = parseConfig(body, { fileName: 'the imported configuration', format: 'yaml', baseDir: outDir, readFile });
  } catch (e) {
    if (e instanceof ConfigError)
      throw new ImportError(
        undefined,
        `the translated configuration is not valid for netfwd: ${e.message}`,
        'sources netfwd can express; see docs/import.md',
      );
    throw e;
  }
  const notes = facts.notes.all(facts.files);
  const yaml =
    header(
      read.map((r, i) => names[i] ?? r.path),
      t.role,
      t.roleReason,
      notes,
    ) + body;
  return {
    role: t.role,
    roleReason: t.roleReason,
    spec: t.spec,
    yaml,
    config,
    notes,
    keyFiles: t.keyFiles.map((k) => ({ ...k, path: resolvePath(outDir, k.name) })),
    referencedKeyFiles: t.referencedKeyFiles.map((r) => resolvePath(outDir, r.path)),
    inputs: read,
  };
}

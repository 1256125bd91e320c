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
import { yaml as yamlPackage } from '../forward/spec/config-text.js';
import type { NormalizedConfig } from '../forward/spec/normalized-config.js';
import { type FileContent, readRegularFile } from '../forward/spec/private-file.js';
import { generatePrivateKey } from '../wireguard/curve25519.js';
import { readRulesFile } from './commands.js';
import { emptyFacts } from './facts.js';
import { readKeyfile } from './nm-keyfile.js';
import { ImportError, type ImportNote } from './source.js';
import { type PlannedKeyFile, type Role, translate } from './translate/index.js';
import { readWgQuick } from './wg-quick.js';

export { ImportError, type ImportNote } from './source.js';
export type { PlannedKeyFile, Role as ImportRole } from './translate/index.js';

export interface ImportInput {
  /** The path (used for the interface name of a wg-quick file and in notes). */
  path: string;
  text: string;
}

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

export type InputFormat = 'wg-quick' | 'keyfile' | 'rules';

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

/** A file's format by its content: [Interface] (wg-quick), [connection] (keyfile), else rules and commands. */
export function inputFormat(text: string): InputFormat {
  const firstSection = /^\s*\[([^\]]+)\]/m.exec(text.replace(/^\s*[#;].*$/gm, ''));
  const name = firstSection?.[1]?.trim().toLowerCase();
  if (name === 'interface' || name === 'peer') return 'wg-quick';
  if (name !== undefined && /^(connection|wireguard|wireguard-peer\..*|ipv4|ipv6)$/.test(name)) return 'keyfile';
  return 'rules';
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
  const body = new (yamlPackage().Document)(ordered(t.spec)).toString({ lineWidth: 0, flowCollectionPadding: false });
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

/** Notes as one line each: `FILE:LINE: WHAT — REASON`. */
export function formatNote(n: ImportNote): string {
  return `${n.line > 0 ? `${n.file}:${n.line}` : n.file}: ${n.what} — ${n.reason}`;
}

function header(files: string[], role: Role, reason: string, notes: ImportNote[]): string {
  const lines = [`# Imported by \`netfwd import\` from ${files.join(', ')}`, `# Role: ${role} (${reason})`];
  const section = (title: string, kind: ImportNote['kind']) => {
    const items = notes.filter((n) => n.kind === kind);
    if (items.length === 0) return;
    lines.push('#', `# ${title}:`);
    for (const n of items) lines.push(`#   ${formatNote(n).replace(/[\r\n]+/g, ' ')}`);
  };
  section('Not translated', 'not-translated');
  if (!notes.some((n) => n.kind === 'not-translated')) lines.push('#', '# Not translated: nothing');
  section('Translated differently', 'changed');
  return `${lines.join('\n')}\n\n`;
}

const ORDER = [
  'role',
  'netns',
  'interface',
  'addresses',
  'listenPort',
  'privateKeyFile',
  'name',
  'publicKey',
  'endpoint',
  'presharedKeyFile',
  'persistentKeepalive',
  'peers',
  'peer',
  'public',
  'forwards',
  'sourceNat',
  'masquerade',
  'returnPath',
  'services',
  'mode',
  'uids',
  'mark',
  'table',
  'priority',
  'exclude',
  'protocol',
  'port',
  'address',
  'to',
];

/** The spec with its fields in the order of docs/config-reference.md. */
function ordered(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(ordered);
  if (value === null || typeof value !== 'object') return value;
  const rank = (k: string) => (ORDER.includes(k) ? ORDER.indexOf(k) : ORDER.length);
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => rank(a) - rank(b))
      .map(([k, v]) => [k, ordered(v)]),
  );
}

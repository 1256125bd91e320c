/**
 * `netfwd import FILE... [--role ROLE] [-o OUT.yaml|DIR] [--json]`: the
 * netfwd configuration equivalent to a wg-quick file or NetworkManager
 * keyfile and its iptables rules (see src/import and docs/import.md) — or,
 * for the files of an OpenVPN setup, one configuration per machine
 * (import-setup.ts).
 *
 * Secrets never reach standard output: keys written inline in the sources go
 * to key files (mode 0600) next to the output — or in the current directory
 * when the YAML goes to standard output — and the YAML names them. Nothing is
 * written unless the whole translation loads; existing files are never
 * overwritten (a key file holding the same key is reused).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NetfwdError } from '../errors.js';
import { CONFIG_FILE_MAX_BYTES, loadConfigFile } from '../forward/spec/config-file.js';
import { asFileReadError, describeFile, type FileProblem, fileProblems, readRegularFile } from '../forward/spec/private-file.js';
import { formatNote, ImportError, type ImportInput, importConfig, inputFormat, isSetup, type Machine } from '../import/index.js';
import { generatePrivateKey } from '../wireguard/curve25519.js';
import { EXIT } from './exit-codes.js';
import { runSetupImport } from './import-setup.js';

export const IMPORT_USAGE = 'netfwd import FILE... [--role frontend|backend|lan-router|service-host] [-o OUT.yaml|DIR/] [--json]';

const ROLES: readonly string[] = ['frontend', 'backend', 'lan-router', 'service-host'];

/** The largest input file read. */
const INPUT_MAX_BYTES = 4 * 1024 * 1024;

const usage = (message: string) => Object.assign(new NetfwdError(`${message} (usage: ${IMPORT_USAGE})`), { exit: EXIT.USAGE });

export interface ImportIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

export function runImport(argv: string[], io: ImportIo): number {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      role: { type: 'string' },
      out: { type: 'string', short: 'o' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    io.out(
      `usage: ${IMPORT_USAGE}\n\nReads wg-quick .conf files, NetworkManager keyfiles, iptables-save files and scripts of\niptables/ip/wg commands, and writes the equivalent netfwd configuration; what could not be\ntranslated is listed on stderr and as comments in the output. Given the files of an OpenVPN\nsetup (the server's and client's configurations, their scripts, the LAN's tagging rules), it\nwrites one configuration per machine: -o DIR/ writes DIR/frontend.yaml, backend.yaml,\nlan-router.yaml, service-host.yaml. See docs/import.md.`,
    );
    return EXIT.OK;
  }
  if (positionals.length === 0) throw usage('import needs at least one input file');
  const role = values.role;
  if (role !== undefined && !ROLES.includes(role)) throw usage('--role is frontend, backend, lan-router or service-host');
  const output = values.out;

  const inputs: ImportInput[] = positionals.map((path) => {
    try {
      const content = readRegularFile(path, INPUT_MAX_BYTES);
      return { path, text: typeof content.data === 'string' ? content.data : content.data.toString('utf8') };
    } catch (e) {
      throw new ImportError(
        path,
        `cannot read the file: ${asFileReadError(e).reason}`,
        'a readable wg-quick .conf, NetworkManager keyfile or iptables file',
      );
    }
  });
  if (isSetup(inputs, inputFormat))
    return runSetupImport(
      inputs,
      { ...(role ? { role: role as Machine } : {}), ...(output ? { output } : {}), json: values.json, usage },
      io,
    );
  if (role !== undefined && role !== 'frontend' && role !== 'backend')
    throw usage(`--role ${role} is for the machines of an OpenVPN setup; a WireGuard machine is a frontend or a backend`);
  const result = importConfig(inputs, { ...(role ? { role } : {}), ...(output ? { output } : {}) });

  // Check every file before writing any.
  const exists = (path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new ImportError(path, `cannot check the file: ${asFileReadError(e).reason}`, 'a writable directory');
    }
  };
  if (output && exists(output) !== undefined) throw usage(`${output} exists: netfwd import does not overwrite files`);
  const toWrite = result.keyFiles.filter((k) => {
    const current = exists(k.path);
    if (current === undefined) return true;
    if (current.trim() === k.key) return false; // the same key from an earlier import
    throw usage(`${k.path} exists and holds another key: netfwd import does not overwrite key files (choose another -o)`);
  });

  const written: string[] = [];
  try {
    for (const k of toWrite) {
      writeFileSync(k.path, `${k.key}\n`, { mode: 0o600, flag: 'wx' });
      written.push(k.path);
    }
    if (output) {
      writeFileSync(output, result.yaml, { mode: 0o644, flag: 'wx' });
      written.push(output);
      // What was written loads as `netfwd up -c` will load it (a key file the sources named may live
      // only on the machine they came from: that one is stood in for, as the import noted).
      const referenced = new Set(result.referencedKeyFiles);
      loadConfigFile(output, {
        readFile: (path) => {
          try {
            return readRegularFile(path, CONFIG_FILE_MAX_BYTES);
          } catch (e) {
            if (!referenced.has(path)) throw e;
            return { data: `${generatePrivateKey().toBase64()}\n`, mode: 0o100600 };
          }
        },
      });
    }
  } catch (e) {
    for (const p of written) rmSync(p, { force: true });
    throw e;
  }

  if (values.json) {
    io.out(
      JSON.stringify(
        {
          role: result.role,
          roleReason: result.roleReason,
          inputs: result.inputs,
          output: output ?? null,
          keyFiles: result.keyFiles.map((k) => k.path),
          notTranslated: result.notes.filter((n) => n.kind === 'not-translated').map(({ kind: _, ...n }) => n),
          changed: result.notes.filter((n) => n.kind === 'changed').map(({ kind: _, ...n }) => n),
          config: result.spec,
          ...(output ? {} : { yaml: result.yaml }),
        },
        null,
        2,
      ),
    );
  } else if (!output) io.out(result.yaml);

  io.err(`netfwd import: ${result.role} (${result.roleReason})`);
  for (const k of result.keyFiles) io.err(`${toWrite.includes(k) ? 'wrote' : 'kept'} ${k.path} (mode 0600)`);
  if (output) io.err(`wrote ${output}`);
  const not = result.notes.filter((n) => n.kind === 'not-translated');
  const changed = result.notes.filter((n) => n.kind === 'changed');
  if (not.length) {
    io.err(`not translated (${not.length}):`);
    for (const n of not) io.err(`  ${formatNote(n)}`);
  }
  if (changed.length) {
    io.err(`translated differently (${changed.length}):`);
    for (const n of changed) io.err(`  ${formatNote(n)}`);
  }
  // netfwd up runs as root and refuses files that someone else could change: say so now, with the fix.
  for (const path of [...result.keyFiles.map((k) => k.path), ...(output ? [output] : [])]) {
    let problems: FileProblem[];
    try {
      problems = fileProblems(path, describeFile(path), path === output ? 'config' : 'key', [0]);
    } catch {
      continue;
    }
    if (problems.length > 0)
      io.err(
        `note: netfwd (as root) will refuse ${path}: it ${problems.map((p) => p.problem).join('; it ')}; run ${problems.map((p) => p.fix).join(' and ')}`,
      );
  }
  return EXIT.OK;
}

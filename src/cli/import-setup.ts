/**
 * `netfwd import` of a setup of several machines (an OpenVPN tunnel and the
 * tagged-routing recipe's LAN; see src/import/setup.ts): one configuration
 * per machine. With `-o DIR` (an existing directory, or a path ending in
 * '/') each goes to DIR/MACHINE.yaml (frontend.yaml, backend.yaml,
 * lan-router.yaml, service-host.yaml); with `-o FILE` only when there is one;
 * without -o they go to standard output as one YAML stream. There are no key
 * files: the tunnel is not netfwd's. Nothing is overwritten, every file is
 * loaded again after it is written, and when a machine's configuration could
 * not be made the others are still written and the exit status is 3.
 */
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NetfwdError } from '../errors.js';
import { loadAnyConfigFile } from '../forward/lan/index.js';
import { describeFile, type FileProblem, fileProblems } from '../forward/spec/private-file.js';
import { formatNote, type ImportInput, type ImportNote, importSetup, type Machine, type MachineImport } from '../import/index.js';
import { EXIT } from './exit-codes.js';

export interface SetupIo {
  out: (s: string) => void;
  err: (s: string) => void;
}

export function runSetupImport(
  inputs: ImportInput[],
  o: { role?: Machine; output?: string; json: boolean; usage: (message: string) => Error },
  io: SetupIo,
): number {
  const result = importSetup(inputs, o.role ? { role: o.role } : {});
  const made = result.machines.filter((m) => m.yaml !== undefined);

  // Where each configuration goes; every target is checked before any is written.
  const targets = new Map<MachineImport, string>();
  if (o.output !== undefined && made.length > 0) {
    const isDir = o.output.endsWith('/') || isDirectory(o.output);
    if (!isDir && made.length > 1)
      throw o.usage(
        `${made.length} configurations (${made.map((m) => m.machine).join(', ')}): -o names a directory (they are written as MACHINE.yaml in it)`,
      );
    for (const m of made) targets.set(m, isDir ? join(o.output, `${m.machine}.yaml`) : o.output);
    for (const path of targets.values()) if (exists(path)) throw o.usage(`${path} exists: netfwd import does not overwrite files`);
    if (isDir) mkdirSync(o.output, { recursive: true, mode: 0o755 });
  }
  const written: string[] = [];
  try {
    for (const [m, path] of targets) {
      writeFileSync(path, m.yaml!, { mode: 0o644, flag: 'wx' });
      written.push(path);
      loadAnyConfigFile(path); // what was written loads as `netfwd up -c` loads it
    }
  } catch (e) {
    for (const p of written) rmSync(p, { force: true });
    throw e;
  }

  const kind = (notes: ImportNote[], k: ImportNote['kind']) => notes.filter((n) => n.kind === k).map(({ kind: _, ...n }) => n);
  if (o.json) {
    io.out(
      JSON.stringify(
        {
          machines: result.machines.map((m) => ({
            machine: m.machine,
            reason: m.reason,
            files: m.files,
            output: targets.get(m) ?? null,
            notWritten: m.notWritten ?? null,
            notTranslated: kind(m.notes, 'not-translated'),
            changed: kind(m.notes, 'changed'),
            config: m.spec ?? null,
            ...(o.output === undefined && m.yaml ? { yaml: m.yaml } : {}),
          })),
          notTranslated: kind(result.notes, 'not-translated'),
          inputs: result.inputs,
        },
        null,
        2,
      ),
    );
  } else if (o.output === undefined) io.out(made.map((m) => m.yaml!).join('---\n'));

  io.err(`netfwd import: ${result.machines.length} machine${result.machines.length === 1 ? '' : 's'}`);
  for (const m of result.machines) {
    const path = targets.get(m);
    io.err(
      `${m.machine} (${m.reason}): ${m.notWritten ? `not written — ${m.notWritten}` : path ? `wrote ${path}` : 'written to standard output'}`,
    );
  }
  for (const m of result.machines) section(io, m.machine, m.notes);
  section(io, 'no machine', result.notes);
  for (const path of targets.values()) {
    let problems: FileProblem[];
    try {
      problems = fileProblems(path, describeFile(path), 'config', [0]);
    } catch {
      continue;
    }
    if (problems.length > 0)
      io.err(
        `note: netfwd (as root) will refuse ${path}: it ${problems.map((p) => p.problem).join('; it ')}; run ${problems.map((p) => p.fix).join(' and ')}`,
      );
  }
  if (made.length === 0)
    throw Object.assign(new NetfwdError('netfwd import: no configuration could be made (the reasons are above)'), { exit: EXIT.CONFIG });
  return made.length === result.machines.length ? EXIT.OK : EXIT.CONFIG;
}

function section(io: SetupIo, who: string, notes: ImportNote[]): void {
  const not = notes.filter((n) => n.kind === 'not-translated');
  const changed = notes.filter((n) => n.kind === 'changed');
  if (not.length) {
    io.err(`${who}: not translated (${not.length}):`);
    for (const n of not) io.err(`  ${formatNote(n)}`);
  }
  if (changed.length) {
    io.err(`${who}: translated differently (${changed.length}):`);
    for (const n of changed) io.err(`  ${formatNote(n)}`);
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

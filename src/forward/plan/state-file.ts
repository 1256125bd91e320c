/**
 * What netfwd must remember between `up` and `down` that the kernel cannot
 * hold for it: the values of global sysctls before netfwd changed them, a
 * WireGuard link it is creating but has not tagged with its alias yet, and
 * what the configuration claims (its routing table, rule priorities and
 * marks, the global sysctls it needs), by which several configurations in one
 * namespace keep out of each other's way. Kept under /run (cleared at boot, as
 * sysctls and links are), one file per namespace and tunnel, written
 * atomically.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NetfwdError } from '../../errors.js';

export const STATE_DIR = process.env.NETFWD_STATE_DIR ?? '/run/netfwd/state';

export interface ForwardState {
  /** Global sysctls netfwd changed: key → the value before, and the value netfwd set. */
  sysctls: Record<string, { before: string; set: string }>;
  /**
   * A WireGuard link netfwd is about to create, recorded before it is created
   * and cleared once it carries netfwd's alias. Creating the link and tagging
   * it are two kernel operations; a process killed between them leaves an
   * untagged link that this entry lets the next `up` or `down` recognise.
   */
  creatingLink?: { interface: string };
  /** What this configuration uses and no other netfwd configuration of the namespace may (claims.ts). */
  claim?: Claim;
}

/** The shared resources a configuration uses (written by `up`, removed by `down`). */
export interface Claim {
  /** The tunnel roles, and the LAN roles of the tagged-routing recipe (src/forward/lan/), which share this file's format. */
  role: 'frontend' | 'backend' | 'lan-router' | 'service-host';
  /** The routing table of a routed return path (with several tunnels: the first tunnel's). */
  table?: number;
  /** Several tunnels: the other tunnels' tables. */
  tables?: number[];
  /** The priorities of its policy rules. */
  priorities?: number[];
  /** Marks its rules route by (fwmarks, connection marks). */
  marks?: number[];
  /** The fwmark of its tunnel's own encrypted packets (mode mark). */
  tunnelMarks?: number[];
  /** Global sysctls it needs at the value netfwd sets (`down` of another configuration leaves them). */
  sysctls: string[];
  /** A backend's services and tunnelPorts, "tcp 9735-9735": another configuration's input and leak guard chains would drop them. */
  ports?: { services: string[]; tunnelPorts: string[] };
}

/** The state file cannot be read as netfwd wrote it: netfwd refuses to guess what to restore. */
export class StateFileError extends NetfwdError {
  override name = 'StateFileError';
  readonly path: string;
  constructor(path: string, problem: string) {
    super(
      `netfwd's state file ${path} ${problem}: it records what \`down\` must put back (sysctl values from before \`up\`) and what this configuration claims, ` +
        `so netfwd will not guess. Look at it; if it cannot be repaired, remove it (the sysctls it recorded are then left as they are: check net.ipv4.ip_forward, ` +
        `net.ipv6.conf.all.forwarding and net.ipv4.conf.all.send_redirects by hand) and run the command again`,
    );
    this.path = path;
  }
}

/**
 * The identity of the namespace the state belongs to (its nsfs inode): a
 * namespace removed without `down` leaves its file behind, and a later
 * namespace of the same name must not inherit it.
 */
function namespaceId(netns: string | undefined): string | undefined {
  try {
    const path = netns === undefined ? '/proc/self/ns/net' : netns.includes('/') ? netns : `/run/netns/${netns}`;
    return String(statSync(path).ino);
  } catch {
    return undefined;
  }
}

function statePath(netns: string | undefined, tunnel: string): string {
  const ns = netns === undefined ? 'host' : netns.replace(/\//g, '%');
  return join(STATE_DIR, ns, `${tunnel}.json`);
}

function isNumberList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff);
}

/** Checks the parsed content; a problem is thrown as StateFileError. */
function checked(path: string, parsed: unknown): ForwardState & { namespace?: string } {
  const bad: (what: string) => never = (what) => {
    throw new StateFileError(path, `is not valid (${what})`);
  };
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) bad('not a JSON object');
  const p = parsed as Record<string, unknown>;
  if (p.namespace !== undefined && typeof p.namespace !== 'string') bad('namespace is not a string');
  const sysctls = p.sysctls ?? {};
  if (typeof sysctls !== 'object' || sysctls === null || Array.isArray(sysctls)) bad('sysctls is not an object');
  for (const [key, v] of Object.entries(sysctls as Record<string, unknown>)) {
    const e = v as { before?: unknown; set?: unknown } | null;
    if (typeof e !== 'object' || e === null || typeof e.before !== 'string' || typeof e.set !== 'string')
      bad(`sysctls.${key} is not { before, set }`);
  }
  const out: ForwardState & { namespace?: string } = { sysctls: sysctls as ForwardState['sysctls'] };
  if (typeof p.namespace === 'string') out.namespace = p.namespace;
  if (p.creatingLink !== undefined) {
    const c = p.creatingLink as { interface?: unknown } | null;
    if (typeof c !== 'object' || c === null || typeof c.interface !== 'string') bad('creatingLink is not { interface }');
    out.creatingLink = { interface: c.interface as string };
  }
  if (p.claim !== undefined) {
    const c = p.claim as Record<string, unknown> | null;
    if (typeof c !== 'object' || c === null) bad('claim is not an object');
    const claim = c as Record<string, unknown>;
    if (!['frontend', 'backend', 'lan-router', 'service-host'].includes(claim.role as string)) bad('claim.role');
    if (claim.table !== undefined && !isNumberList([claim.table])) bad('claim.table');
    for (const k of ['tables', 'priorities', 'marks', 'tunnelMarks'] as const)
      if (claim[k] !== undefined && !isNumberList(claim[k])) bad(`claim.${k}`);
    if (!Array.isArray(claim.sysctls) || !claim.sysctls.every((x) => typeof x === 'string')) bad('claim.sysctls');
    if (claim.ports !== undefined) {
      const ports = claim.ports as Record<string, unknown> | null;
      const list = (v: unknown) => Array.isArray(v) && v.every((x) => typeof x === 'string' && /^(tcp|udp) \d+-\d+$/.test(x));
      if (typeof ports !== 'object' || ports === null || !list(ports.services) || !list(ports.tunnelPorts)) bad('claim.ports');
    }
    out.claim = claim as unknown as Claim;
  }
  return out;
}

/** Files a writer left behind when it died between writing and renaming (`NAME.json.PID.tmp` of a process that is gone). */
function removeStaleTemporaries(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /\.json\.(\d+)\.tmp$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (err) {
      alive = (err as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive || pid === process.pid) rmSync(join(dir, name), { force: true });
  }
}

/** Reads and checks a state file; undefined when there is none (or it belongs to a namespace that no longer exists). */
function readStateFile(path: string, netns: string | undefined): ForwardState | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError(path, `cannot be read (${(err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new StateFileError(path, `is not valid JSON (${(err as Error).message})`);
  }
  const state = checked(path, parsed);
  // A namespace removed without `down` leaves its file behind: a later namespace of the same name does not inherit it.
  if (state.namespace !== undefined && state.namespace !== namespaceId(netns)) return undefined;
  delete state.namespace;
  return state;
}

/**
 * The state of one tunnel's configuration. A file that is not what netfwd
 * writes is a StateFileError (never taken as empty: the values to restore
 * would be lost silently).
 */
export function readState(netns: string | undefined, tunnel: string): ForwardState {
  return readStateFile(statePath(netns, tunnel), netns) ?? { sysctls: {} };
}

/** Every other configuration's state in the namespace: tunnel name → state. Stale temporaries are removed on the way. */
export function otherStates(netns: string | undefined, tunnel: string): Map<string, ForwardState> {
  const dir = dirname(statePath(netns, tunnel));
  removeStaleTemporaries(dir);
  const out = new Map<string, ForwardState>();
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names.sort()) {
    if (!name.endsWith('.json') || name === `${tunnel}.json`) continue;
    const state = readStateFile(join(dir, name), netns);
    if (state) out.set(name.slice(0, -'.json'.length), state);
  }
  return out;
}

/** The path of a tunnel's state file (for messages). */
export function stateFilePath(netns: string | undefined, tunnel: string): string {
  return statePath(netns, tunnel);
}

export function writeState(netns: string | undefined, tunnel: string, state: ForwardState): void {
  const path = statePath(netns, tunnel);
  if (Object.keys(state.sysctls).length === 0 && !state.creatingLink && !state.claim) {
    rmSync(path, { force: true });
    // The namespace's directory goes with its last file: namespaces come and go (tests make thousands).
    try {
      rmdirSync(dirname(path));
    } catch {
      /* not empty (another tunnel's state), or already gone */
    }
    return;
  }
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ namespace: namespaceId(netns), ...state }, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, path);
}

/** Reads a tunnel's state, lets `change` modify it, and writes it back — unless `change` returns false. */
export function updateState(netns: string | undefined, tunnel: string, change: (state: ForwardState) => void | false): void {
  const state = readState(netns, tunnel);
  if (change(state) !== false) writeState(netns, tunnel, state);
}

/** Sets (or with undefined removes) the record of one global sysctl. */
export function setSysctlRecord(
  netns: string | undefined,
  tunnel: string,
  key: string,
  entry: ForwardState['sysctls'][string] | undefined,
): void {
  updateState(netns, tunnel, (state) => {
    if (entry) state.sysctls[key] = entry;
    else delete state.sysctls[key];
  });
}

/** Sets (or with undefined removes) the claim. */
export function setClaim(netns: string | undefined, tunnel: string, claim: Claim | undefined): void {
  updateState(netns, tunnel, (state) => {
    if (claim) state.claim = claim;
    else delete state.claim;
  });
}

/** Records that netfwd is creating the tunnel link `name` in `netns` (before the kernel creates it). */
export function recordLinkCreation(netns: string | undefined, name: string): void {
  updateState(netns, name, (state) => {
    state.creatingLink = { interface: name };
  });
}

/** Forgets a recorded link creation (the link is tagged, or gone). */
export function clearLinkCreation(netns: string | undefined, name: string): void {
  updateState(netns, name, (state) => {
    if (!state.creatingLink) return false;
    delete state.creatingLink;
  });
}

/** True when netfwd recorded creating link `name` in this very namespace and did not finish tagging it. */
export function linkCreationPending(netns: string | undefined, name: string): boolean {
  return readState(netns, name).creatingLink?.interface === name;
}

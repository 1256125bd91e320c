/**
 * What netfwd must remember between `up` and `down` that the kernel cannot
 * hold for it: the values of global sysctls before netfwd changed them, and a
 * WireGuard link it is creating but has not tagged with its alias yet. Kept
 * under /run (cleared at boot, as sysctls and links are), one file per
 * namespace and tunnel, written atomically.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

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

export function readState(netns: string | undefined, tunnel: string): ForwardState {
  try {
    const parsed = JSON.parse(readFileSync(statePath(netns, tunnel), 'utf8')) as Partial<ForwardState> & { namespace?: string };
    if (parsed.namespace !== undefined && parsed.namespace !== namespaceId(netns)) return { sysctls: {} };
    const creating = parsed.creatingLink;
    return {
      sysctls: parsed.sysctls ?? {},
      ...(creating && typeof creating.interface === 'string' ? { creatingLink: { interface: creating.interface } } : {}),
    };
  } catch {
    return { sysctls: {} };
  }
}

export function writeState(netns: string | undefined, tunnel: string, state: ForwardState): void {
  const path = statePath(netns, tunnel);
  if (Object.keys(state.sysctls).length === 0 && !state.creatingLink) {
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

/** Records that netfwd is creating the tunnel link `name` in `netns` (before the kernel creates it). */
export function recordLinkCreation(netns: string | undefined, name: string): void {
  const state = readState(netns, name);
  state.creatingLink = { interface: name };
  writeState(netns, name, state);
}

/** Forgets a recorded link creation (the link is tagged, or gone). */
export function clearLinkCreation(netns: string | undefined, name: string): void {
  const state = readState(netns, name);
  if (!state.creatingLink) return;
  delete state.creatingLink;
  writeState(netns, name, state);
}

/** True when netfwd recorded creating link `name` in this very namespace and did not finish tagging it. */
export function linkCreationPending(netns: string | undefined, name: string): boolean {
  return readState(netns, name).creatingLink?.interface === name;
}

/**
 * Peers that are not project dependencies: Debian's python3-pyroute2 and the
 * npm `netlink` package, installed into bench/.peers (never into the project).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const benchDir = new URL('..', import.meta.url).pathname;
export const repoDir = join(benchDir, '..');
export const peersDir = join(benchDir, '.peers');

/** /usr/bin/python3 (Debian's, which has python3-pyroute2), or why it cannot be used. */
export function pyroute2Problem(): string | undefined {
  const r = spawnSync('/usr/bin/python3', ['-c', 'import pyroute2'], { stdio: 'ignore' });
  return r.status === 0 ? undefined : 'python3-pyroute2 is not installed (apt-get install python3-pyroute2)';
}

let netlinkPeer: string | null | undefined;
let netlinkProblemText: string | undefined;

/** Path of the npm `netlink` package, installing it on first use; undefined when it does not install. */
export function npmNetlinkPath(): string | undefined {
  if (netlinkPeer !== undefined) return netlinkPeer ?? undefined;
  const dir = join(peersDir, 'node_modules', 'netlink');
  try {
    if (!existsSync(dir)) {
      execFileSync('mkdir', ['-p', peersDir]);
      // Its prebuilt binaries load without running install scripts.
      execFileSync('npm', ['install', '--prefix', peersDir, '--no-save', '--ignore-scripts', 'netlink@0.3.0'], { stdio: 'ignore' });
    }
    const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(dir)}).createRtNetlink()`], { stdio: 'pipe' });
    if (probe.status !== 0) throw new Error(probe.stderr.toString().split('\n')[0]);
    netlinkPeer = dir;
  } catch (err) {
    netlinkPeer = null;
    netlinkProblemText = `the npm netlink package does not install or load here: ${(err as Error).message}`;
  }
  return netlinkPeer ?? undefined;
}

export function npmNetlinkProblem(): string | undefined {
  return npmNetlinkPath() ? undefined : netlinkProblemText;
}

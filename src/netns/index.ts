/**
 * Named network namespaces, kept as `ip netns` keeps them (bind mounts under
 * /run/netns), so the two interoperate. Every namespace switch happens on a
 * short-lived native thread or in a helper process: the calling thread never
 * changes namespace.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { NetfwdError, NetlinkError, ValidationError } from '../errors.js';
import { addon, addonPath, type NativeError } from '../native.js';
import { resolveCredentials } from './credentials.js';
import { NETNS_RUN_DIR, netnsPath, validateNetnsName } from './path.js';

export { NETNS_RUN_DIR, netnsPath, validateNetnsName } from './path.js';

function nativeCall<T>(operation: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const e = err as NativeError;
    if (typeof e?.errno === 'number') throw new NetlinkError(e.errno, { operation: `${operation}: ${e.syscall ?? ''}`.replace(/: $/, '') });
    throw err;
  }
}

let nsfsDevice: number | undefined;
function isNamespaceFile(path: string): boolean {
  try {
    nsfsDevice ??= statSync('/proc/self/ns/net').dev;
    return statSync(path).dev === nsfsDevice;
  } catch {
    return false;
  }
}

/** Turns a sysctl key (`net.ipv4.ip_forward` or `net/ipv4/conf/eth0.1/rp_filter`) into its /proc path. */
export function sysctlPath(key: string): string {
  if (typeof key !== 'string' || !/^net[./][A-Za-z0-9_./-]+$/.test(key) || key.includes('..')) {
    throw new ValidationError('key', `invalid sysctl key ${JSON.stringify(key)}`, 'a key under net., such as net.ipv4.ip_forward');
  }
  const rel = key.includes('/') ? key : key.replace(/\./g, '/');
  return `/proc/sys/${rel}`;
}

export interface ExecOptions extends Omit<SpawnOptions, 'argv0' | 'shell'> {}

export const netns = {
  /** Creates a named namespace (EEXIST as a NetlinkError when it exists). */
  create(name: string): void {
    validateNetnsName(name, 'name');
    nativeCall(`create network namespace ${name}`, () => addon().createNetns(NETNS_RUN_DIR, name));
  },

  /** Removes a named namespace; its interfaces go with it once nothing else holds it. */
  remove(name: string): void {
    validateNetnsName(name, 'name');
    nativeCall(`remove network namespace ${name}`, () => addon().removeNetns(`${NETNS_RUN_DIR}/${name}`));
  },

  /** Names of the namespaces under /run/netns. */
  list(): string[] {
    try {
      return readdirSync(NETNS_RUN_DIR)
        .filter((n) => isNamespaceFile(`${NETNS_RUN_DIR}/${n}`))
        .sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  },

  /** True when /run/netns/NAME exists and holds a namespace. */
  exists(name: string): boolean {
    validateNetnsName(name, 'name');
    return isNamespaceFile(`${NETNS_RUN_DIR}/${name}`);
  },

  /**
   * PIDs of the processes whose network namespace is this one (from /proc).
   * Removing a namespace does not stop them, and they keep it alive: a
   * teardown ends them first.
   */
  processes(name: string): number[] {
    const ns = netnsPath(name, 'name');
    let ino: number;
    try {
      ino = statSync(ns).ino;
    } catch {
      return [];
    }
    const out: number[] = [];
    for (const entry of readdirSync('/proc')) {
      if (!/^[0-9]+$/.test(entry)) continue;
      try {
        if (statSync(`/proc/${entry}/ns/net`).ino === ino) out.push(Number(entry));
      } catch {
        // gone meanwhile, or not ours to look at
      }
    }
    return out;
  },

  /**
   * Reads a file of /proc/net as the namespace sees it (e.g. 'netlink': the
   * namespace's netlink sockets), or the caller's own with `name` undefined.
   */
  procNet(name: string | undefined, file: string): string {
    if (!/^[a-z0-9_]+(?:\/[a-z0-9_]+)?$/.test(file))
      throw new ValidationError('file', `${JSON.stringify(file)} is not a /proc/net file name`, 'e.g. "netlink" or "ipv6_route"');
    if (name === undefined) return readFileSync(`/proc/thread-self/net/${file}`, 'utf8');
    const ns = netnsPath(name, 'name');
    return nativeCall(`read /proc/net/${file} in ${name}`, () => addon().readFileInNetns(ns, `/proc/thread-self/net/${file}`));
  },

  /**
   * Reads a sysctl under net. inside the namespace, or writes it when `value`
   * is given; returns the value read after any write.
   */
  sysctl(name: string, key: string, value?: string | number | boolean): string {
    const ns = netnsPath(name, 'name');
    const file = sysctlPath(key);
    if (value !== undefined) {
      const text = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
      nativeCall(`write sysctl ${key} in ${name}`, () => addon().writeFileInNetns(ns, file, text));
    }
    return nativeCall(`read sysctl ${key} in ${name}`, () => addon().readFileInNetns(ns, file)).trim();
  },

  /**
   * Starts `command` inside the namespace, without a shell. A helper process
   * enters the namespace and then becomes the command (execvp), so the
   * returned ChildProcess is the command itself. Used for daemons (a
   * userspace WireGuard) and the services of the lab; never to configure the
   * kernel. `options.uid`/`gid` are 0..4294967294 (ValidationError otherwise,
   * before anything starts); a uid alone runs with its primary group, and
   * only that group.
   */
  exec(name: string, command: string, args: readonly string[] = [], options: ExecOptions = {}): ChildProcess {
    const ns = netnsPath(name, 'name');
    if (typeof command !== 'string' || command.length === 0) throw new ValidationError('command', 'empty command');
    // uid and gid: 0..4294967294; a uid alone runs with its primary group
    // (and only that group); checked before anything starts.
    const { uid, gid } = resolveCredentials(options);
    if (!isNamespaceFile(ns)) throw new NetfwdError(`network namespace ${name} does not exist`);
    // The helper enters the namespace as root, then takes on uid/gid (when
    // given) and becomes the command: setns needs privileges the uid lacks.
    // An empty argument is "not given".
    const helper =
      'const [,addonFile,ns,uid,gid,file,...argv]=process.argv;const id=(s)=>s===""?undefined:Number(s);' +
      'try{require(addonFile).execInNetns(ns,file,[file,...argv],id(uid),id(gid))}' +
      'catch(e){process.stderr.write("netfwd exec: "+e.message+"\\n");process.exit(127)}';
    const env = { ...(options.env ?? process.env) };
    // The helper must not inherit loaders meant for the parent (e.g. a TypeScript loader).
    delete env.NODE_OPTIONS;
    // uid and gid are the helper's to apply, after setns: not spawn's.
    const { uid: _uid, gid: _gid, ...rest } = options;
    return spawn(
      process.execPath,
      ['-e', helper, addonPath(), ns, uid === undefined ? '' : String(uid), gid === undefined ? '' : String(gid), command, ...args],
      {
        ...rest,
        env,
        shell: false,
      },
    );
  },
};

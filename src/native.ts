/**
 * Loads the C++ addon (through node-gyp-build, so prebuilt binaries work) and
 * describes its interface. The addon moves bytes and switches namespaces; all
 * protocol knowledge is in TypeScript.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A raw netlink socket. Errors thrown carry `errno` and `code`. */
export interface NativeSocket {
  readonly portId: number;
  readonly fd: number;
  readonly closed: boolean;
  /** Sends one datagram to the kernel; returns the bytes sent. */
  send(data: Buffer): number;
  /**
   * Sends one datagram from the libuv thread pool (the kernel handles the
   * request inside the send); `data` must not change until `done` is called.
   */
  sendAsync(data: Buffer, done: (error: NativeError | null, sent?: number) => void): void;
  /** Reads queued datagrams without waiting; overruns and truncation appear as Error items. */
  receive(maxDatagrams?: number): Array<Buffer | NativeError>;
  setOption(level: number, name: number, value: number): void;
  getOption(level: number, name: number): number;
  /** Calls `onReadable` whenever data is queued; keeps the event loop alive. */
  startPolling(onReadable: (error?: NativeError) => void): void;
  stopPolling(): void;
  close(): void;
}

export interface NativeError extends Error {
  errno: number;
  code: string;
  syscall?: string;
  truncated?: boolean;
  length?: number;
}

export interface Addon {
  NetlinkSocket: new (protocol: number, netnsPath?: string) => NativeSocket;
  createNetns(dir: string, name: string): void;
  removeNetns(path: string): void;
  readFileInNetns(netnsPath: string, file: string): string;
  writeFileInNetns(netnsPath: string, file: string, data: string): void;
  /** uid/gid 0..4294967294, null for "not given"; a uid needs a gid (src/netns/credentials.ts supplies the primary group). */
  execInNetns(netnsPath: string, file: string, argv: string[], uid: number | null, gid: number | null): never;
  /** The primary group of `uid` from its passwd entry (getpwuid_r), or null when it has none. */
  userPrimaryGroup(uid: number): number | null;
  enterNetnsOnThisThread(netnsPath: string): void;
  /** Sends one datagram to an AF_UNIX SOCK_DGRAM socket (an abstract name when `address` starts with a NUL byte); returns the bytes sent. */
  sendUnixDatagram(address: Buffer, data: Buffer): number;
}

const requireHere = createRequire(import.meta.url);

function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('netfwd: cannot find the package root (binding.gyp)');
    dir = up;
  }
}

let loaded: { addon: Addon; path: string } | undefined;

/**
 * process.dlopen, as require() of a .node file ends in, without the module
 * loader's resolution and caching on the way there (over a millisecond of
 * cold JavaScript in a short-lived process). Node-API addons may be opened
 * more than once in a process, so the ESM and CommonJS builds can both load it.
 */
function openAddon(path: string): Addon {
  const module = { exports: {} };
  process.dlopen(module, path);
  return module.exports as Addon;
}

function load(): { addon: Addon; path: string } {
  if (!loaded) {
    // NETFWD_ADDON selects another build of the addon, e.g. one with AddressSanitizer.
    let path = process.env.NETFWD_ADDON;
    if (!path) {
      const root = packageRoot();
      // node-gyp-build looks here first too; its search (prebuilds, tags) costs a few ms.
      const local = join(root, 'build', 'Release', 'netfwd.node');
      if (existsSync(local) && !process.env.PREBUILDS_ONLY) path = local;
      else {
        const gypBuild = requireHere('node-gyp-build') as { resolve(dir: string): string };
        path = gypBuild.resolve(root);
      }
    }
    loaded = { addon: openAddon(path), path };
  }
  return loaded;
}

/** The addon, loaded on first use. */
export function addon(): Addon {
  return load().addon;
}

/** File system path of the loaded addon (a helper process loads it too). */
export function addonPath(): string {
  return load().path;
}

/** cgroupv2 paths and ids (inode numbers of directories under /sys/fs/cgroup), for the cgroupsv2 datatype. */
import { type Dirent, readdirSync, statSync } from 'node:fs';

type CgroupResolver = { idOf(path: string): bigint | undefined; pathOf(id: bigint): string | undefined };
let cgroupResolver: CgroupResolver | undefined;
/** Replaces the cgroup path resolver (tests; hosts that mount cgroup2 elsewhere). */
export function setCgroupResolver(r: CgroupResolver | undefined): void {
  cgroupResolver = r;
}
/** The cgroupv2 id (inode number) of a path under /sys/fs/cgroup. */
export function cgroupIdOf(path: string): bigint | undefined {
  return (cgroupResolver ?? defaultCgroups()).idOf(path);
}
/** The path under /sys/fs/cgroup of a cgroupv2 id. */
export function cgroupPathOf(id: bigint): string | undefined {
  return (cgroupResolver ?? defaultCgroups()).pathOf(id);
}
let defaults: CgroupResolver | undefined;
function defaultCgroups(): CgroupResolver {
  if (defaults) return defaults;
  const root = '/sys/fs/cgroup';
  const byId = new Map<bigint, string>();
  let scanned = false;
  const scan = () => {
    if (scanned) return;
    scanned = true;
    const walk = (dir: string, rel: string, depth: number) => {
      if (depth > 8 || byId.size > 20000) return;
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        if (!e.isDirectory()) continue;
        const p = `${dir}/${e.name}`;
        const r = rel ? `${rel}/${e.name}` : e.name;
        try {
          const ino = statSync(p, { bigint: true }).ino;
          if (!byId.has(ino)) byId.set(ino, r);
        } catch {
          continue;
        }
        walk(p, r, depth + 1);
      }
    };
    walk(root, '', 0);
  };
  defaults = {
    idOf(path) {
      try {
        return statSync(`${root}/${path.replace(/^\/+/, '')}`, { bigint: true }).ino;
      } catch {
        return undefined;
      }
    },
    pathOf(id) {
      scan();
      return byId.get(id);
    },
  };
  return defaults;
}

/**
 * Who changed netfwd's objects: the supervisor names the other party when it
 * keeps having to repair them. rtnetlink notifications carry the netlink port
 * of the socket that asked for the change (0: the kernel itself);
 * /proc/net/netlink of the namespace maps a port to a socket inode, and
 * /proc/PID/fd to the process that holds it — while it still does (a
 * short-lived `ip` is gone by then). nftables says it directly: each
 * transaction's generation message carries the committing process's pid and
 * name.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { netns as namespaces } from '../../netns/index.js';

/** NETLINK_ROUTE in /proc/net/netlink's "Eth" column. */
const NETLINK_ROUTE = 0;

/** The inode of the rtnetlink socket bound to `port` in the namespace, if it still exists. */
function socketInode(netns: string | undefined, port: number): number | undefined {
  let text: string;
  try {
    text = namespaces.procNet(netns, 'netlink');
  } catch {
    return undefined;
  }
  // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    if (Number(f[1]) === NETLINK_ROUTE && Number(f[2]) >>> 0 === port >>> 0) return Number(f[9]);
  }
  return undefined;
}

/** The process holding the socket of `inode` (a scan of /proc/PID/fd), if any. */
function holderOf(inode: number): number | undefined {
  const target = `socket:[${inode}]`;
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${entry}/fd/${fd}`) === target) return Number(entry);
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** "pid 1234 (nft)", or "another netfwd (pid 1234: netfwd run -c …)" when it is one. */
export function describeProcess(pid: number, name?: string): string {
  let comm = name;
  let cmdline = '';
  try {
    comm ??= readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    // exited
  }
  if (/(^|\/|\s)netfwd(\.js)?(\s|$)|dist\/cli\.js/.test(cmdline)) return `another netfwd (pid ${pid}: ${cmdline.slice(0, 200)})`;
  return `pid ${pid}${comm ? ` (${comm})` : ''}`;
}

/** Names the party behind an rtnetlink notification's sender port. */
export function describeSender(netns: string | undefined, port: number): string {
  if (port === 0) return 'the kernel (e.g. a link or address went away and took its routes)';
  const inode = socketInode(netns, port);
  const pid = inode === undefined ? undefined : holderOf(inode);
  if (pid === undefined) return `a process that has closed its socket since (netlink port ${port >>> 0}; a short-lived command such as ip)`;
  return describeProcess(pid);
}

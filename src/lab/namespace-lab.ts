/**
 * What every lab does with its hosts, whatever its topology (Lab, LanLab):
 * start processes and functions in a host's namespace, and at destroy() end
 * them and everything else running there, then remove the namespaces it made.
 */
import type { ChildProcess } from 'node:child_process';
import { type ExecOptions, netns } from '../netns/index.js';
import { type NetnsTask, type PortableFunction, runInNetns, startInNetns } from '../netns/run-in-netns.js';
import { Route } from '../route/index.js';

export abstract class NamespaceLab<H extends string> {
  private readonly tasks = new Set<NetnsTask<unknown>>();
  private readonly children = new Set<ChildProcess>();
  private destroyed = false;

  /** The namespace of a host (an error naming the option that adds it, when the lab has none). */
  protected abstract netnsOf(host: H): string;

  /** The namespaces destroy() removes: those the lab made, and no others. */
  protected abstract madeNamespaces(): string[];

  /** Runs `fn` with an rtnetlink handle of the namespace, closed afterwards. */
  protected async withRoute(ns: string, fn: (rt: Route) => Promise<void>): Promise<void> {
    const rt = await Route.open({ netns: ns });
    try {
      await fn(rt);
    } finally {
      rt.close();
    }
  }

  /** Starts a process inside a host's namespace (no shell); it is killed at destroy(). */
  exec(host: H, command: string, args: readonly string[] = [], options: ExecOptions = {}): ChildProcess {
    const child = netns.exec(this.netnsOf(host), command, args, options);
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs a self-contained function inside a host's namespace and returns its result. */
  run<A, T>(host: H, fn: PortableFunction<A, T>, arg?: A): Promise<T> {
    return runInNetns(this.netnsOf(host), fn, arg);
  }

  /** Starts a self-contained function (e.g. a server) inside a host's namespace; stopped at destroy(). */
  start<A, T>(host: H, fn: PortableFunction<A, T>, arg?: A): NetnsTask<T> {
    const task = startInNetns(this.netnsOf(host), fn, arg);
    this.tasks.add(task as NetnsTask<unknown>);
    return {
      result: task.result,
      stop: async () => {
        this.tasks.delete(task as NetnsTask<unknown>);
        await task.stop();
      },
    };
  }

  /** Stops everything started in the lab and removes its namespaces. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    await Promise.allSettled([...this.tasks].map((t) => t.stop()));
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
    // Daemons started inside (a userspace WireGuard, OpenVPN, dockerd, services) would keep
    // the namespaces alive after their names are gone: end them first.
    const made = this.madeNamespaces();
    await endProcessesIn(made);
    const errors: unknown[] = [];
    for (const ns of made) {
      try {
        if (netns.exists(ns)) netns.remove(ns);
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length) throw errors[0];
  }
}

/** SIGTERM to every process in the namespaces, SIGKILL to those still there after a second. */
export async function endProcessesIn(names: readonly string[]): Promise<void> {
  const find = () => names.flatMap((n) => (netns.exists(n) ? netns.processes(n) : [])).filter((pid) => pid !== process.pid);
  const signal = (pids: number[], sig: NodeJS.Signals) => {
    for (const pid of pids) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  let pids = find();
  if (pids.length === 0) return;
  signal(pids, 'SIGTERM');
  for (let i = 0; i < 20 && pids.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
    pids = find();
  }
  signal(pids, 'SIGKILL');
}

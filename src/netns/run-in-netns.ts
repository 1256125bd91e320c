/**
 * Runs a JavaScript function inside a network namespace: a worker thread
 * enters the namespace (only that thread changes namespace) and evaluates the
 * function from its source. The function therefore cannot use variables of
 * the enclosing scope; give it what it needs through its argument. Sockets it
 * opens (node:net, node:dgram, fetch to an IP literal) live in the namespace.
 */
import { Worker } from 'node:worker_threads';
import { NetfwdError } from '../errors.js';
import { addonPath } from '../native.js';
import { netnsPath } from './path.js';

const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { addon, ns, source, arg } = workerData;
(async () => {
  require(addon).enterNetnsOnThisThread(ns);
  // Source compiled by esbuild with keepNames (tsx, tsup) calls a __name helper of its module.
  if (typeof globalThis.__name !== 'function') globalThis.__name = (target) => target;
  const fn = (0, eval)('(' + source + ')');
  const value = await fn(arg);
  parentPort.postMessage({ ok: true, value });
})().catch((err) => {
  parentPort.postMessage({ ok: false, error: { message: String(err && err.message || err), stack: String(err && err.stack || '') } });
});
`;

export interface NetnsTask<T> {
  /** Settles with the function's result (the worker keeps running what it started, e.g. a server). */
  result: Promise<T>;
  /** Terminates the worker and everything it runs. */
  stop(): Promise<void>;
}

/** A function that can be sent to another thread: its source must stand alone. */
export type PortableFunction<A, T> = (arg: A) => T | Promise<T>;

/** Starts `fn(arg)` in a worker thread inside the namespace and keeps the worker alive until stop(). */
export function startInNetns<A, T>(netns: string, fn: PortableFunction<A, T>, arg?: A): NetnsTask<T> {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { addon: addonPath(), ns: netnsPath(netns), source: fn.toString(), arg },
  });
  let stopped = false;
  const result = new Promise<T>((resolve, reject) => {
    worker.once('message', (m: { ok: boolean; value?: T; error?: { message: string; stack: string } }) => {
      if (m.ok) resolve(m.value as T);
      else {
        const e = new NetfwdError(`function in namespace ${netns} failed: ${m.error!.message}`);
        e.stack = m.error!.stack;
        reject(e);
      }
    });
    worker.once('error', reject);
    worker.once('exit', (code) => {
      if (!stopped) reject(new NetfwdError(`worker in namespace ${netns} exited (code ${code}) before returning`));
    });
  });
  result.catch(() => undefined);
  return {
    result,
    async stop() {
      stopped = true;
      await worker.terminate();
    },
  };
}

/** Runs `fn(arg)` inside the namespace and returns its result; the worker ends afterwards. */
export async function runInNetns<A, T>(netns: string, fn: PortableFunction<A, T>, arg?: A): Promise<T> {
  const task = startInNetns(netns, fn, arg);
  try {
    return await task.result;
  } finally {
    await task.stop();
  }
}

/**
 * Runs inputs [from, to) of one fuzz target; publishes the number of the input
 * it is on in shared memory (the parent's watchdog reads it) and reports each
 * input that throws anything but the target's typed errors.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { inputAt, prepare, targetByName } from './fuzz-engine.js';

const { name, seed, from, to, shared } = workerData as { name: string; seed: number; from: number; to: number; shared: Int32Array };
const p = prepare(targetByName(name));
Atomics.store(shared, 1, 1);
let decoded = 0;
let refused = 0;
for (let i = from; i < to; i++) {
  Atomics.store(shared, 0, i);
  const input = inputAt(p, seed, i);
  try {
    p.target.run(input);
    decoded++;
  } catch (err) {
    if (p.target.allowed(err)) refused++;
    else
      parentPort!.postMessage({
        type: 'finding',
        index: i,
        error: err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : String(err),
      });
  }
}
Atomics.store(shared, 0, to);
parentPort!.postMessage({ type: 'done', decoded, refused });

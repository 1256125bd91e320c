// The package the subjects measure: the run's snapshot of dist/ (NETFWD_DIST),
// or the work tree's dist/ when a subject is run by hand.
import { pathToFileURL } from 'node:url';

export async function loadNetfwd(entry = 'index.js') {
  const dir = process.env.NETFWD_DIST;
  return import(dir ? pathToFileURL(`${dir}/${entry}`).href : `../../dist/${entry}`);
}

let doneAt;

/**
 * Marks the end of the timed work. What the subject does after it (a warm
 * repetition, clean-up) is reported as `tailMs`, which the harness takes off
 * the process's wall time: the whole-process column ends where the work did.
 */
export function workDone() {
  doneAt = performance.now();
}

/** The subject's report: one JSON line, the harness reads the last line of stdout. */
export function report(fields) {
  const tail = doneAt === undefined ? {} : { tailMs: performance.now() - doneAt };
  process.stdout.write(`${JSON.stringify({ ...fields, ...tail })}\n`);
}

// The package the subjects measure: the run's snapshot of dist/ (NETFWD_DIST),
// or the work tree's dist/ when a subject is run by hand.
import { pathToFileURL } from 'node:url';

export async function loadNetfwd(entry = 'index.js') {
  const dir = process.env.NETFWD_DIST;
  return import(dir ? pathToFileURL(`${dir}/${entry}`).href : `../../dist/${entry}`);
}

/** The subject's report: one JSON line, the harness reads the last line of stdout. */
export function report(fields) {
  process.stdout.write(`${JSON.stringify(fields)}\n`);
}

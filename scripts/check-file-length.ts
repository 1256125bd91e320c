/**
 * Fails when a source file under src/ is longer than LIMIT lines and does not say
 * why near its top, in a comment line that contains "over 500 lines" (any case),
 * e.g. `* Over 500 lines: one table of every meta key, kept whole so it reads as one.`
 * Run by `npm run check:structure` (and so by `npm test` and CI).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIMIT = 500;
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function* sources(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

const problems: string[] = [];
for (const path of sources(join(ROOT, 'src'))) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const count = lines.at(-1) === '' ? lines.length - 1 : lines.length;
  if (count <= LIMIT) continue;
  const head = lines.slice(0, 20).filter((l) => /^\s*(\/\*\*?|\*|\/\/)/.test(l));
  if (!head.some((l) => /over 500 lines/i.test(l))) {
    problems.push(`${relative(ROOT, path)}: ${count} lines, and no "over 500 lines: <reason>" comment in its first 20 lines`);
  }
}
if (problems.length > 0) {
  console.error(`check-file-length: ${problems.length} file(s) too long without a reason:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-file-length: every file under src/ is at most ${LIMIT} lines or says why`);

/**
 * Configuration files nested absurdly deep (issue 16, item 6): a million
 * levels of YAML or JSON took the parser 8 s and 1.2 GB and ended in "too many
 * alias expansions". The depth is now counted on the lexer's tokens as they go
 * to the parser, and anything deeper than CONFIG_MAX_DEPTH is refused there,
 * with a message that says so.
 */

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { stringify } from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { loadConfigFile, parseConfig } from '../../src/forward/spec/config-file.js';
import { CONFIG_MAX_DEPTH, nestedTooDeep } from '../../src/forward/spec/config-text.js';

const MILLION = 1_000_000;
const DEPTH_MESSAGE = new RegExp(`nested deeper than ${CONFIG_MAX_DEPTH} levels`);

const deepTexts: Array<{ name: string; levels: string; text: string; where: string }> = [
  {
    name: 'YAML flow lists',
    levels: 'a million',
    text: `${'['.repeat(MILLION)}${']'.repeat(MILLION)}\n`,
    where: `1:${CONFIG_MAX_DEPTH + 1}`,
  },
  {
    name: 'YAML flow mappings',
    levels: 'a million',
    text: `${'{a: '.repeat(MILLION)}1${'}'.repeat(MILLION)}\n`,
    where: `1:${4 * CONFIG_MAX_DEPTH + 1}`,
  },
  { name: 'YAML block lists on one line', levels: 'a million', text: `${'- '.repeat(MILLION)}x\n`, where: `1:${2 * CONFIG_MAX_DEPTH + 1}` },
  {
    name: 'YAML explicit keys on one line',
    levels: 'a million',
    text: `${'? '.repeat(MILLION)}x\n`,
    where: `1:${2 * CONFIG_MAX_DEPTH + 1}`,
  },
  {
    name: 'YAML block mappings by indentation',
    levels: '2000',
    text: `${Array.from({ length: 2000 }, (_, i) => `${' '.repeat(i)}k:`).join('\n')} 1\n`,
    where: `${CONFIG_MAX_DEPTH + 1}:${CONFIG_MAX_DEPTH + 1}`,
  },
];

for (const c of deepTexts) {
  test(`${c.name} nested ${c.levels} levels deep is refused with the depth in the message`, (t) => {
    const e = t.throws(() => parseConfig(c.text, { fileName: 'deep.yaml', format: 'yaml' }), { instanceOf: ConfigError });
    t.regex(e.message, DEPTH_MESSAGE);
    t.true(e.message.startsWith(`deep.yaml:${c.where}: invalid YAML: nested deeper than`), e.message);
    t.notRegex(e.message, /alias/);
  });
}

test('JSON nested a million levels deep, in a file, is refused with the depth in the message', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netfwd-depth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of [
    ['lists.json', `${'['.repeat(MILLION)}${']'.repeat(MILLION)}`],
    ['objects.json', `${'{"a":'.repeat(MILLION)}1${'}'.repeat(MILLION)}`],
  ] as const) {
    const path = join(dir, name);
    writeFileSync(path, text, { mode: 0o600 });
    const e = t.throws(() => loadConfigFile(path, { enforcePermissions: true }), { instanceOf: ConfigError });
    t.regex(
      e.message,
      new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1:\\d+: invalid JSON: nested deeper than ${CONFIG_MAX_DEPTH} levels`),
      name,
    );
    t.is(e.field, '');
    t.regex(e.expected ?? '', new RegExp(`at most ${CONFIG_MAX_DEPTH} levels`));
  }
});

test(`${CONFIG_MAX_DEPTH} levels are parsed (and refused for what they are, not for their depth); ${CONFIG_MAX_DEPTH + 1} are not`, (t) => {
  const flow = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const block = (n: number) => `${Array.from({ length: n }, (_, i) => `${' '.repeat(i)}k:`).join('\n')} 1\n`;
  for (const make of [flow, block]) {
    const ok = t.throws(() => parseConfig(make(CONFIG_MAX_DEPTH)), { instanceOf: ConfigError });
    t.notRegex(ok.message, /nested/);
    t.regex(t.throws(() => parseConfig(make(CONFIG_MAX_DEPTH + 1)), { instanceOf: ConfigError }).message, DEPTH_MESSAGE);
  }
});

/** Depth of a value: 0 for a scalar, 1 for a list or mapping of scalars. */
function depthOf(v: unknown): number {
  return v !== null && typeof v === 'object' ? 1 + Math.max(0, ...Object.values(v).map(depthOf)) : 0;
}

test('the count is the depth of the data, or one more, however the YAML is written', (t) => {
  let seed = 16;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const scalars = ['plain', 'a: [b', '- x', 'multi\nline\n  text', null, 42, '# not a comment', '? q'];
  const gen = (d: number): unknown => {
    if (d <= 0 || random() < 0.2) return scalars[Math.floor(random() * scalars.length)];
    if (random() < 0.5) return Array.from({ length: 1 + Math.floor(random() * 3) }, () => gen(d - 1));
    return Object.fromEntries(Array.from({ length: 1 + Math.floor(random() * 3) }, (_, i) => [`k${i}`, gen(d - 1)]));
  };
  const styles = [
    {},
    { indentSeq: false },
    { collectionStyle: 'flow' as const },
    { indent: 1 },
    { indent: 4, indentSeq: false },
    { blockQuote: 'literal' as const },
  ];
  let n = 0;
  for (let i = 0; i < 300; i++) {
    const value = gen(1 + Math.floor(random() * 10));
    const depth = depthOf(value);
    for (const style of styles) {
      const text = stringify(value, style);
      t.is(nestedTooDeep(text, depth + 1), undefined, `counted deeper than ${depth} + 1:\n${text}`);
      if (depth > 0) t.not(nestedTooDeep(text, depth - 1), undefined, `counted less deep than ${depth}:\n${text}`);
      n++;
    }
    const json = JSON.stringify(value);
    t.is(nestedTooDeep(json, depth), undefined, json);
    if (depth > 0) t.not(nestedTooDeep(json, depth - 1), undefined, json);
  }
  t.log(`${n} YAML texts`);
});

/**
 * Fuzzing of validation and of the configuration parser: random mutations of
 * valid specs (as objects) and of their YAML/JSON text must give either a
 * NormalizedConfig or a ConfigError — never another exception — and no error
 * may carry key material from the input. Seeded, so a failure names the seed
 * that reproduces it. FUZZ_ITERATIONS raises the counts for a long run.
 */
import test from 'ava';
import { stringify as toYaml } from 'yaml';
import { ConfigError } from '../../src/errors.js';
import { parseConfig } from '../../src/forward/spec/config-file.js';
import { Secret } from '../../src/forward/spec/secret.js';
import type { BackendSpec } from '../../src/forward/spec/spec.js';
import { type ValidateOptions, validateSpec } from '../../src/forward/spec/validate/index.js';
import { backendSpec, frontendSpec, KEYS, SECRET_KEYS } from '../fixtures/invalid-specs/base.js';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 3000);

/** mulberry32: a small seeded generator. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const pick = <T>(r: Rand, list: readonly T[]): T => list[Math.floor(r() * list.length)]!;

function bases(): unknown[] {
  const modes: BackendSpec['returnPath'][] = [
    { mode: 'mark', uids: ['1000'], cgroup: 'system.slice/lnd.service', mark: 7 },
    { mode: 'connmark', mark: 9, table: 6000 },
    { mode: 'snat' },
  ];
  const out: unknown[] = [frontendSpec(), backendSpec()];
  for (const m of modes) {
    const b = backendSpec();
    b.returnPath = m;
    out.push(b);
  }
  const withFiles = frontendSpec();
  withFiles.tunnel = { ...withFiles.tunnel, privateKey: undefined, privateKeyFile: 'wg0.key' };
  out.push(withFiles);
  return out;
}

const VALUES: readonly unknown[] = [
  null,
  undefined,
  true,
  false,
  0,
  -1,
  1,
  1.5,
  Number.NaN,
  Infinity,
  65535,
  65536,
  2 ** 32,
  2 ** 53 + 1,
  '',
  ' ',
  'x',
  'tcp',
  'udp',
  'tcp+udp',
  'home',
  'office',
  'wg0',
  'eth0',
  '1-2',
  '2-1',
  '0-65535',
  '10.0.0.1',
  '10.0.0.2',
  '10.0.0.0/24',
  '10.0.0.2/32',
  'fd00::1/64',
  'fd00::2',
  '::',
  '::ffff:10.0.0.2',
  '203.0.113.1:51820',
  '[2001:db8::1]:51820',
  '2001:db8::1',
  'uid',
  'mark',
  'connmark',
  'snat',
  'frontend',
  'backend',
  '../../etc/passwd',
  '/dev/null',
  'a'.repeat(300),
  '\u0000',
  'é',
  KEYS.frontendPrivate,
  KEYS.backendPrivate,
  KEYS.psk,
  KEYS.frontendPublic,
  KEYS.backendPublic,
  `${KEYS.psk.slice(0, 20)}!${KEYS.psk.slice(21)}`,
  KEYS.frontendPrivate.slice(2),
  `${KEYS.office} `,
  Buffer.from(KEYS.office, 'base64').toString('hex'),
  [],
  {},
  [1, 2],
  ['1000-1001'],
  { peer: 'home' },
  { mode: 'uid', uids: [1000] },
  new Date(0),
  new Map(),
  Object.create(null) as object,
  () => 1,
  Symbol('s'),
  10n,
  new Secret(KEYS.psk),
];

const KEY_NAMES = [
  'role',
  'tunnel',
  'peers',
  'peer',
  'port',
  'to',
  'mode',
  'uids',
  'mark',
  'table',
  'exclude',
  'address',
  'addresses',
  'privateKey',
  'presharedKeyFile',
  'x',
  '__proto__',
  'constructor',
  'toString',
  '',
];

/** Every path into a value: arrays of keys/indexes. */
function paths(
  value: unknown,
  prefix: Array<string | number> = [],
  out: Array<Array<string | number>> = [],
): Array<Array<string | number>> {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      out.push([...prefix, i]);
      paths(v, [...prefix, i], out);
    });
  } else if (typeof value === 'object' && value !== null && !(value instanceof Secret)) {
    for (const k of Object.keys(value)) {
      out.push([...prefix, k]);
      paths((value as Record<string, unknown>)[k], [...prefix, k], out);
    }
  }
  return out;
}

function parentOf(root: unknown, path: ReadonlyArray<string | number>): Record<string | number, unknown> | undefined {
  let node: unknown = root;
  for (const seg of path.slice(0, -1)) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[seg];
  }
  return typeof node === 'object' && node !== null ? (node as Record<string | number, unknown>) : undefined;
}

function set(parent: Record<string | number, unknown>, key: string | number, value: unknown): void {
  Object.defineProperty(parent, key, { value, enumerable: true, writable: true, configurable: true });
}

function clone(v: unknown): unknown {
  if (v instanceof Secret) return v;
  if (Array.isArray(v)) return v.map(clone);
  if (typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) set(out, k, clone(x));
    return out;
  }
  return v;
}

function mutate(r: Rand, spec: unknown): unknown {
  const root = clone(spec);
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const all = paths(root);
    if (all.length === 0) break;
    const path = pick(r, all);
    const parent = parentOf(root, path);
    if (!parent) continue;
    const key = path[path.length - 1]!;
    switch (Math.floor(r() * 7)) {
      case 0:
        if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
        else delete parent[key];
        break;
      case 1:
      case 2:
        set(parent, key, clone(pick(r, VALUES)));
        break;
      case 3: {
        // rename: a typo or another field's name
        if (typeof key !== 'string') break;
        const v = parent[key];
        delete parent[key];
        const name = r() < 0.5 ? pick(r, KEY_NAMES) : key.slice(0, -1) + String.fromCharCode(97 + Math.floor(r() * 26));
        set(parent, name, v);
        break;
      }
      case 4:
        if (Array.isArray(parent) && typeof key === 'number') parent.push(clone(parent[key]));
        else set(parent, pick(r, KEY_NAMES), clone(pick(r, VALUES)));
        break;
      case 5: {
        // move another part of the spec here
        const other = pick(r, all);
        const op = parentOf(root, other);
        if (op) set(parent, key, clone(op[other[other.length - 1]!]));
        break;
      }
      default: {
        const v = parent[key];
        if (typeof v === 'number') set(parent, key, v + pick(r, [-1, 1, 65536, -65536, 0.5]));
        else if (typeof v === 'string' && v.length > 0) {
          const at = Math.floor(r() * v.length);
          set(
            parent,
            key,
            r() < 0.5 ? v.slice(0, at) + v.slice(at + 1) : v.slice(0, at) + pick(r, ['/', ':', '-', '.', '0', '9', ' ', 'Z']) + v.slice(at),
          );
        }
      }
    }
  }
  return root;
}

/** Key files served from memory: sometimes missing, sometimes group-readable, sometimes garbage. */
function reader(r: Rand): ValidateOptions['readFile'] {
  return () => {
    const x = r();
    if (x < 0.1) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    if (x < 0.2) return { data: 'garbage', mode: 0o100600 };
    return { data: `${KEYS.frontendPrivate}\n`, mode: x < 0.4 ? 0o100644 : 0o100600 };
  };
}

/** Strings in the key fields of a (mutated) spec: what must never show in an error. */
function secretStrings(spec: unknown): string[] {
  const out = [...SECRET_KEYS];
  const visit = (v: unknown, key: string): void => {
    // A public key used as a preshared key is still public: the config shows it as a publicKey.
    const isPublic = ([KEYS.frontendPublic, KEYS.backendPublic, KEYS.officePublic] as string[]).includes(
      typeof v === 'string' ? v.trim() : '',
    );
    if ((key === 'privateKey' || key === 'presharedKey') && typeof v === 'string' && v.trim().length >= 16 && !isPublic) out.push(v.trim());
    if (v instanceof Secret) out.push(v.reveal());
    else if (Array.isArray(v)) v.forEach((x) => visit(x, ''));
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) visit(x, k);
  };
  visit(spec, '');
  return out;
}

/** Strings in every other field. */
function publicStrings(spec: unknown): string[] {
  const out: string[] = [];
  const visit = (v: unknown, key: string): void => {
    if (key === 'privateKey' || key === 'presharedKey' || v instanceof Secret) return;
    if (typeof v === 'string') out.push(v);
    else if (Array.isArray(v)) v.forEach((x) => visit(x, ''));
    else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) visit(x, k);
  };
  visit(spec, '');
  return out;
}

function leaks(text: string, secrets: readonly string[]): string | undefined {
  for (const s of secrets) {
    for (let i = 0; i + 16 <= s.length; i++) if (text.includes(s.slice(i, i + 16))) return s.slice(i, i + 16);
  }
  return undefined;
}

function describe(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : typeof x === 'symbol' ? String(x) : x));
  } catch {
    return String(v);
  }
}

test('mutated spec objects give a config or a ConfigError, never anything else', (t) => {
  const all = bases();
  let valid = 0;
  let invalid = 0;
  for (let seed = 1; seed <= ITERATIONS; seed++) {
    const r = rng(seed);
    const spec = mutate(r, pick(r, all));
    try {
      const c = validateSpec(spec, { readFile: reader(r), enforceKeyFilePermissions: r() < 0.5, baseDir: '/etc/netfwd' });
      t.true(c.role === 'frontend' || c.role === 'backend');
      // A secret the spec also holds in a public field (a private key pasted as publicKey, say) shows there, rightly.
      const open = publicStrings(spec);
      const secrets = secretStrings(spec).filter((s) => !open.some((p) => leaks(p, [s])));
      const leaked = leaks(JSON.stringify(c), secrets);
      if (leaked) t.fail(`seed ${seed}: JSON of the config shows key material ${leaked}\nspec: ${describe(spec)}`);
      valid++;
    } catch (e) {
      if (!(e instanceof ConfigError)) {
        t.fail(`seed ${seed}: ${e instanceof Error ? e.stack : String(e)}\nspec: ${describe(spec)}`);
        return;
      }
      const leaked = leaks(`${e.field}\n${e.message}\n${e.expected ?? ''}\n${e.stack ?? ''}`, secretStrings(spec));
      if (leaked) {
        t.fail(`seed ${seed}: the error shows key material: ${e.message}`);
        return;
      }
      invalid++;
    }
  }
  t.log(`${valid} valid, ${invalid} ConfigErrors`);
  t.true(invalid > 0);
});

const TEXT_NOISE = [
  '',
  ' ',
  '\t',
  '\n',
  ':',
  '- ',
  '{',
  '}',
  '[',
  ']',
  ',',
  '"',
  "'",
  '#',
  '&a',
  '*a',
  '!tag ',
  '|',
  '>',
  '%',
  '@',
  '`',
  '?',
  '---\n',
  '\\',
  '\u0000',
  '\uFEFF',
  'é',
];

function mutateText(r: Rand, text: string): string {
  let s = text;
  const n = 1 + Math.floor(r() * 3);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * (s.length + 1));
    switch (Math.floor(r() * 5)) {
      case 0:
        s = s.slice(0, at) + s.slice(at + 1 + Math.floor(r() * 8));
        break;
      case 1:
        s = s.slice(0, at) + pick(r, TEXT_NOISE) + s.slice(at);
        break;
      case 2: {
        const lines = s.split('\n');
        const a = Math.floor(r() * lines.length);
        lines.splice(a, 0, lines[Math.floor(r() * lines.length)]!);
        s = lines.join('\n');
        break;
      }
      case 3: {
        const lines = s.split('\n');
        const a = Math.floor(r() * lines.length);
        lines[a] = ' '.repeat(Math.floor(r() * 4)) + lines[a]!.trimStart();
        s = lines.join('\n');
        break;
      }
      default:
        s = s.slice(0, at) + String.fromCharCode(Math.floor(r() * 128)) + s.slice(at + 1);
    }
  }
  return s;
}

test('mutated YAML and JSON text gives a config or a ConfigError, never anything else', (t) => {
  const texts = bases()
    .filter((b) => !JSON.stringify(b).includes('privateKeyFile'))
    .flatMap((b) => [toYaml(b), JSON.stringify(b, null, 2), JSON.stringify(b)]);
  let valid = 0;
  let invalid = 0;
  for (let seed = 1; seed <= ITERATIONS; seed++) {
    const r = rng(seed * 7919);
    const text = mutateText(r, pick(r, texts));
    try {
      parseConfig(text, { fileName: 'fuzz.yaml', readFile: reader(r) });
      valid++;
    } catch (e) {
      if (!(e instanceof ConfigError)) {
        t.fail(`seed ${seed}: ${e instanceof Error ? e.stack : String(e)}\ntext: ${JSON.stringify(text)}`);
        return;
      }
      const leaked = leaks(`${e.field}\n${e.message}`, SECRET_KEYS);
      if (leaked) {
        t.fail(`seed ${seed}: the error shows key material: ${e.message}\ntext: ${JSON.stringify(text)}`);
        return;
      }
      invalid++;
    }
  }
  t.log(`${valid} valid, ${invalid} ConfigErrors`);
  t.true(invalid > 0);
});

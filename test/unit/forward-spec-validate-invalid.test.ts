/**
 * The invalid-spec corpus: every case must throw a ConfigError carrying
 * exactly the expected field path, a message matching the expected pattern,
 * a non-empty `expected` (the fix) — and no key material from the input.
 */

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { ConfigError } from '../../src/errors.js';
import { loadConfigFile } from '../../src/forward/spec/config-file.js';
import { splitFieldPath } from '../../src/forward/spec/field.js';
import { type ValidateOptions, validateSpec } from '../../src/forward/spec/validate/index.js';
import { netlinkTotals } from '../../src/netlink/exchange.js';
import { backendSpec, frontendSpec, KEYS, SECRET_KEYS } from '../fixtures/invalid-specs/base.js';
import { DELETE, SPEC_CASES, type SpecCase } from '../fixtures/invalid-specs/cases.js';

const FILES_DIR = join(import.meta.dirname, '../fixtures/invalid-specs/files');

/** Applies [path, value] edits to a spec (copied first); DELETE removes, an index equal to the length appends. */
export function applyEdits(spec: unknown, edits: ReadonlyArray<[string, unknown]>): unknown {
  const out: unknown = structuredClone(spec);
  for (const [path, value] of edits) {
    const segs = splitFieldPath(path);
    let node = out as Record<string | number, unknown>;
    for (const seg of segs.slice(0, -1)) node = node[seg] as Record<string | number, unknown>;
    const last = segs[segs.length - 1]!;
    if (value === DELETE) {
      if (Array.isArray(node) && typeof last === 'number') node.splice(last, 1);
      else delete node[last];
    } else {
      // defineProperty, so that a field named __proto__ becomes an own field as a JSON or YAML parser makes it
      Object.defineProperty(node, last, { value, enumerable: true, writable: true, configurable: true });
    }
  }
  return out;
}

function specOf(c: SpecCase): unknown {
  if (c.base === 'none') return c.spec;
  return applyEdits(c.base === 'frontend' ? frontendSpec() : backendSpec(), c.edits ?? []);
}

/** No 16-character slice of any secret key may appear in `text`. */
function assertNoKeyMaterial(t: ExecutionContext, text: string, extraSecrets: readonly string[] = []): void {
  for (const secret of [...SECRET_KEYS, ...extraSecrets]) {
    for (let i = 0; i + 16 <= secret.length; i++) {
      if (text.includes(secret.slice(i, i + 16))) {
        t.fail(`message contains key material: ${text}`);
        return;
      }
    }
  }
}

function expectConfigError(t: ExecutionContext, fn: () => unknown, field: string, message: RegExp): ConfigError | undefined {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  if (!(error instanceof ConfigError)) {
    t.fail(`expected a ConfigError, got ${error === undefined ? 'no error' : String(error)}`);
    return undefined;
  }
  t.is(error.field, field, error.message);
  t.regex(error.message, message);
  t.true(typeof error.expected === 'string' && error.expected.length > 0, `no fix in: ${error.message}`);
  assertNoKeyMaterial(t, error.message);
  assertNoKeyMaterial(t, error.stack ?? '');
  assertNoKeyMaterial(t, JSON.stringify(error));
  return error;
}

// ---------------------------------------------------------------- the table

test('the base specs of the corpus are valid', (t) => {
  t.is(validateSpec(frontendSpec()).role, 'frontend');
  t.is(validateSpec(backendSpec()).role, 'backend');
});

const before = JSON.stringify(netlinkTotals);

for (const c of SPEC_CASES) {
  test(`invalid spec: ${c.name}`, (t) => {
    expectConfigError(t, () => validateSpec(specOf(c)), c.field, c.message);
  });
}

// ---------------------------------------------------------------- files

interface FileCase {
  file: string;
  field: string;
  message: RegExp;
}

function fileCases(): FileCase[] {
  const out: FileCase[] = [];
  for (const file of readdirSync(FILES_DIR).sort()) {
    if (file.endsWith('.expect')) continue;
    const expectText = file.endsWith('.json')
      ? readFileSync(join(FILES_DIR, `${file}.expect`), 'utf8')
      : readFileSync(join(FILES_DIR, file), 'utf8');
    const field = /^#? ?field: ?(.*)$/m.exec(expectText)?.[1]?.trim();
    const message = /^#? ?message: ?(.*)$/m.exec(expectText)?.[1]?.trim();
    if (field === undefined || message === undefined) throw new Error(`${file}: no field/message header`);
    out.push({ file, field, message: new RegExp(message) });
  }
  return out;
}

const FILE_CASES = fileCases();

for (const c of FILE_CASES) {
  test(`invalid file: ${c.file}`, (t) => {
    // Copied to a 0600 file in a fresh directory, so the messages start with the plain file name.
    const dir = mkdtempSync(join(tmpdir(), 'netfwd-spec-'));
    try {
      const path = join(dir, c.file);
      writeFileSync(path, readFileSync(join(FILES_DIR, c.file)), { mode: 0o600 });
      const e = expectConfigError(
        t,
        () => loadConfigFile(path, { enforcePermissions: true }),
        c.field,
        new RegExp(c.message.source.replace(/^\^/, `^${escapeRegExp(dir)}/`)),
      );
      if (e) t.true(e.message.startsWith(path), e.message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---------------------------------------------------------------- key files and permissions (real files)

interface KeyFileCase {
  name: string;
  /** Writes files into `dir`; returns the spec and the options. */
  setup: (dir: string) => { spec?: unknown; configFile?: string; options?: ValidateOptions };
  field: string;
  message: RegExp;
}

function frontendWithKeyFile(file: string): unknown {
  return applyEdits(frontendSpec(), [
    ['tunnel.privateKey', DELETE],
    ['tunnel.privateKeyFile', file],
  ]);
}

const KEY_FILE_CASES: KeyFileCase[] = [
  {
    name: 'key file missing',
    setup: (dir) => ({ spec: frontendWithKeyFile('wg0.key'), options: { baseDir: dir } }),
    field: 'tunnel.privateKeyFile',
    message: /cannot read ".*\/wg0\.key": No such file or directory \(ENOENT\)/,
  },
  {
    name: 'key file is a directory',
    setup: (dir) => {
      mkdirSync(join(dir, 'keys'));
      return { spec: frontendWithKeyFile('keys'), options: { baseDir: dir } };
    },
    field: 'tunnel.privateKeyFile',
    message: /EISDIR/,
  },
  {
    name: 'key file path goes through a file',
    setup: (dir) => {
      writeFileSync(join(dir, 'plain'), 'x');
      return { spec: frontendWithKeyFile('plain/wg0.key'), options: { baseDir: dir } };
    },
    field: 'tunnel.privateKeyFile',
    message: /ENOTDIR/,
  },
  {
    name: 'key file is a symlink loop',
    setup: (dir) => {
      symlinkSync(join(dir, 'loop'), join(dir, 'loop'));
      return { spec: frontendWithKeyFile('loop'), options: { baseDir: dir } };
    },
    field: 'tunnel.privateKeyFile',
    message: /ELOOP/,
  },
  {
    name: 'key file is a FIFO (refused, not waited on)',
    setup: (dir) => {
      execFileSync('mkfifo', [join(dir, 'fifo')]);
      return { spec: frontendWithKeyFile('fifo'), options: { baseDir: dir } };
    },
    field: 'tunnel.privateKeyFile',
    message: /not a regular file/,
  },
  {
    name: 'key file unreadable (EACCES from the reader)',
    setup: (dir) => ({
      spec: frontendWithKeyFile('wg0.key'),
      options: {
        baseDir: dir,
        readFile: () => {
          throw Object.assign(new Error('denied'), { code: 'EACCES' });
        },
      },
    }),
    field: 'tunnel.privateKeyFile',
    message: /Permission denied \(EACCES\)/,
  },
  {
    name: 'key file empty',
    setup: (dir) => {
      writeFileSync(join(dir, 'wg0.key'), '', { mode: 0o600 });
      return { spec: frontendWithKeyFile('wg0.key'), options: { baseDir: dir } };
    },
    field: 'tunnel.privateKeyFile',
    message: /does not hold a WireGuard key: its content is empty/,
  },
  {
    name: 'key file holds a wg-quick configuration',
    setup: (dir) => {
      writeFileSync(join(dir, 'wg0.conf'), `[Interface]\nPrivateKey = ${KEYS.frontendPrivate}\n`, { mode: 0o600 });
      return { spec: frontendWithKeyFile('wg0.conf'), options: { baseDir: dir } };
    },
    field: 'tunnel.privateKeyFile',
    message: /does not hold a WireGuard key/,
  },
  {
    name: 'key file too large',
    setup: (dir) => {
      writeFileSync(join(dir, 'big'), 'A'.repeat(10000), { mode: 0o600 });
      return { spec: frontendWithKeyFile('big'), options: { baseDir: dir } };
    },
    field: 'tunnel.privateKeyFile',
    message: /larger than 4096 bytes/,
  },
  {
    name: 'key file readable by others (0644)',
    setup: (dir) => {
      writeFileSync(join(dir, 'wg0.key'), `${KEYS.frontendPrivate}\n`);
      chmodSync(join(dir, 'wg0.key'), 0o644);
      return { spec: frontendWithKeyFile('wg0.key'), options: { baseDir: dir, enforceKeyFilePermissions: true } };
    },
    field: 'tunnel.privateKeyFile',
    message: /group or others may access it \(mode 0644\).*run chmod 600 \/.*\/wg0\.key/,
  },
  {
    name: 'key file readable by the group (0640)',
    setup: (dir) => {
      writeFileSync(join(dir, 'wg0.key'), `${KEYS.frontendPrivate}\n`);
      chmodSync(join(dir, 'wg0.key'), 0o640);
      return { spec: frontendWithKeyFile('wg0.key'), options: { baseDir: dir, enforceKeyFilePermissions: true } };
    },
    field: 'tunnel.privateKeyFile',
    message: /mode 0640.*chmod 600/,
  },
  {
    name: 'preshared key file readable by others',
    setup: (dir) => {
      writeFileSync(join(dir, 'home.psk'), `${KEYS.psk}\n`);
      chmodSync(join(dir, 'home.psk'), 0o604);
      const spec = applyEdits(frontendSpec(), [
        ['tunnel.peers[0].presharedKey', DELETE],
        ['tunnel.peers[0].presharedKeyFile', 'home.psk'],
      ]);
      return { spec, options: { baseDir: dir, enforceKeyFilePermissions: true } };
    },
    field: 'tunnel.peers[0].presharedKeyFile',
    message: /mode 0604.*chmod 600/,
  },
  {
    name: 'key file path with a space gets a quoted fix',
    setup: (dir) => {
      writeFileSync(join(dir, 'my key'), `${KEYS.frontendPrivate}\n`);
      chmodSync(join(dir, 'my key'), 0o660);
      return { spec: frontendWithKeyFile('my key'), options: { baseDir: dir, enforceKeyFilePermissions: true } };
    },
    field: 'tunnel.privateKeyFile',
    message: /run chmod 600 '\/.*\/my key'/,
  },
  {
    name: 'configuration file with an inline private key readable by others',
    setup: (dir) => {
      const file = join(dir, 'frontend.json');
      writeFileSync(file, JSON.stringify(frontendSpec(), null, 2));
      chmodSync(file, 0o644);
      return { configFile: file };
    },
    field: 'tunnel.privateKey',
    message:
      /frontend\.json:\d+:\d+: tunnel\.privateKey: ".*frontend\.json" holds a secret key inline but group or others may access it \(mode 0644\).*chmod 600/,
  },
  {
    name: 'configuration file with only an inline preshared key readable by others',
    setup: (dir) => {
      writeFileSync(join(dir, 'wg0.key'), `${KEYS.frontendPrivate}\n`, { mode: 0o600 });
      const file = join(dir, 'frontend.yaml');
      const spec = applyEdits(frontendSpec(), [
        ['tunnel.privateKey', DELETE],
        ['tunnel.privateKeyFile', 'wg0.key'],
      ]);
      writeFileSync(file, JSON.stringify(spec));
      chmodSync(file, 0o640);
      return { configFile: file };
    },
    field: 'tunnel.peers[0].presharedKey',
    message: /mode 0640/,
  },
  {
    name: 'backend configuration with an inline preshared key readable by others',
    setup: (dir) => {
      writeFileSync(join(dir, 'wg0.key'), `${KEYS.backendPrivate}\n`, { mode: 0o600 });
      const file = join(dir, 'backend.yaml');
      const spec = applyEdits(backendSpec(), [
        ['tunnel.privateKey', DELETE],
        ['tunnel.privateKeyFile', 'wg0.key'],
      ]);
      writeFileSync(file, JSON.stringify(spec));
      chmodSync(file, 0o604);
      return { configFile: file };
    },
    field: 'tunnel.peer.presharedKey',
    message: /mode 0604/,
  },
  {
    name: 'key file next to the configuration file, readable by others',
    setup: (dir) => {
      mkdirSync(join(dir, 'etc'));
      writeFileSync(join(dir, 'etc', 'wg0.key'), `${KEYS.frontendPrivate}\n`);
      chmodSync(join(dir, 'etc', 'wg0.key'), 0o644);
      const file = join(dir, 'etc', 'frontend.yaml');
      writeFileSync(file, JSON.stringify(frontendWithKeyFile('wg0.key')), { mode: 0o600 });
      chmodSync(file, 0o600);
      return { configFile: file };
    },
    field: 'tunnel.privateKeyFile',
    message: /etc\/frontend\.yaml:\d+:\d+: tunnel\.privateKeyFile: ".*\/etc\/wg0\.key" holds a secret key/,
  },
  {
    name: 'configuration file missing',
    setup: (dir) => ({ configFile: join(dir, 'nope.yaml') }),
    field: '',
    message: /^cannot read the configuration file ".*nope\.yaml": No such file or directory \(ENOENT\)/,
  },
  {
    name: 'configuration file is a directory',
    setup: (dir) => ({ configFile: dir }),
    field: '',
    message: /EISDIR/,
  },
];

for (const c of KEY_FILE_CASES) {
  test(`invalid key file: ${c.name}`, (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'netfwd-keys-'));
    try {
      const { spec, configFile, options } = c.setup(dir);
      const run =
        configFile !== undefined ? () => loadConfigFile(configFile, { enforcePermissions: true }) : () => validateSpec(spec, options);
      expectConfigError(t, run, c.field, c.message);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the corpus has at least 100 cases and unique names', (t) => {
  const total = SPEC_CASES.length + FILE_CASES.length + KEY_FILE_CASES.length;
  t.true(total >= 100, `${total} cases`);
  t.is(new Set(SPEC_CASES.map((c) => c.name)).size, SPEC_CASES.length);
  t.log(`${SPEC_CASES.length} table cases, ${FILE_CASES.length} files, ${KEY_FILE_CASES.length} key-file cases`);
});

test('validation sends nothing over netlink', (t) => {
  for (const c of SPEC_CASES) {
    try {
      validateSpec(specOf(c));
    } catch {
      // expected
    }
  }
  t.is(JSON.stringify(netlinkTotals), before);
});

/**
 * validateSpec: checks a ServiceForward spec completely — shapes, values and
 * the relations between fields — and returns the NormalizedConfig the planner
 * builds on. The first problem found is thrown as a ConfigError whose `field`
 * is the path of the offending field (`forwards[2].to.peer`) and whose message
 * says what would be valid. Nothing here touches the kernel; the only I/O is
 * reading key files named by `*KeyFile` fields.
 *
 * Order of checks: at each mapping, unknown fields first (a typo is reported
 * as a typo, not as a missing field), then the fields in the order the spec
 * documents them, then the checks that relate several fields.
 *
 * The checks are filed by the spec's own sections: shapes.ts (generic
 * values), addresses.ts, key-sources.ts (inline keys and key files),
 * tunnel.ts (what both roles' tunnels share), frontend.ts with forwards.ts,
 * backend.ts with endpoint.ts and return-path.ts, and port-entries.ts
 * (services, tunnelPorts).
 */
import { ConfigError } from '../../../errors.js';
import { didYouMean, fail, isPlainObject, redactError, show, typeName } from '../field.js';
import type { NormalizedBackend, NormalizedConfig, NormalizedFrontend } from '../normalized-config.js';
import { type FileReader, readRegularFile } from '../private-file.js';
import { Secret } from '../secret.js';
import type { BackendSpec, FrontendSpec } from '../spec.js';
import { validateBackend } from './backend.js';
import { validateFrontend } from './frontend.js';
import type { Context } from './key-sources.js';
import { own } from './shapes.js';

export interface ValidateOptions {
  /**
   * Directory that relative `privateKeyFile` / `presharedKeyFile` paths are
   * resolved against. loadConfigFile passes the configuration file's
   * directory. Default: the current working directory.
   */
  baseDir?: string;
  /**
   * Refuse key files that the group or others may access (any of mode
   * 0077), that belong to a user other than root or the one running netfwd,
   * or that are in a directory another user owns or that group or others may
   * write to without the sticky bit (they could replace the key). The
   * message gives the fix (`chmod 600 …`, `chown root …`, `chmod go-w …`).
   * The CLI sets it; library callers may keep their keys however they like.
   * Owner and directories are checked when the reader reports them (the
   * default reader does). Default: false.
   */
  enforceKeyFilePermissions?: boolean;
  /**
   * Reads a key file (for tests or a virtual file system). Default: the real
   * file system, regular files only, at most 4 KiB.
   */
  readFile?: FileReader;
}

/** The largest key file read; a key file holds 45 bytes. */
const KEY_FILE_MAX_BYTES = 4096;

/**
 * Checks `input` against the ServiceForward spec and returns it normalised.
 * Throws a ConfigError (and nothing else) for any invalid input.
 */
export function validateSpec(input: FrontendSpec, options?: ValidateOptions): NormalizedFrontend;
export function validateSpec(input: BackendSpec, options?: ValidateOptions): NormalizedBackend;
export function validateSpec(input: unknown, options?: ValidateOptions): NormalizedConfig;
export function validateSpec(input: unknown, options: ValidateOptions = {}): NormalizedConfig {
  const ctx: Context = {
    baseDir: options.baseDir ?? process.cwd(),
    enforce: options.enforceKeyFilePermissions === true,
    read:
      options.readFile ??
      ((path) => readRegularFile(path, KEY_FILE_MAX_BYTES, { directories: options.enforceKeyFilePermissions === true })),
    secrets: secretsOf(input),
  };
  try {
    return validateRoot(ctx, input);
  } catch (e) {
    if (e instanceof ConfigError) throw redactError(e, ctx.secrets);
    throw e;
  }
}

/**
 * The strings of the input that are or may be secret: whatever the key fields
 * hold (valid or not), and a key pasted into a key-file field by mistake.
 */
function secretsOf(input: unknown): string[] {
  const out: string[] = [];
  const add = (v: unknown): void => {
    if (v instanceof Secret) out.push(v.reveal());
    else if (typeof v === 'string' && v.trim().length > 0) out.push(v.trim());
  };
  const addIfKeyLike = (v: unknown): void => {
    if (typeof v === 'string' && (/[A-Za-z0-9+/]{40,}={0,2}/.test(v) || /[0-9a-fA-F]{64}/.test(v))) out.push(v.trim());
  };
  const fromHolder = (h: unknown, inline: string, file: string): void => {
    if (!isPlainObject(h)) return;
    add(own(h, inline));
    addIfKeyLike(own(h, file));
  };
  if (!isPlainObject(input)) return out;
  const several = own(input, 'tunnels');
  for (const tunnel of [own(input, 'tunnel'), ...(Array.isArray(several) ? several : [])]) {
    fromHolder(tunnel, 'privateKey', 'privateKeyFile');
    if (isPlainObject(tunnel)) {
      const peers = own(tunnel, 'peers');
      if (Array.isArray(peers)) for (const p of peers) fromHolder(p, 'presharedKey', 'presharedKeyFile');
      fromHolder(own(tunnel, 'peer'), 'presharedKey', 'presharedKeyFile');
    }
  }
  return out;
}

function validateRoot(ctx: Context, input: unknown): NormalizedConfig {
  if (!isPlainObject(input)) fail('', `a spec is a mapping, not ${typeName(input)}`, 'a mapping with role: frontend or role: backend');
  const role = own(input, 'role');
  if (role === undefined) fail('role', 'is required', '"frontend" or "backend"');
  if (role === 'frontend') return validateFrontend(ctx, input);
  if (role === 'backend') return validateBackend(ctx, input);
  if (role === 'lan-router' || role === 'service-host')
    fail(
      'role',
      `${role} is a LAN role of the tagged-routing recipe, not a tunnel role: it is set up with lanRole() (the netfwd CLI reads its files as any other)`,
      '"frontend" or "backend" here',
    );
  fail('role', `${show(role)} is not a role${didYouMean(role, ['frontend', 'backend'])}`, '"frontend" or "backend"');
}

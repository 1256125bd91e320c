/**
 * The CLI's configuration file: the spec as YAML or JSON. Parsing errors and
 * validation errors both become ConfigErrors whose message starts with
 * `FILE:LINE:COLUMN:`; key files named in the file are resolved relative to
 * its directory. Who may change the file is checked before its text is
 * looked at; the text itself is parsed by config-text.ts, whose messages never
 * quote it.
 */
import { dirname, resolve as resolvePath } from 'node:path';
import { ConfigError } from '../../errors.js';
import { type ConfigFormat, formatOf, located, type Parsed, parseSource, relabel } from './config-text.js';
import { child, configError, fail, isPlainObject, item, showPath } from './field.js';
import type { NormalizedConfig } from './normalized-config.js';
import { asFileReadError, type FileContent, type FileReader, fileProblems, readRegularFile, unsafeFileText } from './private-file.js';
import { type ValidateOptions, validateSpec } from './validate/index.js';

export interface LoadConfigOptions {
  /**
   * Refuse files that someone other than root (or the user running netfwd)
   * could change, since what they say is applied as root: a configuration
   * file or key file that the group or others may write, or that belongs to
   * another user, or that is in a directory another user owns or that group
   * or others may write to without the sticky bit. Refuse as well a key file,
   * or a configuration file holding a key inline, that the group or others
   * may read. The message names the file and gives the fix (`chown root …`,
   * `chmod go-w …`, `chmod 600 …`). The CLI sets it. Default: false.
   */
  enforcePermissions?: boolean;
  /** Reads the configuration file and key files (tests, virtual file systems). Default: the real file system. */
  readFile?: FileReader;
  /** 'yaml' or 'json'. Default: by extension (.json, .yaml, .yml), else by content. */
  format?: ConfigFormat;
}

export interface ParseConfigOptions extends ValidateOptions {
  /** The name messages use for the text, e.g. its path. Default: 'config'. */
  fileName?: string;
  /** 'yaml' or 'json'. Default: by content ('{' or '[' first means JSON). */
  format?: ConfigFormat;
}

/** The largest configuration file read (thousands of forwards fit easily). */
export const CONFIG_FILE_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Reads, parses and validates a configuration file. Relative key-file paths
 * are resolved against the file's directory. Throws ConfigError for anything
 * wrong with the file or the spec in it.
 */
export function loadConfigFile(path: string, options: LoadConfigOptions = {}): NormalizedConfig {
  return readConfigDocument(path, options).validate(validateSpec);
}

/** A configuration file read, trusted and parsed, not yet validated (readConfigDocument). */
export interface ConfigDocument {
  /** The parsed YAML or JSON document. */
  readonly value: unknown;
  /**
   * Validates the document with `validate` (given the file's directory for
   * relative key files, and the permission checks asked for); a ConfigError
   * it throws gets the file, line and column of its field.
   */
  validate<T>(validate: (value: unknown, options: ValidateOptions) => T): T;
}

/**
 * Reads a configuration file, checks who may change it (enforcePermissions),
 * and parses it, without validating the spec: for loaders of other roles'
 * specs (src/forward/lan/), which share the file format and its checks.
 */
export function readConfigDocument(path: string, options: LoadConfigOptions = {}): ConfigDocument {
  const abs = resolvePath(path);
  const enforce = options.enforcePermissions === true;
  const read = options.readFile ?? ((p: string) => readRegularFile(p, CONFIG_FILE_MAX_BYTES, { directories: enforce }));
  let content: FileContent;
  try {
    content = read(abs);
  } catch (e) {
    fail('', `cannot read the configuration file ${showPath(abs)}: ${asFileReadError(e).reason}`, 'a readable YAML or JSON file');
  }
  const text = typeof content.data === 'string' ? content.data : content.data.toString('utf8');
  const format = options.format ?? formatOf(abs, text);

  // Who may change the file decides what root applies: that comes first, before its text is looked at.
  const unsafe = enforce ? fileProblems(abs, content, 'config') : [];
  let parsed: Parsed;
  try {
    parsed = parseSource(text, abs, format);
  } catch (e) {
    if (unsafe.length > 0) throw relabel(unsafeConfigError(abs, '', unsafe, 'config'), abs);
    throw e;
  }
  if (enforce) {
    const secrets = inlineSecretFields(parsed.value);
    const problems = secrets.length > 0 ? fileProblems(abs, content, 'config-with-key') : unsafe;
    if (problems.length > 0)
      throw located(unsafeConfigError(abs, secrets[0] ?? '', problems, secrets.length > 0 ? 'config-with-key' : 'config'), parsed);
  }

  const validateOptions: ValidateOptions = { baseDir: dirname(abs), enforceKeyFilePermissions: enforce };
  if (options.readFile) validateOptions.readFile = options.readFile;
  return {
    value: parsed.value,
    validate(validate) {
      try {
        return validate(parsed.value, validateOptions);
      } catch (e) {
        if (e instanceof ConfigError) throw located(e, parsed);
        throw e;
      }
    },
  };
}

/** The ConfigError for a configuration file that is not safe to trust (see LoadConfigOptions.enforcePermissions). */
function unsafeConfigError(
  abs: string,
  field: string,
  problems: Parameters<typeof unsafeFileText>[1],
  kind: 'config' | 'config-with-key',
): ConfigError {
  const { message, expected } = unsafeFileText(field === '' ? 'the configuration file' : showPath(abs), problems, kind);
  return configError(field, message, expected);
}

/**
 * Parses and validates configuration text (YAML or JSON). Key files resolve
 * against `baseDir` (default: the current directory).
 */
export function parseConfig(text: string, options: ParseConfigOptions = {}): NormalizedConfig {
  const name = options.fileName ?? 'config';
  const parsed = parseSource(text, name, options.format ?? formatOf('', text));
  try {
    return validateSpec(parsed.value, options);
  } catch (e) {
    if (e instanceof ConfigError) throw located(e, parsed);
    throw e;
  }
}

/** The fields of a raw (unvalidated) spec that hold a key inline: in `tunnel`, or in each of a backend's `tunnels`. */
function inlineSecretFields(value: unknown): string[] {
  if (!isPlainObject(value)) return [];
  const tunnels: Array<[string, unknown]> = [['tunnel', value.tunnel]];
  if (Array.isArray(value.tunnels)) value.tunnels.forEach((t: unknown, i) => tunnels.push([item('tunnels', i), t]));
  const out: string[] = [];
  for (const [field, t] of tunnels) {
    if (!isPlainObject(t)) continue;
    if (t.privateKey !== undefined && t.privateKey !== null) out.push(child(field, 'privateKey'));
    if (Array.isArray(t.peers)) {
      t.peers.forEach((p: unknown, i) => {
        if (isPlainObject(p) && p.presharedKey !== undefined && p.presharedKey !== null)
          out.push(child(item(child(field, 'peers'), i), 'presharedKey'));
      });
    }
    if (isPlainObject(t.peer) && t.peer.presharedKey !== undefined && t.peer.presharedKey !== null)
      out.push(child(child(field, 'peer'), 'presharedKey'));
  }
  return out;
}

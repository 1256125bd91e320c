/**
 * Configuration files of any role: the CLI's loader. The file format, its
 * parsing and the checks of who may change it are the tunnel roles'
 * (spec/config-file.ts); a file whose role is lan-router or service-host is
 * validated here, any other by validateSpec.
 */
import { type LoadConfigOptions, readConfigDocument } from '../spec/config-file.js';
import { didYouMean, fail, isPlainObject, listWords, show } from '../spec/field.js';
import type { NormalizedConfig } from '../spec/normalized-config.js';
import { validateSpec } from '../spec/validate/index.js';
import { own } from '../spec/validate/shapes.js';
import { LAN_ROLES, type NormalizedLanConfig } from './spec.js';
import { lanRoleOf, validateLanSpec } from './validate.js';

/** Every role a configuration file may have. */
export const CONFIG_ROLES = ['frontend', 'backend', ...LAN_ROLES] as const;

/** A validated configuration of any role. */
export type AnyNormalizedConfig = NormalizedConfig | NormalizedLanConfig;

/** True for a validated lan-router or service-host configuration. */
export function isLanConfig(config: AnyNormalizedConfig): config is NormalizedLanConfig {
  return config.role === 'lan-router' || config.role === 'service-host';
}

/** Validates a spec of any role: LAN roles by validateLanSpec, the tunnel roles by validateSpec. */
function validateAny(value: unknown, options: Parameters<typeof validateSpec>[1]): AnyNormalizedConfig {
  if (lanRoleOf(value)) return validateLanSpec(value);
  const role = isPlainObject(value) ? own(value, 'role') : undefined;
  // A typo of any role is named with all of them in view (validateSpec knows only its own two).
  if (typeof role === 'string' && !(CONFIG_ROLES as readonly string[]).includes(role))
    fail('role', `${show(role)} is not a role${didYouMean(role, CONFIG_ROLES)}`, listWords(CONFIG_ROLES));
  return validateSpec(value, options);
}

/**
 * Reads, parses and validates a configuration file of any role (see
 * loadConfigFile for the options and what is refused). Throws ConfigError
 * for anything wrong with the file or the spec in it.
 */
export function loadAnyConfigFile(path: string, options: LoadConfigOptions = {}): AnyNormalizedConfig {
  return readConfigDocument(path, options).validate(validateAny);
}

/** Address and route scopes (enum rt_scope_t), named as `ip` names them. */
import { ValidationError } from '../errors.js';
import { RT_SCOPE_HOST, RT_SCOPE_LINK, RT_SCOPE_NOWHERE, RT_SCOPE_SITE, RT_SCOPE_UNIVERSE } from './constants.js';

export type RouteScope = 'global' | 'site' | 'link' | 'host' | 'nowhere';

const SCOPES: Record<RouteScope, number> = {
  global: RT_SCOPE_UNIVERSE,
  site: RT_SCOPE_SITE,
  link: RT_SCOPE_LINK,
  host: RT_SCOPE_HOST,
  nowhere: RT_SCOPE_NOWHERE,
};

/** A scope name or number (0-255) → its number. */
export function scopeNumber(value: RouteScope | number, field = 'scope'): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 255) return value;
  if (typeof value === 'string' && value in SCOPES) return SCOPES[value as RouteScope];
  throw new ValidationError(field, `unknown scope ${JSON.stringify(value)}`, "'global', 'site', 'link', 'host', 'nowhere' or 0-255");
}

/** A scope number → its name, or the number when it has none. */
export function scopeName(n: number): RouteScope | number {
  for (const [name, v] of Object.entries(SCOPES)) if (v === n) return name as RouteScope;
  return n;
}

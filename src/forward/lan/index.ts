/**
 * The LAN roles of the tagged-routing recipe (router, VPN client, service
 * host on one LAN): `lanRole(spec)` for role `lan-router` and role
 * `service-host`; the VPN client is a backend in return-path mode `dscp`.
 * - spec.ts      what a caller writes and what validation makes of it
 * - validate.ts  the checks (ConfigError with field paths)
 * - desired.ts   the nftables table, routes, rules, sysctls and claim a role asks for
 * - nftables.ts, routing.ts, planner.ts   read, compare, plan (the tunnel roles' Plan and Step)
 * - status.ts, warnings.ts                what is there, and what would still break it
 * - lan-role.ts  the API; config-file.ts  the CLI's loader of files of any role
 */
export { type AnyNormalizedConfig, CONFIG_ROLES, isLanConfig, loadAnyConfigFile } from './config-file.js';
export { LanRole, lanRole } from './lan-role.js';
export {
  isLanRole,
  LAN_DEFAULTS,
  LAN_ROLES,
  type LanRoleName,
  type LanRoleSpec,
  type LanRouterSpec,
  type NormalizedLanConfig,
  type NormalizedLanRouter,
  type NormalizedServiceHost,
  type ServiceHostSpec,
} from './spec.js';
export type { FamilyCounts, LanCounters, LanRoleStatus, PacketCount } from './status.js';
export { validateLanSpec } from './validate.js';

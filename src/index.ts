/**
 * netfwd: Linux networking programmed directly over netlink.
 */
export {
  NetfwdError,
  NetlinkError,
  DecodeError,
  ValidationError,
  ConflictError,
  ConfigError,
  ApplyError,
  DumpInterruptedError,
  errnoCode,
  errnoMessage,
  type NetlinkErrorDetails,
} from './errors.js';
export { netns, sysctlPath, type ExecOptions } from './netns/index.js';
export * from './netlink/index.js';
export * from './route/index.js';
export * from './forward/index.js';
export * from './wireguard/index.js';
export * from './nft/index.js';

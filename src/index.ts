/**
 * netfwd: Linux networking programmed directly over netlink.
 */
export {
  ApplyError,
  ConfigError,
  ConflictError,
  DecodeError,
  DumpInterruptedError,
  errnoCode,
  errnoMessage,
  NetfwdError,
  NetlinkError,
  type NetlinkErrorDetails,
  ValidationError,
} from './errors.js';
export * from './forward/index.js';
export * from './netlink/index.js';
export { type ExecOptions, netns, sysctlPath } from './netns/index.js';
export * from './nft/index.js';
export * from './route/index.js';
export * from './wireguard/index.js';

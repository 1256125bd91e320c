/**
 * ServiceForward, the declarative layer, in the order a spec flows through it:
 * - spec/    what a caller writes (spec.ts), its validation (validate/) into a
 *            NormalizedConfig (normalized-config.ts), the configuration file
 *            and the key files root reads;
 * - plan/    the kernel handles, what netfwd owns, the desired state read
 *            against the kernel into a Plan of steps, applied with undo;
 * - status/  what is there: the status of a spec, inspect without one, the
 *            probe, who changed netfwd's objects.
 * On top: service-forward.ts (forwardService), supervisor.ts (`netfwd run`)
 * and sd-notify.ts (its systemd notifications); lan/ (lanRole) for the LAN
 * roles of the tagged-routing recipe, lan-router and service-host.
 */

export * from './lan/index.js';
export type { ApplyHooks } from './plan/apply.js';
export type { ForwardOptions } from './plan/context.js';
export { linkAlias, NETFWD_PROTOCOL as NETFWD_ROUTE_PROTOCOL, NFT_TABLE_COMMENT, nftTableName, OwnershipError } from './plan/ownership.js';
export { CHANGE_KINDS, type Change, type ChangeAction, type ChangeKind, formatChange, Plan, type PlanRole } from './plan/plan.js';
export type { PlanHealth } from './plan/plan-health.js';
export { ResolveError, type ResolveOptions, type Resolver, resolveEndpoints, systemResolver } from './plan/resolve.js';
export { TunnelAbsentError } from './plan/tunnel.js';
export { type ApplyResult, forwardService, ServiceForward, type ServiceForwardOptions } from './service-forward.js';
export {
  CONFIG_FILE_MAX_BYTES,
  type ConfigDocument,
  type LoadConfigOptions,
  loadConfigFile,
  type ParseConfigOptions,
  parseConfig,
  readConfigDocument,
} from './spec/config-file.js';
export { type ConfigFormat, formatOf as configFormatOf } from './spec/config-text.js';
export type {
  AddressByFamily,
  ConnmarkReturnPath,
  DscpReturnPath,
  Endpoint as ForwardEndpoint,
  HostAddress,
  InterfaceAddress,
  IpFamily,
  MarkReturnPath,
  NetworkPrefix,
  NormalizedBackend,
  NormalizedBackendPeer,
  NormalizedBackendTunnel,
  NormalizedConfig,
  NormalizedForward,
  NormalizedForwardCheck,
  NormalizedForwardTarget,
  NormalizedFrontend,
  NormalizedFrontendPeer,
  NormalizedFrontendTunnel,
  NormalizedReturnPath,
  NormalizedService,
  NumberRange,
  PortRange,
  SnatReturnPath,
  TransportProtocol,
  UidReturnPath,
} from './spec/normalized-config.js';
export {
  chmodFix,
  type FileContent as SecretFileContent,
  type FileReader as SecretFileReader,
  isAccessibleByOthers,
} from './spec/private-file.js';
export { Secret } from './spec/secret.js';
export type {
  BackendPeerSpec,
  BackendSpec,
  BackendTunnelSpec,
  BalanceSpec,
  ConnmarkReturnPathSpec,
  DscpReturnPathSpec,
  ExternalBackendTunnelSpec,
  ExternalFrontendPeerSpec,
  ExternalFrontendTunnelSpec,
  ExternalTunnelBase,
  ForwardCheckSpec,
  ForwardSpec,
  ForwardTargetSpec,
  FrontendPeerSpec,
  FrontendSpec,
  FrontendTunnelSpec,
  KeyText,
  MarkReturnPathSpec,
  OptionalPrivateKeySource,
  PortSpec,
  PresharedKeySource,
  PrivateKeySource,
  ProtocolSpec,
  PublicSpec,
  ReturnPathMode,
  ReturnPathSpec,
  RoutedReturnPathOptions,
  ServiceForwardSpec,
  ServiceSpec,
  SnatReturnPathSpec,
  UidReturnPathSpec,
  UidSpec,
} from './spec/spec.js';
export { DEFAULTS as SPEC_DEFAULTS, RETURN_PATH_MODES } from './spec/spec.js';
export { type ValidateOptions, validateSpec } from './spec/validate/index.js';
export { type InspectedForward, type InspectedTunnel, inspectNamespace, type NamespaceStatus } from './status/inspect.js';
export type {
  EgressObserved,
  EgressRoute,
  ForwardCounter,
  ForwardProbe,
  ForwardStatus,
  PeerStatus,
  ProbeOptions,
  ProbeReport,
  TargetStatus,
} from './status/status.js';
export { Supervisor, type SupervisorEvent, type SupervisorLevel, type SupervisorOptions } from './supervisor.js';

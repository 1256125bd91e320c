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
 * and sd-notify.ts (its systemd notifications).
 */
export type {
  BackendPeerSpec,
  BackendSpec,
  BackendTunnelSpec,
  ConnmarkReturnPathSpec,
  ForwardSpec,
  ForwardTargetSpec,
  FrontendPeerSpec,
  FrontendSpec,
  FrontendTunnelSpec,
  KeyText,
  MarkReturnPathSpec,
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
export type {
  AddressByFamily,
  ConnmarkReturnPath,
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
export { validateSpec, type ValidateOptions } from './spec/validate/index.js';
export { loadConfigFile, parseConfig, CONFIG_FILE_MAX_BYTES, type LoadConfigOptions, type ParseConfigOptions } from './spec/config-file.js';
export { formatOf as configFormatOf, type ConfigFormat } from './spec/config-text.js';
export { Secret } from './spec/secret.js';
export { chmodFix, isAccessibleByOthers, type FileContent as SecretFileContent, type FileReader as SecretFileReader } from './spec/private-file.js';
export { forwardService, ServiceForward, type ApplyResult, type ServiceForwardOptions } from './service-forward.js';
export { Plan, formatChange, CHANGE_KINDS, type Change, type ChangeAction, type ChangeKind } from './plan/plan.js';
export type { ApplyHooks } from './plan/apply.js';
export type { ForwardOptions } from './plan/context.js';
export type { ForwardStatus, ForwardCounter, PeerStatus, EgressObserved, EgressRoute, ForwardProbe, ProbeOptions, ProbeReport } from './status/status.js';
export { Supervisor, type SupervisorEvent, type SupervisorLevel, type SupervisorOptions } from './supervisor.js';
export { ResolveError, resolveEndpoints, systemResolver, type Resolver, type ResolveOptions } from './plan/resolve.js';
export { inspectNamespace, type InspectedForward, type InspectedTunnel, type NamespaceStatus } from './status/inspect.js';
export { OwnershipError } from './plan/ownership.js';
export { NETFWD_PROTOCOL as NETFWD_ROUTE_PROTOCOL, nftTableName, linkAlias, NFT_TABLE_COMMENT } from './plan/ownership.js';

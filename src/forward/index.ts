/**
 * ServiceForward: the spec, its validation into a NormalizedConfig, and the
 * configuration file loader.
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
} from './spec.js';
export { DEFAULTS as SPEC_DEFAULTS, RETURN_PATH_MODES } from './spec.js';
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
} from './config.js';
export { validateSpec, type ValidateOptions } from './validate.js';
export { loadConfigFile, parseConfig, formatOf as configFormatOf, CONFIG_FILE_MAX_BYTES, type ConfigFormat, type LoadConfigOptions, type ParseConfigOptions } from './config-file.js';
export { Secret } from './secret.js';
export { chmodFix, isAccessibleByOthers, type FileContent as SecretFileContent, type FileReader as SecretFileReader } from './private-file.js';
export { forwardService, ServiceForward, type ApplyResult, type ServiceForwardOptions } from './service-forward.js';
export { Plan, formatChange, CHANGE_KINDS, type Change, type ChangeAction, type ChangeKind } from './plan.js';
export type { ApplyHooks } from './apply.js';
export type { ForwardOptions } from './context.js';
export type { ForwardStatus, ForwardCounter, PeerStatus, EgressObserved, EgressRoute, ForwardProbe, ProbeOptions, ProbeReport } from './status.js';
export { Supervisor, type SupervisorEvent, type SupervisorLevel, type SupervisorOptions } from './supervisor.js';
export { ResolveError, resolveEndpoints, systemResolver, type Resolver, type ResolveOptions } from './resolve.js';
export { inspectNamespace, type InspectedForward, type InspectedTunnel, type NamespaceStatus } from './inspect.js';
export { OwnershipError } from './tunnel.js';
export { NETFWD_PROTOCOL as NETFWD_ROUTE_PROTOCOL, nftTableName, linkAlias, NFT_TABLE_COMMENT } from './ownership.js';

/** rtnetlink: links, addresses, routes and rules of a network namespace. */

export { type BulkItemFailure, type BulkReport } from '../netlink/bulk.js';
export {
  type Address,
  Addresses,
  type AddressFilter,
  type AddressKey,
  type AddressSpec,
  addressAddRequest,
  addressRemoveRequest,
  decodeAddress,
  validateAddressSpec,
} from './addresses.js';
export { NETFWD_PROTOCOL, RT_TABLE_DEFAULT, RT_TABLE_LOCAL, RT_TABLE_MAIN } from './constants.js';
export {
  decodeLink,
  LINK_KINDS,
  type Link,
  type LinkChange,
  type LinkKind,
  type LinkSpec,
  Links,
  linkAddRequest,
  linkFlagNames,
  linkRemoveRequest,
  linkSetRequest,
  type MacvlanLinkSpec,
  type MacvlanMode,
  type OperState,
  type SimpleLinkSpec,
  type VethLinkSpec,
  type VethPeerSpec,
  validateLinkChange,
  validateLinkSpec,
} from './links.js';
export { type MonitorAction, type MonitorKind, type MonitorOptions, type RouteEvent, type RouteMonitor } from './monitor.js';
export { protocolName, protocolNumber, type RouteProtocol } from './protocols.js';
export { Route, type RouteOptions } from './route.js';
export {
  decodeRoute,
  type RouteEntry,
  type RouteFilter,
  type RouteQuery,
  type RouteSpec,
  type RouteType,
  RTNH_F_ONLINK,
  routeAddRequest,
  routeRemoveRequest,
  validateRouteSpec,
} from './route-message.js';
export { Routes } from './routes.js';
export {
  decodeRule,
  type Rule,
  type RuleAction,
  type RuleFilter,
  type RulePortRange,
  type RuleSpec,
  Rules,
  ruleAddRequest,
  ruleRemoveRequest,
  validateRuleSpec,
} from './rules.js';
export { type RouteScope, scopeName, scopeNumber } from './scope.js';
export { type RouteFamily, type TableId } from './validation.js';

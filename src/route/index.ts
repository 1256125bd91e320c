/** rtnetlink: links, addresses, routes and rules of a network namespace. */
export { Route, type RouteOptions } from './route.js';
export {
  Links,
  LINK_KINDS,
  decodeLink,
  linkAddRequest,
  linkSetRequest,
  linkRemoveRequest,
  linkFlagNames,
  validateLinkSpec,
  validateLinkChange,
  type Link,
  type LinkKind,
  type LinkSpec,
  type LinkChange,
  type VethLinkSpec,
  type VethPeerSpec,
  type SimpleLinkSpec,
  type MacvlanLinkSpec,
  type MacvlanMode,
  type OperState,
} from './links.js';
export {
  Addresses,
  decodeAddress,
  addressAddRequest,
  addressRemoveRequest,
  validateAddressSpec,
  type Address,
  type AddressSpec,
  type AddressKey,
  type AddressFilter,
} from './addresses.js';
export { Routes } from './routes.js';
export {
  RTNH_F_ONLINK,
  decodeRoute,
  routeAddRequest,
  routeRemoveRequest,
  validateRouteSpec,
  type RouteEntry,
  type RouteSpec,
  type RouteFilter,
  type RouteType,
  type RouteQuery,
} from './route-message.js';
export {
  Rules,
  decodeRule,
  ruleAddRequest,
  ruleRemoveRequest,
  validateRuleSpec,
  type Rule,
  type RuleSpec,
  type RuleFilter,
  type RuleAction,
  type RulePortRange,
} from './rules.js';
export { type RouteEvent, type RouteMonitor, type MonitorKind, type MonitorAction, type MonitorOptions } from './monitor.js';
export { type BulkReport, type BulkItemFailure } from '../netlink/bulk.js';
export { protocolName, protocolNumber, type RouteProtocol } from './protocols.js';
export { scopeName, scopeNumber, type RouteScope } from './scope.js';
export { type RouteFamily, type TableId } from './validation.js';
export { NETFWD_PROTOCOL, RT_TABLE_MAIN, RT_TABLE_LOCAL, RT_TABLE_DEFAULT } from './constants.js';

/** The netlink protocol core: framing, attributes, connections. */

export {
  type AttrSet,
  type AttrValues,
  attrs,
  encodeAttrs,
  type FieldSpec,
  type ScalarKind,
  type Span,
  spanAt,
  walkAttributes,
} from './attributes.js';
export { type BulkFailure, type BulkOptions, type BulkResult } from './bulk.js';
export {
  Connection,
  type ConnectionOptions,
  type Protocol,
  type TransactionOptions,
  type TransactionResult,
} from './connection.js';
export * from './constants.js';
export { type DumpOptions } from './dump.js';
export { type ConnectionStats, type MonitorItem, netlinkTotals, type Resync } from './exchange.js';
export { type GenlFamily, genlmsghdr, resolveFamily } from './genl.js';
export * as ip from './ip.js';
export {
  type AckPayload,
  type ExtAck,
  frame,
  type MessageCodec,
  messageCodec,
  type NetlinkMessage,
  parseAck,
  parseDatagram,
  parseDone,
  type Request,
} from './message.js';
export { nfgenmsg, nfnlType } from './nfnetlink.js';
export { type Struct, type StructFieldKind, type StructValues, struct } from './struct.js';
export { Writer } from './writer.js';

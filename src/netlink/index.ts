/** The netlink protocol core: framing, attributes, connections. */
export * from './constants.js';
export { attrs, encodeAttrs, spanAt, walkAttributes, type AttrSet, type AttrValues, type FieldSpec, type ScalarKind, type Span } from './attributes.js';
export { struct, type Struct, type StructFieldKind, type StructValues } from './struct.js';
export { Writer } from './writer.js';
export {
  frame,
  messageCodec,
  parseAck,
  parseDatagram,
  parseDone,
  type AckPayload,
  type ExtAck,
  type MessageCodec,
  type NetlinkMessage,
  type Request,
} from './message.js';
export {
  Connection,
  type ConnectionOptions,
  type Protocol,
  type TransactionOptions,
  type TransactionResult,
} from './connection.js';
export { netlinkTotals, type ConnectionStats, type MonitorItem, type Resync } from './exchange.js';
export { type DumpOptions } from './dump.js';
export { type BulkFailure, type BulkOptions, type BulkResult } from './bulk.js';
export { genlmsghdr, resolveFamily, type GenlFamily } from './genl.js';
export { nfgenmsg, nfnlType } from './nfnetlink.js';
export * as ip from './ip.js';

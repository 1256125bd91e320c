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
  netlinkTotals,
  type BulkFailure,
  type BulkOptions,
  type BulkResult,
  type ConnectionOptions,
  type ConnectionStats,
  type DumpOptions,
  type MonitorItem,
  type Protocol,
  type Resync,
  type TransactionOptions,
  type TransactionResult,
} from './connection.js';
export { genlmsghdr, resolveFamily, type GenlFamily } from './genl.js';
export { nfgenmsg, nfnlType } from './nfnetlink.js';
export * as ip from './ip.js';

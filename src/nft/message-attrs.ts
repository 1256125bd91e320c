/**
 * nf_tables message attributes (nf_tables.h), declared in the order libnftnl
 * writes them so netfwd's messages compare byte for byte with nft's.
 */
import { attrs } from '../netlink/attributes.js';
import { messageCodec } from '../netlink/message.js';
import { nfgenmsg } from '../netlink/nfnetlink.js';

export const hookAttrs = attrs('hook', {
  hooknum: { type: 1, kind: 'be32' },
  priority: { type: 2, kind: 'sbe32' },
  dev: { type: 3, kind: 'string' },
  devs: { type: 4, kind: 'binary' },
});

export const tableAttrs = attrs('table', {
  name: { type: 1, kind: 'string' },
  handle: { type: 4, kind: 'be64' },
  flags: { type: 2, kind: 'be32' },
  use: { type: 3, kind: 'be32' },
  userdata: { type: 6, kind: 'binary' },
  owner: { type: 7, kind: 'be32' },
});

export const chainAttrs = attrs('chain', {
  table: { type: 1, kind: 'string' },
  handle: { type: 2, kind: 'be64' },
  name: { type: 3, kind: 'string' },
  type: { type: 7, kind: 'string' },
  policy: { type: 5, kind: 'be32' },
  hook: { type: 4, kind: 'nested', schema: hookAttrs },
  use: { type: 6, kind: 'be32' },
  counters: { type: 8, kind: 'binary' },
  flags: { type: 10, kind: 'be32' },
  id: { type: 11, kind: 'be32' },
  userdata: { type: 12, kind: 'binary' },
});

/** Rules carry their expressions as pre-encoded bytes (see expr/index.ts). */
export const ruleAttrs = attrs('rule', {
  table: { type: 1, kind: 'string' },
  chain: { type: 2, kind: 'string' },
  handle: { type: 3, kind: 'be64' },
  position: { type: 6, kind: 'be64' },
  expressions: { type: 4, kind: 'dynamic', select: () => undefined },
  userdata: { type: 7, kind: 'binary' },
  id: { type: 9, kind: 'be32' },
});

export const setFieldAttrs = attrs('set_field', { len: { type: 1, kind: 'be32' } });
export const setDescAttrs = attrs('set_desc', {
  size: { type: 1, kind: 'be32' },
  concat: { type: 2, kind: 'array', element: setFieldAttrs, elementType: 1 },
});

export const setAttrs = attrs('set', {
  table: { type: 1, kind: 'string' },
  name: { type: 2, kind: 'string' },
  handle: { type: 16, kind: 'be64' },
  flags: { type: 3, kind: 'be32' },
  keyType: { type: 4, kind: 'be32' },
  keyLen: { type: 5, kind: 'be32' },
  dataType: { type: 6, kind: 'be32' },
  dataLen: { type: 7, kind: 'be32' },
  objType: { type: 15, kind: 'be32' },
  id: { type: 10, kind: 'be32' },
  policy: { type: 8, kind: 'be32' },
  desc: { type: 9, kind: 'nested', schema: setDescAttrs },
  timeout: { type: 11, kind: 'be64' },
  gcInterval: { type: 12, kind: 'be32' },
  userdata: { type: 13, kind: 'binary' },
  // Pre-encoded expressions (a counter for `counter` sets): nests carried as bytes.
  expr: { type: 17, kind: 'dynamic', select: () => undefined },
  expressions: { type: 18, kind: 'dynamic', select: () => undefined },
});

export const setElemListAttrs = attrs('set_elem_list', {
  table: { type: 1, kind: 'string' },
  set: { type: 2, kind: 'string' },
  setId: { type: 4, kind: 'be32' },
  elements: { type: 3, kind: 'binary' },
});

export const genAttrs = attrs('gen', {
  id: { type: 1, kind: 'be32' },
  procPid: { type: 2, kind: 'be32' },
  procName: { type: 3, kind: 'string' },
});

export const counterObjAttrs = attrs('counter', {
  bytes: { type: 1, kind: 'be64' },
  packets: { type: 2, kind: 'be64' },
});

export const objAttrs = attrs('obj', {
  table: { type: 1, kind: 'string' },
  name: { type: 2, kind: 'string' },
  type: { type: 3, kind: 'be32' },
  data: { type: 4, kind: 'binary' },
  use: { type: 5, kind: 'be32' },
  handle: { type: 6, kind: 'be64' },
  userdata: { type: 8, kind: 'binary' },
});

export const tableMsg = messageCodec(nfgenmsg, tableAttrs);
export const chainMsg = messageCodec(nfgenmsg, chainAttrs);
export const setMsg = messageCodec(nfgenmsg, setAttrs);
export const genMsg = messageCodec(nfgenmsg, genAttrs);
export const objMsg = messageCodec(nfgenmsg, objAttrs);

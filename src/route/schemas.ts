/**
 * Wire declarations of rtnetlink: the fixed family headers and the attribute
 * sets, each declared once and used to encode requests and decode replies.
 * Attributes are declared in the order iproute2 writes them, so requests
 * compare byte for byte with `ip`'s (apart from NLA_F_NESTED, which the codec
 * always sets and iproute2 omits on some nests).
 */
import { type AttrSet, attrs, type FieldSpec } from '../netlink/attributes.js';
import { struct } from '../netlink/struct.js';
import * as C from './constants.js';

export const ifinfomsg = struct('ifinfomsg', { family: 'u8', pad: { pad: 1 }, type: 'u16', index: 's32', flags: 'u32', change: 'u32' });
export const ifaddrmsg = struct('ifaddrmsg', { family: 'u8', prefixlen: 'u8', flags: 'u8', scope: 'u8', index: 'u32' });
export const rtmsg = struct('rtmsg', {
  family: 'u8',
  dstLen: 'u8',
  srcLen: 'u8',
  tos: 'u8',
  table: 'u8',
  protocol: 'u8',
  scope: 'u8',
  type: 'u8',
  flags: 'u32',
});
export const fibRuleHdr = struct('fib_rule_hdr', {
  family: 'u8',
  dstLen: 'u8',
  srcLen: 'u8',
  tos: 'u8',
  table: 'u8',
  res1: { pad: 1 },
  res2: { pad: 1 },
  action: 'u8',
  flags: 'u32',
});
export const fibRuleUidRange = struct('fib_rule_uid_range', { start: 'u32', end: 'u32' });
export const fibRulePortRange = struct('fib_rule_port_range', { start: 'u16', end: 'u16' });
export const ifaCacheinfo = struct('ifa_cacheinfo', { preferred: 'u32', valid: 'u32', created: 'u32', updated: 'u32' });

// ---------------------------------------------------------------- links

export const vethInfo = attrs('veth', {
  peer: { type: C.VETH_INFO_PEER, kind: 'message', header: ifinfomsg, schema: () => linkAttrs },
});

export const macvlanInfo = attrs('macvlan', {
  mode: { type: C.IFLA_MACVLAN_MODE, kind: 'u32' },
});

/** IFLA_INFO_DATA schemas by IFLA_INFO_KIND; kinds without options have none. */
export const linkInfoData: Record<string, AttrSet<any> | undefined> = {
  veth: vethInfo,
  macvlan: macvlanInfo,
  macvtap: macvlanInfo,
};

export const linkInfo = attrs('linkinfo', {
  // iproute2 sends the kind without a terminating NUL; the kernel accepts both.
  kind: { type: C.IFLA_INFO_KIND, kind: 'bstring' },
  data: { type: C.IFLA_INFO_DATA, kind: 'dynamic', select: (s) => (typeof s.kind === 'string' ? linkInfoData[s.kind] : undefined) },
  slaveKind: { type: C.IFLA_INFO_SLAVE_KIND, kind: 'bstring' },
});

const linkFields = {
  netnsFd: { type: C.IFLA_NET_NS_FD, kind: 'u32' },
  ifname: { type: C.IFLA_IFNAME, kind: 'string' },
  address: { type: C.IFLA_ADDRESS, kind: 'binary' },
  broadcast: { type: C.IFLA_BROADCAST, kind: 'binary' },
  mtu: { type: C.IFLA_MTU, kind: 'u32' },
  link: { type: C.IFLA_LINK, kind: 'u32' },
  qdisc: { type: C.IFLA_QDISC, kind: 'string' },
  master: { type: C.IFLA_MASTER, kind: 'u32' },
  txqlen: { type: C.IFLA_TXQLEN, kind: 'u32' },
  operstate: { type: C.IFLA_OPERSTATE, kind: 'u8' },
  linkmode: { type: C.IFLA_LINKMODE, kind: 'u8' },
  // Without a NUL, as iproute2 sends it: a zero-length alias removes it.
  ifalias: { type: C.IFLA_IFALIAS, kind: 'bstring' },
  group: { type: C.IFLA_GROUP, kind: 'u32' },
  extMask: { type: C.IFLA_EXT_MASK, kind: 'u32' },
  promiscuity: { type: C.IFLA_PROMISCUITY, kind: 'u32' },
  carrier: { type: C.IFLA_CARRIER, kind: 'u8' },
  linkNetnsId: { type: C.IFLA_LINK_NETNSID, kind: 's32' },
  minMtu: { type: C.IFLA_MIN_MTU, kind: 'u32' },
  maxMtu: { type: C.IFLA_MAX_MTU, kind: 'u32' },
  permAddress: { type: C.IFLA_PERM_ADDRESS, kind: 'binary' },
  linkinfo: { type: C.IFLA_LINKINFO, kind: 'nested', schema: linkInfo },
} as const;

export const linkAttrs = attrs('link', linkFields);
export type LinkAttrs = NonNullable<typeof linkAttrs._values>;

/**
 * The same link attributes with IFLA_INFO_DATA bound to one kind's schema, for
 * encoding (the decoding set picks the schema from the kind it reads). Keeping
 * the data a real nest lets extended-ACK offsets inside it map to a path such
 * as `linkinfo.data.peer.ifname`.
 */
const encoders = new Map<string, AttrSet<any>>();
export function linkAttrsFor(kind: string | undefined): AttrSet<any> {
  const data = kind === undefined ? undefined : linkInfoData[kind];
  if (!data) return linkAttrs;
  let set = encoders.get(kind!);
  if (!set) {
    const info = attrs('linkinfo', {
      kind: { type: C.IFLA_INFO_KIND, kind: 'bstring' },
      data: { type: C.IFLA_INFO_DATA, kind: 'nested', schema: data },
    });
    set = attrs('link', { ...linkFields, linkinfo: { type: C.IFLA_LINKINFO, kind: 'nested', schema: info } });
    encoders.set(kind!, set);
  }
  return set;
}

// ---------------------------------------------------------------- addresses

const addressFields = {
  local: { type: C.IFA_LOCAL, kind: 'ip' },
  address: { type: C.IFA_ADDRESS, kind: 'ip' },
  broadcast: { type: C.IFA_BROADCAST, kind: 'ip' },
  anycast: { type: C.IFA_ANYCAST, kind: 'ip' },
  label: { type: C.IFA_LABEL, kind: 'string' },
  cacheinfo: { type: C.IFA_CACHEINFO, kind: 'struct', struct: ifaCacheinfo },
  flags: { type: C.IFA_FLAGS, kind: 'u32' },
  metric: { type: C.IFA_RT_PRIORITY, kind: 'u32' },
  proto: { type: C.IFA_PROTO, kind: 'u8' },
} as const;
export const addressAttrs = attrs('address', addressFields);
export type AddressAttrs = NonNullable<typeof addressAttrs._values>;

/**
 * The same declarations with addresses taken as bytes ('binary' instead of
 * 'ip'): bulk encoders parse an address once and hand the codec its bytes.
 * Names and types are unchanged, so extended-ACK paths are the same.
 */
function withBinaryAddresses<S extends Record<string, FieldSpec>>(spec: S): Record<string, FieldSpec> {
  const out: Record<string, FieldSpec> = {};
  for (const [k, f] of Object.entries(spec)) out[k] = f.kind === 'ip' ? { ...f, kind: 'binary' } : f;
  return out;
}

// ---------------------------------------------------------------- routes

export const routeMetrics = attrs('metrics', {
  lock: { type: C.RTAX_LOCK, kind: 'u32' },
  mtu: { type: C.RTAX_MTU, kind: 'u32' },
  window: { type: C.RTAX_WINDOW, kind: 'u32' },
  advmss: { type: C.RTAX_ADVMSS, kind: 'u32' },
  hoplimit: { type: C.RTAX_HOPLIMIT, kind: 'u32' },
});

const routeFields = {
  dst: { type: C.RTA_DST, kind: 'ip' },
  src: { type: C.RTA_SRC, kind: 'ip' },
  gateway: { type: C.RTA_GATEWAY, kind: 'ip' },
  prefsrc: { type: C.RTA_PREFSRC, kind: 'ip' },
  table: { type: C.RTA_TABLE, kind: 'u32' },
  priority: { type: C.RTA_PRIORITY, kind: 'u32' },
  metrics: { type: C.RTA_METRICS, kind: 'nested', schema: routeMetrics },
  oif: { type: C.RTA_OIF, kind: 'u32' },
  iif: { type: C.RTA_IIF, kind: 'u32' },
  mark: { type: C.RTA_MARK, kind: 'u32' },
  pref: { type: C.RTA_PREF, kind: 'u8' },
  multipath: { type: C.RTA_MULTIPATH, kind: 'binary' },
  via: { type: C.RTA_VIA, kind: 'binary' },
  nhId: { type: C.RTA_NH_ID, kind: 'u32' },
  uid: { type: C.RTA_UID, kind: 'u32' },
} as const;
export const routeAttrs = attrs('route', routeFields);
/** routeAttrs with dst, src, gateway and prefsrc as bytes, for encoding. */
export const routeWireAttrs: AttrSet<Record<string, unknown>> = attrs('route', withBinaryAddresses(routeFields));
export type RouteAttrs = NonNullable<typeof routeAttrs._values>;

// ---------------------------------------------------------------- rules

const ruleFields = {
  priority: { type: C.FRA_PRIORITY, kind: 'u32' },
  src: { type: C.FRA_SRC, kind: 'ip' },
  dst: { type: C.FRA_DST, kind: 'ip' },
  iifname: { type: C.FRA_IIFNAME, kind: 'string' },
  oifname: { type: C.FRA_OIFNAME, kind: 'string' },
  fwmark: { type: C.FRA_FWMARK, kind: 'u32' },
  fwmask: { type: C.FRA_FWMASK, kind: 'u32' },
  uidRange: { type: C.FRA_UID_RANGE, kind: 'struct', struct: fibRuleUidRange },
  table: { type: C.FRA_TABLE, kind: 'u32' },
  suppressPrefixlen: { type: C.FRA_SUPPRESS_PREFIXLEN, kind: 'u32' },
  suppressIfgroup: { type: C.FRA_SUPPRESS_IFGROUP, kind: 'u32' },
  goto: { type: C.FRA_GOTO, kind: 'u32' },
  flow: { type: C.FRA_FLOW, kind: 'u32' },
  tunId: { type: C.FRA_TUN_ID, kind: 'be64' },
  l3mdev: { type: C.FRA_L3MDEV, kind: 'u8' },
  protocol: { type: C.FRA_PROTOCOL, kind: 'u8' },
  ipProto: { type: C.FRA_IP_PROTO, kind: 'u8' },
  sportRange: { type: C.FRA_SPORT_RANGE, kind: 'struct', struct: fibRulePortRange },
  dportRange: { type: C.FRA_DPORT_RANGE, kind: 'struct', struct: fibRulePortRange },
} as const;
export const ruleAttrs = attrs('rule', ruleFields);
/** ruleAttrs with src and dst as bytes, for encoding. */
export const ruleWireAttrs: AttrSet<Record<string, unknown>> = attrs('rule', withBinaryAddresses(ruleFields));
export type RuleAttrs = NonNullable<typeof ruleAttrs._values>;

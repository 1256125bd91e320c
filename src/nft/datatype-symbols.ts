/** nft's symbolic names for values of its data types (protocols, conntrack states, ICMP types and codes, ...). */

export const INET_PROTOCOLS: Record<string, number> = {
  icmp: 1,
  igmp: 2,
  ipencap: 4,
  tcp: 6,
  egp: 8,
  pup: 12,
  udp: 17,
  idp: 22,
  dccp: 33,
  ipv6: 41,
  'ipv6-route': 43,
  'ipv6-frag': 44,
  rsvp: 46,
  gre: 47,
  esp: 50,
  ah: 51,
  'ipv6-icmp': 58,
  'ipv6-nonxt': 59,
  'ipv6-opts': 60,
  ospf: 89,
  pim: 103,
  vrrp: 112,
  l2tp: 115,
  sctp: 132,
  udplite: 136,
  mpls: 137,
  // accepted when parsing, printed as ipv6-icmp (as /etc/protocols names it)
  icmpv6: 58,
};

export const CT_STATE = { invalid: 1, established: 2, related: 4, new: 8, untracked: 64 };
export const CT_STATUS = {
  expected: 1,
  'seen-reply': 2,
  assured: 4,
  confirmed: 8,
  snat: 16,
  dnat: 32,
  dying: 512,
};
export const TCP_FLAGS = { fin: 1, syn: 2, rst: 4, psh: 8, ack: 16, urg: 32, ecn: 64, cwr: 128 };
export const ICMP_TYPES = {
  'echo-reply': 0,
  'destination-unreachable': 3,
  'source-quench': 4,
  redirect: 5,
  'echo-request': 8,
  'router-advertisement': 9,
  'router-solicitation': 10,
  'time-exceeded': 11,
  'parameter-problem': 12,
  'timestamp-request': 13,
  'timestamp-reply': 14,
  'info-request': 15,
  'info-reply': 16,
  'address-mask-request': 17,
  'address-mask-reply': 18,
};
export const ICMPV6_TYPES = {
  'destination-unreachable': 1,
  'packet-too-big': 2,
  'time-exceeded': 3,
  'parameter-problem': 4,
  'echo-request': 128,
  'echo-reply': 129,
  'mld-listener-query': 130,
  'mld-listener-report': 131,
  'mld-listener-done': 132,
  'nd-router-solicit': 133,
  'nd-router-advert': 134,
  'nd-neighbor-solicit': 135,
  'nd-neighbor-advert': 136,
  'nd-redirect': 137,
  'router-renumbering': 138,
  'ind-neighbor-solicit': 141,
  'ind-neighbor-advert': 142,
  'mld2-listener-report': 143,
};
export const ICMP_CODES = {
  'net-unreachable': 0,
  'host-unreachable': 1,
  'prot-unreachable': 2,
  'port-unreachable': 3,
  'frag-needed': 4,
  'net-prohibited': 9,
  'host-prohibited': 10,
  'admin-prohibited': 13,
};
export const ICMPV6_CODES = {
  'no-route': 0,
  'admin-prohibited': 1,
  'addr-unreachable': 3,
  'port-unreachable': 4,
  'policy-fail': 5,
  'reject-route': 6,
};
export const ICMPX_CODES = { 'no-route': 0, 'port-unreachable': 1, 'host-unreachable': 2, 'admin-prohibited': 3 };
export const FIB_ADDRTYPES = {
  unspec: 0,
  unicast: 1,
  local: 2,
  broadcast: 3,
  anycast: 4,
  multicast: 5,
  blackhole: 6,
  unreachable: 7,
  prohibit: 8,
  throw: 9,
  nat: 10,
  xresolve: 11,
};
export const ETHER_TYPES = { ip: 0x0800, arp: 0x0806, ip6: 0x86dd, vlan: 0x8100, '8021ad': 0x88a8 };
export const PKT_TYPES = { host: 0, broadcast: 1, multicast: 2, other: 3 };
/**
 * DiffServ code points by name (`nft describe ip dscp`), in nft's order: the
 * first name of a value is the one printed (0 is cs0, not df or be).
 */
export const DSCP_NAMES = {
  cs0: 0x00,
  cs1: 0x08,
  cs2: 0x10,
  cs3: 0x18,
  cs4: 0x20,
  cs5: 0x28,
  cs6: 0x30,
  cs7: 0x38,
  df: 0x00,
  be: 0x00,
  lephb: 0x01,
  af11: 0x0a,
  af12: 0x0c,
  af13: 0x0e,
  af21: 0x12,
  af22: 0x14,
  af23: 0x16,
  af31: 0x1a,
  af32: 0x1c,
  af33: 0x1e,
  af41: 0x22,
  af42: 0x24,
  af43: 0x26,
  va: 0x2c,
  ef: 0x2e,
};

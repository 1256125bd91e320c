/**
 * Numbers from linux/netfilter/nf_tables.h, nfnetlink.h, netfilter.h and
 * nf_nat.h (the UAPI headers are authoritative), plus the names nft gives them.
 */

export const NFNL_SUBSYS_NFTABLES = 10;

// enum nf_tables_msg_types
export const NFT_MSG_NEWTABLE = 0;
export const NFT_MSG_GETTABLE = 1;
export const NFT_MSG_DELTABLE = 2;
export const NFT_MSG_NEWCHAIN = 3;
export const NFT_MSG_GETCHAIN = 4;
export const NFT_MSG_DELCHAIN = 5;
export const NFT_MSG_NEWRULE = 6;
export const NFT_MSG_GETRULE = 7;
export const NFT_MSG_DELRULE = 8;
export const NFT_MSG_NEWSET = 9;
export const NFT_MSG_GETSET = 10;
export const NFT_MSG_DELSET = 11;
export const NFT_MSG_NEWSETELEM = 12;
export const NFT_MSG_GETSETELEM = 13;
export const NFT_MSG_DELSETELEM = 14;
export const NFT_MSG_NEWGEN = 15;
export const NFT_MSG_GETGEN = 16;
export const NFT_MSG_TRACE = 17;
export const NFT_MSG_NEWOBJ = 18;
export const NFT_MSG_GETOBJ = 19;
export const NFT_MSG_DELOBJ = 20;
export const NFT_MSG_GETOBJ_RESET = 21;

/** Address families (NFPROTO_*) by nft's family names. */
export const FAMILIES = { inet: 1, ip: 2, arp: 3, netdev: 5, bridge: 7, ip6: 10 } as const;
export type NftFamily = keyof typeof FAMILIES;
export const FAMILY_NAMES: Record<number, NftFamily> = { 1: 'inet', 2: 'ip', 3: 'arp', 5: 'netdev', 7: 'bridge', 10: 'ip6' };

export const NFPROTO_IPV4 = 2;
export const NFPROTO_IPV6 = 10;

// Table flags
export const NFT_TABLE_F_DORMANT = 1;
export const NFT_TABLE_F_OWNER = 2;
export const NFT_TABLE_F_PERSIST = 4;
export const TABLE_FLAGS = { dormant: NFT_TABLE_F_DORMANT, owner: NFT_TABLE_F_OWNER, persist: NFT_TABLE_F_PERSIST } as const;
export type NftTableFlag = keyof typeof TABLE_FLAGS;

// Set flags
export const NFT_SET_ANONYMOUS = 0x1;
export const NFT_SET_CONSTANT = 0x2;
export const NFT_SET_INTERVAL = 0x4;
export const NFT_SET_MAP = 0x8;
export const NFT_SET_TIMEOUT = 0x10;
export const NFT_SET_EVAL = 0x20;
export const NFT_SET_OBJECT = 0x40;
export const NFT_SET_CONCAT = 0x80;
export const NFT_SET_EXPR = 0x100;
/** Set flags callers may ask for, by nft's names. */
export const SET_FLAGS = {
  constant: NFT_SET_CONSTANT,
  interval: NFT_SET_INTERVAL,
  timeout: NFT_SET_TIMEOUT,
  dynamic: NFT_SET_EVAL,
} as const;
export type NftSetFlag = keyof typeof SET_FLAGS;

export const NFT_SET_ELEM_INTERVAL_END = 0x1;
export const NFT_SET_ELEM_CATCHALL = 0x2;

export const NFT_DATA_VALUE = 0;
export const NFT_DATA_VERDICT = 0xffffff00;

// Verdicts (enum nft_verdicts and NF_DROP/NF_ACCEPT/NF_QUEUE)
export const NF_DROP = 0;
export const NF_ACCEPT = 1;
export const NF_QUEUE = 3;
export const NFT_CONTINUE = -1;
export const NFT_BREAK = -2;
export const NFT_JUMP = -3;
export const NFT_GOTO = -4;
export const NFT_RETURN = -5;

// Hooks
export const INET_HOOKS = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4, ingress: 5 } as const;
export const NETDEV_HOOKS = { ingress: 0, egress: 1 } as const;
export type NftHook = keyof typeof INET_HOOKS | keyof typeof NETDEV_HOOKS;

export type NftChainType = 'filter' | 'nat' | 'route';
export type NftPolicy = 'accept' | 'drop';

/** nft's standard priority names and values (ip, ip6, inet, arp, netdev families). */
export const PRIORITIES: Record<string, number> = {
  raw: -300,
  mangle: -150,
  dstnat: -100,
  filter: 0,
  security: 50,
  srcnat: 100,
};
/** The bridge family uses its own values. */
export const BRIDGE_PRIORITIES: Record<string, number> = { dstnat: -300, filter: -200, out: 100, srcnat: 300 };

// NAT range flags (nf_nat.h)
export const NF_NAT_RANGE_MAP_IPS = 1 << 0;
export const NF_NAT_RANGE_PROTO_SPECIFIED = 1 << 1;
export const NF_NAT_RANGE_PROTO_RANDOM = 1 << 2;
export const NF_NAT_RANGE_PERSISTENT = 1 << 3;
export const NF_NAT_RANGE_PROTO_RANDOM_FULLY = 1 << 4;
export const NF_NAT_RANGE_PROTO_OFFSET = 1 << 5;
export const NF_NAT_RANGE_NETMAP = 1 << 6;

// Userdata TLV types (libnftnl udata): tables, chains and rules keep their comment at type 0.
export const UDATA_COMMENT = 0;
export const UDATA_SET_KEYBYTEORDER = 0;
export const UDATA_SET_DATABYTEORDER = 1;
export const UDATA_SET_MERGE_ELEMENTS = 2;
export const UDATA_SET_KEY_TYPEOF = 3;
export const UDATA_SET_DATA_TYPEOF = 4;
export const UDATA_SET_EXPR = 5;
export const UDATA_SET_DATA_INTERVAL = 6;
export const UDATA_SET_COMMENT = 7;
export const UDATA_SET_ELEM_COMMENT = 0;
export const UDATA_SET_ELEM_FLAGS = 1;

/** Longest comment nft accepts (NFTNL_UDATA_COMMENT_MAXLEN). */
export const COMMENT_MAXLEN = 128;
/** A netlink attribute's length is 16 bits: element lists are split below this. */
export const MAX_ELEMENTS_ATTR = 60 * 1024;

/**
 * nftables over nfnetlink: tables, chains, rules, sets and maps, counters;
 * atomic transactions; listing with typed statements; rule text.
 */

export {
  type NftExprBuilder,
  NftKeyBuilder,
  type NftMapArg,
  type NftMapLookup,
  type NftNatOptions,
  type NftSetArg,
  nftExpr,
} from './builder.js';
export type { NftChainType, NftFamily, NftHook, NftPolicy, NftSetFlag, NftTableFlag } from './constants.js';
export type { NftDatatype } from './datatype.js';
export { setCgroupResolver as setNftCgroupResolver } from './datatype.js';
export {
  type DelinearizeOptions as NftDelinearizeOptions,
  delinearize as nftDelinearize,
  type SetView as NftSetView,
} from './delinearize.js';
export { decodeExprs as decodeNftExprs, encodeExprs as encodeNftExprs, exprDebug as nftExprDebug, type NftExpr } from './expr/index.js';
export { type LinearizeOptions as NftLinearizeOptions, linearize as nftLinearize, type SetShape as NftSetShape } from './linearize.js';
export type * from './model.js';
export {
  NFNLGRP_NFTABLES,
  type NftMonitor,
  type NftMonitorEvent,
  type NftMonitorOptions,
  type NftObjectKind,
  nftNotificationEvent,
  openNftMonitor,
} from './monitor.js';
export { Nft, type NftListFilter, type NftOpenOptions, type NftTransactionOptions, type NftTransactionResult } from './nft.js';
export { nftRulesetText, nftRuleText, ruleText as nftStmtsText, stmtText as nftStmtText } from './ruleset-text.js';
export { type NftOp, NftTransaction } from './transaction.js';

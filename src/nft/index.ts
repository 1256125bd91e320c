/**
 * nftables over nfnetlink: tables, chains, rules, sets and maps, counters;
 * atomic transactions; listing with typed statements; rule text.
 */
export { Nft, type NftListFilter, type NftOpenOptions, type NftTransactionOptions, type NftTransactionResult } from './nft.js';
export { NftTransaction, type NftOp } from './transaction.js';
export { nftExpr, NftKeyBuilder, type NftExprBuilder, type NftMapArg, type NftMapLookup, type NftNatOptions, type NftSetArg } from './builder.js';
export type * from './model.js';
export type { NftChainType, NftFamily, NftHook, NftPolicy, NftSetFlag, NftTableFlag } from './constants.js';
export type { NftDatatype } from './datatype.js';
export { setCgroupResolver as setNftCgroupResolver } from './datatype.js';
export { nftRuleText, nftRulesetText, ruleText as nftStmtsText, stmtText as nftStmtText } from './ruleset-text.js';
export { linearize as nftLinearize, type LinearizeOptions as NftLinearizeOptions, type SetShape as NftSetShape } from './linearize.js';
export { delinearize as nftDelinearize, type DelinearizeOptions as NftDelinearizeOptions, type SetView as NftSetView } from './delinearize.js';
export { decodeExprs as decodeNftExprs, encodeExprs as encodeNftExprs, exprDebug as nftExprDebug, type NftExpr } from './expr/index.js';
export { openNftMonitor, nftNotificationEvent, NFNLGRP_NFTABLES, type NftMonitor, type NftMonitorEvent, type NftMonitorOptions, type NftObjectKind } from './monitor.js';

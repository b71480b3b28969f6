export { createProviderNode, announceable } from './node.js'
export type { ProviderNode, ProviderNodeConfig, ReadyInfo } from './node.js'
export { ShardStore, ShardWriter } from './store.js'
export type { ShardStoreInit, ShardInfo, BeginShardOptions } from './store.js'
export { ShardService, shardService } from './shard-service.js'
export type { ShardServiceInit, ShardServiceComponents, OfferSigner, ProtocolRegistrar } from './shard-service.js'
export { Announcer, announcer } from './announcer.js'
export type { AnnouncerInit, AnnouncerComponents } from './announcer.js'
export { HttpApi, httpApi } from './http-api.js'
export type { HttpApiInit, HttpApiComponents, NodeStatus, ChainStatus } from './http-api.js'
export { NodeMetrics } from './metrics.js'
export { StatusHistory, HISTORY_MAX_PERIODS, HISTORY_MAX_ERRORS, HISTORY_SAMPLE_INTERVAL_MS } from './status-history.js'
export type { StatusHistoryJson, StatusHistoryInit, PeriodPoint, RecentError } from './status-history.js'
export { createHost } from './host.js'
export type { SherdHost, HostServices, HostInit } from './host.js'
export { BootstrapDialer, bootstrapDialer, parseBootstrapList } from './bootstrap.js'
export type { BootstrapInit, BootstrapComponents, BootstrapPeer, BootstrapPeerState } from './bootstrap.js'
export {
  initDataDir, readPeerKey, readEvmKey, readFileConfig, readExitRecord, DEFAULT_FILE_CONFIG, PEER_KEY_FILE, EVM_KEY_FILE,
  CONFIG_FILE, STORE_DIR, EXIT_RECORD_FILE
} from './identity.js'
export type { NodeFileConfig, InitOptions, ExitRecord } from './identity.js'
export { amountForConfig, resolveAmount } from './amounts.js'
export * from './errors.js'
export * from './constants.js'
export { main, parseSize } from './cli.js'
export {
  connectChain, ensureRegistered, chainOfferSigner, withdrawEarnings, exitMarket, findOpenDeals, readMarketToken, OFFER_TTL_SECONDS,
  RPC_TIMEOUT_MS
} from './chain.js'
export type { ChainConnection, OpenDeal } from './chain.js'
export {
  Prover, prover, buildDealProof, estimateProofGas, packBatches, PROVER_POLL_INTERVAL_MS, PROVER_RETRY_INITIAL_MS,
  PROVER_RETRY_MAX_MS, PROOF_TX_TIMEOUT_MS, TX_GAS_CAP, PROOF_EXECUTION_GAS_PER_DEAL, TREE_CACHE_BYTES, STATUS_DEALS_MAX
} from './prover.js'
export type { ProverInit, ProverComponents, ChunkSource } from './prover.js'
export { MissReporter, missReporter, MAX_MARKS_PER_STEP } from './prover-miss-reporter.js'
export type { MissReporterInit, MissReporterComponents } from './prover-miss-reporter.js'
export { DealLedger, LedgerTx, newLedgerDeal } from './deal-ledger.js'
export { ShardCollector, shardCollector, GC_INTERVAL_MS, GC_GRACE_MS, GC_LEDGER_MAX_AGE_MS } from './shard-collector.js'
export type { ShardCollectorInit, ShardCollectorComponents, GcStatus, GcPassResult } from './shard-collector.js'
export type { LedgerDeal, LedgerPeriod, LedgerMeta, LedgerDb, LedgerDealState, DealSummary } from './deal-ledger.js'
export { MarketClock, TxQueue, fetchMarketLogs, revertOf, MAX_LOG_RANGE_BLOCKS } from './prover-chain.js'
export type { MarketLog } from './prover-chain.js'
export * from './prover/index.js'

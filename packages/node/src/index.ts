export { createProviderNode, announceable } from './node.js'
export { NodeParts } from './parts.js'
export { pollUntilAborted } from './polling.js'
export type { PollingInit } from './polling.js'
export type { NodePart } from './parts.js'
export type { ProviderNode, ProviderNodeConfig, ReadyInfo } from './node.js'
export { ShardStore, ShardWriter } from './storage/store.js'
export type { ShardStoreInit, ShardInfo, BeginShardOptions } from './storage/store.js'
export { ShardService, shardService } from './network/shard-service.js'
export { proofSetOfferSigner, SequentialNonces, OFFER_TTL_SECONDS, NONCE_BLOCK } from './chain/offer-signer.js'
export type { OfferSignerInit, OfferSignerComponents, NonceDb } from './chain/offer-signer.js'
export { UnclaimedShards } from './storage/unclaimed.js'
export type { UnclaimedShardsInit, UnclaimedShardsComponents } from './storage/unclaimed.js'
export type {
  ShardServiceInit,
  ShardServiceComponents,
  OfferSigner,
  ProtocolRegistrar
} from './network/shard-service.js'
export { Announcer, announcer } from './network/announcer.js'
export type { AnnouncerInit, AnnouncerComponents } from './network/announcer.js'
export { HttpApi, httpApi } from './api/http-api.js'
export type { HttpApiInit, HttpApiComponents, NodeStatus, ChainStatus } from './api/http-api.js'
export { NodeMetrics } from './api/metrics.js'
export {
  StatusHistory,
  HISTORY_MAX_PERIODS,
  HISTORY_MAX_ERRORS,
  HISTORY_SAMPLE_INTERVAL_MS
} from './api/status-history.js'
export type { StatusHistoryJson, StatusHistoryInit, PeriodPoint, RecentError } from './api/status-history.js'
export { createHost } from './network/host.js'
export type { SherdHost, HostServices, HostInit } from './network/host.js'
export { BootstrapDialer, bootstrapDialer, parseBootstrapList } from './network/bootstrap.js'
export type { BootstrapInit, BootstrapComponents, BootstrapPeer, BootstrapPeerState } from './network/bootstrap.js'
export {
  initDataDir,
  readPeerKey,
  readEvmKey,
  readFileConfig,
  readExitRecord,
  DEFAULT_FILE_CONFIG,
  PEER_KEY_FILE,
  EVM_KEY_FILE,
  CONFIG_FILE,
  STORE_DIR,
  EXIT_RECORD_FILE
} from './identity.js'
export type { NodeFileConfig, InitOptions, ExitRecord } from './identity.js'
export { amountForConfig, resolveAmount } from './chain/amounts.js'
export * from './errors.js'
export * from './constants.js'
export { main, parseSize } from './cli.js'
export {
  connectChain,
  ensureRegistered,
  addStake,
  withdrawEarnings,
  leaveMarket,
  findOpenDeals,
  providerInfo,
  readMarketToken,
  RPC_TIMEOUT_MS,
  DEFAULT_MAX_TERM_PERIODS
} from './chain/chain.js'
export type { ChainConnection, OpenDeal, RegistrationOutcome } from './chain/chain.js'
export {
  MissReporter,
  missReporter,
  MAX_MARKS_PER_STEP,
  SEED_COMMIT_DELAY_BLOCKS,
  SEED_READABLE_BLOCKS
} from './chain/miss-reporter.js'
export type { MissReporterInit, MissReporterComponents, MissReporterStatus } from './chain/miss-reporter.js'
export {
  ShardCollector,
  shardCollector,
  GC_INTERVAL_MS,
  GC_GRACE_MS,
  GC_LEDGER_MAX_AGE_MS
} from './storage/shard-collector.js'
export type { ShardCollectorInit, ShardCollectorComponents, GcStatus, GcPassResult } from './storage/shard-collector.js'
export { ledgerStatus, amountsInTokens, STATUS_DEALS_MAX } from './api/ledger-status.js'
export type { DealSummary, LedgerStatus } from './api/ledger-status.js'
export * from './prover/index.js'

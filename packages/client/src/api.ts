// Everything the SDK offers in any engine; index.ts (Node) adds the keeper, index.browser.ts is this alone.
// Offline data path: encodeFile / decodeFile (segment, encrypt, erasure-code, commit; docs/data-path.md).
export * from './pipeline/index.js'
// Networked SDK: createClient → put / get / stat / repair / extend / delete (docs/client.md).
export { createClient } from './client.js'
export type { ClientConfig, SherdClient, ProviderView, WalletInfo } from './client.js'
// Chain-only access (no libp2p): what commands that read only chain state use.
export { connectChain, marketToken, readWallet } from './chain.js'
export type { ChainConfig, ChainConnection } from './chain.js'
export { directoryManifestCache } from './manifest-cache.js'
export type { ManifestCache } from './manifest-cache.js'
export type { PutOptions, PutResult, PutDeal, PutSource } from './actions/put.js'
export type { EstimatePutOptions, EstimatedShard, PutEstimate, StakeShortProvider } from './actions/estimate.js'
export type { AbandonResult, ResumePutOptions } from './actions/resume.js'
export { listFiles } from './actions/list.js'
export type { FileHealth, ListedDealState, ListedFile, ListFilesOptions } from './actions/list.js'
export { defaultJournalDir, JOURNAL_FORMAT, JournalError, OLD_JOURNAL_FORMAT, PutJournal } from './journal.js'
export type { JournalBatch, JournalDeal, JournalEntry, JournalKind, JournalState } from './journal.js'
export type { GetOptions, FileTarget } from './actions/get.js'
// Repair capabilities (docs/keeper.md): what stat, repair and extend accept besides a full link.
export { linkFor, parseRepairTarget } from './capability.js'
export type { RepairTarget } from './capability.js'
// Latest-version records (docs/keeper.md): a repair's newer manifest, followed by get from an older link.
export { resolveLatest } from './latest.js'
export type { LatestOptions, PublishLatestResult } from './latest.js'
export type { AdoptedDeal } from './repair-adopt.js'
export type { StatOptions, FileStat, SegmentStat, ShardStat, ShardState } from './actions/stat.js'
export type { RepairOptions, RepairResult, RepairedShard, RepairProgressEvent } from './actions/repair.js'
export {
  decideSegment,
  defaultRepairThreshold,
  DEFAULT_LIVENESS,
  excludedProviders,
  mayPlace,
  shardHealth
} from './repair-policy.js'
export type {
  LivenessObservation,
  LivenessRule,
  PolicyShard,
  SegmentDecision,
  SegmentPolicyInput,
  ShardHealth
} from './repair-policy.js'
export type { ExtendOptions, ExtendResult, DeleteOptions, DeleteResult } from './actions/lifecycle.js'
export type { AuditOptions, AuditOutcome, AuditProgressEvent, AuditResult, ShardRef } from './actions/audit.js'
export {
  DEFAULT_BATCH_LIMITS,
  MAX_OFFERS_PER_BATCH,
  MAX_TX_CALLDATA_BYTES,
  MAX_TX_GAS,
  openDealsCalldata,
  openDealsCalldataBytes,
  planBatches
} from './actions/deals.js'
export type { BatchLimits } from './actions/deals.js'
export type { DealStatus } from './actions/deal-state.js'
export type * from './events.js'
export {
  ClientError,
  ClientConfigError,
  ChainUnreachableError,
  WrongChainError,
  NotAMarketError,
  ClientNotStartedError,
  NotEnoughProvidersError,
  ShardPlacementError,
  ProviderRequestError,
  ProviderMisbehaviourError,
  CorruptShardError,
  ManifestNotFoundError,
  ManifestStoreError,
  DealActivationError,
  ChainActionError,
  InsufficientFundsError,
  InsufficientGasError,
  RepairError,
  StorageEndedError
} from './errors.js'
export { ProviderScores } from './scores.js'
export type { ProviderRecord } from './scores.js'
export type { KnownProvider } from './providers.js'
export { createClientHost } from './host.js'
export type { ClientHost } from './host.js'
export * from './constants.js'

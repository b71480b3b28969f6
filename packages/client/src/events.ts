import type { DecodeProgressEvent } from './pipeline/index.js'

/** A segment was encrypted, erasure-coded and committed (`encodedBytes`: plaintext so far). */
export interface PutEncodedEvent {
  type: 'put:encoded'
  segmentIndex: number
  encodedBytes: number
}
/** A shard is stored (verified receipt) on `provider`; `storedBytes` counts shard bytes stored so far. */
export interface PutShardStoredEvent {
  type: 'put:shard-stored'
  segmentIndex: number
  shardIndex: number
  provider: string
  bytes: number
  storedBytes: number
  ms: number
}
/** An upload or offer failed on `provider`; `next` says what the client does about it. */
export interface PutShardFailedEvent {
  type: 'put:shard-failed'
  segmentIndex: number
  shardIndex: number
  provider: string
  error: string
  next: 'retry' | 'waiting-for-other-copy' | 'giving-up'
}
/** A spare upload was started for a slow one (hedging). */
export interface PutShardHedgedEvent {
  type: 'put:shard-hedged'
  segmentIndex: number
  shardIndex: number
  slowProvider: string
  provider: string
}
/** An upload was cancelled because another copy of the shard finished first. */
export interface PutUploadCancelledEvent {
  type: 'put:upload-cancelled'
  segmentIndex: number
  shardIndex: number
  provider: string
}
/**
 * A batch of deals (one openDeals transaction) is recorded in the journal; its transaction is not sent yet.
 * `put:batch-sent`: the chain accepted it (`txHash` recorded), its receipt is awaited.
 */
export interface PutBatchRecordedEvent {
  type: 'put:batch-recorded'
  batch: number
  deals: number
}
export interface PutBatchSentEvent {
  type: 'put:batch-sent'
  batch: number
  deals: number
  txHash: string
}
/** The market was approved once for the escrow of every deal of this put. */
export interface PutApprovedEvent {
  type: 'put:approved'
  amount: bigint
}
/** A deal was opened and funded on chain. */
export interface PutDealOpenedEvent {
  type: 'put:deal-opened'
  segmentIndex: number
  shardIndex: number
  provider: string
  dealId: bigint
  escrow: bigint
  dealsOpened: number
  dealsTotal: number
}
/** Opening a deal failed; the shard is stored but unfunded (`repair` re-places it). */
export interface PutDealFailedEvent {
  type: 'put:deal-failed'
  segmentIndex: number
  shardIndex: number
  provider: string
  error: string
}
/** A copy of the sealed manifest was stored. */
export interface PutManifestStoredEvent {
  type: 'put:manifest-stored'
  provider: string
  cid: string
}
/**
 * The put's journal entry was written (`opening`: before the first transaction, with every shard's offer;
 * `stored`: the manifest is stored and the link recorded). `path` is its file when the client keeps a journal.
 */
export interface PutJournalEvent {
  type: 'put:journal'
  id: string
  state: 'opening' | 'stored'
  path?: string
}
/** A deal's term began: it is in its provider's proof set from this period on (put with waitForActivation). */
export interface PutDealActivatedEvent {
  type: 'put:deal-activated'
  dealId: bigint
  activated: number
  total: number
}

export type PutProgressEvent =
  | PutEncodedEvent
  | PutShardStoredEvent
  | PutShardFailedEvent
  | PutShardHedgedEvent
  | PutUploadCancelledEvent
  | PutApprovedEvent
  | PutBatchRecordedEvent
  | PutBatchSentEvent
  | PutDealOpenedEvent
  | PutDealFailedEvent
  | PutManifestStoredEvent
  | PutDealActivatedEvent
  | PutJournalEvent

/** The manifest was fetched from `provider`, checked against its CID and decrypted. */
export interface GetManifestEvent {
  type: 'get:manifest'
  cid: string
  provider: string
  fileSize: number
  segments: number
}
/** Shard bytes arrived from `provider` (not yet verified); `fetchedBytes` counts shard bytes so far. */
export interface GetShardFetchedEvent {
  type: 'get:shard-fetched'
  segmentIndex: number
  shardIndex: number
  provider: string
  bytes: number
  fetchedBytes: number
  ms: number
}
/** A shard could not be used: the provider failed (`unreachable`), had none (`missing`) or lied (`corrupt`). */
export interface GetShardFailedEvent {
  type: 'get:shard-failed'
  segmentIndex: number
  shardIndex: number
  provider?: string
  kind: 'unreachable' | 'missing' | 'corrupt'
  reason: string
}
/**
 * A segment's share of the range was decoded; `decodedBytes` counts plaintext so far (of the range), `shardsUsed` the
 * shards whose pieces were fetched and not found lying.
 */
export interface GetSegmentEvent {
  type: 'get:segment'
  segmentIndex: number
  decodedBytes: number
  fileSize: number
  shardsUsed: readonly number[]
}

/** Plaintext was decoded and is about to be yielded: `decodedBytes` of the `totalBytes` asked for (the range, or the file). */
export interface GetProgressBytesEvent {
  type: 'get:progress'
  decodedBytes: number
  totalBytes: number
  fetchedBytes: number
}

export type GetProgressEvent =
  | GetManifestEvent
  | GetShardFetchedEvent
  | GetShardFailedEvent
  | GetSegmentEvent
  | GetProgressBytesEvent

export type { DecodeProgressEvent }

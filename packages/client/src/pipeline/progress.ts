/** Milliseconds one segment spent in each stage (summed per stage; the bench splits time with these). */
export interface StageTimings {
  /** AES-GCM encrypt (put) or decrypt (get), key derivation included. */
  readonly cipherMs: number
  /** Reed-Solomon encode (put) or reconstruct (get; 0 when all data shards were good). */
  readonly erasureMs: number
  /** Merkle roots: computing commitments (put) or checking shards against them (get). */
  readonly commitmentMs: number
}

/** A segment was encrypted, erasure-coded and committed; `encodedBytes` counts plaintext so far. */
export interface EncodeSegmentEvent {
  readonly type: 'encode:segment'
  readonly segmentIndex: number
  readonly plaintextBytes: number
  readonly encodedBytes: number
  readonly timings: StageTimings
}

export type EncodeProgressEvent = EncodeSegmentEvent

/** A shard came in and matched its commitment. */
export interface ShardVerifiedEvent {
  readonly type: 'decode:shard-verified'
  readonly segmentIndex: number
  readonly shardIndex: number
}

/** The source had no such shard (returned undefined or threw). */
export interface ShardMissingEvent {
  readonly type: 'decode:shard-missing'
  readonly segmentIndex: number
  readonly shardIndex: number
  readonly reason: string
}

/** A shard came in but failed its commitment; it was treated as missing and never decoded. */
export interface ShardBadEvent {
  readonly type: 'decode:shard-bad'
  readonly segmentIndex: number
  readonly shardIndex: number
  readonly reason: string
}

/** A segment was rebuilt, decrypted and is about to be yielded; `decodedBytes` counts plaintext so far. */
export interface DecodeSegmentEvent {
  readonly type: 'decode:segment'
  readonly segmentIndex: number
  readonly plaintextBytes: number
  readonly decodedBytes: number
  /** Shard indices used to rebuild the segment. */
  readonly shardsUsed: readonly number[]
  readonly timings: StageTimings
}

export type DecodeProgressEvent = ShardVerifiedEvent | ShardMissingEvent | ShardBadEvent | DecodeSegmentEvent

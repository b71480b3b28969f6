export {
  DEFAULT_SEGMENT_SIZE_BYTES,
  DEFAULT_DATA_SHARDS,
  DEFAULT_PARITY_SHARDS,
  DEFAULT_PREFETCH_SEGMENTS,
  SEGMENT_KEY_INFO,
  STREAMING_SEGMENT_SIZE_BYTES
} from './constants.js'
export {
  DataPathError,
  InvalidCodeError,
  InvalidOptionError,
  TruncatedSourceError,
  SourceTooLongError,
  EncodingNotFinishedError,
  NotEnoughShardsError,
  SegmentDecryptionError,
  ChunkAuthenticationError,
  SealedLengthError,
  InvalidRangeError
} from './errors.js'
export type {
  StageTimings,
  EncodeProgressEvent,
  EncodeSegmentEvent,
  DecodeProgressEvent,
  ShardVerifiedEvent,
  ShardMissingEvent,
  ShardBadEvent,
  DecodeSegmentEvent
} from './progress.js'
export type { FileSource } from './source.js'
export { encodeFile, encodeFileStream } from './encode.js'
export type {
  EncodeFileOptions,
  EncodedShard,
  EncodedSegment,
  FileEncoding,
  EncodeFileStreamOptions,
  StreamedSegment,
  FileStreamEncoding
} from './encode.js'
export type { EncodedStripe, StripeSink } from './stripes.js'
export { decodeFile } from './decode.js'
export type { DecodeFileOptions, ShardRequest, ShardSource } from './decode.js'
export { segmentKey, segmentKeyInfo, chunkNonce, sealChunk, openChunk, sealSegment, openSegment } from './cipher.js'
export { segmentCipher, segmentKeyBytes, webSegmentCipher } from './chunk-cipher.js'
export type { SegmentCipher } from './chunk-cipher.js'
export { segmentLayout, stripeChunksFor, stripeWidthFor, stripeAt, sealedPieces, planRange } from './layout.js'
export type { SegmentLayout, Stripe, ShardPiece, RangePlan } from './layout.js'
export { inlineHasher, defaultHasher } from './hashing.js'
export type { MerkleHasher, ShardRootBuilder } from './hashing.js'
export { decodeRange } from './range.js'
export type { DecodeRangeOptions, ShardRangeRequest, ShardRangeSource } from './range.js'

export {
  DEFAULT_SEGMENT_SIZE_BYTES, DEFAULT_DATA_SHARDS, DEFAULT_PARITY_SHARDS, DEFAULT_PREFETCH_SEGMENTS, SEGMENT_KEY_INFO
} from './constants.js'
export {
  DataPathError, InvalidCodeError, InvalidOptionError, TruncatedSourceError, SourceTooLongError, EncodingNotFinishedError,
  NotEnoughShardsError, SegmentDecryptionError
} from './errors.js'
export type {
  StageTimings, EncodeProgressEvent, EncodeSegmentEvent, DecodeProgressEvent, ShardVerifiedEvent, ShardMissingEvent,
  ShardBadEvent, DecodeSegmentEvent
} from './progress.js'
export type { FileSource } from './source.js'
export { encodeFile } from './encode.js'
export type { EncodeFileOptions, EncodedShard, EncodedSegment, FileEncoding } from './encode.js'
export { decodeFile } from './decode.js'
export type { DecodeFileOptions, ShardRequest, ShardSource } from './decode.js'
export { segmentKey, segmentKeyInfo } from './cipher.js'

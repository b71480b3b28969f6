// Wire protocol: ids, bounds, framing, messages, receipts and announcements (packages/protocol/src/wire).
export * from './wire/index.js'
// Content formats: shard and manifest CIDs, the manifest and its sealing, sherd:// links (docs/data-path.md).
export {
  ProtocolError,
  InvalidCidError,
  UnexpectedCodecError,
  UnexpectedHashError,
  InvalidManifestError,
  ManifestCidMismatchError,
  ManifestDecryptionError,
  InvalidKeyError,
  InvalidLinkError,
  ManifestNeedsFileKeyError,
  RepairCapabilityError
} from './errors.js'
export {
  SHERD_MERKLE_SHA256_64_CODE,
  SHARD_CODEC,
  MANIFEST_CODEC,
  MANIFEST_HASH_CODE,
  MERKLE_ROOT_BYTES,
  SHARD_DIGEST_BYTES,
  MAX_SHARD_BYTES,
  shardCid,
  parseShardCid,
  toCid,
  manifestCid,
  parseManifestCid,
  manifestBytesMatch
} from './cid.js'
export type { ShardCommitment, ShardRef } from './cid.js'
export { verifyShard } from './verify-shard.js'
export {
  MANIFEST_VERSION,
  MAX_STRIPE_CHUNKS,
  MAX_STRIPE_TOTAL_CHUNKS,
  maxStripeChunks,
  SEALED_MANIFEST_VERSION,
  SEALED_MANIFEST_V1,
  MANIFEST_KEY_INFO_V2,
  SEGMENT_CIPHER,
  FILE_KEY_BYTES,
  KEY_SALT_BYTES,
  GCM_TAG_BYTES,
  GCM_NONCE_BYTES,
  SEALED_CHUNK_BYTES,
  CHUNK_PLAINTEXT_BYTES,
  MANIFEST_KEY_INFO,
  MAX_SEGMENT_SIZE_BYTES,
  MAX_PEER_ID_CHARS,
  MAX_DEAL_ID,
  chunkCountFor,
  sealedSizeFor,
  shardSizeFor,
  segmentCount,
  codeProblem,
  validateManifest,
  encodeManifest,
  decodeManifest,
  checkFileKey,
  deriveAesKey,
  sealManifest,
  checkSealedManifest,
  openManifest
} from './manifest.js'
export type { Manifest, ManifestKey, ManifestSegment, ManifestShard, SealedManifest } from './manifest.js'
export {
  LINK_SCHEME,
  MAX_LINK_CHARS,
  REPAIR_FRAGMENT_PREFIX,
  formatLink,
  formatRepairLink,
  parseCapability,
  parseLink
} from './link.js'
export type { ParsedCapability, RepairLink, SherdLink } from './link.js'
export { RepairKey, REPAIR_KEY_BYTES, REPAIR_KEY_INFO, deriveRepairKey, isRepairKey } from './repair-key.js'
export { LATEST_KEY_INFO, decodeLatestRecord, latestKeyPair, latestRecordToWire, signLatestRecord } from './latest.js'
export type { LatestRecord } from './latest.js'
export { sleep } from './sleep.js'

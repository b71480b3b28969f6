export * from './constants.js'
export * from './errors.js'
export { encodeVarint, encodeFrame, WireReader, streamSource, sendBytes } from './framing.js'
export type { WireChunk, ByteStream } from './framing.js'
export * from './messages.js'
export {
  wireDigest,
  personalMessageHash,
  signDigest,
  recoverSigner,
  recoverHashSigner,
  addressOf,
  knownSignerCounts,
  hasSignerTable
} from './signing.js'
export {
  requestStoreShard,
  requestFetchShard,
  requestFetchShardRange,
  openFetchShardRange,
  requestStoreManifest,
  requestFetchManifest,
  requestOffer,
  requestAnnouncements
} from './requests.js'
export type { RequestStream, SignedReceipt, FetchShardOptions, ShardRangeReader } from './requests.js'
export { offerToWire, offerFromWire } from './offer.js'
export type { WireOffer } from './offer.js'
export { LATEST_PROTOCOL, decodeLatestRequest, latestAnswer, requestLatest } from './latest.js'
export type { LatestRequest } from './latest.js'

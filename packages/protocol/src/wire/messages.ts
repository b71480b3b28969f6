import * as dagCbor from '@ipld/dag-cbor'
import {
  HASH_BYTES, MAX_ANNOUNCED_ADDRS, MAX_ANNOUNCEMENT_BYTES, MAX_CID_BYTES, MAX_RELAYED_ANNOUNCEMENTS, MAX_ERROR_MESSAGE_CHARS, MAX_MANIFEST_BYTES,
  MAX_MULTIADDR_CHARS, MAX_OFFER_FIELDS, MAX_OFFER_PERIODS, MAX_SHORT_STRING_CHARS, SIGNATURE_BYTES
} from './constants.js'
import { MAX_SHARD_BYTES } from '../cid.js'
import { InvalidSignatureError, MalformedMessageError, MessageTooLargeError, RemoteError } from './errors.js'
import { recoverSigner, signDigest, wireDigest } from './signing.js'
import {
  addressField, asMap, bytesField, compact, decimalField, optionalUintField, stringField, uintField
} from './validate.js'

export type Address = `0x${string}`

// ---- requests (client → provider), each the first frame of its stream ----

/**
 * First frame of STORE_SHARD_PROTOCOL. `byteLength` raw bytes follow once the provider answers `accept`. It names no
 * deal or offer: the provider signs an offer only for a shard it already holds whole (OFFER_PROTOCOL, after this).
 */
export interface StoreShardRequest {
  /** Merkle root of the shard (packages/proofs commitment). */
  root: Uint8Array
  byteLength: number
}

export function decodeStoreShardRequest (value: unknown): StoreShardRequest {
  const m = asMap(value, 'StoreShardRequest')
  const byteLength = uintField(m, 'byteLength', 'StoreShardRequest', Number.MAX_SAFE_INTEGER)
  if (byteLength > MAX_SHARD_BYTES) throw new MessageTooLargeError(`shard of ${byteLength} bytes exceeds the limit of ${MAX_SHARD_BYTES}`)
  if (byteLength === 0) throw new MalformedMessageError('StoreShardRequest.byteLength must be positive')
  return compact({
    root: bytesField(m, 'root', 'StoreShardRequest', { exact: HASH_BYTES }),
    byteLength
  })
}

/** First frame of FETCH_SHARD_PROTOCOL. Without offset/length, the whole shard. */
export interface FetchShardRequest {
  root: Uint8Array
  offset?: number
  length?: number
}

export function decodeFetchShardRequest (value: unknown): FetchShardRequest {
  const m = asMap(value, 'FetchShardRequest')
  return compact({
    root: bytesField(m, 'root', 'FetchShardRequest', { exact: HASH_BYTES }),
    offset: optionalUintField(m, 'offset', 'FetchShardRequest', MAX_SHARD_BYTES),
    length: optionalUintField(m, 'length', 'FetchShardRequest', MAX_SHARD_BYTES)
  })
}

/** First frame of STORE_MANIFEST_PROTOCOL: the manifest's CID (binary) and size; bytes follow `accept`. */
export interface StoreManifestRequest {
  cid: Uint8Array
  byteLength: number
}

export function decodeStoreManifestRequest (value: unknown): StoreManifestRequest {
  const m = asMap(value, 'StoreManifestRequest')
  const byteLength = uintField(m, 'byteLength', 'StoreManifestRequest', Number.MAX_SAFE_INTEGER)
  if (byteLength > MAX_MANIFEST_BYTES) throw new MessageTooLargeError(`manifest of ${byteLength} bytes exceeds the limit of ${MAX_MANIFEST_BYTES}`)
  return { cid: bytesField(m, 'cid', 'StoreManifestRequest', { max: MAX_CID_BYTES }), byteLength }
}

/** First frame of FETCH_MANIFEST_PROTOCOL. */
export interface FetchManifestRequest {
  cid: Uint8Array
}

export function decodeFetchManifestRequest (value: unknown): FetchManifestRequest {
  const m = asMap(value, 'FetchManifestRequest')
  return { cid: bytesField(m, 'cid', 'FetchManifestRequest', { max: MAX_CID_BYTES }) }
}

/**
 * First frame of OFFER_PROTOCOL, sent after the shard was stored (STORE_SHARD_PROTOCOL): the provider answers with
 * its signed terms only if it holds a complete, verified shard with exactly this root and byte length.
 */
export interface OfferRequest {
  /** Merkle root of the stored shard the offer is for. */
  root: Uint8Array
  byteLength: number
  /** Periods of the term (≥ 1). */
  periods: number
  /** The client's chain address: only it can open the deal. */
  client: Address
}

export function decodeOfferRequest (value: unknown): OfferRequest {
  const m = asMap(value, 'OfferRequest')
  const byteLength = uintField(m, 'byteLength', 'OfferRequest', MAX_SHARD_BYTES)
  if (byteLength === 0) throw new MalformedMessageError('OfferRequest.byteLength must be positive')
  const periods = uintField(m, 'periods', 'OfferRequest', MAX_OFFER_PERIODS)
  if (periods === 0) throw new MalformedMessageError('OfferRequest.periods must be at least 1')
  return {
    root: bytesField(m, 'root', 'OfferRequest', { exact: HASH_BYTES }),
    byteLength,
    periods,
    client: addressField(m, 'client', 'OfferRequest')
  }
}

// ---- responses (provider → client), each a frame with a `status` ----

export interface WireErrorBody { name: string, message: string }

export type Response =
  | { status: 'accept' }
  | { status: 'error', name: string, message: string }
  | { status: 'stored', receipt: ReceiptPayload, signature: Uint8Array }
  | { status: 'ok', byteLength: number, offset: number, length: number }
  | { status: 'offer', offer: OfferFields, signature: Uint8Array }
  /** Encoded signed announcements (each as `encodeAnnouncement` makes it), freshest first. */
  | { status: 'announcements', announcements: Uint8Array[] }

export type ResponseStatus = Response['status']

export function errorResponse (name: string, message: string): Response {
  return {
    status: 'error',
    name: name.slice(0, MAX_SHORT_STRING_CHARS),
    message: message.slice(0, MAX_ERROR_MESSAGE_CHARS)
  }
}

/** Decodes a response frame; an `error` frame becomes a thrown `RemoteError`, any other unexpected status a `MalformedMessageError`. */
export function expectResponse<S extends Exclude<ResponseStatus, 'error'>> (value: unknown, status: S): Extract<Response, { status: S }> {
  const m = asMap(value, 'Response')
  const got = stringField(m, 'status', 'Response', MAX_SHORT_STRING_CHARS)
  if (got === 'error') {
    throw new RemoteError(stringField(m, 'name', 'Response', MAX_SHORT_STRING_CHARS), stringField(m, 'message', 'Response', MAX_ERROR_MESSAGE_CHARS))
  }
  if (got !== status) throw new MalformedMessageError(`expected a '${status}' response, got '${got}'`)
  switch (got) {
    case 'accept':
      return { status: 'accept' } as Extract<Response, { status: S }>
    case 'stored':
      return { status: 'stored', receipt: decodeReceiptPayload(m.receipt), signature: bytesField(m, 'signature', 'Response', { exact: SIGNATURE_BYTES }) } as Extract<Response, { status: S }>
    case 'ok': {
      const byteLength = uintField(m, 'byteLength', 'Response', MAX_SHARD_BYTES)
      const offset = uintField(m, 'offset', 'Response', MAX_SHARD_BYTES)
      const length = uintField(m, 'length', 'Response', MAX_SHARD_BYTES)
      if (offset + length > byteLength) throw new MalformedMessageError('response range lies outside the object')
      return { status: 'ok', byteLength, offset, length } as Extract<Response, { status: S }>
    }
    case 'offer':
      return { status: 'offer', offer: decodeOfferFields(m.offer), signature: bytesField(m, 'signature', 'Response', { exact: SIGNATURE_BYTES }) } as Extract<Response, { status: S }>
    case 'announcements': {
      const list = m.announcements
      if (!Array.isArray(list) || list.length > MAX_RELAYED_ANNOUNCEMENTS) throw new MalformedMessageError(`Response.announcements must be a list of at most ${MAX_RELAYED_ANNOUNCEMENTS}`)
      const announcements = list.map((a: unknown) => {
        if (!(a instanceof Uint8Array) || a.byteLength > MAX_ANNOUNCEMENT_BYTES) throw new MalformedMessageError(`Response.announcements must hold byte strings of at most ${MAX_ANNOUNCEMENT_BYTES} bytes`)
        return a
      })
      return { status: 'announcements', announcements } as Extract<Response, { status: S }>
    }
    default:
      throw new MalformedMessageError(`unknown response status '${got}'`)
  }
}

// ---- offers ----

/**
 * The fields of a provider's EIP-712 storage offer (`ProofSetMarket.Offer`) as carried on the wire: names as in the
 * contract's typed-data struct, uint values as decimal strings, addresses and bytes32 as 0x-hex strings. The typed-data definition lives
 * in @sherd/contracts; the signature is that package's EIP-712 signature over these fields.
 */
export type OfferFields = Record<string, string>

export function decodeOfferFields (value: unknown): OfferFields {
  const m = asMap(value, 'Offer')
  const entries = Object.entries(m)
  if (entries.length > MAX_OFFER_FIELDS) throw new MessageTooLargeError(`offer has ${entries.length} fields, the limit is ${MAX_OFFER_FIELDS}`)
  const out: OfferFields = {}
  for (const [key] of entries) {
    if (key.length > MAX_SHORT_STRING_CHARS) throw new MalformedMessageError('offer field name too long')
    out[key] = stringField(m, key, 'Offer', MAX_SHORT_STRING_CHARS)
  }
  return out
}

// ---- receipts ----

export const RECEIPT_DOMAIN = 'sherd/receipt/v1'

/** What a provider signs once an object is durably stored. */
export interface ReceiptPayload {
  kind: 'shard' | 'manifest'
  /** Shard Merkle root (32 bytes) or manifest CID bytes. */
  subject: Uint8Array
  byteLength: number
  /** Provider's chain address: the signer. */
  provider: Address
  /** Provider's libp2p peer id (string form). */
  peerId: string
  storedAtMs: number
}

export function decodeReceiptPayload (value: unknown): ReceiptPayload {
  const m = asMap(value, 'Receipt')
  const kind = stringField(m, 'kind', 'Receipt', 16)
  if (kind !== 'shard' && kind !== 'manifest') throw new MalformedMessageError(`Receipt.kind '${kind}' is not 'shard' or 'manifest'`)
  return compact({
    kind,
    subject: bytesField(m, 'subject', 'Receipt', { max: MAX_CID_BYTES }),
    byteLength: uintField(m, 'byteLength', 'Receipt', MAX_SHARD_BYTES),
    provider: addressField(m, 'provider', 'Receipt'),
    peerId: stringField(m, 'peerId', 'Receipt', MAX_SHORT_STRING_CHARS),
    storedAtMs: uintField(m, 'storedAtMs', 'Receipt', Number.MAX_SAFE_INTEGER)
  })
}

export function signReceipt (payload: ReceiptPayload, privateKey: Uint8Array | Address): { receipt: ReceiptPayload, signature: Uint8Array } {
  const receipt = compact(payload)
  return { receipt, signature: signDigest(privateKey, wireDigest(RECEIPT_DOMAIN, receipt)) }
}

/**
 * Checks a receipt's signature against its `provider` field and, when given, the expected subject, length and
 * provider. Throws `InvalidSignatureError` on any mismatch.
 */
export function verifyReceipt (
  signed: { receipt: ReceiptPayload, signature: Uint8Array },
  expected: { subject?: Uint8Array, byteLength?: number, provider?: Address } = {}
): void {
  const { receipt } = signed
  const signer = recoverSigner(wireDigest(RECEIPT_DOMAIN, compact(receipt)), signed.signature)
  if (signer !== receipt.provider.toLowerCase()) throw new InvalidSignatureError(`receipt signed by ${signer}, not by its provider ${receipt.provider}`)
  if (expected.provider !== undefined && signer !== expected.provider.toLowerCase()) throw new InvalidSignatureError(`receipt signed by ${signer}, expected ${expected.provider}`)
  if (expected.subject !== undefined && !equalBytes(expected.subject, receipt.subject)) throw new InvalidSignatureError('receipt is for a different object')
  if (expected.byteLength !== undefined && expected.byteLength !== receipt.byteLength) throw new InvalidSignatureError(`receipt says ${receipt.byteLength} bytes, expected ${expected.byteLength}`)
}

// ---- announcements ----

export const ANNOUNCEMENT_DOMAIN = 'sherd/announcement/v1'

/** Published on ANNOUNCE_TOPIC by every provider at start and every interval. */
export interface AnnouncementPayload {
  peerId: string
  addrs: string[]
  chainAddress: Address
  capacityBytes: number
  freeBytes: number
  /** Advertised price: token base units per MiB per proving period, decimal (as registered on chain). */
  pricePerMiB: string
  timestampMs: number
  /** Increases with every announcement of this peer, so a reader keeps the newest. */
  seq: number
}

export interface SignedAnnouncement {
  announcement: AnnouncementPayload
  signature: Uint8Array
}

export function signAnnouncement (announcement: AnnouncementPayload, privateKey: Uint8Array | Address): SignedAnnouncement {
  return { announcement, signature: signDigest(privateKey, wireDigest(ANNOUNCEMENT_DOMAIN, announcement)) }
}

export function encodeAnnouncement (signed: SignedAnnouncement): Uint8Array {
  return dagCbor.encode(signed)
}

/** Decodes and bounds an announcement (the gossipsub message data); does not check the signature. */
export function decodeAnnouncement (bytes: Uint8Array): SignedAnnouncement {
  if (bytes.byteLength > MAX_ANNOUNCEMENT_BYTES) throw new MessageTooLargeError(`announcement of ${bytes.byteLength} bytes exceeds ${MAX_ANNOUNCEMENT_BYTES}`)
  let value: unknown
  try {
    value = dagCbor.decode(bytes)
  } catch (err) {
    throw new MalformedMessageError(`announcement is not valid dag-cbor: ${(err as Error).message}`)
  }
  const outer = asMap(value, 'SignedAnnouncement')
  const m = asMap(outer.announcement, 'Announcement')
  const addrs = m.addrs
  if (!Array.isArray(addrs) || addrs.length > MAX_ANNOUNCED_ADDRS) throw new MalformedMessageError(`Announcement.addrs must be a list of at most ${MAX_ANNOUNCED_ADDRS}`)
  for (const a of addrs) {
    if (typeof a !== 'string' || a.length > MAX_MULTIADDR_CHARS) throw new MalformedMessageError('Announcement.addrs must hold multiaddr strings')
  }
  return {
    announcement: {
      peerId: stringField(m, 'peerId', 'Announcement', MAX_SHORT_STRING_CHARS),
      addrs: addrs as string[],
      chainAddress: addressField(m, 'chainAddress', 'Announcement'),
      capacityBytes: uintField(m, 'capacityBytes', 'Announcement', Number.MAX_SAFE_INTEGER),
      freeBytes: uintField(m, 'freeBytes', 'Announcement', Number.MAX_SAFE_INTEGER),
      pricePerMiB: decimalField(m, 'pricePerMiB', 'Announcement'),
      timestampMs: uintField(m, 'timestampMs', 'Announcement', Number.MAX_SAFE_INTEGER),
      seq: uintField(m, 'seq', 'Announcement', Number.MAX_SAFE_INTEGER)
    },
    signature: bytesField(outer, 'signature', 'SignedAnnouncement', { exact: SIGNATURE_BYTES })
  }
}

/**
 * Checks that the announcement is signed by its `chainAddress` and, when given, that it comes from `fromPeerId`
 * (the gossipsub message's `from`, itself signed with the libp2p key): together they bind peer id and chain address.
 */
export function verifyAnnouncement (signed: SignedAnnouncement, expected: { fromPeerId?: string } = {}): void {
  const signer = recoverSigner(wireDigest(ANNOUNCEMENT_DOMAIN, signed.announcement), signed.signature)
  if (signer !== signed.announcement.chainAddress.toLowerCase()) throw new InvalidSignatureError(`announcement signed by ${signer}, not by ${signed.announcement.chainAddress}`)
  if (expected.fromPeerId !== undefined && expected.fromPeerId !== signed.announcement.peerId) {
    throw new InvalidSignatureError(`announcement for ${signed.announcement.peerId} was published by ${expected.fromPeerId}`)
  }
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i])
}


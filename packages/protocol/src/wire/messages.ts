import * as dagCbor from '@ipld/dag-cbor'
import { decodeCanonical } from '../canonical.js'
import {
  HASH_BYTES,
  MAX_ANNOUNCED_ADDRS,
  MAX_ANNOUNCEMENT_BYTES,
  MAX_CID_BYTES,
  MAX_RELAYED_ANNOUNCEMENTS,
  MAX_ERROR_MESSAGE_CHARS,
  MAX_MANIFEST_BYTES,
  MAX_MULTIADDR_CHARS,
  MAX_OFFER_PERIODS,
  MAX_SHORT_STRING_CHARS,
  SIGNATURE_BYTES
} from './constants.js'
import { MAX_SHARD_BYTES } from '../cid.js'
import { InvalidSignatureError, MalformedMessageError, MessageTooLargeError, RemoteError } from './errors.js'
import { recoverSigner, signDigest, wireDigest } from './signing.js'
import {
  addressField,
  asMap,
  bytesField,
  compact,
  decimalField,
  exactFields,
  malformed,
  optionalBytesField,
  optionalUintField,
  stringField,
  uintField
} from './validate.js'
import type { WireMap } from './validate.js'

export type Address = `0x${string}`

// ---- requests (client → provider), each the first frame of its stream ----

/**
 * First frame of STORE_SHARD_PROTOCOL. `byteLength` raw bytes follow once the provider answers `accept`. It names no
 * deal or offer: the provider signs an offer only for a shard it already holds whole (OFFER_PROTOCOL, after this).
 */
export interface StoreShardRequest {
  /**
   * Merkle root of the shard (packages/proofs commitment), when the sender knows it before sending. A streaming
   * client does not (its root is finished with the last byte): without it the provider computes the root while the
   * bytes arrive and signs it in its receipt, and the client compares that with its own.
   */
  root?: Uint8Array
  /** Exact bytes that follow (1 … MAX_SHARD_BYTES): the provider reserves them up front and builds its chunk tree for them. */
  byteLength: number
}

/** A declared size: at least 1 byte (nothing is stored or sent for an empty object), `MessageTooLargeError` above `max`. */
function sizeField(m: WireMap, key: string, what: string, max: number): number {
  const size = uintField(m, key, what, Number.MAX_SAFE_INTEGER, 1)
  if (size > max) throw new MessageTooLargeError(`${what}.${key} = ${size} bytes exceeds the limit of ${max}`)
  return size
}

export function decodeStoreShardRequest(value: unknown): StoreShardRequest {
  const m = exactFields(asMap(value, 'StoreShardRequest'), 'StoreShardRequest', ['byteLength'], ['root'])
  const root = optionalBytesField(m, 'root', 'StoreShardRequest', { exact: HASH_BYTES })
  return {
    ...(root === undefined ? {} : { root }),
    byteLength: sizeField(m, 'byteLength', 'StoreShardRequest', MAX_SHARD_BYTES)
  }
}

/** First frame of FETCH_SHARD_PROTOCOL. Without offset/length, the whole shard. */
export interface FetchShardRequest {
  root: Uint8Array
  offset?: number
  length?: number
}

export function decodeFetchShardRequest(value: unknown): FetchShardRequest {
  const m = exactFields(asMap(value, 'FetchShardRequest'), 'FetchShardRequest', ['root'], ['offset', 'length'])
  const offset = optionalUintField(m, 'offset', 'FetchShardRequest', MAX_SHARD_BYTES - 1)
  const length = optionalUintField(m, 'length', 'FetchShardRequest', MAX_SHARD_BYTES, 1)
  if ((offset ?? 0) + (length ?? 0) > MAX_SHARD_BYTES)
    throw malformed('FetchShardRequest', 'length', `reaches past ${MAX_SHARD_BYTES} bytes, the largest shard`)
  return compact({ root: bytesField(m, 'root', 'FetchShardRequest', { exact: HASH_BYTES }), offset, length })
}

/** First frame of STORE_MANIFEST_PROTOCOL: the manifest's CID (binary) and size; bytes follow `accept`. */
export interface StoreManifestRequest {
  cid: Uint8Array
  byteLength: number
}

export function decodeStoreManifestRequest(value: unknown): StoreManifestRequest {
  const m = exactFields(asMap(value, 'StoreManifestRequest'), 'StoreManifestRequest', ['cid', 'byteLength'])
  return {
    cid: bytesField(m, 'cid', 'StoreManifestRequest', { max: MAX_CID_BYTES }),
    byteLength: sizeField(m, 'byteLength', 'StoreManifestRequest', MAX_MANIFEST_BYTES)
  }
}

/** First frame of FETCH_MANIFEST_PROTOCOL. */
export interface FetchManifestRequest {
  cid: Uint8Array
}

export function decodeFetchManifestRequest(value: unknown): FetchManifestRequest {
  const m = exactFields(asMap(value, 'FetchManifestRequest'), 'FetchManifestRequest', ['cid'])
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

export function decodeOfferRequest(value: unknown): OfferRequest {
  const m = exactFields(asMap(value, 'OfferRequest'), 'OfferRequest', ['root', 'byteLength', 'periods', 'client'])
  return {
    root: bytesField(m, 'root', 'OfferRequest', { exact: HASH_BYTES }),
    byteLength: sizeField(m, 'byteLength', 'OfferRequest', MAX_SHARD_BYTES),
    periods: uintField(m, 'periods', 'OfferRequest', MAX_OFFER_PERIODS, 1),
    client: addressField(m, 'client', 'OfferRequest')
  }
}

// ---- responses (provider → client), each a frame with a `status` ----

export interface WireErrorBody {
  name: string
  message: string
}

export type Response =
  | { status: 'accept' }
  | { status: 'error'; name: string; message: string }
  | { status: 'stored'; receipt: ReceiptPayload; signature: Uint8Array }
  | { status: 'ok'; byteLength: number; offset: number; length: number }
  | { status: 'offer'; offer: OfferFields; signature: Uint8Array }
  /** Encoded signed announcements (each as `encodeAnnouncement` makes it), freshest first. */
  | { status: 'announcements'; announcements: Uint8Array[] }

export type ResponseStatus = Response['status']

export function errorResponse(name: string, message: string): Response {
  return {
    status: 'error',
    name: (name === '' ? 'Error' : name).slice(0, MAX_SHORT_STRING_CHARS),
    message: message.slice(0, MAX_ERROR_MESSAGE_CHARS)
  }
}

/** Decodes a response frame; an `error` frame becomes a thrown `RemoteError`, any other unexpected status a `MalformedMessageError`. */
/** The fields of each response, `status` included. */
const RESPONSE_FIELDS: Record<ResponseStatus, readonly string[]> = {
  accept: ['status'],
  error: ['status', 'name', 'message'],
  stored: ['status', 'receipt', 'signature'],
  ok: ['status', 'byteLength', 'offset', 'length'],
  offer: ['status', 'offer', 'signature'],
  announcements: ['status', 'announcements']
}

/** Decodes a response frame; an `error` frame becomes a thrown `RemoteError`, any other unexpected status a `MalformedMessageError`. */
export function expectResponse<S extends Exclude<ResponseStatus, 'error'>>(
  value: unknown,
  status: S
): Extract<Response, { status: S }> {
  const m = asMap(value, 'Response')
  const got = stringField(m, 'status', 'Response', MAX_SHORT_STRING_CHARS)
  if (!Object.hasOwn(RESPONSE_FIELDS, got))
    throw malformed(
      'Response',
      'status',
      `'${got}' is not a response status (${Object.keys(RESPONSE_FIELDS).join(', ')})`
    )
  exactFields(m, `Response(${got})`, RESPONSE_FIELDS[got as ResponseStatus])
  if (got === 'error') {
    throw new RemoteError(
      stringField(m, 'name', 'Response(error)', MAX_SHORT_STRING_CHARS),
      stringField(m, 'message', 'Response(error)', MAX_ERROR_MESSAGE_CHARS, 0)
    )
  }
  if (got !== status) throw malformed('Response', 'status', `is '${got}' where a '${status}' response belongs`)
  const what = `Response(${got})`
  switch (got) {
    case 'accept':
      return { status: 'accept' } as Extract<Response, { status: S }>
    case 'stored':
      return {
        status: 'stored',
        receipt: decodeReceiptPayload(m.receipt),
        signature: bytesField(m, 'signature', what, { exact: SIGNATURE_BYTES })
      } as Extract<Response, { status: S }>
    case 'ok': {
      const byteLength = uintField(m, 'byteLength', what, MAX_SHARD_BYTES, 1)
      const offset = uintField(m, 'offset', what, byteLength - 1)
      const length = uintField(m, 'length', what, byteLength - offset, 1)
      return { status: 'ok', byteLength, offset, length } as Extract<Response, { status: S }>
    }
    case 'offer':
      return {
        status: 'offer',
        offer: decodeOfferFields(m.offer),
        signature: bytesField(m, 'signature', what, { exact: SIGNATURE_BYTES })
      } as Extract<Response, { status: S }>
    default: {
      const list = m.announcements
      if (!Array.isArray(list) || list.length > MAX_RELAYED_ANNOUNCEMENTS)
        throw malformed(what, 'announcements', `must be a list of at most ${MAX_RELAYED_ANNOUNCEMENTS}`)
      const announcements = list.map((a: unknown, i: number) => {
        if (!(a instanceof Uint8Array) || a.byteLength === 0 || a.byteLength > MAX_ANNOUNCEMENT_BYTES) {
          throw malformed(what, `announcements[${i}]`, `must be a byte string of 1 to ${MAX_ANNOUNCEMENT_BYTES} bytes`)
        }
        return a
      })
      return { status: 'announcements', announcements } as Extract<Response, { status: S }>
    }
  }
}

// ---- offers ----

/**
 * The fields of a provider's EIP-712 storage offer (`ProofSetMarket.Offer`) as carried on the wire: names as in the
 * contract's typed-data struct, uint values as decimal strings, addresses and bytes32 as 0x-hex strings. The typed-data definition lives
 * in @sherd/contracts; the signature is that package's EIP-712 signature over these fields.
 */
export type OfferFields = Record<string, string>

/** The fields of `ProofSetMarket.Offer`, all required, no others. */
export const OFFER_FIELD_NAMES = [
  'provider',
  'client',
  'root',
  'size',
  'pricePerPeriod',
  'periods',
  'nonce',
  'expiry'
] as const

/**
 * Checks an offer's fields: exactly those of the EIP-712 struct, addresses as 0x + 40 hex digits, `root` as 0x + 64,
 * `size` a decimal from 1 to MAX_SHARD_BYTES, `periods` from 1 to 2^32 − 1, the other uints decimal uint256.
 * Returns them as they came (the signature covers the typed values, not these strings).
 */
export function decodeOfferFields(value: unknown): OfferFields {
  const what = 'Offer'
  const m = exactFields(asMap(value, what), what, OFFER_FIELD_NAMES)
  const out: OfferFields = {}
  for (const key of ['provider', 'client']) {
    addressField(m, key, what)
    out[key] = m[key] as string
  }
  const root = stringField(m, 'root', what, 66)
  if (!/^0x[0-9a-fA-F]{64}$/.test(root)) throw malformed(what, 'root', 'must be 0x and 64 hex digits (bytes32)')
  out.root = root
  for (const key of ['size', 'pricePerPeriod', 'periods', 'nonce', 'expiry']) out[key] = decimalField(m, key, what)
  const bounded = (key: string, min: number, max: number, why: string): void => {
    const n = BigInt(out[key] as string)
    if (n < BigInt(min) || n > BigInt(max))
      throw malformed(what, key, `must be from ${min} to ${max} (${why}), got ${n}`)
  }
  bounded('size', 1, MAX_SHARD_BYTES, 'the bytes of one shard')
  bounded('periods', 1, MAX_OFFER_PERIODS, 'a uint32 on chain')
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

export function decodeReceiptPayload(value: unknown): ReceiptPayload {
  const what = 'Receipt'
  const m = exactFields(asMap(value, what), what, ['kind', 'subject', 'byteLength', 'provider', 'peerId', 'storedAtMs'])
  const kind = stringField(m, 'kind', what, 16)
  if (kind !== 'shard' && kind !== 'manifest') throw malformed(what, 'kind', `'${kind}' is not 'shard' or 'manifest'`)
  const shard = kind === 'shard'
  return {
    kind,
    // A shard is named by its 32-byte Merkle root, a manifest by its CID's bytes.
    subject: bytesField(m, 'subject', what, shard ? { exact: HASH_BYTES } : { max: MAX_CID_BYTES }),
    byteLength: uintField(m, 'byteLength', what, shard ? MAX_SHARD_BYTES : MAX_MANIFEST_BYTES, 1),
    provider: addressField(m, 'provider', what),
    peerId: stringField(m, 'peerId', what, MAX_SHORT_STRING_CHARS),
    storedAtMs: uintField(m, 'storedAtMs', what, Number.MAX_SAFE_INTEGER)
  }
}

export function signReceipt(
  payload: ReceiptPayload,
  privateKey: Uint8Array | Address
): { receipt: ReceiptPayload; signature: Uint8Array } {
  const receipt = compact(payload)
  return { receipt, signature: signDigest(privateKey, wireDigest(RECEIPT_DOMAIN, receipt)) }
}

/**
 * Checks a receipt's signature against its `provider` field and, when given, the expected subject, length and
 * provider. Throws `InvalidSignatureError` on any mismatch.
 */
export function verifyReceipt(
  signed: { receipt: ReceiptPayload; signature: Uint8Array },
  expected: { subject?: Uint8Array; byteLength?: number; provider?: Address } = {}
): void {
  const { receipt } = signed
  const signer = recoverSigner(wireDigest(RECEIPT_DOMAIN, compact(receipt)), signed.signature, receipt.provider)
  if (signer !== receipt.provider.toLowerCase())
    throw new InvalidSignatureError(`receipt signed by ${signer}, not by its provider ${receipt.provider}`)
  if (expected.provider !== undefined && signer !== expected.provider.toLowerCase())
    throw new InvalidSignatureError(`receipt signed by ${signer}, expected ${expected.provider}`)
  if (expected.subject !== undefined && !equalBytes(expected.subject, receipt.subject))
    throw new InvalidSignatureError('receipt is for a different object')
  if (expected.byteLength !== undefined && expected.byteLength !== receipt.byteLength)
    throw new InvalidSignatureError(`receipt says ${receipt.byteLength} bytes, expected ${expected.byteLength}`)
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

export function signAnnouncement(
  announcement: AnnouncementPayload,
  privateKey: Uint8Array | Address
): SignedAnnouncement {
  return { announcement, signature: signDigest(privateKey, wireDigest(ANNOUNCEMENT_DOMAIN, announcement)) }
}

export function encodeAnnouncement(signed: SignedAnnouncement): Uint8Array {
  return dagCbor.encode(signed)
}

/** Decodes and bounds an announcement (the gossipsub message data); does not check the signature. */
export function decodeAnnouncement(bytes: Uint8Array): SignedAnnouncement {
  if (bytes.byteLength > MAX_ANNOUNCEMENT_BYTES)
    throw new MessageTooLargeError(`announcement of ${bytes.byteLength} bytes exceeds ${MAX_ANNOUNCEMENT_BYTES}`)
  const value = decodeCanonical(bytes, (field, problem) => {
    throw new MalformedMessageError(`SignedAnnouncement${field === '' ? '' : `.${field}`} ${problem}`, { field })
  })
  const outer = exactFields(asMap(value, 'SignedAnnouncement'), 'SignedAnnouncement', ['announcement', 'signature'])
  const what = 'Announcement'
  const m = exactFields(asMap(outer.announcement, what), what, [
    'peerId',
    'addrs',
    'chainAddress',
    'capacityBytes',
    'freeBytes',
    'pricePerMiB',
    'timestampMs',
    'seq'
  ])
  const addrs = m.addrs
  if (!Array.isArray(addrs) || addrs.length > MAX_ANNOUNCED_ADDRS)
    throw malformed(what, 'addrs', `must be a list of at most ${MAX_ANNOUNCED_ADDRS}`)
  addrs.forEach((a: unknown, i: number) => {
    if (typeof a !== 'string' || a.length === 0 || a.length > MAX_MULTIADDR_CHARS) {
      throw malformed(what, `addrs[${i}]`, `must be a multiaddr string of 1 to ${MAX_MULTIADDR_CHARS} characters`)
    }
  })
  const capacityBytes = uintField(m, 'capacityBytes', what, Number.MAX_SAFE_INTEGER)
  return {
    announcement: {
      peerId: stringField(m, 'peerId', what, MAX_SHORT_STRING_CHARS),
      addrs: addrs as string[],
      chainAddress: addressField(m, 'chainAddress', what),
      capacityBytes,
      // Capacity and free space are states, not object sizes: 0 is a provider that is full or winding down.
      freeBytes: uintField(m, 'freeBytes', what, capacityBytes),
      pricePerMiB: decimalField(m, 'pricePerMiB', what),
      timestampMs: uintField(m, 'timestampMs', what, Number.MAX_SAFE_INTEGER),
      seq: uintField(m, 'seq', what, Number.MAX_SAFE_INTEGER)
    },
    signature: bytesField(outer, 'signature', 'SignedAnnouncement', { exact: SIGNATURE_BYTES })
  }
}

/**
 * Checks that the announcement is signed by its `chainAddress` and, when given, that it comes from `fromPeerId`
 * (the gossipsub message's `from`, itself signed with the libp2p key): together they bind peer id and chain address.
 */
export function verifyAnnouncement(signed: SignedAnnouncement, expected: { fromPeerId?: string } = {}): void {
  const signer = recoverSigner(
    wireDigest(ANNOUNCEMENT_DOMAIN, signed.announcement),
    signed.signature,
    signed.announcement.chainAddress
  )
  if (signer !== signed.announcement.chainAddress.toLowerCase())
    throw new InvalidSignatureError(`announcement signed by ${signer}, not by ${signed.announcement.chainAddress}`)
  if (expected.fromPeerId !== undefined && expected.fromPeerId !== signed.announcement.peerId) {
    throw new InvalidSignatureError(
      `announcement for ${signed.announcement.peerId} was published by ${expected.fromPeerId}`
    )
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && a.every((x, i) => x === b[i])
}

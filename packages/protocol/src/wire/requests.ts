import { MAX_ANNOUNCEMENTS_FRAME_BYTES, MAX_CONTROL_FRAME_BYTES, MAX_MANIFEST_BYTES } from './constants.js'
import { MalformedMessageError } from './errors.js'
import { WireReader, encodeFrame, sendBytes, streamSource } from './framing.js'
import type { ByteStream } from './framing.js'
import { compact } from './validate.js'
import { decodeAnnouncement, expectResponse, verifyReceipt } from './messages.js'
import type { FetchShardRequest, OfferFields, OfferRequest, ReceiptPayload, SignedAnnouncement, StoreShardRequest } from './messages.js'

/** The client side of one request over an already opened stream (a libp2p 3 `Stream` fits). */
export interface RequestStream extends ByteStream {
  close: (options?: { signal?: AbortSignal }) => Promise<void>
}

export interface SignedReceipt { receipt: ReceiptPayload, signature: Uint8Array }

/** Sends a shard (header, then bytes once accepted) and returns the provider's verified receipt. */
export async function requestStoreShard (stream: RequestStream, request: StoreShardRequest, bytes: Uint8Array | AsyncIterable<Uint8Array>, options: { signal?: AbortSignal } = {}): Promise<SignedReceipt> {
  const reader = new WireReader(streamSource(stream))
  await sendBytes(stream, encodeFrame(compact(request)), options)
  expectResponse(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'accept')
  if (bytes instanceof Uint8Array) {
    // Pieces of 1 MiB keep the send buffer bounded.
    for (let offset = 0; offset < bytes.byteLength; offset += 1024 * 1024) {
      await sendBytes(stream, bytes.subarray(offset, offset + 1024 * 1024), options)
    }
  } else {
    for await (const piece of bytes) await sendBytes(stream, piece, options)
  }
  const stored = expectResponse(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'stored')
  verifyReceipt(stored, { subject: request.root, byteLength: request.byteLength })
  await stream.close(options)
  return stored
}

/** Fetches a shard or a byte range; the caller verifies whole shards against their root. */
export async function requestFetchShard (stream: RequestStream, request: FetchShardRequest, options: { signal?: AbortSignal } = {}): Promise<{ byteLength: number, offset: number, bytes: Uint8Array }> {
  const reader = new WireReader(streamSource(stream))
  await sendBytes(stream, encodeFrame(compact(request)), options)
  await stream.close(options)
  const ok = expectResponse(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'ok')
  if (ok.offset !== (request.offset ?? 0) || (request.length !== undefined && ok.length !== request.length)) {
    throw new MalformedMessageError(`asked for ${request.length ?? 'all'} bytes at ${request.offset ?? 0}, the provider answered ${ok.length} at ${ok.offset}`)
  }
  return { byteLength: ok.byteLength, offset: ok.offset, bytes: await reader.readAll(ok.length) }
}

/** Stores sealed manifest bytes under their CID (binary); returns the verified receipt. */
export async function requestStoreManifest (stream: RequestStream, cid: Uint8Array, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<SignedReceipt> {
  const reader = new WireReader(streamSource(stream))
  await sendBytes(stream, encodeFrame({ cid, byteLength: bytes.byteLength }), options)
  expectResponse(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'accept')
  await sendBytes(stream, bytes, options)
  const stored = expectResponse(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'stored')
  verifyReceipt(stored, { subject: cid, byteLength: bytes.byteLength })
  await stream.close(options)
  return stored
}

/** Fetches manifest bytes by CID; the caller checks them against the CID (`manifestBytesMatch`). */
export async function requestFetchManifest (stream: RequestStream, cid: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
  const reader = new WireReader(streamSource(stream))
  await sendBytes(stream, encodeFrame({ cid }), options)
  await stream.close(options)
  const ok = expectResponse(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'ok')
  if (ok.length > MAX_MANIFEST_BYTES) throw new MalformedMessageError(`manifest of ${ok.length} bytes exceeds ${MAX_MANIFEST_BYTES}`)
  return await reader.readAll(ok.length)
}

/** Asks for the provider's signed offer. */
export async function requestOffer (stream: RequestStream, request: OfferRequest, options: { signal?: AbortSignal } = {}): Promise<{ offer: OfferFields, signature: Uint8Array }> {
  const reader = new WireReader(streamSource(stream))
  await sendBytes(stream, encodeFrame(compact(request)), options)
  await stream.close(options)
  const { offer, signature } = expectResponse(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'offer')
  return { offer, signature }
}

/**
 * Asks a provider for the signed announcements it has heard (the request is the empty stream). Each is decoded and
 * bounded but not verified: a relayed announcement is only as good as its signature and the registry entry that
 * binds its peer id to its chain address, which the caller checks. Malformed entries are dropped, not fatal.
 */
export async function requestAnnouncements (stream: RequestStream, options: { signal?: AbortSignal } = {}): Promise<{ announcements: SignedAnnouncement[], malformed: number }> {
  const reader = new WireReader(streamSource(stream))
  await stream.close(options)
  const { announcements } = expectResponse(await reader.readFrame(MAX_ANNOUNCEMENTS_FRAME_BYTES), 'announcements')
  const decoded: SignedAnnouncement[] = []
  let malformed = 0
  for (const bytes of announcements) {
    try { decoded.push(decodeAnnouncement(bytes)) } catch { malformed++ }
  }
  return { announcements: decoded, malformed }
}

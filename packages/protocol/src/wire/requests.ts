import { MAX_ANNOUNCEMENTS_FRAME_BYTES, MAX_CONTROL_FRAME_BYTES, MAX_MANIFEST_BYTES } from './constants.js'
import { MalformedMessageError, ShardLengthMismatchError, UnverifiableRangeError } from './errors.js'
import { WireReader, encodeFrame, sendBytes, streamSource } from './framing.js'
import type { ByteStream } from './framing.js'
import { compact } from './validate.js'
import { decodeAnnouncement, expectResponse, verifyReceipt } from './messages.js'
import type {
  FetchShardRequest,
  OfferFields,
  OfferRequest,
  ReceiptPayload,
  Response,
  SignedAnnouncement,
  StoreShardRequest
} from './messages.js'
import { verifyShard } from '../verify-shard.js'

/** The client side of one request over an already opened stream (a libp2p 3 `Stream` fits). */
export interface RequestStream extends ByteStream {
  /** Closes the writing side (libp2p 3: the remote sees `remoteCloseWrite`; reading goes on). */
  close: (options?: { signal?: AbortSignal }) => Promise<void>
}

export interface SignedReceipt {
  receipt: ReceiptPayload
  signature: Uint8Array
}

/**
 * Reads an answer after which the provider sends nothing more. An `error` answer throws its `RemoteError` first, so
 * a provider that resets the stream after its error frame still reports why.
 */
async function lastResponse<S extends 'stored' | 'offer' | 'announcements'>(
  reader: WireReader,
  maxBytes: number,
  status: S
): Promise<Extract<Response, { status: S }>> {
  const answer = expectResponse(await reader.readFrame(maxBytes), status)
  await reader.expectEnd(`the '${status}' answer`)
  return answer
}

/** Pieces of 1 MiB keep the send buffer bounded. */
const SEND_PIECE_BYTES = 1024 * 1024

/**
 * Sends a shard (header, then bytes once accepted, then closes its side) and returns the provider's verified
 * receipt (signature and length; and root when the request named one, else the caller checks `receipt.subject`). The request goes out as exactly its two fields, whatever else the object carries: a provider refuses
 * unknown fields. Bytes that do not add up to `byteLength` are not sent past it (`ShardLengthMismatchError`).
 */
export async function requestStoreShard(
  stream: RequestStream,
  request: StoreShardRequest,
  bytes: Uint8Array | AsyncIterable<Uint8Array>,
  options: { signal?: AbortSignal } = {}
): Promise<SignedReceipt> {
  // Checked by the provider, not here, so a malformed request meets the provider's refusal like any other client's.
  const header: StoreShardRequest = compact({
    ...(request.root === undefined ? {} : { root: request.root }),
    byteLength: request.byteLength
  })
  const reader = new WireReader(streamSource(stream))
  await sendBytes(stream, encodeFrame(header), options)
  expectResponse(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'accept')
  let sent = 0
  const send = async (piece: Uint8Array): Promise<void> => {
    if (sent + piece.byteLength > header.byteLength)
      throw new ShardLengthMismatchError(
        header.byteLength,
        sent + piece.byteLength,
        'the bytes given are longer than the request declares: pass exactly byteLength bytes'
      )
    sent += piece.byteLength
    await sendBytes(stream, piece, options)
  }
  try {
    if (bytes instanceof Uint8Array) {
      for (let offset = 0; offset < bytes.byteLength; offset += SEND_PIECE_BYTES)
        await send(bytes.subarray(offset, offset + SEND_PIECE_BYTES))
    } else {
      for await (const piece of bytes) await send(piece)
    }
  } catch (err) {
    // A provider that gives up mid-upload sends its reason (an error frame) ahead of the reset: report that.
    if (err instanceof ShardLengthMismatchError || options.signal?.aborted === true) throw err
    const reason = await Promise.race([
      reader
        .readFrame(MAX_CONTROL_FRAME_BYTES)
        .then((frame) => {
          expectResponse(frame, 'stored')
        })
        .then(
          () => undefined,
          (e: unknown) => e
        ),
      new Promise<undefined>((resolve) => {
        setTimeout(resolve, 1000)
      })
    ])
    throw (reason as Error | undefined)?.name === 'RemoteError' ? reason : err
  }
  if (sent !== header.byteLength)
    throw new ShardLengthMismatchError(
      header.byteLength,
      sent,
      'the bytes given are shorter than the request declares: pass exactly byteLength bytes'
    )
  // Closing says "that was all": the provider commits only once it has seen the end, so more bytes are refused.
  await stream.close(options)
  const stored = await lastResponse(reader, MAX_CONTROL_FRAME_BYTES, 'stored')
  // Without a root in the request the receipt's subject is the provider's own root: the caller compares it.
  verifyReceipt(stored, {
    ...(header.root === undefined ? {} : { subject: header.root }),
    byteLength: header.byteLength
  })
  return stored
}

export interface FetchShardOptions {
  signal?: AbortSignal
  /**
   * The shard's committed length, when the caller knows it (a shard CID carries it): the answer must be exactly
   * this long. Without it the provider's declared length is checked against the root alone, which fixes the
   * length only up to zero bytes at the end of the last 64-byte leaf.
   */
  byteLength?: number
}

/**
 * Fetches a whole shard and returns it only once it is verified (`verifyShard`): its length and its Merkle root are
 * those asked for, else `ShardLengthMismatchError` / `CommitmentMismatchError`. A request for a byte range is
 * refused (`UnverifiableRangeError`): use `requestFetchShardRange`, which says its bytes are unchecked.
 */
export async function requestFetchShard(
  stream: RequestStream,
  request: FetchShardRequest,
  options: FetchShardOptions = {}
): Promise<{ byteLength: number; offset: number; bytes: Uint8Array }> {
  if (request.offset !== undefined || request.length !== undefined) {
    throw new UnverifiableRangeError(
      'requestFetchShard returns whole, verified shards; a byte range cannot be checked ' +
        'against the root without the rest of the shard: ask for { root } alone, or use requestFetchShardRange'
    )
  }
  const answer = await fetchShardBytes(stream, { root: request.root }, options)
  if (options.byteLength !== undefined && answer.byteLength !== options.byteLength) {
    throw new ShardLengthMismatchError(
      options.byteLength,
      answer.byteLength,
      'the provider declared another length: fetch the shard from another provider'
    )
  }
  verifyShard({ root: request.root, byteLength: options.byteLength ?? answer.byteLength }, answer.bytes)
  return answer
}

/**
 * Fetches a byte range of a shard, or the whole shard, as the provider serves it: NOT checked against the root (a
 * range cannot be without a Merkle proof). For tools and tests that read parts of a shard; data paths use
 * `requestFetchShard`.
 */
export async function requestFetchShardRange(
  stream: RequestStream,
  request: FetchShardRequest,
  options: { signal?: AbortSignal } = {}
): Promise<{ byteLength: number; offset: number; bytes: Uint8Array }> {
  return await fetchShardBytes(stream, request, options)
}

async function fetchShardBytes(
  stream: RequestStream,
  request: FetchShardRequest,
  options: { signal?: AbortSignal }
): Promise<{ byteLength: number; offset: number; bytes: Uint8Array }> {
  const range = await openFetchShardRange(stream, request, options)
  const bytes = await range.readRest()
  return { byteLength: range.byteLength, offset: range.offset, bytes }
}

/** A fetch-shard answer being read: its header, then its bytes in parts of the reader's choosing. */
export interface ShardRangeReader {
  /** The whole shard's length, as the provider declares it. */
  readonly byteLength: number
  readonly offset: number
  readonly length: number
  /** Bytes of the range not yet read. */
  readonly remaining: number
  /**
   * The next `n` bytes of the range (n ≤ remaining), in one buffer: `into` (n bytes) when given, else a new one;
   * unchecked, like `requestFetchShardRange`.
   */
  read: (n: number, into?: Uint8Array) => Promise<Uint8Array>
  /** The rest of the range, then the provider's close (`WireReader.readAll`). */
  readRest: () => Promise<Uint8Array>
  /** Once every byte is read: waits for the provider to close, `ExcessBytesError` if it sends more. */
  end: () => Promise<void>
}

/**
 * Sends a fetch-shard request and reads its `ok` header, leaving the bytes to be read in parts: one request can
 * carry a long span of a shard that the caller consumes piece by piece. The stream is paused while more than
 * `highWaterBytes` wait unread (`streamSource`), so a slow consumer holds the provider back instead of buffering
 * the span. Unchecked bytes, as `requestFetchShardRange`.
 */
export async function openFetchShardRange(
  stream: RequestStream,
  request: FetchShardRequest,
  options: { signal?: AbortSignal; highWaterBytes?: number } = {}
): Promise<ShardRangeReader> {
  const checked: FetchShardRequest = compact({ root: request.root, offset: request.offset, length: request.length })
  const reader = new WireReader(streamSource(stream, options.highWaterBytes))
  await sendBytes(stream, encodeFrame(checked), options)
  await stream.close(options)
  const ok = expectResponse(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'ok')
  if (ok.offset !== (checked.offset ?? 0) || (checked.length !== undefined && ok.length !== checked.length)) {
    throw new MalformedMessageError(
      `asked for ${checked.length ?? 'all'} bytes at ${checked.offset ?? 0}, the provider answered ${ok.length} at ${ok.offset}`
    )
  }
  if (checked.length === undefined && ok.offset + ok.length !== ok.byteLength) {
    throw new MalformedMessageError(
      `asked for the rest of the shard from ${ok.offset}, the provider answered ${ok.length} of its ${ok.byteLength} bytes`
    )
  }
  let remaining = ok.length
  return {
    byteLength: ok.byteLength,
    offset: ok.offset,
    length: ok.length,
    get remaining() {
      return remaining
    },
    async read(n: number, into?: Uint8Array): Promise<Uint8Array> {
      if (!Number.isSafeInteger(n) || n < 0 || n > remaining)
        throw new RangeError(`cannot read ${n} bytes of a range with ${remaining} left`)
      if (into !== undefined && into.byteLength !== n)
        throw new RangeError(`cannot read ${n} bytes into a buffer of ${into.byteLength}`)
      remaining -= n
      return await reader.readExact(n, into)
    },
    async readRest(): Promise<Uint8Array> {
      const n = remaining
      remaining = 0
      return await reader.readAll(n)
    },
    async end(): Promise<void> {
      if (remaining > 0) throw new RangeError(`${remaining} bytes of the range are still unread`)
      await reader.expectEnd(`the ${ok.length} bytes it declared`)
    }
  }
}

/** Stores sealed manifest bytes under their CID (binary), then closes its side; returns the verified receipt. */
export async function requestStoreManifest(
  stream: RequestStream,
  cid: Uint8Array,
  bytes: Uint8Array,
  options: { signal?: AbortSignal } = {}
): Promise<SignedReceipt> {
  const reader = new WireReader(streamSource(stream))
  await sendBytes(stream, encodeFrame({ cid, byteLength: bytes.byteLength }), options)
  expectResponse(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'accept')
  await sendBytes(stream, bytes, options)
  await stream.close(options)
  const stored = await lastResponse(reader, MAX_CONTROL_FRAME_BYTES, 'stored')
  verifyReceipt(stored, { subject: cid, byteLength: bytes.byteLength })
  return stored
}

/** Fetches manifest bytes by CID; the caller checks them against the CID (`manifestBytesMatch`). */
export async function requestFetchManifest(
  stream: RequestStream,
  cid: Uint8Array,
  options: { signal?: AbortSignal } = {}
): Promise<Uint8Array> {
  const reader = new WireReader(streamSource(stream))
  await sendBytes(stream, encodeFrame({ cid }), options)
  await stream.close(options)
  const ok = expectResponse(await reader.readFrame(MAX_CONTROL_FRAME_BYTES), 'ok')
  if (ok.offset !== 0 || ok.length !== ok.byteLength)
    throw new MalformedMessageError(
      `asked for a whole manifest, the provider answered ${ok.length} bytes at ${ok.offset} of ${ok.byteLength}`
    )
  if (ok.length > MAX_MANIFEST_BYTES)
    throw new MalformedMessageError(`manifest of ${ok.length} bytes exceeds ${MAX_MANIFEST_BYTES}`)
  return await reader.readAll(ok.length)
}

/** Asks for the provider's signed offer; the request goes out as exactly its four fields. */
export async function requestOffer(
  stream: RequestStream,
  request: OfferRequest,
  options: { signal?: AbortSignal } = {}
): Promise<{ offer: OfferFields; signature: Uint8Array }> {
  const checked: OfferRequest = compact({
    root: request.root,
    byteLength: request.byteLength,
    periods: request.periods,
    client: request.client
  })
  const reader = new WireReader(streamSource(stream))
  await sendBytes(stream, encodeFrame(checked), options)
  await stream.close(options)
  const { offer, signature } = await lastResponse(reader, MAX_CONTROL_FRAME_BYTES, 'offer')
  return { offer, signature }
}

/**
 * Asks a provider for the signed announcements it has heard (the request is the empty stream). Each is decoded and
 * bounded but not verified: a relayed announcement is only as good as its signature and the registry entry that
 * binds its peer id to its chain address, which the caller checks. Malformed entries are dropped, not fatal.
 */
export async function requestAnnouncements(
  stream: RequestStream,
  options: { signal?: AbortSignal } = {}
): Promise<{ announcements: SignedAnnouncement[]; malformed: number }> {
  const reader = new WireReader(streamSource(stream))
  await stream.close(options)
  const { announcements } = await lastResponse(reader, MAX_ANNOUNCEMENTS_FRAME_BYTES, 'announcements')
  const decoded: SignedAnnouncement[] = []
  let malformed = 0
  for (const bytes of announcements) {
    try {
      decoded.push(decodeAnnouncement(bytes))
    } catch {
      malformed++
    }
  }
  return { announcements: decoded, malformed }
}

import type { Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { hashProofSetOffer } from '@sherd/contracts'
import type { ProofSetOffer } from '@sherd/contracts'
import {
  ANNOUNCEMENTS_PROTOCOL,
  FETCH_MANIFEST_PROTOCOL,
  FETCH_SHARD_PROTOCOL,
  OFFER_PROTOCOL,
  STORE_MANIFEST_PROTOCOL,
  STORE_SHARD_PROTOCOL,
  CommitmentMismatchError,
  RemoteError,
  offerFromWire,
  requestAnnouncements,
  requestFetchManifest,
  requestFetchShard,
  openFetchShardRange,
  requestOffer,
  requestStoreManifest,
  requestStoreShard,
  recoverHashSigner
} from '@sherd/protocol'
import type { RequestStream, SignedAnnouncement, SignedReceipt } from '@sherd/protocol'
import { getAddress, hexToBytes, isAddressEqual } from 'viem'
import type { Address, Hex } from 'viem'
import { hexOf } from './bytes.js'
import { DIAL_TIMEOUT_MS, REQUEST_TIMEOUT_MS, TRANSFER_BASE_TIMEOUT_MS, TRANSFER_MS_PER_MIB } from './constants.js'
import { CorruptShardError, ProviderMisbehaviourError, ProviderRequestError } from './errors.js'
import type { ClientHost } from './host.js'
import type { ProviderDirectory } from './providers.js'

/** What the wire operations need. */
export interface WireContext {
  readonly host: ClientHost
  readonly directory: ProviderDirectory
}

/**
 * True when `err` is a provider's answer naming the condition `remoteName` (its error class, e.g.
 * InsufficientStakeError, NotFoundError): an honest refusal, not a fault of the connection.
 */
export function refusedWith(err: unknown, remoteName: string): boolean {
  const cause = err instanceof ProviderRequestError ? err.cause : err
  return cause instanceof RemoteError && cause.remoteName === remoteName
}

/** Time allowed for moving `bytes` (a floor of 1 MiB/s plus a fixed allowance). */
export function transferTimeoutMs(bytes: number): number {
  return TRANSFER_BASE_TIMEOUT_MS + Math.ceil(bytes / 2 ** 20) * TRANSFER_MS_PER_MIB
}

function toHex(bytes: Uint8Array): Hex {
  return `0x${hexOf(bytes)}`
}

/**
 * libp2p joins a dial to a peer that is already being dialled, and the joined dial ends with its first caller's
 * signal: when another request (a manifest fetch raced on several providers) gives up on its dial, ours fails with
 * an abort we did not ask for. Such a dial is tried once more (seen after a provider restart: the first get failed).
 */
async function dialProtocol(
  ctx: WireContext,
  addrs: Multiaddr[],
  protocol: string,
  signal: AbortSignal
): Promise<Stream> {
  const attempt = async (): Promise<{ stream?: Stream; timedOut: boolean; error?: unknown }> => {
    const timeout = AbortSignal.timeout(DIAL_TIMEOUT_MS)
    try {
      return {
        stream: await ctx.host.dialProtocol(addrs, protocol, { signal: AbortSignal.any([signal, timeout]) }),
        timedOut: false
      }
    } catch (error) {
      return { timedOut: timeout.aborted, error }
    }
  }
  let result = await attempt()
  if (result.stream === undefined && !result.timedOut && !signal.aborted) result = await attempt()
  if (result.stream === undefined) throw result.error
  return result.stream
}

/**
 * Opens a stream to `peerId` for `protocol` and runs `fn` on it, aborting the stream when `signal` aborts or
 * `timeoutMs` passes. Every failure (dial, remote error, timeout) becomes a ProviderRequestError naming the
 * provider, except an abort by the caller, which throws the caller's reason.
 */
export async function withStream<T>(
  ctx: WireContext,
  peerId: string,
  protocol: string,
  operation: string,
  timeoutMs: number,
  signal: AbortSignal | undefined,
  fn: (stream: RequestStream, signal: AbortSignal) => Promise<T>
): Promise<T> {
  signal?.throwIfAborted()
  const addrs = ctx.directory.addrsOf(peerId)
  if (addrs.length === 0)
    throw new ProviderRequestError(
      peerId,
      operation,
      new Error('no known address (not announced, not in bootstrap)'),
      true
    )
  const deadline = AbortSignal.timeout(timeoutMs)
  const all = signal === undefined ? deadline : AbortSignal.any([signal, deadline])
  let stream: Stream | undefined
  const onAbort = (): void => {
    stream?.abort(all.reason as Error)
  }
  try {
    stream = await dialProtocol(ctx, addrs, protocol, all)
    all.addEventListener('abort', onAbort, { once: true })
    all.throwIfAborted()
    return await fn(stream as unknown as RequestStream, all)
  } catch (err) {
    stream?.abort(err as Error)
    if (signal?.aborted === true) throw signal.reason
    if (err instanceof ProviderMisbehaviourError || err instanceof ProviderRequestError) throw err
    throw new ProviderRequestError(
      peerId,
      operation,
      deadline.aborted ? new Error(`no answer within ${timeoutMs} ms`) : err,
      stream === undefined
    )
  } finally {
    all.removeEventListener('abort', onAbort)
  }
}

export interface OfferContext extends WireContext {
  marketAddress: Address
  chainId: number
  client: Address
}

export interface SignedOffer {
  offer: ProofSetOffer
  signature: Hex
  hash: Hex
}

/** What the client asks an offer for, and the most it pays per period for it. */
export interface OfferAsk {
  root: Uint8Array
  byteLength: number
  periods: number
  /** Token base units per period above which the offer is refused (the price cap, or none). */
  maxPricePerPeriod?: bigint
}

/**
 * Asks `peerId`, which holds the shard by now (a provider signs only for bytes it has received and verified), for
 * its signed offer and checks it: EIP-712 signature by the offer's provider for this market and chain (domain
 * "Sherd ProofSetMarket"), our client address, the shard's root and size, the term asked, a price within the cap,
 * and that the signer is the chain address registered for this peer id.
 */
export async function requestShardOffer(
  ctx: OfferContext,
  peerId: string,
  expectedProvider: Address | undefined,
  ask: OfferAsk,
  signal?: AbortSignal
): Promise<SignedOffer> {
  const { offer: fields, signature } = await withStream(
    ctx,
    peerId,
    OFFER_PROTOCOL,
    'offer request',
    REQUEST_TIMEOUT_MS,
    signal,
    async (stream, s) =>
      await requestOffer(
        stream,
        { root: ask.root, byteLength: ask.byteLength, periods: ask.periods, client: ctx.client },
        { signal: s }
      )
  )
  let offer: ProofSetOffer
  try {
    offer = offerFromWire(fields)
  } catch (err) {
    throw new ProviderMisbehaviourError(peerId, `sent a malformed offer (${(err as Error).message})`, { cause: err })
  }
  const sig = toHex(signature)
  const hash = hashProofSetOffer(offer, ctx.chainId, ctx.marketAddress)
  let signer: Address
  try {
    // The offer names its signer: a provider seen before is checked against its known key, not recovered (a
    // third of the CPU, and most of a put's garbage was recoveries).
    signer = getAddress(recoverHashSigner(hexToBytes(hash), signature, offer.provider))
  } catch (err) {
    throw new ProviderMisbehaviourError(
      peerId,
      `sent an offer whose signature cannot be read (${(err as Error).message.split('\n')[0]})`,
      { cause: err }
    )
  }
  if (!isAddressEqual(signer, offer.provider))
    throw new ProviderMisbehaviourError(peerId, `sent an offer for ${offer.provider} signed by ${signer}`)
  if (!isAddressEqual(offer.client, ctx.client))
    throw new ProviderMisbehaviourError(peerId, `sent an offer for client ${offer.client}, not ${ctx.client}`)
  if (offer.root.toLowerCase() !== toHex(ask.root).toLowerCase() || offer.size !== BigInt(ask.byteLength)) {
    throw new ProviderMisbehaviourError(peerId, 'sent an offer for another shard (root or size differ)')
  }
  if (offer.periods !== ask.periods)
    throw new ProviderMisbehaviourError(peerId, `offered ${offer.periods} periods where ${ask.periods} were asked`)
  if (ask.maxPricePerPeriod !== undefined && offer.pricePerPeriod > ask.maxPricePerPeriod) {
    throw new ProviderMisbehaviourError(
      peerId,
      `asked ${offer.pricePerPeriod} per period, above the cap of ${ask.maxPricePerPeriod}`
    )
  }
  if (expectedProvider !== undefined && !isAddressEqual(offer.provider, expectedProvider)) {
    throw new ProviderMisbehaviourError(
      peerId,
      `signed its offer as ${offer.provider}, not as its registered address ${expectedProvider}`
    )
  }
  return { offer, signature: sig, hash }
}

/**
 * Uploads a shard; returns the provider's verified receipt (signed by `expectedSigner` if given), or `undefined`
 * when the provider already holds a shard with this root: shards are keyed by their commitment, so the same bytes
 * (e.g. the all-zero padding shards of a tiny segment) are stored once and serve every deal on them. Either way
 * the provider holds the shard afterwards and can be asked for its offer.
 */
export async function storeShard(
  ctx: WireContext,
  peerId: string,
  p: { root: Uint8Array; bytes: Uint8Array; expectedSigner?: Address },
  signal?: AbortSignal
): Promise<SignedReceipt | undefined> {
  return await uploadShard(
    ctx,
    peerId,
    { root: p.root, byteLength: p.bytes.byteLength },
    p.bytes,
    p.expectedSigner,
    signal,
    transferTimeoutMs(p.bytes.byteLength)
  )
}

/**
 * Uploads a shard as its pieces are produced, without naming its root (the caller knows it only with the last
 * piece): the provider computes the root while the bytes arrive and signs it in the receipt, which is returned
 * verified for signature, length and (given `expectedSigner`) signer; the caller compares `receipt.subject` with
 * its own root. `undefined` when the provider answers that it holds these bytes already (an upload of the same
 * shard racing this one): its offer, asked next, says for which root. `pieces` must add up to `byteLength`.
 * `timeoutMs` bounds the whole upload (default: 1 MiB/s plus a fixed allowance); a caller pacing `pieces` itself
 * passes a bound of its own and watches progress.
 */
export async function streamShard(
  ctx: WireContext,
  peerId: string,
  p: { byteLength: number; pieces: AsyncIterable<Uint8Array>; expectedSigner?: Address },
  signal?: AbortSignal,
  timeoutMs = transferTimeoutMs(p.byteLength)
): Promise<SignedReceipt | undefined> {
  return await uploadShard(ctx, peerId, { byteLength: p.byteLength }, p.pieces, p.expectedSigner, signal, timeoutMs)
}

/** A store-shard exchange: `undefined` when the provider holds the bytes already; the receipt's signer checked. */
async function uploadShard(
  ctx: WireContext,
  peerId: string,
  request: { root?: Uint8Array; byteLength: number },
  body: Uint8Array | AsyncIterable<Uint8Array>,
  expectedSigner: Address | undefined,
  signal: AbortSignal | undefined,
  timeoutMs: number
): Promise<SignedReceipt | undefined> {
  const receipt = await withStream(
    ctx,
    peerId,
    STORE_SHARD_PROTOCOL,
    'shard upload',
    timeoutMs,
    signal,
    async (stream, s) => {
      try {
        return await requestStoreShard(stream, request, body, { signal: s })
      } catch (err) {
        if (err instanceof RemoteError && err.remoteName === 'AlreadyStoredError') return undefined
        throw err
      }
    }
  )
  if (
    receipt !== undefined &&
    expectedSigner !== undefined &&
    receipt.receipt.provider.toLowerCase() !== expectedSigner.toLowerCase()
  ) {
    throw new ProviderMisbehaviourError(
      peerId,
      `signed its receipt as ${receipt.receipt.provider}, not ${expectedSigner}`
    )
  }
  return receipt
}

/** Fetches a whole shard, verified against its commitment by the protocol layer (`verifyShard`). */
export async function fetchShard(
  ctx: WireContext,
  peerId: string,
  root: Uint8Array,
  byteLength: number,
  signal?: AbortSignal
): Promise<Uint8Array> {
  return await withStream(
    ctx,
    peerId,
    FETCH_SHARD_PROTOCOL,
    'shard fetch',
    transferTimeoutMs(byteLength),
    signal,
    async (stream, s) => {
      try {
        return (await requestFetchShard(stream, { root }, { signal: s, byteLength })).bytes
      } catch (err) {
        if (err instanceof CommitmentMismatchError) throw new CorruptShardError(peerId, err)
        throw err
      }
    }
  )
}

/**
 * Fetches bytes [start, end) of a shard, as the provider serves them: NOT checked against the root (a range cannot
 * be without the rest of the shard). The caller authenticates them otherwise (a get opens each AES-GCM chunk with
 * its tag). A provider that declares another length for the shard than its commitment names is lying about which
 * shard it holds: CorruptShardError.
 */
export async function fetchShardRange(
  ctx: WireContext,
  peerId: string,
  shard: { root: Uint8Array; byteLength: number },
  start: number,
  end: number,
  signal?: AbortSignal,
  into?: Uint8Array
): Promise<Uint8Array> {
  const span = await openShardSpan(ctx, peerId, shard, start, end, signal)
  try {
    return await span.read(end - start, signal, into)
  } finally {
    span.close()
  }
}

/** Bytes [position, end) of a shard arriving over one fetch-shard request, read piece by piece (`openShardSpan`). */
export interface ShardSpan {
  /** Shard offset of the next byte `read` returns. */
  readonly position: number
  readonly end: number
  /** When the request was begun, before its dial (`performance.now()`). */
  readonly openedAt: number
  /**
   * The next `n` bytes (unchecked, as `fetchShardRange`); once the last are read, the provider's close is awaited.
   * A failure, or no bytes within `transferTimeoutMs(n)`, ends the span: ProviderRequestError (the caller's abort
   * throws its reason). With `into` (n bytes) they are read into it and it is returned; after a failure it holds
   * whatever arrived first.
   */
  read: (n: number, signal?: AbortSignal, into?: Uint8Array) => Promise<Uint8Array>
  /** Ends the request: a span not read to its end is reset (the provider stops sending); idempotent. */
  close: () => void
}

/**
 * Asks `peerId` for bytes [start, end) of a shard on one fetch-shard stream and returns once the provider has
 * answered `ok` (within TRANSFER_BASE_TIMEOUT_MS of the request), leaving the bytes to be read in parts. The stream
 * is paused while more than `highWaterBytes` (default: the protocol's READ_HIGH_WATER_BYTES) wait unread, so what a
 * span holds in memory is that plus one yamux window (MAX_STREAM_WINDOW_BYTES), whatever its length.
 * CorruptShardError when the provider declares another shard length than the commitment names.
 */
export async function openShardSpan(
  ctx: WireContext,
  peerId: string,
  shard: { root: Uint8Array; byteLength: number },
  start: number,
  end: number,
  signal?: AbortSignal,
  highWaterBytes?: number
): Promise<ShardSpan> {
  const operation = 'shard range fetch'
  // The provider's bound on the request runs from the stream's opening, so the span's age does too.
  const openedAt = performance.now()
  const { stream, range } = await withStream(
    ctx,
    peerId,
    FETCH_SHARD_PROTOCOL,
    operation,
    TRANSFER_BASE_TIMEOUT_MS,
    signal,
    async (stream, s) => {
      const range = await openFetchShardRange(
        stream,
        { root: shard.root, offset: start, length: end - start },
        { signal: s, ...(highWaterBytes === undefined ? {} : { highWaterBytes }) }
      )
      if (range.byteLength !== shard.byteLength) {
        throw new CorruptShardError(
          peerId,
          new Error(`it declares the shard ${range.byteLength} bytes long, its commitment says ${shard.byteLength}`)
        )
      }
      return { stream: stream as unknown as Stream, range }
    }
  )
  let closed = false
  const close = (reason?: Error): void => {
    if (closed) return
    closed = true
    if (range.remaining > 0 || reason !== undefined)
      stream.abort(reason ?? new Error('the span was not read to its end'))
  }
  return {
    get position() {
      return end - range.remaining
    },
    end,
    openedAt,
    async read(n: number, readSignal?: AbortSignal, into?: Uint8Array): Promise<Uint8Array> {
      if (closed) throw new ProviderRequestError(peerId, operation, new Error('the span was closed'), false)
      const timeoutMs = transferTimeoutMs(n)
      const deadline = AbortSignal.timeout(timeoutMs)
      const all = readSignal === undefined ? deadline : AbortSignal.any([readSignal, deadline])
      const onAbort = (): void => {
        stream.abort(all.reason as Error)
      }
      all.addEventListener('abort', onAbort, { once: true })
      try {
        all.throwIfAborted()
        const bytes = await range.read(n, into)
        if (range.remaining === 0) {
          await range.end()
          closed = true
        }
        return bytes
      } catch (err) {
        close(err as Error)
        if (readSignal?.aborted === true) throw readSignal.reason
        throw new ProviderRequestError(
          peerId,
          operation,
          deadline.aborted ? new Error(`no answer within ${timeoutMs} ms`) : err,
          false
        )
      } finally {
        all.removeEventListener('abort', onAbort)
      }
    },
    close: () => {
      close()
    }
  }
}

export async function storeManifest(
  ctx: WireContext,
  peerId: string,
  cid: Uint8Array,
  bytes: Uint8Array,
  signal?: AbortSignal
): Promise<SignedReceipt> {
  return await withStream(
    ctx,
    peerId,
    STORE_MANIFEST_PROTOCOL,
    'manifest upload',
    REQUEST_TIMEOUT_MS,
    signal,
    async (stream, s) => await requestStoreManifest(stream, cid, bytes, { signal: s })
  )
}

export async function fetchManifest(
  ctx: WireContext,
  peerId: string,
  cid: Uint8Array,
  signal?: AbortSignal
): Promise<Uint8Array> {
  return await withStream(
    ctx,
    peerId,
    FETCH_MANIFEST_PROTOCOL,
    'manifest fetch',
    REQUEST_TIMEOUT_MS,
    signal,
    async (stream, s) => await requestFetchManifest(stream, cid, { signal: s })
  )
}

/** The signed announcements `peerId` has heard, its own first (unverified: ProviderDirectory.addRelayed checks them). */
export async function fetchAnnouncements(
  ctx: WireContext,
  peerId: string,
  signal?: AbortSignal
): Promise<SignedAnnouncement[]> {
  return await withStream(
    ctx,
    peerId,
    ANNOUNCEMENTS_PROTOCOL,
    'announcements request',
    REQUEST_TIMEOUT_MS,
    signal,
    async (stream, s) => (await requestAnnouncements(stream, { signal: s })).announcements
  )
}

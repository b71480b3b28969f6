import type { MarketClient } from '@sherd/contracts'
import { parseLink, parseManifestCid, SEALED_CHUNK_BYTES } from '@sherd/protocol'
import type { Manifest } from '@sherd/protocol'

type ShardEntry = Manifest['segments'][number]['shards'][number]
import type { CID } from 'multiformats/cid'
import type { ClientContext } from '../context.js'
import type { GetProgressEvent, GetShardFailedEvent } from '../events.js'
import { CorruptShardError, ProviderRequestError, StorageEndedError } from '../errors.js'
import { decodeRange, InvalidRangeError, NotEnoughShardsError } from '../pipeline/index.js'
import type { ShardRangeRequest } from '../pipeline/index.js'
import { fetchShardRange, openShardSpan } from '../transfer.js'
import type { ShardSpan } from '../transfer.js'
import {
  MAX_STREAM_WINDOW_BYTES,
  SHARD_SPAN_MAX_BYTES,
  SHARD_SPAN_MAX_MS,
  SPANS_IN_FLIGHT_MAX_BYTES
} from '../constants.js'
import { fetchFileManifest } from './manifest.js'
import { periodStartBlock, readChainClock, readDeals } from './deal-state.js'
import type { ChainClock, DealView } from './deal-state.js'

/**
 * The longest span a get of a k-data-shard code asks for: SHARD_SPAN_MAX_BYTES while k yamux windows fit in
 * SPANS_IN_FLIGHT_MAX_BYTES (each span then has at most a window in flight), else the budget's k-th share, so the
 * k spans together never have more than the budget in flight besides the one unread piece each may hold (a span
 * shorter than a piece still carries its piece).
 */
export function shardSpanMaxBytes(k: number): number {
  const share = Math.floor(SPANS_IN_FLIGHT_MAX_BYTES / k)
  return share >= MAX_STREAM_WINDOW_BYTES ? SHARD_SPAN_MAX_BYTES : share
}

/**
 * Where a span opened at the piece [start, pieceEnd) ends: on a piece boundary, at most `maxBytes` past `start`
 * (at least the one piece), never past `spanEnd`. The first piece may be part of a stripe (a range that starts
 * inside one); the ones after it are whole stripes' pieces, `width` bytes each, except where the span's last ends
 * at `spanEnd`. The decoder asks for a shard's pieces one whole piece at a time, so a span cut inside a piece
 * cannot serve that piece: a 16 MiB span over 10 + 20's 384 KiB pieces held 42 and two thirds, the 43rd read
 * failed, and every data shard of a large segment was given up to parity from there.
 */
export function spanRequestEnd(
  start: number,
  pieceEnd: number,
  spanEnd: number,
  maxBytes: number,
  width: number
): number {
  const more = Math.floor(Math.max(0, maxBytes - (pieceEnd - start)) / width)
  return Math.min(spanEnd, pieceEnd + more * width)
}

/** A file to read: a `sherd://` link, or its manifest CID and file key. */
export type FileTarget = string | { cid: CID | string; key: Uint8Array }

export function parseTarget(target: FileTarget): { cid: CID; key: Uint8Array } {
  if (typeof target === 'string') return parseLink(target)
  return { cid: parseManifestCid(target.cid), key: target.key }
}

export interface GetOptions {
  signal?: AbortSignal
  onProgress?: (event: GetProgressEvent) => void
  /** Providers to ask for the manifest first (peer ids). */
  manifestProviders?: readonly string[]
  /** First plaintext byte of the file to read; default 0. */
  offset?: number
  /** Bytes to read from `offset`; default the rest of the file. 0 reads nothing (an empty result). */
  length?: number
}

/** Reads and decrypts a file's manifest (fetched from the providers, checked against its CID). */
export async function getManifest(
  ctx: ClientContext,
  target: FileTarget,
  options: GetOptions = {}
): Promise<{ manifest: Manifest; cid: CID; key: Uint8Array }> {
  const { cid, key } = parseTarget(target)
  const { manifest, provider } = await fetchFileManifest(ctx, cid, key, {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.manifestProviders === undefined ? {} : { prefer: options.manifestProviders })
  })
  options.onProgress?.({
    type: 'get:manifest',
    cid: cid.toString(),
    provider,
    fileSize: manifest.fileSize,
    segments: manifest.segments.length
  })
  return { manifest, cid, key }
}

/** The range [offset, offset + length) a get reads, checked against the file: InvalidRangeError when outside it. */
export function checkedRange(
  fileSize: number,
  offset: number | undefined,
  length: number | undefined
): { offset: number; length: number } {
  const from = offset ?? 0
  const count = length ?? (Number.isSafeInteger(from) ? fileSize - from : Number.NaN)
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(count) || from < 0 || count < 0 || from + count > fileSize) {
    throw new InvalidRangeError(offset, length, fileSize)
  }
  return { offset: from, length: count }
}

/**
 * Reads a file, or bytes [offset, offset + length) of it: fetches its manifest, then stripe by stripe takes just
 * the pieces of the data shards that hold the range (about 1 MiB per shard per stripe), opens every 64 KiB chunk
 * with its AES-GCM tag and yields the plaintext (`decodeRange`). A data shard's consecutive pieces of a segment
 * come over one fetch-shard request for their whole span (up to `shardSpanMaxBytes(k)`, asked anew after
 * SHARD_SPAN_MAX_MS), read piece by piece as the decoder asks, the stream paused while a piece waits unread. A
 * range cannot be checked against the shard's Merkle root; the tags authenticate it instead. A piece that is
 * missing or fails its tag is rebuilt from the same bytes of other shards (parity), so a provider that is down or
 * lies costs requests elsewhere, never a wrong byte: it is scored down (failure, or corruption), reported in
 * `get:shard-failed`, and not asked for that shard again in this get (nor for any shard, when it cannot be
 * reached). Memory stays at about two stripes whatever the segment or file size. Throws InvalidRangeError (the
 * range is not inside the file), NotEnoughShardsError when a stripe cannot be rebuilt from the shards that
 * answered, or StorageEndedError when every deal of the file is over on chain.
 *
 * Only when a shard could not be fetched is the chain read (so a healthy get costs no RPC): a shard whose deal is
 * over (term ended, expired, failed) was rightly deleted by its provider and does not lower its score.
 *
 * @example
 * for await (const chunk of client.get(link)) out.write(chunk)
 * for await (const chunk of client.get(link, { offset: 2 ** 20, length: 4096 })) out.write(chunk)
 */
export async function* get(
  ctx: ClientContext,
  target: FileTarget,
  options: GetOptions = {}
): AsyncGenerator<Uint8Array, void, undefined> {
  const emit = options.onProgress ?? (() => {})
  const { manifest, key } = await getManifest(ctx, target, options)
  const { offset, length } = checkedRange(manifest.fileSize, options.offset, options.length)
  if (length === 0) return
  const shardOf = (segmentIndex: number, shardIndex: number): ShardEntry | undefined =>
    manifest.segments[segmentIndex]?.shards[shardIndex]
  const at = (segmentIndex: number, shardIndex: number): string => `${segmentIndex}/${shardIndex}`
  /** Shards of this get that failed or lied once: their later pieces come from parity instead of asking again. */
  const given = new Set<string>()
  /** Providers that could not be reached at all: none of their shards is asked for again in this get. */
  const down = new Set<string>()
  /** Bytes and time per shard fetched; scored as successes once the get is over, unless found lying. */
  const samples = new Map<string, { provider: string; ms: number; bytes: number }>()
  const unfetched = new Map<string, { provider: string; deal: bigint | undefined }>()
  const shardsUsed = new Map<number, Set<number>>()
  /** Per shard, the span of its pieces being read over one request (`openShardSpan`). */
  const spans = new Map<string, ShardSpan>()
  const spanMaxBytes = shardSpanMaxBytes(manifest.k)
  const pieceWidth = manifest.stripeChunks * SEALED_CHUNK_BYTES
  const closeSpan = (id: string): void => {
    spans.get(id)?.close()
    spans.delete(id)
  }
  let fetchedBytes = 0

  const giveUp = (
    segmentIndex: number,
    shardIndex: number,
    failure: Omit<GetShardFailedEvent, 'type' | 'segmentIndex' | 'shardIndex'>
  ): void => {
    const id = at(segmentIndex, shardIndex)
    if (given.has(id)) return
    given.add(id)
    closeSpan(id)
    samples.delete(id)
    shardsUsed.get(segmentIndex)?.delete(shardIndex)
    if (failure.kind === 'corrupt' && failure.provider !== undefined) ctx.scores.corruption(failure.provider)
    emit({ type: 'get:shard-failed', segmentIndex, shardIndex, ...failure })
  }

  /**
   * A piece the decoder will follow with the shard's next ones (`spanEnd`) is read from a span: the one open for
   * this shard when it is at this piece and young enough (SHARD_SPAN_MAX_MS), else a new one of up to
   * `shardSpanMaxBytes(k)`. A piece asked on its own (a rebuild's column) is one request and leaves the span alone.
   */
  const fetchPiece = async (id: string, provider: string, request: ShardRangeRequest): Promise<Uint8Array> => {
    const { commitment, start, end, spanEnd, signal, into } = request
    if (spanEnd === undefined) return await fetchShardRange(ctx, provider, commitment, start, end, signal, into)
    let span = spans.get(id)
    if (
      span !== undefined &&
      (span.position !== start || end > span.end || performance.now() - span.openedAt > SHARD_SPAN_MAX_MS)
    ) {
      closeSpan(id)
      span = undefined
    }
    if (span === undefined) {
      const to = spanRequestEnd(start, end, spanEnd, spanMaxBytes, pieceWidth)
      // One piece waiting unread is enough ahead: the decoder asks for the next one while it opens this one.
      span = await openShardSpan(ctx, provider, commitment, start, to, signal, end - start)
      spans.set(id, span)
    }
    try {
      return await span.read(end - start, signal, into)
    } catch (err) {
      spans.delete(id)
      throw err
    } finally {
      if (span.position >= span.end) spans.delete(id)
    }
  }

  const source = async (request: ShardRangeRequest): Promise<Uint8Array | undefined> => {
    const { segmentIndex, shardIndex } = request
    const id = at(segmentIndex, shardIndex)
    if (given.has(id)) return undefined
    const shard = shardOf(segmentIndex, shardIndex)
    const provider = shard?.provider
    if (provider === undefined) {
      giveUp(segmentIndex, shardIndex, { kind: 'missing', reason: 'the manifest names no provider for this shard' })
      return undefined
    }
    if (down.has(provider)) {
      giveUp(segmentIndex, shardIndex, {
        provider,
        kind: 'unreachable',
        reason: 'the provider could not be reached earlier in this get'
      })
      return undefined
    }
    const started = performance.now()
    let bytes: Uint8Array
    try {
      bytes = await fetchPiece(id, provider, request)
    } catch (err) {
      if (request.signal.aborted) throw err
      // Given up meanwhile (a chunk of an earlier piece failed its tag, which closed this span): already counted.
      if (given.has(id)) return undefined
      if (err instanceof CorruptShardError) {
        giveUp(segmentIndex, shardIndex, { provider, kind: 'corrupt', reason: err.message })
        return undefined
      }
      if (err instanceof ProviderRequestError && err.unreachable) down.add(provider)
      // Scored once the get is over, when the chain has said whether the shard's deal still runs.
      unfetched.set(`${provider}/${shard?.deal ?? ''}`, { provider, deal: shard?.deal })
      giveUp(segmentIndex, shardIndex, { provider, kind: 'unreachable', reason: (err as Error).message })
      return undefined
    }
    const ms = performance.now() - started
    fetchedBytes += bytes.byteLength
    const sample = samples.get(id) ?? { provider, ms: 0, bytes: 0 }
    sample.ms += ms
    sample.bytes += bytes.byteLength
    samples.set(id, sample)
    let used = shardsUsed.get(segmentIndex)
    if (used === undefined) {
      used = new Set()
      shardsUsed.set(segmentIndex, used)
    }
    used.add(shardIndex)
    emit({ type: 'get:shard-fetched', segmentIndex, shardIndex, provider, bytes: bytes.byteLength, fetchedBytes, ms })
    return bytes
  }

  const chain = ctx.market === undefined ? undefined : new DealReader(ctx.market)
  const scoreUnfetched = async (): Promise<void> => {
    if (unfetched.size === 0) return
    // A provider whose deal is over (term past, or void) may rightly have deleted the shard: no failure.
    let views = new Map<bigint, DealView>()
    if (chain !== undefined) {
      try {
        views = await chain.deals([...unfetched.values()].flatMap((u) => (u.deal === undefined ? [] : [u.deal])))
      } catch {}
    }
    for (const { provider, deal } of unfetched.values()) {
      const status = deal === undefined ? undefined : views.get(deal)?.status
      if (status === undefined || status === 'live') ctx.scores.failure(provider)
    }
  }

  const end = offset + length
  const segmentEnd = (i: number): number => Math.min(end, i * manifest.segmentSize + manifest.segments[i]!.size)
  let segmentIndex = Math.floor(offset / manifest.segmentSize)
  let decodedBytes = 0
  try {
    const pieces = decodeRange(manifest, key, source, {
      offset,
      length,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onProgress: (e) => {
        // Missing pieces were reported by the source itself; a bad one is known only once its chunk fails its tag.
        if (e.type !== 'decode:shard-bad') return
        const provider = shardOf(e.segmentIndex, e.shardIndex)?.provider
        giveUp(e.segmentIndex, e.shardIndex, {
          ...(provider === undefined ? {} : { provider }),
          kind: 'corrupt',
          reason: e.reason
        })
      }
    })
    for await (const piece of pieces) {
      decodedBytes += piece.byteLength
      emit({ type: 'get:progress', decodedBytes, totalBytes: length, fetchedBytes })
      while (segmentIndex < manifest.segments.length && offset + decodedBytes >= segmentEnd(segmentIndex)) {
        emit({
          type: 'get:segment',
          segmentIndex,
          decodedBytes,
          fileSize: manifest.fileSize,
          shardsUsed: [...(shardsUsed.get(segmentIndex) ?? [])].sort((a, b) => a - b)
        })
        shardsUsed.delete(segmentIndex)
        segmentIndex++
      }
      yield piece
    }
  } catch (err) {
    if (err instanceof NotEnoughShardsError && chain !== undefined) {
      // The chain only explains the miss: when it cannot be read, the decoder's own error stands.
      const ended = await storageEnded(
        chain,
        manifest.segments.flatMap((s) => s.shards.map((sh) => sh.deal)),
        err
      ).catch(() => undefined)
      if (ended !== undefined) throw ended
    }
    throw err
  } finally {
    for (const id of [...spans.keys()]) closeSpan(id)
    for (const s of samples.values()) ctx.scores.success(s.provider, { ms: s.ms, bytes: s.bytes })
    await scoreUnfetched()
    await ctx.scores.save()
  }
}

/** The chain's clock and the file's deals, read once, and only when a get has failed. */
class DealReader {
  private clockRead: Promise<ChainClock> | undefined
  constructor(private readonly market: MarketClient) {}

  async clock(): Promise<ChainClock> {
    this.clockRead ??= readChainClock(this.market.publicClient, this.market)
    return await this.clockRead
  }

  async deals(ids: readonly bigint[]): Promise<Map<bigint, DealView>> {
    return await readDeals(this.market, await this.clock(), ids)
  }
}

/**
 * A StorageEndedError when the file has deals and every one is over (term past, or void: faulted, declared lost,
 * failed); undefined while any still runs, since then its provider must still serve it.
 */
async function storageEnded(
  reader: DealReader,
  ids: ReadonlyArray<bigint | undefined>,
  cause: unknown
): Promise<StorageEndedError | undefined> {
  const dealIds = [...new Set(ids.filter((d): d is bigint => d !== undefined))]
  if (dealIds.length === 0) return undefined
  const views = await reader.deals(dealIds)
  if (dealIds.some((id) => views.get(id)?.status === 'live')) return undefined
  const clock = await reader.clock()
  let last = 0n
  for (const v of views.values()) {
    // A void deal stopped at the period it became void; the others at the end of their term.
    const end = v.deal.voidFrom < v.deal.endPeriod ? periodStartBlock(clock, v.deal.voidFrom) : v.endBlock
    if (end > last) last = end
  }
  if (last > clock.head) last = clock.head
  const ms = await clock.timeOf(last)
  return new StorageEndedError(ms === undefined ? undefined : new Date(ms), last, dealIds.length, cause)
}

import type { MarketClient } from '@sherd/contracts'
import { parseLink, parseManifestCid } from '@sherd/protocol'
import type { Manifest } from '@sherd/protocol'
import type { CID } from 'multiformats/cid'
import type { ClientContext } from '../context.js'
import type { GetProgressEvent } from '../events.js'
import { CorruptShardError, StorageEndedError } from '../errors.js'
import { decodeFile, NotEnoughShardsError } from '../pipeline/index.js'
import type { ShardRequest } from '../pipeline/index.js'
import { fetchShard } from '../transfer.js'
import { fetchFileManifest } from './manifest.js'
import { periodStartBlock, readChainClock, readDeals } from './deal-state.js'
import type { ChainClock, DealView } from './deal-state.js'

/** A file to read: a `sherd://` link, or its manifest CID and file key. */
export type FileTarget = string | { cid: CID | string, key: Uint8Array }

export function parseTarget (target: FileTarget): { cid: CID, key: Uint8Array } {
  if (typeof target === 'string') return parseLink(target)
  return { cid: parseManifestCid(target.cid), key: target.key }
}

export interface GetOptions {
  signal?: AbortSignal
  onProgress?: (event: GetProgressEvent) => void
  /** Providers to ask for the manifest first (peer ids). */
  manifestProviders?: readonly string[]
}

/** Reads and decrypts a file's manifest (fetched from the providers, checked against its CID). */
export async function getManifest (ctx: ClientContext, target: FileTarget, options: GetOptions = {}): Promise<{ manifest: Manifest, cid: CID, key: Uint8Array }> {
  const { cid, key } = parseTarget(target)
  const { manifest, provider } = await fetchFileManifest(ctx, cid, key, {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.manifestProviders === undefined ? {} : { prefer: options.manifestProviders })
  })
  options.onProgress?.({ type: 'get:manifest', cid: cid.toString(), provider, fileSize: manifest.fileSize, segments: manifest.segments.length })
  return { manifest, cid, key }
}

/**
 * Reads a file: fetches its manifest, then per segment asks the providers for shards in parallel (data shards
 * first), checks every shard against its Merkle commitment, stops once k good ones are in, rebuilds and
 * decrypts. A provider that is down or serves wrong bytes costs a request for another shard, never a wrong byte:
 * it is scored down (failure, or corruption) and reported in `get:shard-failed`. Yields plaintext segment by
 * segment; memory stays at about one stripe. Throws NotEnoughShardsError when fewer than k good shards exist, or
 * StorageEndedError when every deal of the file is over on chain.
 *
 * Only when a shard could not be fetched is the chain read (so a healthy get costs no RPC): a shard whose deal is
 * over (term ended, expired, failed) was rightly deleted by its provider and does not lower its score.
 *
 * @example
 * for await (const chunk of client.get(link)) out.write(chunk)
 */
export async function * get (ctx: ClientContext, target: FileTarget, options: GetOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  const emit = options.onProgress ?? (() => {})
  const { manifest, key } = await getManifest(ctx, target, options)
  const providerOf = (segmentIndex: number, shardIndex: number): string | undefined =>
    manifest.segments[segmentIndex]?.shards[shardIndex]?.provider
  const samples = new Map<string, { provider: string, ms: number, bytes: number }>()
  const unfetched: Array<{ provider: string, deal: bigint | undefined }> = []
  let fetchedBytes = 0

  const source = async (request: ShardRequest): Promise<Uint8Array | undefined> => {
    const { segmentIndex, shardIndex, commitment } = request
    const provider = providerOf(segmentIndex, shardIndex)
    if (provider === undefined) {
      emit({ type: 'get:shard-failed', segmentIndex, shardIndex, kind: 'missing', reason: 'the manifest names no provider for this shard' })
      return undefined
    }
    const started = performance.now()
    let bytes: Uint8Array
    try {
      bytes = await fetchShard(ctx, provider, commitment.root, commitment.byteLength, request.signal)
    } catch (err) {
      if (request.signal.aborted) throw err
      if (err instanceof CorruptShardError) {
        ctx.scores.corruption(provider)
        emit({ type: 'get:shard-failed', segmentIndex, shardIndex, provider, kind: 'corrupt', reason: err.message })
        throw err
      }
      // Scored once the get is over, when the chain has said whether the shard's deal still runs.
      unfetched.push({ provider, deal: manifest.segments[segmentIndex]?.shards[shardIndex]?.deal })
      emit({ type: 'get:shard-failed', segmentIndex, shardIndex, provider, kind: 'unreachable', reason: (err as Error).message })
      throw err
    }
    const ms = performance.now() - started
    fetchedBytes += bytes.byteLength
    samples.set(`${segmentIndex}/${shardIndex}`, { provider, ms, bytes: bytes.byteLength })
    emit({ type: 'get:shard-fetched', segmentIndex, shardIndex, provider, bytes: bytes.byteLength, fetchedBytes, ms })
    return bytes
  }

  const chain = ctx.market === undefined ? undefined : new DealReader(ctx.market)
  const scoreUnfetched = async (): Promise<void> => {
    if (unfetched.length === 0) return
    // A provider whose deal is over (term past, or void) may rightly have deleted the shard: no failure.
    let views = new Map<bigint, DealView>()
    if (chain !== undefined) {
      try { views = await chain.deals(unfetched.flatMap((u) => u.deal === undefined ? [] : [u.deal])) } catch {}
    }
    for (const { provider, deal } of unfetched) {
      const status = deal === undefined ? undefined : views.get(deal)?.status
      if (status === undefined || status === 'live') ctx.scores.failure(provider)
    }
  }

  try {
    yield * decodeFile(manifest, key, source, {
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      onProgress: (e) => {
        const at = `${e.segmentIndex}/${'shardIndex' in e ? e.shardIndex : ''}`
        if (e.type === 'decode:shard-verified') {
          const s = samples.get(at)
          if (s !== undefined) ctx.scores.success(s.provider, { ms: s.ms, bytes: s.bytes })
          samples.delete(at)
        } else if (e.type === 'decode:shard-bad') {
          const provider = providerOf(e.segmentIndex, e.shardIndex)
          if (provider !== undefined) ctx.scores.corruption(provider)
          samples.delete(at)
          emit({ type: 'get:shard-failed', segmentIndex: e.segmentIndex, shardIndex: e.shardIndex, ...(provider === undefined ? {} : { provider }), kind: 'corrupt', reason: e.reason })
        } else if (e.type === 'decode:segment') {
          emit({ type: 'get:segment', segmentIndex: e.segmentIndex, decodedBytes: e.decodedBytes, fileSize: manifest.fileSize, shardsUsed: e.shardsUsed })
        }
      }
    })
  } catch (err) {
    if (err instanceof NotEnoughShardsError && chain !== undefined) {
      // The chain only explains the miss: when it cannot be read, the decoder's own error stands.
      const ended = await storageEnded(chain, manifest.segments.flatMap((s) => s.shards.map((sh) => sh.deal)), err).catch(() => undefined)
      if (ended !== undefined) throw ended
    }
    throw err
  } finally {
    await scoreUnfetched()
    await ctx.scores.save()
  }
}

/** The chain's clock and the file's deals, read once, and only when a get has failed. */
class DealReader {
  private clockRead: Promise<ChainClock> | undefined
  constructor (private readonly market: MarketClient) {}

  async clock (): Promise<ChainClock> {
    this.clockRead ??= readChainClock(this.market.publicClient, this.market)
    return await this.clockRead
  }

  async deals (ids: readonly bigint[]): Promise<Map<bigint, DealView>> {
    return await readDeals(this.market, await this.clock(), ids)
  }
}

/**
 * A StorageEndedError when the file has deals and every one is over (term past, or void: faulted, declared lost,
 * failed); undefined while any still runs, since then its provider must still serve it.
 */
async function storageEnded (reader: DealReader, ids: ReadonlyArray<bigint | undefined>, cause: unknown): Promise<StorageEndedError | undefined> {
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

import { formatLink } from '@sherd/protocol'
import type { Manifest, ManifestSegment } from '@sherd/protocol'
import type { CID } from 'multiformats/cid'
import { DEFAULT_MAX_PERIODS_FACTOR, SEGMENTS_IN_FLIGHT } from '../constants.js'
import { withChain } from '../context.js'
import type { ClientContext } from '../context.js'
import type { PutProgressEvent } from '../events.js'
import { encodeFile } from '../pipeline/index.js'
import type { FileSource } from '../pipeline/index.js'
import { fundAndOpenDeals, requireActiveDeals, shardKey } from './deals.js'
import { storeFileManifest } from './manifest.js'
import { placeShards } from './place.js'
import type { PlacedShard } from './place.js'

/** What put stores: a Node Readable, a web ReadableStream, an AsyncIterable of bytes, or the bytes themselves. */
export type PutSource = FileSource | Uint8Array

async function * once (bytes: Uint8Array): AsyncGenerator<Uint8Array> { yield bytes }

export interface PutOptions {
  /** Data shards per segment (default the client's, else 4). */
  k?: number
  /** Parity shards per segment (default the client's, else 2). */
  m?: number
  /** Plaintext bytes per segment (default 32 MiB). */
  segmentSize?: number
  /** 32-byte file key; random by default (it is in the returned link). */
  key?: Uint8Array
  /** If given, a source that is shorter or longer fails (TruncatedSourceError / SourceTooLongError). */
  expectedSize?: number
  /** Proving periods each deal runs (default the client's, 16). */
  periods?: number
  /** Longest term `extend` may reach (default 64 × periods). */
  maxPeriods?: number
  /** Spare uploads raced against the slowest of a segment (default 2; 0 = none). */
  extraUploads?: number
  /** Wait until every provider has activated its deal (default true). */
  waitForActivation?: boolean
  activationTimeoutMs?: number
  /** Copies of the sealed manifest (default 3). */
  manifestReplicas?: number
  /** Skip providers asking more than this per MiB per period. */
  maxPricePerMiB?: bigint
  signal?: AbortSignal
  onProgress?: (event: PutProgressEvent) => void
}

/** One shard's placement as put made it. */
export interface PutDeal {
  readonly segmentIndex: number
  readonly shardIndex: number
  readonly provider: string
  readonly dealId?: bigint
  readonly escrow: bigint
}

export interface PutResult {
  /** CID of the sealed manifest: names the file. */
  readonly cid: CID
  /** The file key. */
  readonly key: Uint8Array
  /** `sherd://<cid>#<key>`: all anyone needs to get the file. */
  readonly link: string
  /** The manifest as stored (providers and deal ids filled in). */
  readonly manifest: Manifest
  readonly deals: readonly PutDeal[]
  /** Token units escrowed in total. */
  readonly escrow: bigint
  /** Providers holding a copy of the manifest. */
  readonly manifestProviders: readonly string[]
}

/**
 * Stores a file: streams it through the data pipeline (segments, AES-256-GCM, Reed-Solomon k + m, Merkle
 * commitments), places each segment's k + m shards on distinct providers under their verified signed offers
 * (parallel, hedged, failed uploads retried elsewhere), approves the market once for the total escrow, opens one
 * deal per shard, stores the sealed manifest on several providers and (by default) waits for activation.
 *
 * @example
 * const { link } = await client.put(createReadStream('photo.jpg'), { onProgress: console.log })
 */
export async function put (context: ClientContext, source: PutSource, options: PutOptions = {}): Promise<PutResult> {
  const ctx = withChain(context, 'put')
  const d = ctx.defaults
  const signal = options.signal ?? new AbortController().signal
  const emit = options.onProgress ?? (() => {})
  const periods = options.periods ?? d.periods
  const maxPeriods = options.maxPeriods ?? d.maxPeriods ?? Math.min(2 ** 32 - 1, periods * DEFAULT_MAX_PERIODS_FACTOR)
  const maxPricePerMiB = options.maxPricePerMiB ?? d.maxPricePerMiB
  await ctx.directory.refreshRegistry({ signal })

  const encoding = encodeFile(source instanceof Uint8Array ? once(source) : source, {
    k: options.k ?? d.k,
    m: options.m ?? d.m,
    segmentSize: options.segmentSize ?? d.segmentSize,
    ...(options.key === undefined ? {} : { key: options.key }),
    ...(options.expectedSize === undefined ? {} : { expectedSize: options.expectedSize }),
    signal,
    onProgress: (e) => { emit({ type: 'put:encoded', segmentIndex: e.segmentIndex, encodedBytes: e.encodedBytes }) }
  })
  const placeOptions = {
    periods, maxPeriods, extraUploads: options.extraUploads ?? d.extraUploads, signal, onProgress: emit,
    load: new Map<string, number>(), avoid: new Set<string>(), stored: { bytes: 0 },
    ...(maxPricePerMiB === undefined ? {} : { maxPricePerMiB })
  }

  // Segments upload while the next one encodes; a failure stops the rest.
  const placed: PlacedShard[][] = []
  const inFlight = new Set<Promise<void>>()
  let failure: unknown
  const stopAll = new AbortController()
  const placeSignal = AbortSignal.any([signal, stopAll.signal])
  for await (const segment of encoding) {
    if (failure !== undefined) break
    const task = placeShards(ctx, segment.shards.map((s) => ({
      segmentIndex: segment.segmentIndex, shardIndex: s.index, bytes: s.bytes, root: s.commitment.root
    })), new Set(), { ...placeOptions, signal: placeSignal }).then((shards) => { placed[segment.segmentIndex] = shards }, (err: unknown) => {
      failure ??= err
      stopAll.abort(err)
    })
    inFlight.add(task)
    void task.finally(() => inFlight.delete(task))
    while (inFlight.size >= SEGMENTS_IN_FLIGHT) await Promise.race(inFlight)
    if (failure !== undefined) break
  }
  await Promise.all(inFlight)
  signal.throwIfAborted()
  if (failure !== undefined) throw failure
  const base = encoding.manifest

  // One approval for all deals, then the deals.
  const all = placed.flat()
  const { deals, byShard: dealOf, escrow } = await fundAndOpenDeals(ctx, all, signal, emit)

  const manifest: Manifest = {
    ...base,
    segments: base.segments.map((segment, s): ManifestSegment => ({
      ...segment,
      shards: segment.shards.map((shard, i) => {
        const deal = dealOf.get(shardKey(s, i))
        return {
          commitment: shard.commitment,
          ...(deal === undefined ? {} : { provider: deal.placed.provider }),
          ...(deal?.dealId === undefined ? {} : { deal: deal.dealId })
        }
      })
    }))
  }
  const stored = await storeFileManifest(ctx, manifest, encoding.key, options.manifestReplicas ?? d.manifestReplicas, {
    signal, onStored: (provider, cid) => { emit({ type: 'put:manifest-stored', provider, cid }) }
  })
  const link = formatLink(stored.cid, encoding.key)
  await ctx.scores.save()

  await requireActiveDeals(ctx, deals, link, {
    wait: options.waitForActivation ?? d.waitForActivation,
    timeoutMs: options.activationTimeoutMs ?? d.activationTimeoutMs,
    pollingIntervalMs: d.pollingIntervalMs,
    signal,
    emit
  })
  return {
    cid: stored.cid,
    key: encoding.key,
    link,
    manifest,
    deals: deals.map((deal) => ({
      segmentIndex: deal.placed.segmentIndex,
      shardIndex: deal.placed.shardIndex,
      provider: deal.placed.provider,
      ...(deal.dealId === undefined ? {} : { dealId: deal.dealId }),
      escrow: deal.placed.offer.pricePerPeriod * BigInt(deal.placed.offer.periods)
    })),
    escrow,
    manifestProviders: stored.providers
  }
}

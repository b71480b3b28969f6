import { encodeManifest, shardSizeFor } from '@sherd/protocol'
import type { ShardRef } from '@sherd/protocol'
import { base64Of, hexOf } from '../bytes.js'
import { DEFAULT_SPARE_SHARDS, SEGMENTS_IN_FLIGHT } from '../constants.js'

import { withChain } from '../context.js'
import type { ChainContext, ClientContext } from '../context.js'
import type { PutProgressEvent } from '../events.js'
import {
  DEFAULT_DATA_SHARDS,
  DEFAULT_PARITY_SHARDS,
  DEFAULT_SEGMENT_SIZE_BYTES,
  encodeFile,
  encodeFileStream,
  InvalidOptionError,
  STREAMING_SEGMENT_SIZE_BYTES
} from '../pipeline/index.js'
import type { FileSource } from '../pipeline/index.js'
import { JournalWriter, JOURNAL_FORMAT, marketTag, PutJournal } from '../journal.js'
import type { JournalEntry } from '../journal.js'
import { sendApproval } from './deals.js'
import { estimatePut, requireFunds } from './estimate.js'
import { settlePut } from './settle.js'
import type { PutResult } from './settle.js'
import { placeShards } from './place.js'
import type { PlacedShard, PlaceOptions } from './place.js'
import { SegmentUpload } from './stream-place.js'

/**
 * What put stores: a Node Readable, a web ReadableStream, an AsyncIterable of bytes, the bytes themselves, or a
 * Blob (a browser's `File`), whose size is known up front as a Uint8Array's is.
 */
export type PutSource = FileSource | Uint8Array | Blob

function isBlob(source: PutSource): source is Blob {
  return typeof Blob !== 'undefined' && source instanceof Blob
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

export interface PutOptions {
  /** Data shards per segment (default the client's, else 4). */
  k?: number
  /** Parity shards per segment (default the client's, else 2). */
  m?: number
  /**
   * Plaintext bytes per segment: default 1 GiB (STREAMING_SEGMENT_SIZE_BYTES) when the size is known (bytes, or
   * `expectedSize`), as such a put streams; 32 MiB for a source of unknown size, which is uploaded in whole shards.
   */
  segmentSize?: number
  /** 32-byte file key; random by default (it is in the returned link). */
  key?: Uint8Array
  /** If given, a source that is shorter or longer fails (TruncatedSourceError / SourceTooLongError). */
  expectedSize?: number
  /** Proving periods each deal runs (default the client's, 16); `extend` may add more up to each provider's term limit. */
  periods?: number
  /**
   * Whole-shard uploads (a source of unknown size): spare uploads raced against the slowest of a segment (default
   * the client's, 2; 0 = none).
   */
  extraUploads?: number
  /**
   * Streaming uploads (size known): extra parity shards encoded per segment and uploaded alongside the k + m; the
   * first k + m to finish are kept and the rest cancelled, so one slow or failing provider does not hold up (or
   * fail) the segment (default 0, recommended 1: see DEFAULT_SPARE_SHARDS; k + m + spares ≤ 256). The manifest's m counts them; the ones not kept
   * have no provider.
   */
  spareShards?: number
  /**
   * Stream the upload (encodeFileStream: flat memory, but a shard whose upload fails after its first byte cannot be
   * sent again) or upload whole shards from memory (a failed upload moves to another provider). Default: stream when
   * the size is known and above STREAMING_THRESHOLD_BYTES (64 MiB); `true` streams any file of known size.
   */
  streaming?: boolean
  /**
   * Wait until every deal's term has begun (the period after it opened, when it joins its provider's proof set;
   * default false: a deal is binding once opened, and the provider signed only for bytes it holds).
   */
  waitForActivation?: boolean
  activationTimeoutMs?: number
  /** Copies of the sealed manifest (default 3). */
  manifestReplicas?: number
  /** Skip providers asking more than this per MiB per period. */
  maxPricePerMiB?: bigint
  /** What to call the file in the journal and `listFiles` (the CLI passes the path it was given). */
  name?: string
  signal?: AbortSignal
  onProgress?: (event: PutProgressEvent) => void
}

export type { PutDeal, PutResult } from './settle.js'

/**
 * Stores a file: streams it through the data pipeline (segments, AES-256-GCM, Reed-Solomon k + m, Merkle
 * commitments), stores each segment's k + m shards on distinct providers and collects the offer each signs once it
 * holds its shard (parallel, hedged, failed uploads retried elsewhere), records everything in the journal,
 * approves the market once for the total escrow, opens the deals in openDeals batches and stores the sealed
 * manifest on several providers.
 *
 * @example
 * const { link } = await client.put(createReadStream('photo.jpg'), { onProgress: console.log })
 */
export async function put(context: ClientContext, given: PutSource, options: PutOptions = {}): Promise<PutResult> {
  // A Blob is read as a stream (a File is never held whole in memory) and its size is known, like bytes.
  const source = isBlob(given) ? given.stream() : given
  if (isBlob(given) && options.expectedSize === undefined) options = { ...options, expectedSize: given.size }
  const ctx = withChain(context, 'put')
  const d = ctx.defaults
  const signal = options.signal ?? new AbortController().signal
  const emit = options.onProgress ?? (() => {})
  const periods = options.periods ?? d.periods
  const maxPricePerMiB = options.maxPricePerMiB ?? d.maxPricePerMiB
  await ctx.directory.refreshRegistry({ signal })
  const knownSize = options.expectedSize ?? (source instanceof Uint8Array ? source.byteLength : undefined)
  const streaming = knownSize !== undefined && (options.streaming ?? knownSize > STREAMING_THRESHOLD_BYTES)
  let approvalAhead: Promise<bigint | undefined> | undefined
  // Stops the early approval's wait (not the transaction) when the upload fails, so nothing of a failed put goes on.
  const upload = new AbortController()
  if (knownSize !== undefined) {
    const estimate = await estimatePut(ctx, knownSize, {
      ...(options.k === undefined ? {} : { k: options.k }),
      ...(options.m === undefined ? {} : { m: options.m }),
      segmentSize:
        options.segmentSize ?? d.segmentSize ?? (streaming ? STREAMING_SEGMENT_SIZE_BYTES : DEFAULT_SEGMENT_SIZE_BYTES),
      periods,
      ...(maxPricePerMiB === undefined ? {} : { maxPricePerMiB }),
      signal
    })
    requireFunds(estimate, ctx.account)
    approvalAhead = approveAhead(ctx, estimate.escrow, AbortSignal.any([signal, upload.signal]))
  }
  const placeOptions = {
    periods,
    extraUploads: options.extraUploads ?? d.extraUploads,
    signal,
    onProgress: emit,
    load: new Map<string, number>(),
    avoid: new Set<string>(),
    committed: new Map<string, bigint>(),
    stored: { bytes: 0 },
    ...(maxPricePerMiB === undefined ? {} : { maxPricePerMiB })
  }
  let uploaded: Uploaded
  try {
    uploaded = !streaming
      ? await putWholeShards(ctx, source, options, placeOptions)
      : await putStreaming(ctx, source, knownSize, options, placeOptions)
  } catch (err) {
    upload.abort(err)
    throw err
  }
  return await recordAndSettle(ctx, options, uploaded.placed, uploaded.manifest, uploaded.key, approvalAhead)
}

/**
 * Approves the market for the estimated escrow while the shards upload, so the put does not wait a block for the
 * approval after its last upload (on a chain of 12-second blocks, 12 s a put). Only gas is spent before the journal
 * exists: an allowance moves no tokens (the market takes escrow only for deals opened from offers the providers
 * signed), and an interrupted put leaves it for the next. Resolves with the amount once mined, undefined if none was
 * needed or it failed; never rejects. openJournalDeals waits for it after the journal is written (and reports it
 * there, as `put:approved`, so the events keep their order), then reads the allowance and approves again if this one
 * failed or the signed offers cost more than the estimate.
 */
async function approveAhead(ctx: ChainContext, amount: bigint, signal: AbortSignal): Promise<bigint | undefined> {
  try {
    const approval = await sendApproval(ctx, amount, signal)
    if (approval === undefined) return undefined
    await approval.mined
    return amount
  } catch {
    return undefined
  }
}

/**
 * Files up to this size upload whole shards from memory (at most one segment of 32 MiB encoded at a time), so a
 * provider killed mid-upload costs a retry elsewhere, not the put; larger ones stream, where memory matters more
 * than a retry and spare shards (`spareShards`) cover a provider lost mid-stream.
 */
export const STREAMING_THRESHOLD_BYTES = 64 * 2 ** 20

interface Uploaded {
  readonly placed: PlacedShard[][]
  readonly manifest: import('@sherd/protocol').Manifest
  readonly key: Uint8Array
}

/**
 * A source of unknown size: the last segment's shard size is known only once it is read, and a shard upload
 * declares its length first, so each segment is encoded whole and its shards uploaded from memory (placeShards).
 */
async function putWholeShards(
  ctx: ChainContext,
  source: FileSource | Uint8Array,
  options: PutOptions,
  placeOptions: PlaceOptions
): Promise<Uploaded> {
  const d = ctx.defaults
  const signal = placeOptions.signal
  const emit = placeOptions.onProgress ?? (() => {})
  const encoding = encodeFile(source instanceof Uint8Array ? once(source) : source, {
    k: options.k ?? d.k,
    m: options.m ?? d.m,
    segmentSize: options.segmentSize ?? d.segmentSize ?? DEFAULT_SEGMENT_SIZE_BYTES,
    ...(options.key === undefined ? {} : { key: options.key }),
    ...(options.expectedSize === undefined ? {} : { expectedSize: options.expectedSize }),
    signal,
    onProgress: (e) => {
      emit({ type: 'put:encoded', segmentIndex: e.segmentIndex, encodedBytes: e.encodedBytes })
    }
  })
  // Segments upload while the next one encodes; a failure stops the rest.
  const placed: PlacedShard[][] = []
  const inFlight = new Set<Promise<void>>()
  let failure: unknown
  const stopAll = new AbortController()
  const placeSignal = AbortSignal.any([signal, stopAll.signal])
  for await (const segment of encoding) {
    if (failure !== undefined) break
    const task = placeShards(
      ctx,
      segment.shards.map((s) => ({
        segmentIndex: segment.segmentIndex,
        shardIndex: s.index,
        bytes: s.bytes,
        root: s.commitment.root
      })),
      new Set(),
      { ...placeOptions, signal: placeSignal }
    ).then(
      (shards) => {
        placed[segment.segmentIndex] = shards
      },
      (err: unknown) => {
        failure ??= err
        stopAll.abort(err)
      }
    )
    inFlight.add(task)
    void task.finally(() => inFlight.delete(task))
    while (inFlight.size >= SEGMENTS_IN_FLIGHT) await Promise.race(inFlight)
    if (failure !== undefined) break
  }
  await Promise.all(inFlight)
  signal.throwIfAborted()
  if (failure !== undefined) throw failure
  return { placed, manifest: encoding.manifest, key: encoding.key }
}

/**
 * A source of known size streams: `encodeFileStream` hands each stripe to the segment's SegmentUpload, which queues
 * each shard's piece on its provider's upload stream, so no segment is ever whole in memory. Segments overlap as
 * far as SEGMENTS_IN_FLIGHT: the next one streams while the last uploads of the previous finish and sign offers.
 */
async function putStreaming(
  ctx: ChainContext,
  source: FileSource | Uint8Array,
  size: number,
  options: PutOptions,
  placeOptions: PlaceOptions
): Promise<Uploaded> {
  const d = ctx.defaults
  const signal = placeOptions.signal
  const emit = placeOptions.onProgress ?? (() => {})
  const k = options.k ?? d.k ?? DEFAULT_DATA_SHARDS
  const m = options.m ?? d.m ?? DEFAULT_PARITY_SHARDS
  const spares = options.spareShards ?? DEFAULT_SPARE_SHARDS
  if (!Number.isSafeInteger(spares) || spares < 0 || k + m + spares > 256) {
    throw new InvalidOptionError(
      `spareShards ${String(spares)} must be an integer ≥ 0 with k + m + spareShards ≤ 256 (k + m = ${k + m}); lower it`
    )
  }
  const segmentSize = options.segmentSize ?? d.segmentSize ?? STREAMING_SEGMENT_SIZE_BYTES
  const stopAll = new AbortController()
  const uploadSignal = AbortSignal.any([signal, stopAll.signal])
  const uploads: SegmentUpload[] = []
  const commitments: Array<PromiseWithResolvers<readonly ShardRef[]>> = []
  let failure: unknown
  let current: SegmentUpload | undefined
  const settledDone = async (u: SegmentUpload): Promise<void> => {
    await u.done.then(
      () => {},
      () => {}
    )
  }
  const unfinished = new Set<SegmentUpload>()

  const encoding = encodeFileStream(source instanceof Uint8Array ? once(source) : source, {
    k,
    m: m + spares,
    segmentSize,
    ...(options.key === undefined ? {} : { key: options.key }),
    expectedSize: size,
    signal: uploadSignal,
    freshStripes: true,
    onProgress: (e) => {
      emit({ type: 'put:encoded', segmentIndex: e.segmentIndex, encodedBytes: e.encodedBytes })
    },
    onStripe: async (stripe) => {
      if (stripe.stripeIndex === 0) {
        while (unfinished.size >= SEGMENTS_IN_FLIGHT) await Promise.race([...unfinished].map(settledDone))
        if (failure !== undefined) throw failure
        const deferred = Promise.withResolvers<readonly ShardRef[]>()
        deferred.promise.catch(() => {})
        commitments[stripe.segmentIndex] = deferred
        const plaintext = Math.min(segmentSize, size - stripe.segmentIndex * segmentSize)
        const upload = new SegmentUpload(
          ctx,
          {
            segmentIndex: stripe.segmentIndex,
            shardSize: shardSizeFor(plaintext, k),
            shards: k + m + spares,
            keep: k + m,
            commitments: deferred.promise
          },
          { ...placeOptions, signal: uploadSignal }
        )
        uploads[stripe.segmentIndex] = upload
        unfinished.add(upload)
        upload.done.then(
          () => {
            unfinished.delete(upload)
          },
          (err: unknown) => {
            unfinished.delete(upload)
            failure ??= err
            stopAll.abort(err)
          }
        )
        current = upload
        await upload.start()
      }
      await current!.onStripe(stripe)
    }
  })
  try {
    for await (const segment of encoding) commitments[segment.segmentIndex]?.resolve(segment.commitments)
  } catch (err) {
    failure ??= err
  }
  if (failure !== undefined) {
    for (const c of commitments) c?.reject(failure)
    for (const u of uploads) u?.abort(failure)
    await Promise.all(uploads.map(settledDone))
    signal.throwIfAborted()
    throw failure
  }
  const placed = await Promise.all(uploads.map(async (u) => await u.done))
  return { placed, manifest: encoding.manifest, key: encoding.key }
}

async function recordAndSettle(
  ctx: ChainContext,
  options: PutOptions,
  placed: PlacedShard[][],
  manifest: import('@sherd/protocol').Manifest,
  key: Uint8Array,
  approvalAhead: Promise<bigint | undefined> | undefined
): Promise<PutResult> {
  const d = ctx.defaults
  const signal = options.signal ?? new AbortController().signal
  const emit = options.onProgress ?? (() => {})
  // Everything needed to finish (or list) this put is on disk before the first transaction.
  const startBlock = await ctx.publicClient.getBlockNumber({ cacheTime: 0 })
  const deals = placed.flat()
  const now = new Date().toISOString()
  const entry: JournalEntry = {
    format: JOURNAL_FORMAT,
    id: PutJournal.newId(),
    kind: 'put',
    state: 'opening',
    createdAt: now,
    updatedAt: now,
    ...(options.name === undefined ? {} : { name: options.name }),
    chainId: ctx.chainId,
    market: ctx.market.market,
    marketTag: await marketTag(ctx.publicClient, ctx.market.market),
    client: ctx.account,
    fileSize: manifest.fileSize,
    key: hexOf(key),
    manifest: base64Of(encodeManifest(manifest)),
    startBlock,
    escrow: deals.reduce((sum, p) => sum + p.offer.pricePerPeriod * BigInt(p.offer.periods), 0n),
    deals: deals.map((p) => ({
      segmentIndex: p.segmentIndex,
      shardIndex: p.shardIndex,
      provider: p.provider,
      bytes: p.bytes,
      offer: p.offer,
      signature: p.signature
    })),
    batches: []
  }
  const writer = new JournalWriter(entry, ctx.journal)
  await writer.update(() => {})
  emit({
    type: 'put:journal',
    id: entry.id,
    state: 'opening',
    ...(writer.path === undefined ? {} : { path: writer.path })
  })
  return await settlePut(ctx, writer, {
    wait: options.waitForActivation ?? d.waitForActivation,
    timeoutMs: options.activationTimeoutMs ?? d.activationTimeoutMs,
    pollingIntervalMs: d.pollingIntervalMs,
    manifestReplicas: options.manifestReplicas ?? d.manifestReplicas,
    signal,
    emit,
    ...(approvalAhead === undefined ? {} : { approvalAhead })
  })
}

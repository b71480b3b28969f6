import { encodeManifest } from '@sherd/protocol'
import { SEGMENTS_IN_FLIGHT } from '../constants.js'
import { withChain } from '../context.js'
import type { ClientContext } from '../context.js'
import type { PutProgressEvent } from '../events.js'
import { encodeFile } from '../pipeline/index.js'
import type { FileSource } from '../pipeline/index.js'
import { JournalWriter, JOURNAL_FORMAT, marketTag, PutJournal } from '../journal.js'
import type { JournalEntry } from '../journal.js'
import { estimatePut, requireFunds } from './estimate.js'
import { settlePut } from './settle.js'
import type { PutResult } from './settle.js'
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
  /** Proving periods each deal runs (default the client's, 16); `extend` may add more up to each provider's term limit. */
  periods?: number
  /** Spare uploads raced against the slowest of a segment (default 2; 0 = none). */
  extraUploads?: number
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
export async function put (context: ClientContext, source: PutSource, options: PutOptions = {}): Promise<PutResult> {
  const ctx = withChain(context, 'put')
  const d = ctx.defaults
  const signal = options.signal ?? new AbortController().signal
  const emit = options.onProgress ?? (() => {})
  const periods = options.periods ?? d.periods
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
  // Known size: refuse before uploading anything if the account cannot pay for the deals (encodeFile has
  // checked k, m and the segment size already; it reads nothing until iterated).
  const knownSize = options.expectedSize ?? (source instanceof Uint8Array ? source.byteLength : undefined)
  if (knownSize !== undefined) {
    requireFunds(await estimatePut(ctx, knownSize, {
      ...(options.k === undefined ? {} : { k: options.k }),
      ...(options.m === undefined ? {} : { m: options.m }),
      ...(options.segmentSize === undefined ? {} : { segmentSize: options.segmentSize }),
      periods,
      ...(maxPricePerMiB === undefined ? {} : { maxPricePerMiB }),
      signal
    }), ctx.account)
  }
  const placeOptions = {
    periods, extraUploads: options.extraUploads ?? d.extraUploads, signal, onProgress: emit,
    load: new Map<string, number>(), avoid: new Set<string>(), committed: new Map<string, bigint>(), stored: { bytes: 0 },
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
    fileSize: encoding.manifest.fileSize,
    key: Buffer.from(encoding.key).toString('hex'),
    manifest: Buffer.from(encodeManifest(encoding.manifest)).toString('base64'),
    startBlock,
    escrow: deals.reduce((sum, p) => sum + p.offer.pricePerPeriod * BigInt(p.offer.periods), 0n),
    deals: deals.map((p) => ({
      segmentIndex: p.segmentIndex, shardIndex: p.shardIndex, provider: p.provider, bytes: p.bytes, offer: p.offer, signature: p.signature
    })),
    batches: []
  }
  const writer = new JournalWriter(entry, ctx.journal)
  await writer.update(() => {})
  emit({ type: 'put:journal', id: entry.id, state: 'opening', ...(writer.path === undefined ? {} : { path: writer.path }) })
  return await settlePut(ctx, writer, {
    wait: options.waitForActivation ?? d.waitForActivation,
    timeoutMs: options.activationTimeoutMs ?? d.activationTimeoutMs,
    pollingIntervalMs: d.pollingIntervalMs,
    manifestReplicas: options.manifestReplicas ?? d.manifestReplicas,
    signal,
    emit
  })
}

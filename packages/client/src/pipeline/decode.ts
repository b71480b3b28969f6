import { defaultCoder } from '@sherd/erasure'
import type { ErasureCoder } from '@sherd/erasure'
import { checkFileKey, parseShardCid, validateManifest } from '@sherd/protocol'
import type { Manifest, ManifestSegment, ShardRef } from '@sherd/protocol'
import { openChunksInto } from './cipher.js'
import { segmentCipher } from './chunk-cipher.js'
import type { SegmentCipher } from './chunk-cipher.js'
import { DEFAULT_PREFETCH_SEGMENTS } from './constants.js'
import { InvalidOptionError, NotEnoughShardsError, SegmentDecryptionError } from './errors.js'
import { defaultHasher } from './hashing.js'
import type { MerkleHasher } from './hashing.js'
import { segmentLayout, stripeAt } from './layout.js'
import type { SegmentLayout } from './layout.js'
import type { DecodeProgressEvent } from './progress.js'

/** One shard wanted by decodeFile. */
export interface ShardRequest {
  readonly segmentIndex: number
  readonly shardIndex: number
  /** What the bytes must match: CID, Merkle root, byte length. A fetcher may use the CID as the key to ask for. */
  readonly commitment: ShardRef
  /** Aborted when the decode is aborted or its consumer stops early. */
  readonly signal: AbortSignal
}

/**
 * Where decodeFile gets shards: the bytes, or undefined when this source has no such shard. A throw counts as
 * missing (and is reported), except an abort of the decode itself. The bytes need not be verified: decodeFile
 * checks each against its commitment before use.
 */
export type ShardSource = (request: ShardRequest) => Promise<Uint8Array | undefined>

export interface DecodeFileOptions {
  /** Reed-Solomon implementation; default `defaultCoder()` of @sherd/erasure. */
  coder?: ErasureCoder
  /** Where shard roots are checked; default `defaultHasher()` (worker threads in Node on a multi-core machine). */
  hasher?: MerkleHasher
  /**
   * Segments whose shards are fetched ahead of the one being decoded and yielded, so fetching overlaps decoding
   * and the consumer. Default 0: fetch on demand. Each costs a stripe and its fetch buffers (~130 MiB at 4 + 2,
   * 32 MiB segments).
   */
  prefetchSegments?: number
  signal?: AbortSignal
  onProgress?: (event: DecodeProgressEvent) => void
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** A segment's verified shards, laid out in its stripe (k + m shards wide), ready to be rebuilt. */
interface FetchedSegment {
  readonly stripe: Uint8Array
  readonly present: boolean[]
  readonly commitmentMs: number
}

/**
 * Fetches shards of one segment until k have passed their commitment check. One slot per needed shard: each slot
 * asks for the next untried shard (data shards first, then parity in order) until it holds a good one, so k
 * requests suffice when all are good.
 */
async function fetchSegment(
  segmentIndex: number,
  segment: ManifestSegment,
  k: number,
  m: number,
  stripe: Uint8Array,
  shardSource: ShardSource,
  hasher: MerkleHasher,
  signal: AbortSignal,
  onProgress: ((event: DecodeProgressEvent) => void) | undefined
): Promise<FetchedSegment> {
  const { shardSize } = segment
  const present = new Array<boolean>(k + m).fill(false)
  const missing: number[] = []
  const bad: number[] = []
  let next = 0
  let commitmentMs = 0

  const slot = async (): Promise<void> => {
    while (next < k + m) {
      const shardIndex = next++
      const commitment = parseShardCid(segment.shards[shardIndex]!.commitment)
      let bytes: Uint8Array | undefined
      try {
        bytes = await shardSource({ segmentIndex, shardIndex, commitment, signal })
      } catch (err) {
        signal.throwIfAborted()
        missing.push(shardIndex)
        onProgress?.({
          type: 'decode:shard-missing',
          segmentIndex,
          shardIndex,
          reason: `source failed: ${(err as Error).message}`
        })
        continue
      }
      signal.throwIfAborted()
      if (bytes === undefined) {
        missing.push(shardIndex)
        onProgress?.({ type: 'decode:shard-missing', segmentIndex, shardIndex, reason: 'source has no such shard' })
        continue
      }
      let reason: string | undefined
      if (!(bytes instanceof Uint8Array)) {
        reason = 'source returned something other than a Uint8Array'
      } else if (bytes.length !== shardSize) {
        reason = `${bytes.length} bytes where the commitment says ${shardSize}`
      } else {
        const t = performance.now()
        const ok = equalBytes(await hasher.root(bytes), commitment.root)
        commitmentMs += performance.now() - t
        signal.throwIfAborted()
        if (!ok) reason = 'Merkle root does not match the commitment'
      }
      if (reason !== undefined) {
        bad.push(shardIndex)
        onProgress?.({ type: 'decode:shard-bad', segmentIndex, shardIndex, reason })
        continue
      }
      stripe.set(bytes, shardIndex * shardSize)
      present[shardIndex] = true
      onProgress?.({ type: 'decode:shard-verified', segmentIndex, shardIndex })
      return
    }
  }
  await Promise.all(Array.from({ length: k }, slot))
  if (present.filter(Boolean).length < k) {
    throw new NotEnoughShardsError(
      segmentIndex,
      k,
      missing.sort((a, b) => a - b),
      bad.sort((a, b) => a - b)
    )
  }
  return { stripe, present, commitmentMs }
}

/**
 * Opens a segment from its k data shards laid out whole (shard i at i · shardSize of `shards`): gathers each
 * stripe's sealed bytes from the k pieces and opens its chunks. The shards passed their Merkle roots, so a chunk
 * that fails its tag means the key is wrong: SegmentDecryptionError.
 */
async function openWholeShards(
  layout: SegmentLayout,
  shards: Uint8Array,
  cipher: SegmentCipher,
  segmentIndex: number
): Promise<Uint8Array> {
  const plaintext = new Uint8Array(layout.size)
  const sealed = new Uint8Array(layout.k * layout.stripeWidth)
  for (let index = 0; index < layout.stripeCount; index++) {
    const stripe = stripeAt(layout, index)
    for (let i = 0; i < layout.k; i++) {
      const from = i * layout.shardSize + stripe.shardOffset
      sealed.set(shards.subarray(from, from + stripe.width), i * stripe.width)
    }
    const failed = await openChunksInto(
      cipher,
      sealed.subarray(0, stripe.sealedEnd - stripe.sealedStart),
      stripe.firstChunk,
      layout.chunkCount,
      plaintext,
      stripe.plaintextStart
    )
    if (failed.length > 0) throw new SegmentDecryptionError(segmentIndex)
  }
  return plaintext
}

/**
 * Decodes a file: for each segment, fetches shards until k have passed their commitment check (data shards
 * first, so k requests suffice when all are good; a missing or bad shard makes its slot ask for the next parity
 * shard), rebuilds the data shards, opens each 64 KiB chunk (checking its tag) and yields the plaintext. Segments come out in order;
 * shards of the next `prefetchSegments` segments are fetched meanwhile, so memory stays at a few stripes.
 *
 * Throws NotEnoughShardsError (segment, missing and bad shards), SegmentDecryptionError (wrong key),
 * InvalidManifestError, InvalidKeyError, InvalidOptionError, or the signal's reason.
 */
export async function* decodeFile(
  manifest: Manifest,
  key: Uint8Array,
  shardSource: ShardSource,
  options: DecodeFileOptions = {}
): AsyncGenerator<Uint8Array, void, undefined> {
  checkFileKey(key)
  const checked = validateManifest(manifest)
  const { k, m, segments } = checked
  const coder = options.coder ?? defaultCoder()
  const hasher = options.hasher ?? (await defaultHasher())
  const prefetch = options.prefetchSegments ?? DEFAULT_PREFETCH_SEGMENTS
  if (!Number.isSafeInteger(prefetch) || prefetch < 0) {
    throw new InvalidOptionError(`prefetchSegments ${String(prefetch)} must be a non-negative integer`)
  }
  const { onProgress } = options
  // Aborted by the caller's signal, or by us when the consumer stops early or a segment fails: ends every fetch.
  const stop = new AbortController()
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal])
  const pending: Array<Promise<FetchedSegment>> = []
  // Stripes are recycled: every present shard is copied in and every absent one rebuilt (or unused), so a reused
  // stripe needs no clearing, and memory stays at prefetch + 1 stripes with no garbage for the collector to lag on.
  const spare: Uint8Array[] = []
  const stripeFor = (segment: ManifestSegment): Uint8Array => {
    const bytes = (k + m) * segment.shardSize
    const reused = spare.pop()
    return reused !== undefined && reused.length === bytes ? reused : new Uint8Array(bytes)
  }
  let requested = 0
  const fill = (upTo: number): void => {
    while (requested < segments.length && requested <= upTo) {
      const segment = segments[requested]!
      const fetching = fetchSegment(
        requested,
        segment,
        k,
        m,
        stripeFor(segment),
        shardSource,
        hasher,
        signal,
        onProgress
      )
      // Its failure is raised when its turn comes; until then it must not count as unhandled.
      fetching.catch(() => {})
      pending.push(fetching)
      requested++
    }
  }
  let decodedBytes = 0
  try {
    for (let segmentIndex = 0; segmentIndex < segments.length; segmentIndex++) {
      signal.throwIfAborted()
      // Segments up to `prefetch` ahead are fetched while this one is decoded and consumed.
      fill(segmentIndex + prefetch)
      const { stripe, present, commitmentMs } = await pending.shift()!
      const segment = segments[segmentIndex]!

      let erasureMs = 0
      if (present.slice(0, k).some((p) => !p)) {
        const t = performance.now()
        coder.reconstruct(stripe, k, m, present)
        erasureMs = performance.now() - t
      }

      const t = performance.now()
      const layout = segmentLayout(segment.size, k, m, checked.stripeChunks)
      const plaintext = await openWholeShards(
        layout,
        stripe,
        await segmentCipher(key, checked.keySalt, segmentIndex),
        segmentIndex
      )
      const cipherMs = performance.now() - t
      spare.push(stripe)
      decodedBytes += plaintext.length
      onProgress?.({
        type: 'decode:segment',
        segmentIndex,
        plaintextBytes: plaintext.length,
        decodedBytes,
        shardsUsed: present.flatMap((p, i) => (p ? [i] : [])),
        timings: { cipherMs, erasureMs, commitmentMs }
      })
      signal.throwIfAborted()
      yield plaintext
    }
  } finally {
    stop.abort(new DOMException('the decode stopped', 'AbortError'))
  }
}

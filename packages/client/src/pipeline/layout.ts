import {
  CHUNK_PLAINTEXT_BYTES,
  chunkCountFor,
  MAX_STRIPE_CHUNKS,
  SEALED_CHUNK_BYTES,
  sealedSizeFor,
  shardSizeFor
} from '@sherd/protocol'
import { InvalidRangeError } from './errors.js'

/**
 * A whole stripe ((k + m) × width) stays within this many sealed chunks (12 MiB) up to k + m = 192. The widest
 * code's stripe is what a put holds twice (one being sent, one being encoded) and a get's decoder holds with its
 * look-ahead, so it sets the client's memory at wide codes: at 512 chunks (32 MiB) a 10 + 20 stripe was 30 MiB and
 * its put peaked at 287 MiB; 192 keeps 1 MiB per shard up to k + m = 12 (4 + 2 unchanged) and gives 10 + 20 a
 * 384 KiB width (11.25 MiB stripes). docs/data-path.md, "Defaults for large segments", has the measurements.
 */
const STRIPE_BUDGET_CHUNKS = 192

/**
 * Sealed chunks of each shard in a full stripe a writer uses for a code (k, m): clamp(floor(192 / (k + m)), 1, 16),
 * at most 16 (MAX_STRIPE_CHUNKS, 1 MiB, so a stripe is few WebCrypto, kernel and network calls). The manifest records
 * it (`stripeChunks`): readers use the recorded value, so this budget can change without stranding old files.
 */
export function stripeChunksFor(k: number, m: number): number {
  return Math.min(MAX_STRIPE_CHUNKS, Math.max(1, Math.floor(STRIPE_BUDGET_CHUNKS / (k + m))))
}

/**
 * Bytes of one stripe of one shard a writer uses for a code (k, m): 64 KiB × stripeChunksFor(k, m). 1 MiB for
 * every code up to k + m = 12 (4 + 2, 6 + 6), narrower beyond so that a stripe of all k + m shards, which encode
 * and decode hold at once, stays ≤ 12 MiB (832 KiB at 10 + 4, 384 KiB at 10 + 20, one chunk from k + m = 97 on;
 * past k + m = 192 one chunk per shard is over the budget, 16 MiB at k + m = 256). A multiple of the sealed chunk, so full stripes hold whole chunks and each chunk
 * lies in one shard.
 */
export function stripeWidthFor(k: number, m: number): number {
  return stripeChunksFor(k, m) * SEALED_CHUNK_BYTES
}

/** Everything about how one segment's bytes sit in its shards, derived from (size, k, m, stripe chunks). */
export interface SegmentLayout {
  /** Plaintext bytes of the segment (≥ 1). */
  readonly size: number
  readonly k: number
  readonly m: number
  readonly chunkCount: number
  /** Plaintext plus a tag per chunk. */
  readonly sealedSize: number
  readonly shardSize: number
  /** Bytes of each shard in a full stripe (the manifest's stripeChunks × 64 KiB). */
  readonly stripeWidth: number
  /** Stripes per shard: ceil(shardSize / stripeWidth); the last may be narrower. */
  readonly stripeCount: number
}

/** The layout of a segment of `size` bytes encoded with code (k, m) and `stripeChunks` chunks per shard per stripe. */
export function segmentLayout(size: number, k: number, m: number, stripeChunks: number): SegmentLayout {
  const shardSize = shardSizeFor(size, k)
  const stripeWidth = stripeChunks * SEALED_CHUNK_BYTES
  return {
    size,
    k,
    m,
    chunkCount: chunkCountFor(size),
    sealedSize: sealedSizeFor(size),
    shardSize,
    stripeWidth,
    stripeCount: Math.ceil(shardSize / stripeWidth)
  }
}

/** Stripe `index` of a segment: where it sits in each shard and which sealed and plaintext bytes it carries. */
export interface Stripe {
  readonly index: number
  /** Offset of this stripe in every shard. */
  readonly shardOffset: number
  /** Bytes of each shard in this stripe. */
  readonly width: number
  /** Sealed bytes [sealedStart, sealedEnd) of the segment; the k data pieces hold them in order, zero-padded. */
  readonly sealedStart: number
  readonly sealedEnd: number
  /** Chunks [firstChunk, endChunk) sealed in this stripe (the last stripe's chunks may straddle shards). */
  readonly firstChunk: number
  readonly endChunk: number
  /** Plaintext bytes [plaintextStart, plaintextEnd) of the segment in this stripe. */
  readonly plaintextStart: number
  readonly plaintextEnd: number
}

export function stripeAt(layout: SegmentLayout, index: number): Stripe {
  const { k, stripeWidth, shardSize, sealedSize, size } = layout
  const shardOffset = index * stripeWidth
  const width = Math.min(stripeWidth, shardSize - shardOffset)
  const sealedStart = shardOffset * k
  const sealedEnd = Math.min(sealedSize, sealedStart + k * width)
  // Full stripes hold whole chunks, so chunk boundaries follow from the sealed range.
  const firstChunk = sealedStart / SEALED_CHUNK_BYTES
  const endChunk = Math.ceil(sealedEnd / SEALED_CHUNK_BYTES)
  return {
    index,
    shardOffset,
    width,
    sealedStart,
    sealedEnd,
    firstChunk,
    endChunk,
    plaintextStart: firstChunk * CHUNK_PLAINTEXT_BYTES,
    plaintextEnd: Math.min(size, endChunk * CHUNK_PLAINTEXT_BYTES)
  }
}

/** A run of sealed bytes inside one shard. */
export interface ShardPiece {
  readonly shardIndex: number
  /** Byte offset in the shard. */
  readonly shardStart: number
  readonly length: number
  /** Offset of the same bytes in the sealed segment. */
  readonly sealedOffset: number
}

/**
 * Where sealed bytes [start, end) of a segment lie in its data shards, in sealed order: stripe j holds sealed
 * bytes [j·k·W, (j+1)·k·W) with data shard i taking [j·k·W + i·w, j·k·W + (i+1)·w), w the stripe's width.
 */
export function sealedPieces(layout: SegmentLayout, start: number, end: number): ShardPiece[] {
  const { k, stripeWidth } = layout
  const pieces: ShardPiece[] = []
  let at = start
  while (at < end) {
    const stripe = Math.floor(at / (k * stripeWidth))
    const shardOffset = stripe * stripeWidth
    const width = Math.min(stripeWidth, layout.shardSize - shardOffset)
    const inStripe = at - stripe * k * stripeWidth
    const shardIndex = Math.floor(inStripe / width)
    const column = inStripe - shardIndex * width
    const length = Math.min(end - at, width - column)
    pieces.push({ shardIndex, shardStart: shardOffset + column, length, sealedOffset: at })
    at += length
  }
  return pieces
}

/** Chunks [firstChunk, endChunk) of a segment and their sealed bytes. */
export function sealedRangeOfChunks(
  layout: SegmentLayout,
  firstChunk: number,
  endChunk: number
): { start: number; end: number } {
  return { start: firstChunk * SEALED_CHUNK_BYTES, end: Math.min(layout.sealedSize, endChunk * SEALED_CHUNK_BYTES) }
}

/** What a plaintext byte range of a segment costs: the chunks that hold it, per stripe the shard pieces. */
export interface RangePlan {
  readonly offset: number
  readonly length: number
  readonly firstChunk: number
  readonly endChunk: number
  /** Plaintext bytes to drop from the first chunk's plaintext before the range starts. */
  readonly skip: number
  readonly stripes: ReadonlyArray<{
    readonly stripe: Stripe
    readonly firstChunk: number
    readonly endChunk: number
    readonly pieces: readonly ShardPiece[]
  }>
}

/**
 * The chunks, stripes and shard pieces holding plaintext bytes [offset, offset + length) of a segment; an empty
 * range needs nothing. Throws InvalidRangeError outside the segment.
 */
export function planRange(layout: SegmentLayout, offset: number, length: number): RangePlan {
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    offset < 0 ||
    length < 0 ||
    offset + length > layout.size
  ) {
    throw new InvalidRangeError(offset, length, layout.size)
  }
  if (length === 0) return { offset, length, firstChunk: 0, endChunk: 0, skip: 0, stripes: [] }
  const firstChunk = Math.floor(offset / CHUNK_PLAINTEXT_BYTES)
  const endChunk = Math.ceil((offset + length) / CHUNK_PLAINTEXT_BYTES)
  const stripes: Array<RangePlan['stripes'][number]> = []
  const chunksPerStripe = (layout.k * layout.stripeWidth) / SEALED_CHUNK_BYTES
  for (let index = Math.floor(firstChunk / chunksPerStripe); index * chunksPerStripe < endChunk; index++) {
    const stripe = stripeAt(layout, index)
    const first = Math.max(firstChunk, stripe.firstChunk)
    const end = Math.min(endChunk, stripe.endChunk)
    const sealed = sealedRangeOfChunks(layout, first, end)
    stripes.push({ stripe, firstChunk: first, endChunk: end, pieces: sealedPieces(layout, sealed.start, sealed.end) })
  }
  return { offset, length, firstChunk, endChunk, skip: offset - firstChunk * CHUNK_PLAINTEXT_BYTES, stripes }
}

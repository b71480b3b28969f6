import type { ErasureCoder } from '@sherd/erasure'
import { CHUNK_PLAINTEXT_BYTES, GCM_TAG_BYTES, SEALED_CHUNK_BYTES } from '@sherd/protocol'
import { LEAF_SIZE } from '@sherd/proofs'
import { sealChunksInto } from './cipher.js'
import type { SegmentCipher } from './chunk-cipher.js'
import type { MerkleHasher } from './hashing.js'
import type { StageTimings } from './progress.js'
import type { ByteReader } from './source.js'

/** One stripe of one segment, as the encoder produced it. */
export interface EncodedStripe {
  readonly segmentIndex: number
  readonly stripeIndex: number
  /** Where the pieces go in their shards. */
  readonly shardOffset: number
  /** Bytes of each piece. */
  readonly width: number
  /** True for the segment's last stripe (its shards end with it). */
  readonly final: boolean
  /**
   * k + m pieces of `width` bytes, piece i for shard i (data then parity), back to back in one buffer the encoder
   * reuses: valid until the sink's promise settles, so copy or send them before that.
   */
  readonly pieces: readonly Uint8Array[]
  /** True when the pieces are in a buffer of their own that the encoder does not reuse: the sink may keep them. */
  readonly owned: boolean
}

/** Where the stripe encoder delivers each stripe, in order (shard i's pieces in order make up shard i). */
export type StripeSink = (stripe: EncodedStripe) => void | Promise<void>

export interface StripeEncoderContext {
  readonly k: number
  readonly m: number
  /** Sealed chunks of each shard in a full stripe (the manifest's stripeChunks). */
  readonly stripeChunks: number
  readonly coder: ErasureCoder
  readonly hasher: MerkleHasher
  readonly sink?: StripeSink
  readonly signal?: AbortSignal
  /**
   * Give every stripe a fresh buffer that the sink keeps (`owned`), instead of reusing one: for a sink that queues
   * the pieces anyway (uploads), which saves it a copy and the encoder a stripe-sized buffer.
   */
  readonly freshStripes?: boolean
}

export interface StripedSegment {
  readonly size: number
  /** Bytes of each shard. */
  readonly shardSize: number
  /** Merkle root of each of the k + m shards. */
  readonly roots: readonly Uint8Array[]
  readonly timings: StageTimings
}

/** Reusable buffers of one encoder: a stripe of all k + m shards (unless every stripe is fresh) and one stripe's plaintext. */
export class StripeBuffers {
  readonly stripe: Uint8Array
  readonly plaintext: Uint8Array
  constructor(k: number, m: number, stripeChunks: number, freshStripes = false) {
    this.stripe = new Uint8Array(freshStripes ? 0 : (k + m) * stripeChunks * SEALED_CHUNK_BYTES)
    this.plaintext = new Uint8Array(plaintextPerStripe(k, stripeChunks))
  }
}

/** Plaintext bytes of a full stripe: k · stripeChunks whole chunks. */
export function plaintextPerStripe(k: number, stripeChunks: number): number {
  return k * stripeChunks * CHUNK_PLAINTEXT_BYTES
}

/**
 * Encodes the next segment of up to `segmentSize` bytes from `reader`, stripe by stripe: reads one stripe's
 * plaintext, seals its chunks, erasure-codes the stripe, appends each shard's piece to that shard's Merkle builder
 * and hands the stripe to the sink, then reuses the buffers for the next. The segment's size is known only when
 * its last stripe is read (a short read or the end of the source), which is also when its last chunk is sealed as
 * final and its narrower last stripe is laid out. Returns undefined when the reader is already at its end.
 */
export async function encodeSegmentStripes(
  reader: ByteReader,
  segmentIndex: number,
  segmentSize: number,
  cipher: SegmentCipher,
  context: StripeEncoderContext,
  buffers: StripeBuffers
): Promise<StripedSegment | undefined> {
  const { k, m, stripeChunks, coder, hasher, sink, signal, freshStripes = false } = context
  if (await reader.atEnd()) return undefined
  const fullWidth = stripeChunks * SEALED_CHUNK_BYTES
  const chunksPerStripe = k * stripeChunks
  const quota = chunksPerStripe * CHUNK_PLAINTEXT_BYTES
  const builders = Array.from({ length: k + m }, () => hasher.builder())
  let cipherMs = 0
  let erasureMs = 0
  let commitmentMs = 0
  let size = 0
  let shardSize = 0
  try {
    for (let stripeIndex = 0; ; stripeIndex++) {
      const want = Math.min(quota, segmentSize - size)
      const plaintext = await reader.read(want, buffers.plaintext)
      size += plaintext.length
      const final = plaintext.length < want || size === segmentSize || (await reader.atEnd())
      const chunks = Math.ceil(plaintext.length / CHUNK_PLAINTEXT_BYTES)
      const sealedLength = plaintext.length + chunks * GCM_TAG_BYTES
      const width = final ? Math.ceil(Math.ceil(sealedLength / k) / LEAF_SIZE) * LEAF_SIZE : fullWidth
      const stripe = freshStripes ? new Uint8Array((k + m) * width) : buffers.stripe.subarray(0, (k + m) * width)
      const firstChunk = stripeIndex * chunksPerStripe

      let t = performance.now()
      await sealChunksInto(
        cipher,
        plaintext,
        firstChunk,
        final ? firstChunk + chunks : Number.MAX_SAFE_INTEGER,
        stripe,
        0
      )
      cipherMs += performance.now() - t
      signal?.throwIfAborted()
      // Only the last stripe has padding: the rest of its data pieces are zeros, like the whole-shard layout.
      stripe.fill(0, sealedLength, k * width)

      t = performance.now()
      coder.encode(stripe, k, m)
      erasureMs += performance.now() - t

      const pieces = Array.from({ length: k + m }, (_, i) => stripe.subarray(i * width, (i + 1) * width))
      t = performance.now()
      await Promise.all(
        builders.map(async (builder, i) => {
          await builder.append(pieces[i]!)
        })
      )
      commitmentMs += performance.now() - t
      await sink?.({
        segmentIndex,
        stripeIndex,
        shardOffset: stripeIndex * fullWidth,
        width,
        final,
        pieces,
        owned: freshStripes
      })
      signal?.throwIfAborted()
      shardSize = stripeIndex * fullWidth + width
      if (final) break
    }
    const t = performance.now()
    const roots = await Promise.all(builders.map(async (builder) => await builder.finish()))
    commitmentMs += performance.now() - t
    return { size, shardSize, roots, timings: { cipherMs, erasureMs, commitmentMs } }
  } catch (err) {
    // Builders left open on a worker would keep their state: finish them and drop the roots.
    await Promise.allSettled(builders.map(async (builder) => await builder.finish()))
    throw err
  }
}

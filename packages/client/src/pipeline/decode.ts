import { defaultCoder } from '@sherd/erasure'
import type { ErasureCoder } from '@sherd/erasure'
import { merkleRoot } from '@sherd/proofs'
import { checkFileKey, GCM_TAG_BYTES, parseShardCid, validateManifest } from '@sherd/protocol'
import type { Manifest, ShardRef } from '@sherd/protocol'
import { decryptSegment, segmentKey } from './cipher.js'
import { NotEnoughShardsError, SegmentDecryptionError } from './errors.js'
import type { DecodeProgressEvent } from './progress.js'

/** One shard wanted by decodeFile. */
export interface ShardRequest {
  readonly segmentIndex: number
  readonly shardIndex: number
  /** What the bytes must match: CID, Merkle root, byte length. A fetcher may use the CID as the key to ask for. */
  readonly commitment: ShardRef
  /** Aborted when the whole decode is aborted. */
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
  signal?: AbortSignal
  onProgress?: (event: DecodeProgressEvent) => void
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Decodes a file: for each segment, fetches shards until k have passed their commitment check (data shards first,
 * so k requests suffice when all are good; a failed or missing shard makes that slot ask for the next parity
 * shard), rebuilds the ciphertext, checks the AES-GCM tag and yields the plaintext. Segments come out in order,
 * one at a time: the next is fetched only when the consumer asks, so memory stays at about one stripe.
 *
 * Throws NotEnoughShardsError (segment, missing and bad shards), SegmentDecryptionError (wrong key),
 * InvalidManifestError, InvalidKeyError, or the signal's reason.
 */
export async function * decodeFile (
  manifest: Manifest, key: Uint8Array, shardSource: ShardSource, options: DecodeFileOptions = {}
): AsyncGenerator<Uint8Array, void, undefined> {
  checkFileKey(key)
  const checked = validateManifest(manifest)
  const { k, m } = checked
  const coder = options.coder ?? defaultCoder()
  const { onProgress } = options
  const signal = options.signal ?? new AbortController().signal
  let decodedBytes = 0

  for (let segmentIndex = 0; segmentIndex < checked.segments.length; segmentIndex++) {
    signal.throwIfAborted()
    const segment = checked.segments[segmentIndex]!
    const { shardSize } = segment
    // Only the data region until a parity shard is needed: with every data shard good, a segment costs k shards.
    let stripe = new Uint8Array(k * shardSize)
    const present = new Array<boolean>(k + m).fill(false)
    const missing: number[] = []
    const bad: number[] = []
    let next = 0
    let commitmentMs = 0

    // One slot per needed shard: each slot keeps asking for the next untried shard until it holds a good one.
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
          onProgress?.({ type: 'decode:shard-missing', segmentIndex, shardIndex, reason: `source failed: ${(err as Error).message}` })
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
          const ok = equalBytes(merkleRoot(bytes), commitment.root)
          commitmentMs += performance.now() - t
          if (!ok) reason = 'Merkle root does not match the commitment'
        }
        if (reason !== undefined) {
          bad.push(shardIndex)
          onProgress?.({ type: 'decode:shard-bad', segmentIndex, shardIndex, reason })
          continue
        }
        if (shardIndex >= k && stripe.length < (k + m) * shardSize) {
          const full = new Uint8Array((k + m) * shardSize)
          full.set(stripe)
          stripe = full
        }
        stripe.set(bytes, shardIndex * shardSize)
        present[shardIndex] = true
        onProgress?.({ type: 'decode:shard-verified', segmentIndex, shardIndex })
        return
      }
    }
    await Promise.all(Array.from({ length: k }, slot))
    const used = present.flatMap((p, i) => p ? [i] : [])
    if (used.length < k) {
      throw new NotEnoughShardsError(segmentIndex, k, missing.sort((a, b) => a - b), bad.sort((a, b) => a - b))
    }

    let erasureMs = 0
    if (present.slice(0, k).some((p) => !p)) {
      const t = performance.now()
      coder.reconstruct(stripe, k, m, present)
      erasureMs = performance.now() - t
    }

    const t = performance.now()
    const sealed = stripe.subarray(0, segment.size + GCM_TAG_BYTES)
    const plaintext = await decryptSegment(await segmentKey(key, checked.keySalt, segmentIndex), sealed)
    const cipherMs = performance.now() - t
    if (plaintext === undefined) throw new SegmentDecryptionError(segmentIndex)
    decodedBytes += plaintext.length
    onProgress?.({
      type: 'decode:segment', segmentIndex, plaintextBytes: plaintext.length, decodedBytes, shardsUsed: used,
      timings: { cipherMs, erasureMs, commitmentMs }
    })
    signal.throwIfAborted()
    yield plaintext
  }
}

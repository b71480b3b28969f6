import {
  CHUNK_PLAINTEXT_BYTES,
  deriveAesKey,
  GCM_NONCE_BYTES,
  GCM_TAG_BYTES,
  SEALED_CHUNK_BYTES
} from '@sherd/protocol'
import { SEGMENT_KEY_INFO } from './constants.js'
import type { SegmentCipher } from './chunk-cipher.js'
import { ChunkAuthenticationError, SealedLengthError } from './errors.js'

const infoPrefix = new TextEncoder().encode(SEGMENT_KEY_INFO)

/**
 * Empty: the key binds the file and segment, the nonce the chunk's place and finality; nothing else needs binding.
 * (sealChunk / openChunk are the one-chunk WebCrypto reference; the pipeline goes through a SegmentCipher.)
 */
const NO_AAD = new Uint8Array(0)

/** HKDF `info` of segment `index`: "sherd/v1/segment" ‖ uint64 big-endian index. */
export function segmentKeyInfo(index: number): Uint8Array {
  const info = new Uint8Array(infoPrefix.length + 8)
  info.set(infoPrefix)
  new DataView(info.buffer).setBigUint64(infoPrefix.length, BigInt(index))
  return info
}

/** AES-256-GCM key of one segment: HKDF-SHA256(ikm = file key, salt = manifest keySalt, info = segmentKeyInfo(index)). */
export async function segmentKey(fileKey: Uint8Array, keySalt: Uint8Array, index: number): Promise<CryptoKey> {
  return await deriveAesKey(fileKey, keySalt, segmentKeyInfo(index))
}

/**
 * Nonce of chunk `chunkIndex`: uint64 big-endian counter ‖ 0x00 0x00 0x00 ‖ 0x01 on the segment's last chunk,
 * 0x00 on the others. The counter catches reordering and duplication, the flag truncation at a chunk boundary
 * (a cut stream's new last chunk was sealed as "not last"); under one segment key no nonce repeats.
 */
export function chunkNonce(chunkIndex: number, final: boolean): Uint8Array<ArrayBuffer> {
  const nonce = new Uint8Array(GCM_NONCE_BYTES)
  new DataView(nonce.buffer).setBigUint64(0, BigInt(chunkIndex))
  nonce[GCM_NONCE_BYTES - 1] = final ? 1 : 0
  return nonce
}

/** Chunk `chunkIndex` sealed: ciphertext ‖ 16-byte tag. */
export async function sealChunk(
  key: CryptoKey,
  chunkIndex: number,
  final: boolean,
  plaintext: Uint8Array
): Promise<Uint8Array> {
  return new Uint8Array(
    await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv: chunkNonce(chunkIndex, final), additionalData: NO_AAD },
      key,
      plaintext as Uint8Array<ArrayBuffer>
    )
  )
}

/** Chunk `chunkIndex`'s plaintext, or undefined when its tag does not verify under that index and finality. */
export async function openChunk(
  key: CryptoKey,
  chunkIndex: number,
  final: boolean,
  sealed: Uint8Array
): Promise<Uint8Array | undefined> {
  if (sealed.length < GCM_TAG_BYTES) return undefined
  try {
    return new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: chunkNonce(chunkIndex, final), additionalData: NO_AAD },
        key,
        sealed as Uint8Array<ArrayBuffer>
      )
    )
  } catch (err) {
    if ((err as Error).name === 'OperationError') return undefined
    throw err
  }
}

/**
 * Seals the chunks of `plaintext`, which starts at chunk `firstChunk` of a segment of `chunkCount` chunks, into
 * `out` at `outOffset` (sealed chunks back to back). All chunks are started at once: WebCrypto runs them on Node's
 * thread pool or the browser's, `node:crypto` one after another.
 */
export async function sealChunksInto(
  cipher: SegmentCipher,
  plaintext: Uint8Array,
  firstChunk: number,
  chunkCount: number,
  out: Uint8Array,
  outOffset: number
): Promise<void> {
  const jobs: Array<Promise<void>> = []
  for (let at = 0, index = firstChunk; at < plaintext.length; at += CHUNK_PLAINTEXT_BYTES, index++) {
    const piece = plaintext.subarray(at, Math.min(at + CHUNK_PLAINTEXT_BYTES, plaintext.length))
    jobs.push(
      cipher.sealInto(
        index,
        index === chunkCount - 1,
        piece,
        out,
        outOffset + (index - firstChunk) * SEALED_CHUNK_BYTES
      )
    )
  }
  await Promise.all(jobs)
}

/**
 * Opens the sealed chunks in `sealed` (back to back, starting with chunk `firstChunk` of a segment of
 * `chunkCount` chunks) into `out` at `outOffset`. Returns the indices of chunks whose tag failed (empty: all good);
 * their bytes in `out` are zeros.
 */
export async function openChunksInto(
  cipher: SegmentCipher,
  sealed: Uint8Array,
  firstChunk: number,
  chunkCount: number,
  out: Uint8Array,
  outOffset: number
): Promise<number[]> {
  const failed: number[] = []
  const jobs: Array<Promise<void>> = []
  for (let at = 0, index = firstChunk; at < sealed.length; at += SEALED_CHUNK_BYTES, index++) {
    const piece = sealed.subarray(at, Math.min(at + SEALED_CHUNK_BYTES, sealed.length))
    const chunk = index
    jobs.push(
      cipher
        .openInto(chunk, chunk === chunkCount - 1, piece, out, outOffset + (chunk - firstChunk) * CHUNK_PLAINTEXT_BYTES)
        .then((ok) => {
          if (!ok) failed.push(chunk)
        })
    )
  }
  await Promise.all(jobs)
  return failed.sort((a, b) => a - b)
}

/** Number of chunks of a sealed segment of `sealedLength` bytes (the last chunk may be short, never tag-only). */
function chunksOfSealed(sealedLength: number): number {
  return Math.ceil(sealedLength / SEALED_CHUNK_BYTES)
}

/** A whole segment sealed: its chunks back to back (plaintext + 16 bytes per chunk). One or more chunks. */
export async function sealSegment(cipher: SegmentCipher, plaintext: Uint8Array): Promise<Uint8Array> {
  const chunkCount = Math.max(1, Math.ceil(plaintext.length / CHUNK_PLAINTEXT_BYTES))
  const out = new Uint8Array(plaintext.length + chunkCount * GCM_TAG_BYTES)
  await sealChunksInto(cipher, plaintext, 0, chunkCount, out, 0)
  return out
}

/**
 * A whole sealed segment opened. The chunk layout follows from the length, so a stream cut at a chunk boundary
 * ends in a chunk sealed as "not last" and fails there; a reordered, duplicated or altered chunk fails its tag.
 * Throws ChunkAuthenticationError naming the first failing chunk, or SealedLengthError for a length that no
 * segment (or not the `expectedSize` one) seals to.
 */
export async function openSegment(
  cipher: SegmentCipher,
  sealed: Uint8Array,
  segmentIndex = 0,
  expectedSize?: number
): Promise<Uint8Array> {
  const chunkCount = chunksOfSealed(sealed.length)
  const lastSealed = sealed.length - (chunkCount - 1) * SEALED_CHUNK_BYTES
  const size = sealed.length - chunkCount * GCM_TAG_BYTES
  if (chunkCount === 0 || lastSealed <= GCM_TAG_BYTES || (expectedSize !== undefined && size !== expectedSize)) {
    throw new SealedLengthError(segmentIndex, sealed.length, expectedSize)
  }
  const out = new Uint8Array(size)
  const failed = await openChunksInto(cipher, sealed, 0, chunkCount, out, 0)
  if (failed.length > 0) throw new ChunkAuthenticationError(segmentIndex, failed[0]!)
  return out
}

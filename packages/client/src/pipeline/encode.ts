import { defaultCoder } from '@sherd/erasure'
import type { ErasureCoder } from '@sherd/erasure'
import { LEAF_SIZE, merkleRoot } from '@sherd/proofs'
import {
  checkFileKey, codeProblem, FILE_KEY_BYTES, KEY_SALT_BYTES, MANIFEST_VERSION, MAX_SEGMENT_SIZE_BYTES,
  SEGMENT_CIPHER, shardCid, shardSizeFor
} from '@sherd/protocol'
import type { Manifest, ManifestSegment, ShardRef } from '@sherd/protocol'
import { encryptSegment, segmentKey } from './cipher.js'
import { DEFAULT_DATA_SHARDS, DEFAULT_PARITY_SHARDS, DEFAULT_SEGMENT_SIZE_BYTES } from './constants.js'
import {
  DataPathError, EncodingNotFinishedError, InvalidCodeError, InvalidOptionError, SourceTooLongError, TruncatedSourceError
} from './errors.js'
import type { EncodeProgressEvent } from './progress.js'
import { chunksOf, segmentsOf } from './source.js'
import type { FileSource } from './source.js'

export interface EncodeFileOptions {
  /** 32-byte file key; default a fresh random key (read it back from `encoding.key`). Never reuse one across files. */
  key?: Uint8Array
  /** Plaintext bytes per segment; default DEFAULT_SEGMENT_SIZE_BYTES (32 MiB), at most 1 GiB. */
  segmentSize?: number
  /** Data shards per segment; default 4. */
  k?: number
  /** Parity shards per segment; default 2. */
  m?: number
  /** Reed-Solomon implementation; default `defaultCoder()` of @sherd/erasure. */
  coder?: ErasureCoder
  /** When given, a source that ends early throws TruncatedSourceError and one that runs on SourceTooLongError. */
  expectedSize?: number
  signal?: AbortSignal
  onProgress?: (event: EncodeProgressEvent) => void
}

export interface EncodedShard {
  /** Position in the stripe: 0..k-1 data, k..k+m-1 parity. */
  readonly index: number
  /** The shard's bytes (a view into the segment's stripe). */
  readonly bytes: Uint8Array
  /** Its commitment: CID, Merkle root and byte length. */
  readonly commitment: ShardRef
}

export interface EncodedSegment {
  readonly segmentIndex: number
  /** Plaintext bytes in the segment. */
  readonly size: number
  /** Bytes of each shard. */
  readonly shardSize: number
  /** k data shards then m parity shards. */
  readonly shards: readonly EncodedShard[]
}

/**
 * A file being encoded. Iterate it (once) to get the segments in order; the next segment is read and encoded
 * only when the consumer asks for it, so a slow uploader slows the reader (backpressure) and memory stays at a
 * few segments. After the last segment, `manifest` holds the file's manifest (seal it with `sealManifest`).
 */
export interface FileEncoding extends AsyncIterable<EncodedSegment> {
  /** The file key the segments are encrypted under. */
  readonly key: Uint8Array
  /** True once every segment has been produced. */
  readonly done: boolean
  /** The manifest; throws EncodingNotFinishedError until `done`. */
  readonly manifest: Manifest
}

function checkOptions (options: EncodeFileOptions): { k: number, m: number, segmentSize: number } {
  const k = options.k ?? DEFAULT_DATA_SHARDS
  const m = options.m ?? DEFAULT_PARITY_SHARDS
  const problem = codeProblem(k, m)
  if (problem !== undefined) throw new InvalidCodeError(k, m, problem)
  const segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE_BYTES
  if (!Number.isSafeInteger(segmentSize) || segmentSize < 1 || segmentSize > MAX_SEGMENT_SIZE_BYTES) {
    throw new InvalidOptionError(`segmentSize ${String(segmentSize)} must be an integer from 1 to ${MAX_SEGMENT_SIZE_BYTES} bytes ` +
      `(default ${DEFAULT_SEGMENT_SIZE_BYTES})`)
  }
  const expected = options.expectedSize
  if (expected !== undefined && (!Number.isSafeInteger(expected) || expected < 0)) {
    throw new InvalidOptionError(`expectedSize ${String(expected)} must be a non-negative integer number of bytes`)
  }
  return { k, m, segmentSize }
}

/**
 * Encodes a file for storage: cuts it into segments, encrypts each (AES-256-GCM under HKDF-SHA256(file key,
 * segment index)), splits the ciphertext into k data + m parity shards whose size is a multiple of the 64-byte
 * leaf, and commits to each shard with its Merkle root. Parameters are checked at once (InvalidCodeError,
 * InvalidOptionError, InvalidKeyError); the source is read only while the result is iterated.
 *
 * @example
 * const encoding = encodeFile(createReadStream(path), { k: 4, m: 2 })
 * for await (const segment of encoding) await upload(segment.shards)
 * const { cid, bytes } = await sealManifest(encoding.manifest, encoding.key)
 */
export function encodeFile (source: FileSource, options: EncodeFileOptions = {}): FileEncoding {
  const { k, m, segmentSize } = checkOptions(options)
  chunksOf(source) // throws InvalidOptionError now, not at the first read, for a source of the wrong kind
  const key = options.key ?? crypto.getRandomValues(new Uint8Array(FILE_KEY_BYTES))
  checkFileKey(key)
  const fileKey = key.slice()
  const coder = options.coder ?? defaultCoder()
  const keySalt = crypto.getRandomValues(new Uint8Array(KEY_SALT_BYTES))
  const { signal, onProgress, expectedSize } = options
  const segments: ManifestSegment[] = []
  let manifest: Manifest | undefined
  let started = false

  async function * run (): AsyncGenerator<EncodedSegment> {
    let encodedBytes = 0
    for await (const plaintext of segmentsOf(source, segmentSize, signal)) {
      const segmentIndex = segments.length
      if (expectedSize !== undefined && encodedBytes + plaintext.length > expectedSize) throw new SourceTooLongError(expectedSize)

      let t = performance.now()
      const ciphertext = await encryptSegment(await segmentKey(fileKey, keySalt, segmentIndex), plaintext)
      const cipherMs = performance.now() - t
      signal?.throwIfAborted()

      const shardSize = shardSizeFor(plaintext.length, k)
      // The ciphertext's buffer becomes the stripe (zero-extended): the old buffer is detached and freed at once
      // instead of lingering as segment-sized garbage, which is what drives peak RSS on large files.
      const stripe = new Uint8Array(ciphertext.buffer.transfer((k + m) * shardSize))
      t = performance.now()
      coder.encode(stripe, k, m)
      const erasureMs = performance.now() - t

      t = performance.now()
      const shards: EncodedShard[] = []
      for (let index = 0; index < k + m; index++) {
        const bytes = stripe.subarray(index * shardSize, (index + 1) * shardSize)
        const root = merkleRoot(bytes)
        shards.push({ index, bytes, commitment: { cid: shardCid(root, shardSize), root, byteLength: shardSize } })
      }
      const commitmentMs = performance.now() - t

      encodedBytes += plaintext.length
      segments.push({ size: plaintext.length, shardSize, shards: shards.map((s) => ({ commitment: s.commitment.cid })) })
      onProgress?.({
        type: 'encode:segment', segmentIndex, plaintextBytes: plaintext.length, encodedBytes, timings: { cipherMs, erasureMs, commitmentMs }
      })
      signal?.throwIfAborted()
      yield { segmentIndex, size: plaintext.length, shardSize, shards }
    }
    if (expectedSize !== undefined && encodedBytes < expectedSize) throw new TruncatedSourceError(encodedBytes, expectedSize)
    manifest = {
      version: MANIFEST_VERSION, fileSize: encodedBytes, segmentSize, k, m, leafSize: LEAF_SIZE, cipher: SEGMENT_CIPHER, keySalt, segments
    }
  }

  return {
    key: fileKey,
    get done () { return manifest !== undefined },
    get manifest () {
      if (manifest === undefined) throw new EncodingNotFinishedError()
      return manifest
    },
    [Symbol.asyncIterator] () {
      if (started) throw new DataPathError('a FileEncoding can be iterated only once; call encodeFile again to re-encode')
      started = true
      return run()
    }
  }
}

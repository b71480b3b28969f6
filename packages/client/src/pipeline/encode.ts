import { defaultCoder } from '@sherd/erasure'
import type { ErasureCoder } from '@sherd/erasure'
import { LEAF_SIZE } from '@sherd/proofs'
import {
  checkFileKey,
  codeProblem,
  FILE_KEY_BYTES,
  KEY_SALT_BYTES,
  MANIFEST_VERSION,
  MAX_SEGMENT_SIZE_BYTES,
  maxStripeChunks,
  SEGMENT_CIPHER,
  shardCid,
  shardSizeFor
} from '@sherd/protocol'
import type { Manifest, ManifestSegment, ShardRef } from '@sherd/protocol'
import { segmentCipher } from './chunk-cipher.js'
import { DEFAULT_DATA_SHARDS, DEFAULT_PARITY_SHARDS, DEFAULT_SEGMENT_SIZE_BYTES } from './constants.js'
import {
  DataPathError,
  EncodingNotFinishedError,
  InvalidCodeError,
  InvalidOptionError,
  SourceTooLongError,
  TruncatedSourceError
} from './errors.js'
import type { EncodeProgressEvent } from './progress.js'
import { defaultHasher } from './hashing.js'
import type { MerkleHasher } from './hashing.js'
import { ByteReader, chunksOf, segmentsOf } from './source.js'
import type { FileSource } from './source.js'
import { encodeSegmentStripes, StripeBuffers } from './stripes.js'
import { stripeChunksFor } from './layout.js'
import type { StripedSegment, StripeSink } from './stripes.js'

export interface EncodeFileOptions {
  /** 32-byte file key; default a fresh random key (read it back from `encoding.key`). Never reuse one across files. */
  key?: Uint8Array
  /** Plaintext bytes per segment; default DEFAULT_SEGMENT_SIZE_BYTES (32 MiB), at most 1 GiB. */
  segmentSize?: number
  /** Data shards per segment; default 4. */
  k?: number
  /** Parity shards per segment; default 2. */
  m?: number
  /**
   * Sealed chunks of each shard in a full stripe (recorded in the manifest; readers follow it); default
   * `stripeChunksFor(k, m)`, at most `maxStripeChunks(k, m)`.
   */
  stripeChunks?: number
  /** Reed-Solomon implementation; default `defaultCoder()` of @sherd/erasure. */
  coder?: ErasureCoder
  /** Where Merkle hashing runs; default `defaultHasher()` (worker threads in Node on a multi-core machine). */
  hasher?: MerkleHasher
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

function checkOptions(options: EncodeFileOptions): {
  k: number
  m: number
  segmentSize: number
  stripeChunks: number
} {
  const k = options.k ?? DEFAULT_DATA_SHARDS
  const m = options.m ?? DEFAULT_PARITY_SHARDS
  const problem = codeProblem(k, m)
  if (problem !== undefined) throw new InvalidCodeError(k, m, problem)
  const segmentSize = options.segmentSize ?? DEFAULT_SEGMENT_SIZE_BYTES
  if (!Number.isSafeInteger(segmentSize) || segmentSize < 1 || segmentSize > MAX_SEGMENT_SIZE_BYTES) {
    throw new InvalidOptionError(
      `segmentSize ${String(segmentSize)} must be an integer from 1 to ${MAX_SEGMENT_SIZE_BYTES} bytes ` +
        `(default ${DEFAULT_SEGMENT_SIZE_BYTES})`
    )
  }
  const expected = options.expectedSize
  if (expected !== undefined && (!Number.isSafeInteger(expected) || expected < 0)) {
    throw new InvalidOptionError(`expectedSize ${String(expected)} must be a non-negative integer number of bytes`)
  }
  const stripeChunks = options.stripeChunks ?? stripeChunksFor(k, m)
  const widest = maxStripeChunks(k, m)
  if (!Number.isSafeInteger(stripeChunks) || stripeChunks < 1 || stripeChunks > widest) {
    throw new InvalidOptionError(
      `stripeChunks ${String(stripeChunks)} must be an integer from 1 to ${widest} at k + m = ${k + m} ` +
        `(default ${stripeChunksFor(k, m)})`
    )
  }
  return { k, m, segmentSize, stripeChunks }
}

/** What both encoders share: checked options, the key and salt, and the manifest they build. */
function prepare(
  source: FileSource,
  options: EncodeFileOptions
): {
  k: number
  m: number
  segmentSize: number
  stripeChunks: number
  fileKey: Uint8Array
  keySalt: Uint8Array
  coder: ErasureCoder
} {
  const { k, m, segmentSize, stripeChunks } = checkOptions(options)
  chunksOf(source) // throws InvalidOptionError now, not at the first read, for a source of the wrong kind
  const key = options.key ?? crypto.getRandomValues(new Uint8Array(FILE_KEY_BYTES))
  checkFileKey(key)
  return {
    k,
    m,
    segmentSize,
    stripeChunks,
    fileKey: new Uint8Array(key),
    keySalt: crypto.getRandomValues(new Uint8Array(KEY_SALT_BYTES)),
    coder: options.coder ?? defaultCoder()
  }
}

function commitmentsOf(segment: StripedSegment): ShardRef[] {
  return segment.roots.map((root) => ({ cid: shardCid(root, segment.shardSize), root, byteLength: segment.shardSize }))
}

/** The manifest of a source read to its end; a source shorter than the size it was announced at fails here. */
function finishedManifest(
  code: { k: number; m: number; segmentSize: number; stripeChunks: number; keySalt: Uint8Array },
  segments: ManifestSegment[],
  encodedBytes: number,
  expectedSize: number | undefined
): Manifest {
  if (expectedSize !== undefined && encodedBytes < expectedSize)
    throw new TruncatedSourceError(encodedBytes, expectedSize)
  return {
    version: MANIFEST_VERSION,
    fileSize: encodedBytes,
    segmentSize: code.segmentSize,
    k: code.k,
    m: code.m,
    leafSize: LEAF_SIZE,
    stripeChunks: code.stripeChunks,
    cipher: SEGMENT_CIPHER,
    keySalt: code.keySalt,
    segments
  }
}

/** An encoding's outer shell: iterate once, manifest once done. */
function encodingOf<T>(
  key: Uint8Array,
  run: () => AsyncGenerator<T>,
  manifest: () => Manifest | undefined
): AsyncIterable<T> & {
  readonly key: Uint8Array
  readonly done: boolean
  readonly manifest: Manifest
} {
  let started = false
  return {
    key,
    get done() {
      return manifest() !== undefined
    },
    get manifest() {
      const built = manifest()
      if (built === undefined) throw new EncodingNotFinishedError()
      return built
    },
    [Symbol.asyncIterator]() {
      if (started) throw new DataPathError('an encoding can be iterated only once; encode the file again to re-encode')
      started = true
      return run()
    }
  }
}

/**
 * Encodes a file for storage: cuts it into segments, seals each in 64 KiB AES-256-GCM chunks under
 * HKDF-SHA256(file key, segment index), lays the sealed bytes out in stripes over k data shards, adds m parity
 * shards by Reed-Solomon, and commits to each shard with its Merkle root (docs/data-path.md). Yields each
 * segment with its whole shards, for callers that upload shards whole; `encodeFileStream` is the same encoding
 * delivered stripe by stripe. Parameters are checked at once (InvalidCodeError, InvalidOptionError,
 * InvalidKeyError); the source is read only while the result is iterated.
 *
 * @example
 * const encoding = encodeFile(createReadStream(path), { k: 4, m: 2 })
 * for await (const segment of encoding) await upload(segment.shards)
 * const { cid, bytes } = await sealManifest(encoding.manifest, encoding.key)
 */
export function encodeFile(source: FileSource, options: EncodeFileOptions = {}): FileEncoding {
  const { k, m, segmentSize, stripeChunks, fileKey, keySalt, coder } = prepare(source, options)
  const { signal, onProgress, expectedSize } = options
  const segments: ManifestSegment[] = []
  let manifest: Manifest | undefined

  async function* run(): AsyncGenerator<EncodedSegment> {
    const hasher = options.hasher ?? (await defaultHasher())
    const buffers = new StripeBuffers(k, m, stripeChunks)
    let encodedBytes = 0
    for await (const plaintext of segmentsOf(source, segmentSize, signal)) {
      const segmentIndex = segments.length
      if (expectedSize !== undefined && encodedBytes + plaintext.length > expectedSize)
        throw new SourceTooLongError(expectedSize)
      const shardSize = shardSizeFor(plaintext.length, k)
      // Fresh buffers per segment: the caller may still be uploading the previous segment's shards. One per shard,
      // not one for the segment: glibc serves blocks under 32 MiB from memory it reuses, where a 48 MiB segment was a
      // fresh mmap every time, faulted in page by page as the stripes were copied (~12 ms of CPU per segment here).
      const shardBytes = Array.from({ length: k + m }, () => new Uint8Array(shardSize))
      const sink: StripeSink = ({ shardOffset, pieces }) => {
        for (let i = 0; i < pieces.length; i++) shardBytes[i]!.set(pieces[i]!, shardOffset)
      }
      const reader = new ByteReader(
        (async function* () {
          yield plaintext
        })()
      )
      const cipher = await segmentCipher(fileKey, keySalt, segmentIndex)
      const encoded = (await encodeSegmentStripes(
        reader,
        segmentIndex,
        segmentSize,
        cipher,
        { k, m, stripeChunks, coder, hasher, sink, signal },
        buffers
      ))!
      const shards: EncodedShard[] = commitmentsOf(encoded).map((commitment, index) => ({
        index,
        bytes: shardBytes[index]!,
        commitment
      }))
      encodedBytes += plaintext.length
      segments.push({
        size: plaintext.length,
        shardSize,
        shards: shards.map((s) => ({ commitment: s.commitment.cid }))
      })
      onProgress?.({
        type: 'encode:segment',
        segmentIndex,
        plaintextBytes: plaintext.length,
        encodedBytes,
        timings: encoded.timings
      })
      signal?.throwIfAborted()
      yield { segmentIndex, size: plaintext.length, shardSize, shards }
    }
    manifest = finishedManifest({ k, m, segmentSize, stripeChunks, keySalt }, segments, encodedBytes, expectedSize)
  }

  return encodingOf(fileKey, run, () => manifest)
}

export interface EncodeFileStreamOptions extends EncodeFileOptions {
  /**
   * Receives every stripe of every segment in order, before the segment's commitments are yielded. The pieces are
   * reused once the returned promise settles, so upload (or copy) them first; a slow sink slows the reader.
   */
  onStripe: StripeSink
  /** Each stripe in a fresh buffer the sink may keep (`stripe.owned`), for a sink that queues pieces; default false. */
  freshStripes?: boolean
}

/** A segment the streaming encoder finished: its stripes went to `onStripe`, these are its commitments. */
export interface StreamedSegment {
  readonly segmentIndex: number
  readonly size: number
  readonly shardSize: number
  /** k data then m parity commitments. */
  readonly commitments: readonly ShardRef[]
}

export interface FileStreamEncoding extends AsyncIterable<StreamedSegment> {
  readonly key: Uint8Array
  readonly done: boolean
  /** The manifest; throws EncodingNotFinishedError until `done`. */
  readonly manifest: Manifest
}

/**
 * The streaming form of `encodeFile`: the same shards, roots and manifest (tested), but the source is read one
 * stripe at a time (k × the stripe width of plaintext, `stripeWidthFor`) and each stripe goes to `onStripe` and is
 * dropped, so memory stays at one stripe of all k + m shards (≈ 12 MiB at most up to k + m = 192, one 64 KiB chunk
 * per shard above: 6 MiB at 4 + 2, 11.25 MiB at 10 + 20) whatever
 * the segment size. Iterating
 * yields each segment's commitments once its last stripe was delivered.
 *
 * @example
 * const encoding = encodeFileStream(createReadStream(path), { k: 4, m: 2, onStripe: async (s) => { await send(s) } })
 * for await (const segment of encoding) record(segment.commitments)
 */
export function encodeFileStream(source: FileSource, options: EncodeFileStreamOptions): FileStreamEncoding {
  const { k, m, segmentSize, stripeChunks, fileKey, keySalt, coder } = prepare(source, options)
  const { signal, onProgress, expectedSize, onStripe } = options
  if (typeof onStripe !== 'function')
    throw new InvalidOptionError('encodeFileStream needs onStripe, the function that receives each stripe')
  const segments: ManifestSegment[] = []
  let manifest: Manifest | undefined

  async function* run(): AsyncGenerator<StreamedSegment> {
    const hasher = options.hasher ?? (await defaultHasher())
    const freshStripes = options.freshStripes === true
    const buffers = new StripeBuffers(k, m, stripeChunks, freshStripes)
    const reader = new ByteReader(source, signal)
    let encodedBytes = 0
    try {
      while (true) {
        const segmentIndex = segments.length
        const cipher = await segmentCipher(fileKey, keySalt, segmentIndex)
        // With a size given, read at most one byte past it, so an overlong source fails before it is all read.
        const allowed =
          expectedSize === undefined ? segmentSize : Math.min(segmentSize, expectedSize - encodedBytes + 1)
        const encoded = await encodeSegmentStripes(
          reader,
          segmentIndex,
          allowed,
          cipher,
          { k, m, stripeChunks, coder, hasher, sink: onStripe, signal, freshStripes },
          buffers
        )
        if (encoded === undefined) break
        encodedBytes += encoded.size
        if (expectedSize !== undefined && encodedBytes > expectedSize) throw new SourceTooLongError(expectedSize)
        const commitments = commitmentsOf(encoded)
        segments.push({
          size: encoded.size,
          shardSize: encoded.shardSize,
          shards: commitments.map((c) => ({ commitment: c.cid }))
        })
        onProgress?.({
          type: 'encode:segment',
          segmentIndex,
          plaintextBytes: encoded.size,
          encodedBytes,
          timings: encoded.timings
        })
        signal?.throwIfAborted()
        yield { segmentIndex, size: encoded.size, shardSize: encoded.shardSize, commitments }
      }
    } finally {
      await reader.close()
    }
    manifest = finishedManifest({ k, m, segmentSize, stripeChunks, keySalt }, segments, encodedBytes, expectedSize)
  }

  return encodingOf(fileKey, run, () => manifest)
}

import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { Readable } from 'node:stream'
import rse from '@subspace/reed-solomon-erasure.wasm'
import { afterAll, describe, expect, it } from 'vitest'
import {
  ChunkAuthenticationError,
  decodeFile,
  decodeRange,
  encodeFile,
  encodeFileStream,
  inlineHasher,
  InvalidOptionError,
  InvalidRangeError,
  NotEnoughShardsError,
  openSegment,
  planRange,
  SealedLengthError,
  sealChunk,
  sealSegment,
  segmentCipher,
  segmentKey,
  segmentKeyBytes,
  segmentLayout,
  SourceTooLongError,
  stripeChunksFor,
  stripeWidthFor,
  TruncatedSourceError,
  webSegmentCipher
} from '@sherd/client'
import type {
  DecodeProgressEvent,
  EncodedStripe,
  MerkleHasher,
  SegmentCipher,
  ShardRangeRequest,
  ShardRangeSource,
  ShardSource
} from '@sherd/client'
import { merkleRoot, merkleRootReference } from '@sherd/proofs'
import { nativeAead } from '@sherd/proofs/aead-node'
import { nodeSegmentCipher } from '../src/pipeline/chunk-cipher-node.js'
import { parseShardCid } from '@sherd/protocol'
import type { Manifest } from '@sherd/protocol'
import { workerHasher } from '../src/pipeline/hash-pool-node.js'

const CHUNK = 65520
const SEALED_CHUNK = 65536
const wasm = readFileSync(
  join(
    dirname(createRequire(import.meta.url).resolve('@subspace/reed-solomon-erasure.wasm')),
    'reed_solomon_erasure_bg.wasm'
  )
)

// ---------------------------------------------------------------------------------------------------------------
// An outside implementation, written from docs/data-path.md with node:crypto and reed-solomon-erasure.wasm: the
// oracle for the stripe encoder and the proof that the documented format is enough to decode.

function nodeSegmentKey(fileKey: Uint8Array, salt: Uint8Array, index: number): Buffer {
  const info = Buffer.concat([Buffer.from('sherd/v1/segment'), Buffer.alloc(8)])
  info.writeBigUInt64BE(BigInt(index), 16)
  return Buffer.from(hkdfSync('sha256', fileKey, salt, info, 32))
}

function nonceOf(chunk: number, final: boolean): Buffer {
  const nonce = Buffer.alloc(12)
  nonce.writeBigUInt64BE(BigInt(chunk))
  nonce[11] = final ? 1 : 0
  return nonce
}

function oracleSeal(key: Buffer, plaintext: Uint8Array): Buffer {
  const count = Math.max(1, Math.ceil(plaintext.length / CHUNK))
  const parts: Buffer[] = []
  for (let c = 0; c < count; c++) {
    const cipher = createCipheriv('aes-256-gcm', key, nonceOf(c, c === count - 1))
    parts.push(cipher.update(plaintext.subarray(c * CHUNK, (c + 1) * CHUNK)), cipher.final(), cipher.getAuthTag())
  }
  return Buffer.concat(parts)
}

function oracleWidth(k: number, m: number): number {
  return SEALED_CHUNK * Math.min(16, Math.max(1, Math.floor(192 / (k + m))))
}

/** All k + m shards of a segment, whole: sealed bytes striped over k data shards, parity by the library. */
function oracleShards(sealed: Uint8Array, k: number, m: number, W = oracleWidth(k, m)): Buffer[] {
  const shardSize = Math.ceil(Math.ceil(sealed.length / k) / 64) * 64
  const stripe = new Uint8Array((k + m) * shardSize)
  for (let j = 0; j * W < shardSize; j++) {
    const width = Math.min(W, shardSize - j * W)
    for (let i = 0; i < k; i++) {
      const from = j * k * W + i * width
      if (from >= sealed.length) continue
      stripe.set(sealed.subarray(from, Math.min(sealed.length, from + width)), i * shardSize + j * W)
    }
  }
  if (m > 0) expect(rse.ReedSolomonErasure.fromBytes(wasm).encode(stripe, k, m)).toBe(rse.ReedSolomonErasure.RESULT_OK)
  return Array.from({ length: k + m }, (_, i) => Buffer.from(stripe.subarray(i * shardSize, (i + 1) * shardSize)))
}

/** The inverse, from the k data shards only. */
function oracleOpen(key: Buffer, shards: Uint8Array[], k: number, m: number, size: number): Buffer {
  const W = oracleWidth(k, m)
  const shardSize = shards[0]!.length
  const count = Math.max(1, Math.ceil(size / CHUNK))
  const sealedLength = size + 16 * count
  const sealed = Buffer.alloc(k * shardSize)
  let at = 0
  for (let j = 0; j * W < shardSize; j++) {
    const width = Math.min(W, shardSize - j * W)
    for (let i = 0; i < k; i++) {
      sealed.set(shards[i]!.subarray(j * W, j * W + width), at)
      at += width
    }
  }
  const parts: Buffer[] = []
  for (let c = 0; c < count; c++) {
    const piece = sealed.subarray(c * SEALED_CHUNK, Math.min(sealedLength, (c + 1) * SEALED_CHUNK))
    const decipher = createDecipheriv('aes-256-gcm', key, nonceOf(c, c === count - 1))
    decipher.setAuthTag(piece.subarray(piece.length - 16))
    parts.push(decipher.update(piece.subarray(0, piece.length - 16)), decipher.final())
  }
  return Buffer.concat(parts)
}

// ---------------------------------------------------------------------------------------------------------------

interface Streamed {
  manifest: Manifest
  key: Uint8Array
  shards: Map<string, Buffer>
  stripes: number[]
}

/** Encodes with encodeFileStream, assembling each shard from the stripes delivered to onStripe. */
async function encodeStreamed(
  data: Uint8Array,
  k: number,
  m: number,
  segmentSize: number,
  hasher?: MerkleHasher,
  stripeChunks?: number
): Promise<Streamed> {
  const parts = new Map<string, Buffer[]>()
  const stripes: number[] = []
  const onStripe = async (stripe: EncodedStripe): Promise<void> => {
    stripes.push(stripe.width)
    stripe.pieces.forEach((piece, i) => {
      const id = `${stripe.segmentIndex}:${i}`
      const list = parts.get(id) ?? []
      expect(list.reduce((n, p) => n + p.length, 0)).toBe(stripe.shardOffset)
      list.push(Buffer.from(piece))
      parts.set(id, list)
    })
  }
  // Source chunks of odd sizes, so stripes are assembled across chunk edges.
  const source = Readable.from(
    Array.from({ length: Math.ceil(data.length / 300_001) }, (_, i) => data.subarray(i * 300_001, (i + 1) * 300_001))
  )
  const encoding = encodeFileStream(source, {
    k,
    m,
    segmentSize,
    onStripe,
    ...(hasher === undefined ? {} : { hasher }),
    ...(stripeChunks === undefined ? {} : { stripeChunks })
  })
  for await (const segment of encoding) {
    expect(segment.commitments).toHaveLength(k + m)
  }
  const shards = new Map([...parts].map(([id, list]) => [id, Buffer.concat(list)]))
  return { manifest: encoding.manifest, key: encoding.key, shards, stripes }
}

function storeSource(shards: Map<string, Uint8Array>, erased: ReadonlySet<number> = new Set()): ShardSource {
  return async ({ segmentIndex, shardIndex }) =>
    erased.has(shardIndex) ? undefined : shards.get(`${segmentIndex}:${shardIndex}`)
}

async function collect(iterable: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const part of iterable) parts.push(part)
  return Buffer.concat(parts)
}

const hashers: MerkleHasher[] = []
afterAll(async () => {
  await Promise.all(hashers.map(async (h) => await h.close()))
})

describe('chunked segment cipher', () => {
  it('reproduces the worked example in docs/data-path.md byte for byte', async () => {
    const fileKey = Uint8Array.from({ length: 32 }, (_, i) => i)
    const salt = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i)
    expect(nodeSegmentKey(fileKey, salt, 0).toString('hex')).toBe(
      '15ec05d04e3f93804ca79664921fd49720a2c0efccd81de7aa6201a01cf96589'
    )
    const key = await segmentKey(fileKey, salt, 0)
    const chunk0 = Buffer.from(await sealChunk(key, 0, false, new Uint8Array(CHUNK).fill(0x61)))
    expect(chunk0.length).toBe(65536)
    expect(chunk0.subarray(0, 16).toString('hex')).toBe('c6366811ef6982a9d91ad3fc99f27604')
    expect(chunk0.subarray(65520).toString('hex')).toBe('0c27fbf946013f2031cad5e203c558d2')
    expect(createHash('sha256').update(chunk0).digest('hex')).toBe(
      'eba0f54f5dffbac1cff9b67c6a82e2ed3f90e62a511471c5ad05b99652c41412'
    )
    const chunk1 = Buffer.from(await sealChunk(key, 1, true, Buffer.from('hello, sherd\n')))
    expect(chunk1.toString('hex')).toBe('758163910c839af3df15b81cc7' + 'be670150800a805f6af2def0de83fe82')
    // The whole segment is the two chunks back to back, from the pipeline's cipher (node:crypto in Node) and from
    // the WebCrypto one alike, and node:crypto opens it as documented.
    expect(Buffer.from(await segmentKeyBytes(fileKey, salt, 0)).toString('hex')).toBe(
      '15ec05d04e3f93804ca79664921fd49720a2c0efccd81de7aa6201a01cf96589'
    )
    const plain = Buffer.concat([Buffer.alloc(CHUNK, 0x61), Buffer.from('hello, sherd\n')])
    for (const cipher of [
      await segmentCipher(fileKey, salt, 0),
      nodeSegmentCipher(await segmentKeyBytes(fileKey, salt, 0), null),
      await webSegmentCipher(await segmentKeyBytes(fileKey, salt, 0))
    ]) {
      const sealed = Buffer.from(await sealSegment(cipher, plain))
      expect(sealed.equals(Buffer.concat([chunk0, chunk1]))).toBe(true)
      expect(sealed.equals(oracleSeal(nodeSegmentKey(fileKey, salt, 0), plain))).toBe(true)
      expect(Buffer.from(await openSegment(cipher, sealed, 0, plain.length)).equals(plain)).toBe(true)
    }
  })

  const ciphers = async (
    fileKey: Uint8Array,
    salt: Uint8Array,
    index: number
  ): Promise<Array<[string, SegmentCipher]>> => [
    ['native AEAD', nodeSegmentCipher(await segmentKeyBytes(fileKey, salt, index), nativeAead)],
    ['node:crypto', nodeSegmentCipher(await segmentKeyBytes(fileKey, salt, index), null)],
    ['WebCrypto', await webSegmentCipher(await segmentKeyBytes(fileKey, salt, index))]
  ]

  // The native AEAD where it loaded (Node's default then), node:crypto where not, and WebCrypto (the browser's).
  for (const which of [...(nativeAead === null ? [] : ['native AEAD']), 'node:crypto', 'WebCrypto']) {
    it(`rejects truncated, reordered, duplicated, flipped and extended chunks with typed errors (${which})`, async () => {
      const fileKey = randomBytes(32)
      const salt = randomBytes(16)
      const key = new Map(await ciphers(fileKey, salt, 3)).get(which)!
      const plain = randomBytes(3 * CHUNK + 100)
      const sealed = Buffer.from(await sealSegment(key, plain))
      expect(Buffer.from(await openSegment(key, sealed, 3, plain.length)).equals(plain)).toBe(true)
      const c = (i: number): Buffer =>
        sealed.subarray(i * SEALED_CHUNK, Math.min(sealed.length, (i + 1) * SEALED_CHUNK))
      const rejects = async (bytes: Uint8Array, error: unknown, chunkIndex?: number): Promise<void> => {
        const err = await openSegment(key, bytes, 3).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(error as never)
        if (chunkIndex !== undefined) expect((err as ChunkAuthenticationError).chunkIndex).toBe(chunkIndex)
        expect((err as Error).message).toMatch(/segment 3/)
      }
      // Cut at a chunk boundary: the new last chunk was sealed as "not last".
      await rejects(Buffer.concat([c(0), c(1), c(2)]), ChunkAuthenticationError, 2)
      await rejects(Buffer.concat([c(0)]), ChunkAuthenticationError, 0)
      // Cut inside a chunk, or down to a bare tag.
      await rejects(sealed.subarray(0, sealed.length - 1), ChunkAuthenticationError, 3)
      await rejects(sealed.subarray(0, 3 * SEALED_CHUNK + 16), SealedLengthError)
      await rejects(new Uint8Array(0), SealedLengthError)
      await rejects(Buffer.concat([c(1), c(0), c(2), c(3)]), ChunkAuthenticationError, 0)
      await rejects(Buffer.concat([c(0), c(0), c(2), c(3)]), ChunkAuthenticationError, 1)
      await rejects(Buffer.concat([c(0), c(1), c(2), c(2), c(3)]), ChunkAuthenticationError, 3)
      // Appended after the final chunk: the final chunk is no longer last.
      await rejects(Buffer.concat([sealed, c(0)]), ChunkAuthenticationError, 3)
      for (const at of [0, 65519, 65520, 65535, 65536, sealed.length - 1]) {
        const flipped = Buffer.from(sealed)
        flipped[at]! ^= 1
        await rejects(flipped, ChunkAuthenticationError, Math.floor(at / SEALED_CHUNK))
      }
      // The wrong segment's key (another index) fails the first chunk.
      const other = new Map(await ciphers(fileKey, salt, 4)).get(which)!
      expect(await openSegment(other, sealed, 3).catch((e: unknown) => e)).toBeInstanceOf(ChunkAuthenticationError)
      expect(await openSegment(key, sealed, 3, plain.length + 1).catch((e: unknown) => e)).toBeInstanceOf(
        SealedLengthError
      )
      // Both implementations seal the same bytes.
      const [node, web] = await ciphers(fileKey, salt, 3)
      expect(
        Buffer.from(await sealSegment(web![1], plain)).equals(Buffer.from(await sealSegment(node![1], plain)))
      ).toBe(true)
    })
  }
})

describe('stripe layout', () => {
  it('is 1 MiB per shard up to k + m = 12 and keeps a whole stripe ≤ 12 MiB beyond', () => {
    expect(stripeWidthFor(4, 2)).toBe(2 ** 20)
    expect(stripeWidthFor(6, 6)).toBe(2 ** 20)
    expect(stripeWidthFor(10, 4)).toBe(13 * SEALED_CHUNK)
    expect(stripeWidthFor(10, 20)).toBe(6 * SEALED_CHUNK)
    expect(stripeWidthFor(10, 30)).toBe(4 * SEALED_CHUNK)
    expect(stripeWidthFor(128, 128)).toBe(SEALED_CHUNK)
    for (let n = 1; n <= 256; n++) {
      const w = stripeWidthFor(1, n - 1)
      expect(w % SEALED_CHUNK).toBe(0)
      expect(n * w <= 12 * 2 ** 20 || w === SEALED_CHUNK).toBe(true)
    }
  })

  it('maps plaintext ranges to chunks and to contiguous pieces of the shards that hold them', () => {
    const layout = segmentLayout(9 * 2 ** 20 + 12345, 4, 2, stripeChunksFor(4, 2))
    // One byte costs one chunk of one shard; a full stripe's chunk lies inside one shard.
    const one = planRange(layout, CHUNK * 17 + 5, 1)
    expect(one.stripes).toHaveLength(1)
    expect(one.stripes[0]!.pieces).toEqual([
      { shardIndex: 1, shardStart: SEALED_CHUNK, length: SEALED_CHUNK, sealedOffset: 17 * SEALED_CHUNK }
    ])
    expect(planRange(layout, 0, 0).stripes).toEqual([])
    expect(() => planRange(layout, layout.size, 1)).toThrow(InvalidRangeError)
    expect(() => planRange(layout, -1, 1)).toThrow(InvalidRangeError)
    // The whole segment: pieces tile the sealed bytes exactly.
    const all = planRange(layout, 0, layout.size)
    const pieces = all.stripes.flatMap((s) => s.pieces)
    let at = 0
    for (const p of pieces) {
      expect(p.sealedOffset).toBe(at)
      at += p.length
    }
    expect(at).toBe(layout.sealedSize)
  })
})

describe('stripe encoder', () => {
  // Edges for a 4 + 2 segment: a stripe holds 4 × 16 chunks of plaintext.
  const STRIPE_4_2 = 4 * 16 * CHUNK
  const cases: Array<{ k: number; m: number; sizes: number[]; segmentSize: number }> = [
    { k: 1, m: 0, sizes: [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 16 * CHUNK + 1], segmentSize: 16 * CHUNK },
    {
      k: 4,
      m: 2,
      sizes: [
        0,
        1,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        STRIPE_4_2 - 1,
        STRIPE_4_2,
        STRIPE_4_2 + 1,
        2 * STRIPE_4_2 + 3,
        3 * STRIPE_4_2 - 1,
        3 * STRIPE_4_2,
        3 * STRIPE_4_2 + 1
      ],
      segmentSize: 3 * STRIPE_4_2
    },
    { k: 10, m: 4, sizes: [1, 10 * 16 * CHUNK - 1, 10 * 16 * CHUNK + 1], segmentSize: 10 * 16 * CHUNK + 1 },
    { k: 10, m: 20, sizes: [CHUNK + 1, 10 * 16 * CHUNK + 1], segmentSize: 10 * 16 * CHUNK },
    // k + m = 256: stripes of 2 chunks per shard.
    { k: 16, m: 240, sizes: [1, 16 * 2 * CHUNK - 1, 16 * 2 * CHUNK + 1], segmentSize: 16 * 2 * CHUNK + 1 }
  ]
  for (const { k, m, sizes, segmentSize } of cases) {
    it(`k=${k} m=${m}: shards and roots equal the whole-shard oracle at every edge, and decode`, async () => {
      for (const size of sizes) {
        const data = randomBytes(size)
        const streamed = await encodeStreamed(data, k, m, segmentSize)
        const { manifest } = streamed
        expect(manifest.segments).toHaveLength(Math.ceil(size / segmentSize))
        for (const [s, segment] of manifest.segments.entries()) {
          const plain = data.subarray(s * segmentSize, s * segmentSize + segment.size)
          const key = nodeSegmentKey(streamed.key, manifest.keySalt, s)
          const expected = oracleShards(oracleSeal(key, plain), k, m)
          for (let i = 0; i < k + m; i++) {
            const shard = streamed.shards.get(`${s}:${i}`)!
            expect(shard.equals(expected[i]!), `size ${size} segment ${s} shard ${i}`).toBe(true)
            // The reference tree (slow, pure TypeScript) on the first shards; the kernel, tested against it in
            // @sherd/proofs, on the rest.
            const root = shard.length <= 2 ** 20 && i < 8 ? merkleRootReference(shard) : merkleRoot(shard)
            expect(Buffer.from(parseShardCid(segment.shards[i]!.commitment).root).equals(root)).toBe(true)
          }
          expect(oracleOpen(key, expected.slice(0, k), k, m, segment.size).equals(plain)).toBe(true)
        }
        // Data shards erased (up to m, at most 4, so the widest code stays quick): decode must rebuild them.
        const erased = new Set(Array.from({ length: Math.min(m, 4) }, (_, i) => i))
        expect(
          (await collect(decodeFile(manifest, streamed.key, storeSource(streamed.shards, erased)))).equals(data),
          `size ${size}`
        ).toBe(true)
      }
    })
  }

  it('encodeFile gives the same shards as encodeFileStream (whole shards assembled from the stripes)', async () => {
    const data = randomBytes(2 * 4 * 16 * CHUNK + 777)
    const key = randomBytes(32)
    const whole = encodeFile(Readable.from([data]), { k: 4, m: 2, key, segmentSize: 5 * 2 ** 20 })
    const segments = []
    for await (const segment of whole)
      segments.push({ ...segment, shards: segment.shards.map((s) => ({ ...s, bytes: s.bytes.slice() })) })
    expect(segments).toHaveLength(2)
    for (const segment of segments) {
      const plain = data.subarray(segment.segmentIndex * 5 * 2 ** 20, segment.segmentIndex * 5 * 2 ** 20 + segment.size)
      const expected = oracleShards(
        oracleSeal(nodeSegmentKey(key, whole.manifest.keySalt, segment.segmentIndex), plain),
        4,
        2
      )
      for (const shard of segment.shards) expect(Buffer.from(shard.bytes).equals(expected[shard.index]!)).toBe(true)
    }
  })

  it('freshStripes hands every stripe over in a buffer of its own: kept pieces are the same shards', async () => {
    const data = randomBytes(2 * 4 * 16 * CHUNK + 777)
    const key = randomBytes(32)
    const kept: Array<{ stripe: EncodedStripe; copy: Buffer[] }> = []
    const encoding = encodeFileStream(Readable.from([data]), {
      k: 4,
      m: 2,
      key,
      segmentSize: 5 * 2 ** 20,
      freshStripes: true,
      onStripe: (stripe) => {
        expect(stripe.owned).toBe(true)
        kept.push({ stripe, copy: stripe.pieces.map((p) => Buffer.from(p)) })
      }
    })
    for await (const segment of encoding) expect(segment.commitments).toHaveLength(6)
    // Nothing the encoder did after a stripe was delivered changed its pieces, and no two stripes share a buffer.
    for (const { stripe, copy } of kept)
      stripe.pieces.forEach((p, i) => {
        expect(Buffer.from(p).equals(copy[i]!)).toBe(true)
      })
    expect(new Set(kept.map((s) => s.stripe.pieces[0]!.buffer)).size).toBe(kept.length)
    for (const segmentIndex of [0, 1]) {
      const plain = data.subarray(segmentIndex * 5 * 2 ** 20, (segmentIndex + 1) * 5 * 2 ** 20)
      const expected = oracleShards(
        oracleSeal(nodeSegmentKey(key, encoding.manifest.keySalt, segmentIndex), plain),
        4,
        2
      )
      const stripes = kept.filter((s) => s.stripe.segmentIndex === segmentIndex)
      for (let i = 0; i < 6; i++)
        expect(Buffer.concat(stripes.map((s) => s.stripe.pieces[i]!)).equals(expected[i]!)).toBe(true)
    }
  })

  it('holds one stripe: stripes are 1 MiB wide but for the last, and the encoder reads the source lazily', async () => {
    const data = randomBytes(3 * 4 * 16 * CHUNK + 5)
    const streamed = await encodeStreamed(data, 4, 2, 64 * 2 ** 20)
    expect(streamed.stripes).toEqual([2 ** 20, 2 ** 20, 2 ** 20, 64])
  })

  it('stops on abort and on a failing sink, and cancels the source it stops reading', async () => {
    let cancelled = false
    const web = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(randomBytes(100_000))
      },
      cancel() {
        cancelled = true
      }
    })
    const controller = new AbortController()
    let stripes = 0
    const encoding = encodeFileStream(web, {
      k: 2,
      m: 1,
      segmentSize: 2 ** 30,
      signal: controller.signal,
      onStripe: () => {
        if (++stripes === 2) controller.abort(new Error('user stopped'))
      }
    })
    await expect(
      (async () => {
        for await (const _ of encoding) {
          /* drain */
        }
      })()
    ).rejects.toThrow('user stopped')
    expect(cancelled).toBe(true)
    expect(stripes).toBe(2)
    const failing = encodeFileStream(Readable.from([randomBytes(5 * 2 ** 20)]), {
      k: 2,
      m: 1,
      onStripe: async () => {
        throw new Error('upload failed')
      }
    })
    await expect(
      (async () => {
        for await (const _ of failing) {
          /* drain */
        }
      })()
    ).rejects.toThrow('upload failed')
    expect(() => failing.manifest).toThrow(/iterate the encoding to its end/)
  })

  it('checks expectedSize as encodeFile does', async () => {
    const run = async (size: number, expectedSize: number): Promise<unknown> => {
      const encoding = encodeFileStream(Readable.from([randomBytes(size)]), {
        k: 2,
        m: 1,
        segmentSize: 100_000,
        expectedSize,
        onStripe: () => {}
      })
      try {
        for await (const _ of encoding) {
          /* drain */
        }
      } catch (err) {
        return err
      }
      return encoding.manifest.fileSize
    }
    expect(await run(250_000, 250_000)).toBe(250_000)
    expect(await run(250_000, 200_000)).toBeInstanceOf(SourceTooLongError)
    expect(await run(200_000, 200_000)).toBe(200_000)
    expect(await run(199_999, 200_000)).toBeInstanceOf(TruncatedSourceError)
  })
})

describe('hashing threads', () => {
  it('give the roots of the single-thread path, for builders fed in pieces and for whole shards', async () => {
    const pool = workerHasher({ threads: 2 })
    hashers.push(pool)
    const inline = inlineHasher()
    for (const size of [0, 1, 64, 65535, 65536, 65537, 3 * 2 ** 20 + 1]) {
      const data = randomBytes(size)
      const [a, b] = [pool.builder(), inline.builder()]
      for (let at = 0; at < size; at += 400_000) {
        await Promise.all([a.append(data.subarray(at, at + 400_000)), b.append(data.subarray(at, at + 400_000))])
      }
      const [ra, rb] = await Promise.all([a.finish(), b.finish()])
      expect(Buffer.from(ra).equals(rb), `size ${size}`).toBe(true)
      expect(Buffer.from(await pool.root(data)).equals(merkleRoot(data))).toBe(true)
    }
  })

  it('a wide stripe waits for room piece by piece: roots stay those of the single-thread path', async () => {
    // 30 pieces of 1 MiB appended at once to one thread (a 10 + 20 stripe): more than its queue bound.
    const pool = workerHasher({ threads: 1 })
    hashers.push(pool)
    const pieces = Array.from({ length: 3 }, () => Array.from({ length: 30 }, () => randomBytes(2 ** 20)))
    const builders = Array.from({ length: 30 }, () => pool.builder())
    for (const stripe of pieces)
      await Promise.all(
        builders.map(async (b, i) => {
          await b.append(stripe[i]!)
        })
      )
    const roots = await Promise.all(builders.map(async (b) => await b.finish()))
    roots.forEach((root, i) => {
      expect(Buffer.from(root).equals(merkleRoot(Buffer.concat(pieces.map((s) => s[i]!))))).toBe(true)
    })
  })

  it('encode and decode with a worker pool and inline give identical commitments over identical shards', async () => {
    const pool = workerHasher({ threads: 2 })
    hashers.push(pool)
    const data = randomBytes(4 * 16 * CHUNK * 2 + 99)
    const streamed = await encodeStreamed(data, 4, 2, 3 * 2 ** 20, pool)
    for (const [s, segment] of streamed.manifest.segments.entries()) {
      for (let i = 0; i < 6; i++) {
        const root = parseShardCid(segment.shards[i]!.commitment).root
        expect(Buffer.from(root).equals(await inlineHasher().root(streamed.shards.get(`${s}:${i}`)!))).toBe(true)
      }
    }
    const back = await collect(
      decodeFile(streamed.manifest, streamed.key, storeSource(streamed.shards), { hasher: pool })
    )
    expect(back.equals(data)).toBe(true)
  })
})

describe('byte-range decode', () => {
  const k = 4
  const m = 2
  const stripePlain = k * 16 * CHUNK
  const segmentSize = 2 * stripePlain + 1000
  const data = randomBytes(2 * segmentSize + stripePlain + 3)
  const encoded = encodeStreamed(data, k, m, segmentSize)

  function rangeSource(
    shards: Map<string, Uint8Array>,
    requests: Array<{ shard: string; start: number; end: number }> = [],
    tamper?: (segmentIndex: number, shardIndex: number, bytes: Uint8Array, start: number) => Uint8Array | undefined
  ): ShardRangeSource {
    return async ({ segmentIndex, shardIndex, start, end }) => {
      requests.push({ shard: `${segmentIndex}:${shardIndex}`, start, end })
      const bytes = shards.get(`${segmentIndex}:${shardIndex}`)?.subarray(start, end)
      if (bytes === undefined) return undefined
      return tamper === undefined ? bytes : tamper(segmentIndex, shardIndex, Buffer.from(bytes), start)
    }
  }

  it('returns exactly the bytes asked for at every chunk, stripe and segment boundary', async () => {
    const { manifest, key, shards } = await encoded
    const edges = [
      0,
      1,
      CHUNK - 1,
      CHUNK,
      CHUNK + 1,
      stripePlain - 1,
      stripePlain,
      stripePlain + 1,
      segmentSize - 1,
      segmentSize,
      segmentSize + 1,
      2 * segmentSize + stripePlain,
      data.length - 1,
      data.length
    ]
    for (const offset of edges) {
      for (const length of [0, 1, 2, CHUNK, stripePlain + 1]) {
        const len = Math.min(length, data.length - offset)
        const got = await collect(decodeRange(manifest, key, rangeSource(shards), { offset, length: len }))
        expect(got.equals(data.subarray(offset, offset + len)), `offset ${offset} length ${len}`).toBe(true)
      }
    }
    // Buffer.equals, not toEqual: a deep comparison of these 20 MB took 4.3 s of the test's 5 s budget.
    expect((await collect(decodeRange(manifest, key, rangeSource(shards)))).equals(data)).toBe(true)
    await expect(
      collect(decodeRange(manifest, key, rangeSource(shards), { offset: data.length, length: 1 }))
    ).rejects.toThrow(InvalidRangeError)
  })

  it('fetches only the chunks that hold the range, from the data shards', async () => {
    const { manifest, key, shards } = await encoded
    const requests: Array<{ shard: string; start: number; end: number }> = []
    // One byte in the 18th chunk of segment 1: one 64 KiB piece of data shard 1.
    await collect(
      decodeRange(manifest, key, rangeSource(shards, requests), { offset: segmentSize + 17 * CHUNK + 3, length: 1 })
    )
    expect(requests).toEqual([{ shard: '1:1', start: SEALED_CHUNK, end: 2 * SEALED_CHUNK }])
    requests.length = 0
    // 1 MiB from the middle of a stripe touches two shards, 17 chunks.
    await collect(decodeRange(manifest, key, rangeSource(shards, requests), { offset: 10 * CHUNK, length: 2 ** 20 }))
    expect(requests.reduce((n, r) => n + r.end - r.start, 0)).toBe(17 * SEALED_CHUNK)
    expect(new Set(requests.map((r) => r.shard))).toEqual(new Set(['0:0', '0:1']))
    // A whole stripe with data shard 0 gone: its column comes from parity shard 4 alone, the other data pieces
    // already fetched are not asked for again.
    requests.length = 0
    const withheld = rangeSource(shards, requests, (_s, shard, bytes) => (shard === 0 ? undefined : bytes))
    expect(
      (await collect(decodeRange(manifest, key, withheld, { offset: 0, length: stripePlain }))).equals(
        data.subarray(0, stripePlain)
      )
    ).toBe(true)
    expect(requests.map((r) => `${r.shard} ${r.start}..${r.end}`).sort()).toEqual(
      ['0:0', '0:1', '0:2', '0:3', '0:4'].map((id) => `${id} 0..${2 ** 20}`)
    )
  })

  it('rebuilds a missing or lying data range from parity, and finds a lying parity range', async () => {
    const { manifest, key, shards } = await encoded
    const offset = 20 * CHUNK + 11
    const length = 3 * CHUNK
    const want = data.subarray(offset, offset + length)
    const events: DecodeProgressEvent[] = []
    const missing = rangeSource(shards, [], (_s, shard, bytes) => (shard === 1 ? undefined : bytes))
    expect(
      (
        await collect(decodeRange(manifest, key, missing, { offset, length, onProgress: (e) => events.push(e) }))
      ).equals(want)
    ).toBe(true)
    expect(events.some((e) => e.type === 'decode:shard-missing' && e.shardIndex === 1)).toBe(true)

    events.length = 0
    const flip = (bytes: Uint8Array): Uint8Array => {
      bytes[7]! ^= 0x80
      return bytes
    }
    const lying = rangeSource(shards, [], (_s, shard, bytes) => (shard === 1 ? flip(bytes) : bytes))
    expect(
      (await collect(decodeRange(manifest, key, lying, { offset, length, onProgress: (e) => events.push(e) }))).equals(
        want
      )
    ).toBe(true)
    expect(events.some((e) => e.type === 'decode:shard-bad' && e.shardIndex === 1)).toBe(true)

    // Shard 1 missing and parity shard 4 lying: the first rebuild fails its tags, a swap finds the liar.
    events.length = 0
    const both = rangeSource(shards, [], (_s, shard, bytes) =>
      shard === 1 ? undefined : shard === 4 ? flip(bytes) : bytes
    )
    expect(
      (await collect(decodeRange(manifest, key, both, { offset, length, onProgress: (e) => events.push(e) }))).equals(
        want
      )
    ).toBe(true)
    expect(events.some((e) => e.type === 'decode:shard-bad' && e.shardIndex === 4)).toBe(true)

    // More than m shards gone: a typed error naming them.
    const gone = rangeSource(shards, [], (_s, shard, bytes) => (shard <= 2 ? undefined : bytes))
    const err = await collect(decodeRange(manifest, key, gone, { offset, length })).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotEnoughShardsError)
    expect((err as NotEnoughShardsError).missing).toEqual([0, 1, 2])
  })

  it('lets a source read into its stripe buffers (into): same bytes, and what a failed read left is not used', async () => {
    const { manifest, key, shards } = await encoded
    const offered: Array<{ shard: number; into: Uint8Array }> = []
    /** Reads into `into` when offered; `fail` writes garbage there first and then fails (undefined or a throw). */
    const intoSource =
      (fail?: (shard: number) => 'undefined' | 'throw' | 'lie' | undefined): ShardRangeSource =>
      async ({ segmentIndex, shardIndex, start, end, into }) => {
        const bytes = shards.get(`${segmentIndex}:${shardIndex}`)!.subarray(start, end)
        if (into === undefined) return bytes
        expect(into.length).toBe(end - start)
        offered.push({ shard: shardIndex, into })
        const how = fail?.(shardIndex)
        if (how === 'undefined' || how === 'throw') {
          into.fill(0xa5)
          if (how === 'throw') throw new Error('the provider went away mid-piece')
          return undefined
        }
        into.set(bytes)
        if (how === 'lie') into[7]! ^= 0x80
        return into
      }
    const events: DecodeProgressEvent[] = []
    // Every stripe of the file, one fetched ahead into the other buffer: no piece may be taken for another's.
    expect(
      (await collect(decodeRange(manifest, key, intoSource(), { onProgress: (e) => events.push(e) }))).equals(data)
    ).toBe(true)
    expect(events).toEqual([])
    expect(offered.every((o) => o.shard < k)).toBe(true)
    expect(new Set(offered.map((o) => o.into.buffer)).size).toBe(2)
    for (const edge of [0, 1, stripePlain - 1, stripePlain, segmentSize - 1, segmentSize + 1]) {
      const len = Math.min(stripePlain + 1, data.length - edge)
      const got = await collect(decodeRange(manifest, key, intoSource(), { offset: edge, length: len }))
      expect(got.equals(data.subarray(edge, edge + len)), `offset ${edge}`).toBe(true)
    }
    // A data shard that fails after writing into its place, or lies there: rebuilt from parity and the other data
    // pieces (which were read into the buffer the rebuild rewrites), over whole stripes and inside one.
    for (const how of ['undefined', 'throw', 'lie'] as const) {
      for (const [offset, length] of [
        [0, 2 * stripePlain],
        [20 * CHUNK + 11, 3 * CHUNK]
      ] as const) {
        events.length = 0
        // The data shard holding the range's first byte (16 chunks of each stripe per shard).
        const liar = Math.floor(offset / (16 * CHUNK)) % k
        const source = intoSource((shard) => (shard === liar ? how : undefined))
        const got = await collect(
          decodeRange(manifest, key, source, { offset, length, onProgress: (e) => events.push(e) })
        )
        expect(got.equals(data.subarray(offset, offset + length)), `${how} at ${offset}`).toBe(true)
        expect(events.some((e) => 'shardIndex' in e && e.shardIndex === liar)).toBe(true)
      }
    }
  })

  it("tells the source how far each data shard's run of pieces goes (spanEnd), never past the range", async () => {
    const { manifest, key, shards } = await encoded
    const requests: ShardRangeRequest[] = []
    const source: ShardRangeSource = async (request) => {
      requests.push(request)
      return shards.get(`${request.segmentIndex}:${request.shardIndex}`)?.subarray(request.start, request.end)
    }
    const runs = (): Array<Array<[number, number, number | undefined]>> =>
      Array.from({ length: k }, (_, shard) =>
        requests.filter((r) => r.shardIndex === shard).map((r) => [r.start, r.end, r.spanEnd])
      )
    // Segment 0 whole: every shard's pieces follow on each other; all but the last name where the last ends.
    await collect(decodeRange(manifest, key, source, { offset: 0, length: segmentSize }))
    for (const run of runs()) {
      expect(run.length).toBeGreaterThanOrEqual(2)
      const last = run[run.length - 1]!
      run.forEach(([start, end, spanEnd], i) => {
        if (i > 0) expect(start).toBe(run[i - 1]![1])
        expect(spanEnd).toBe(i === run.length - 1 ? undefined : last[1])
        expect(end).toBeLessThanOrEqual(last[1])
      })
    }
    // Chunks 20..83, from inside stripe 0 into stripe 1: only shard 1 has pieces in both that meet (the end of its
    // stripe-0 piece and the start of its stripe-1 one); the others have one piece each and no run.
    requests.length = 0
    const width = stripeWidthFor(k, m)
    await collect(decodeRange(manifest, key, source, { offset: 20 * CHUNK, length: stripePlain }))
    expect(runs()).toEqual([
      [[width, 2 * width, undefined]],
      [
        [4 * SEALED_CHUNK, width, width + 4 * SEALED_CHUNK],
        [width, width + 4 * SEALED_CHUNK, undefined]
      ],
      [[0, width, undefined]],
      [[0, width, undefined]]
    ])
    // A range inside one piece has no run to announce.
    requests.length = 0
    await collect(decodeRange(manifest, key, source, { offset: 10, length: 1000 }))
    expect(requests.map((r) => r.spanEnd)).toEqual([undefined])
  })

  it('fetches one stripe ahead and aborts it when the consumer stops early', async () => {
    const { manifest, key, shards } = await encoded
    const signals: AbortSignal[] = []
    const source: ShardRangeSource = async (request) => {
      signals.push(request.signal)
      return shards.get(`${request.segmentIndex}:${request.shardIndex}`)?.subarray(request.start, request.end)
    }
    for await (const part of decodeRange(manifest, key, source, { offset: 0, length: segmentSize })) {
      expect(part.length).toBe(stripePlain)
      break
    }
    // Stripe 0's four pieces and stripe 1's (the look-ahead), every one aborted once the loop left.
    expect(signals.length).toBe(8)
    expect(signals.every((s) => s.aborted)).toBe(true)
    const controller = new AbortController()
    controller.abort(new Error('stop'))
    await expect(collect(decodeRange(manifest, key, source, { signal: controller.signal }))).rejects.toThrow('stop')
  })

  it('decodes ranges for other codes too, with a data shard withheld, and an empty file', async () => {
    for (const [k2, m2] of [
      [1, 0],
      [10, 4],
      [16, 240]
    ] as Array<[number, number]>) {
      const chunksPerStripe = (k2 * stripeWidthFor(k2, m2)) / SEALED_CHUNK
      const size = chunksPerStripe * CHUNK + 5000
      const bytes = randomBytes(size)
      const { manifest: mf, key: fk, shards: sh } = await encodeStreamed(bytes, k2, m2, size)
      const withheld = m2 > 0 ? 0 : -1
      const src = rangeSource(sh, [], (_s, shard, b) => (shard === withheld ? undefined : b))
      for (const [offset, length] of [
        [0, size],
        [CHUNK - 1, 2],
        [chunksPerStripe * CHUNK - 1, 2],
        [size - 1, 1],
        [17, 0]
      ]) {
        const got = await collect(decodeRange(mf, fk, src, { offset, length }))
        expect(
          got.equals(bytes.subarray(offset!, offset! + length!)),
          `k=${k2} m=${m2} offset ${offset} length ${length}`
        ).toBe(true)
      }
    }
    const empty = await encodeStreamed(new Uint8Array(0), 4, 2, 2 ** 20)
    expect(empty.manifest.fileSize).toBe(0)
    expect((await collect(decodeRange(empty.manifest, empty.key, rangeSource(empty.shards)))).length).toBe(0)
  })

  it('reads a file at the stripe width its manifest records, not at the writer default', async () => {
    // 3 chunks per shard per stripe where 4 + 2 defaults to 16: a reader that derived the width from (k, m) would
    // look for every byte in the wrong place.
    const chunks = 3
    const plainPerStripe = k * chunks * CHUNK
    const segment = 2 * plainPerStripe + 777
    const bytes = randomBytes(segment + plainPerStripe + 5000)
    const streamed = await encodeStreamed(bytes, k, m, segment, undefined, chunks)
    expect(streamed.manifest.stripeChunks).toBe(chunks)
    expect(stripeWidthFor(k, m)).not.toBe(chunks * SEALED_CHUNK)
    expect(streamed.stripes.slice(0, 2)).toEqual([chunks * SEALED_CHUNK, chunks * SEALED_CHUNK])
    const sealed0 = oracleSeal(nodeSegmentKey(streamed.key, streamed.manifest.keySalt, 0), bytes.subarray(0, segment))
    const oracle = oracleShards(sealed0, k, m, chunks * SEALED_CHUNK)
    oracle.forEach((shard, i) => {
      expect(streamed.shards.get(`0:${i}`)!.equals(shard), `shard ${i}`).toBe(true)
    })
    const withheld = rangeSource(streamed.shards, [], (_s, shard, b) => (shard === 1 ? undefined : b))
    for (const [offset, length] of [
      [0, bytes.length],
      [plainPerStripe - 1, 2],
      [segment - 3, 10],
      [bytes.length - 1, 1]
    ] as Array<[number, number]>) {
      const got = await collect(decodeRange(streamed.manifest, streamed.key, withheld, { offset, length }))
      expect(got.equals(bytes.subarray(offset, offset + length)), `offset ${offset} length ${length}`).toBe(true)
    }
    const back = await collect(decodeFile(streamed.manifest, streamed.key, storeSource(streamed.shards, new Set([0]))))
    expect(back.equals(bytes)).toBe(true)
    expect(() => encodeFile(Readable.from([bytes]), { k, m, stripeChunks: 17 })).toThrow(InvalidOptionError)
    expect(() => encodeFile(Readable.from([bytes]), { k, m, stripeChunks: 0 })).toThrow(InvalidOptionError)
  })

  it('handles the last, narrow stripe whose chunks straddle shards', async () => {
    const { manifest, key, shards } = await encoded
    const lastStart = 2 * segmentSize + stripePlain
    const got = await collect(
      decodeRange(
        manifest,
        key,
        rangeSource(shards, [], (_s, shard, bytes) => (shard === 0 ? undefined : bytes)),
        { offset: lastStart, length: 3 }
      )
    )
    expect(got.equals(data.subarray(lastStart))).toBe(true)
    const inSegment0 = await collect(
      decodeRange(
        manifest,
        key,
        rangeSource(shards, [], (_s, shard, bytes) => (shard === 2 ? undefined : bytes)),
        { offset: segmentSize - 500, length: 500 }
      )
    )
    expect(inSegment0.equals(data.subarray(segmentSize - 500, segmentSize))).toBe(true)
  })
})

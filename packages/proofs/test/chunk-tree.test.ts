import { describe, expect, it } from 'vitest'
import {
  buildChunkTree,
  buildChunkTreeReference,
  buildTreeReference,
  ByteLengthMismatchError,
  ChunkMismatchError,
  ChunkTreeBuilder,
  ChunkTreeDecodeError,
  decodeChunkTree,
  DEFAULT_CHUNK_SIZE,
  encodeChunkTree,
  verifyProof
} from '@sherd/proofs'
import type { ChunkTree } from '@sherd/proofs'
import { bytesOf, EDGE_SIZES, hex } from './oracle.js'

function expectSameProofs(tree: ChunkTree, data: Uint8Array): void {
  const full = buildTreeReference(data)
  expect(hex(tree.root)).toBe(hex(full.root))
  expect([tree.depth, tree.leafCount, tree.byteLength]).toEqual([full.depth, full.leafCount, full.byteLength])
  for (let i = 0; i < tree.leafCount; i++) {
    const { start, end } = tree.chunkRange(i)
    const proof = tree.proveFromChunk(i, data.subarray(start, end))
    expect(proof).toEqual(full.prove(i))
    expect(verifyProof(tree.root, tree.depth, proof)).toBe(true)
  }
}

describe('chunk trees', () => {
  it('give the full-tree root and identical proofs for every chunk size and edge size', () => {
    for (const chunkSize of [64, 128, 256, 1024]) {
      for (const size of EDGE_SIZES) {
        const data = bytesOf(size, size * 3 + 1)
        expectSameProofs(buildChunkTreeReference(data, chunkSize), data)
        expectSameProofs(buildChunkTree(data, chunkSize), data)
      }
    }
  })

  it('cut chunks at chunkSize bytes and keep 32 bytes per chunk', () => {
    const data = bytesOf(3 * DEFAULT_CHUNK_SIZE + 100, 5)
    const tree = buildChunkTree(data)
    expect(tree.chunkSize).toBe(DEFAULT_CHUNK_SIZE)
    expect(tree.chunkCount).toBe(4)
    expect(tree.chunkRange(0)).toEqual({ chunkIndex: 0, start: 0, end: DEFAULT_CHUNK_SIZE })
    expect(tree.chunkRange(1024)).toEqual({ chunkIndex: 1, start: DEFAULT_CHUNK_SIZE, end: 2 * DEFAULT_CHUNK_SIZE })
    expect(tree.chunkRange(tree.leafCount - 1)).toEqual({
      chunkIndex: 3,
      start: 3 * DEFAULT_CHUNK_SIZE,
      end: data.length
    })
    expect(encodeChunkTree(tree).length).toBe(45 + 4 * 32)
    const full = buildTreeReference(data)
    for (const i of [0, 1023, 1024, 2047, 3071, 3072, tree.leafCount - 1]) {
      const { start, end } = tree.chunkRange(i)
      expect(tree.proveFromChunk(i, data.subarray(start, end))).toEqual(full.prove(i))
    }
  })

  it('treat a shard smaller than a chunk as one chunk', () => {
    const data = bytesOf(1000, 2)
    const tree = buildChunkTree(data)
    expect(tree.chunkCount).toBe(1)
    expect(tree.chunkRange(15)).toEqual({ chunkIndex: 0, start: 0, end: 1000 })
    expectSameProofs(tree, data)
  })

  it('refuse chunk bytes that are not the stored chunk', () => {
    const data = bytesOf(64 * 40, 8)
    const tree = buildChunkTree(data, 256)
    const { start, end } = tree.chunkRange(9)
    const chunk = data.slice(start, end)
    chunk[5]! ^= 0x40
    expect(() => tree.proveFromChunk(9, chunk)).toThrow(ChunkMismatchError)
    expect(() => tree.proveFromChunk(9, data.subarray(start, end - 1))).toThrow(ChunkMismatchError)
    expect(() => tree.proveFromChunk(9, data.subarray(start + 256, end + 256))).toThrow(ChunkMismatchError)
    expect(() => tree.proveFromChunk(40, data.subarray(start, end))).toThrow(RangeError)
    expect(() => tree.chunkRange(-1)).toThrow(RangeError)
  })

  it('reject chunk sizes that are not a power of two of at least one leaf', () => {
    for (const bad of [0, 32, 100, 65535, 2 ** 31, 1.5])
      expect(() => buildChunkTree(new Uint8Array(10), bad)).toThrow(RangeError)
    expect(() => new ChunkTreeBuilder(10, 96)).toThrow(RangeError)
    expect(() => new ChunkTreeBuilder(-1)).toThrow(RangeError)
  })
})

describe('encodeChunkTree / decodeChunkTree', () => {
  it('round-trip, and the decoded tree proves like the original', () => {
    for (const size of [0, 1, 64, 65, 64 * 33, 5000]) {
      const data = bytesOf(size, size + 2)
      const tree = buildChunkTree(data, 128)
      const decoded = decodeChunkTree(encodeChunkTree(tree))
      expect(hex(decoded.root)).toBe(hex(tree.root))
      expect([decoded.chunkCount, decoded.chunkSize, decoded.byteLength]).toEqual([tree.chunkCount, 128, size])
      expectSameProofs(decoded, data)
    }
  })

  it('reject truncated, extended, corrupt or foreign records', () => {
    const encoded = encodeChunkTree(buildChunkTree(bytesOf(64 * 20, 3), 128))
    const bad = (mutate: (b: Uint8Array) => Uint8Array): void => {
      expect(() => decodeChunkTree(mutate(encoded.slice()))).toThrow(ChunkTreeDecodeError)
    }
    bad((b) => b.subarray(0, 10))
    bad((b) => b.subarray(0, b.length - 1))
    bad((b) => Uint8Array.of(...b, 0))
    bad((b) => {
      b[0] = 2
      return b
    })
    bad((b) => {
      b[b.length - 1]! ^= 1
      return b
    }) // a chunk root
    bad((b) => {
      b[20]! ^= 1
      return b
    }) // the root
    bad((b) => {
      b[12] = 100
      return b
    }) // chunk size not a power of two
    bad((b) => {
      b[8]! += 64
      return b
    }) // byte length: one more leaf, same chunk count, root mismatch
    bad((b) => {
      b.fill(0xff, 1, 9)
      return b
    }) // byte length beyond 2^53
    expect(() => encodeChunkTree({} as never)).toThrow(TypeError)
  })
})

describe('ChunkTreeBuilder', () => {
  it('gives the same tree for any way of cutting the stream', () => {
    const data = bytesOf(64 * 100 + 17, 4)
    const whole = buildChunkTree(data, 512)
    const cuts = [[data.length], [1, data.length - 1], [511, 1, 512, 513], [7, 3000, 64], [data.length - 1, 1]]
    for (const sizes of cuts) {
      const builder = new ChunkTreeBuilder(data.length, 512)
      let at = 0
      for (const size of sizes) {
        builder.update(data.subarray(at, at + size))
        at += size
      }
      while (at < data.length) {
        builder.update(data.subarray(at, at + 1000))
        at += 1000
      }
      const tree = builder.finish()
      expect(hex(tree.root)).toBe(hex(whole.root))
      expect(encodeChunkTree(tree)).toEqual(encodeChunkTree(whole))
    }
    for (let trial = 0; trial < 20; trial++) {
      const builder = new ChunkTreeBuilder(data.length, 512)
      let at = 0
      while (at < data.length) {
        const size = Math.floor(Math.random() * 1500)
        builder.update(data.subarray(at, at + size))
        at += size
      }
      expect(hex(builder.finish().root)).toBe(hex(whole.root))
    }
  })

  it('builds the empty shard and exact multiples of the chunk size', () => {
    expect(hex(new ChunkTreeBuilder(0).finish().root)).toBe(hex(buildTreeReference(new Uint8Array(0)).root))
    const data = bytesOf(2048, 6)
    const builder = new ChunkTreeBuilder(2048, 1024)
    builder.update(data.subarray(0, 1024))
    builder.update(data.subarray(1024))
    expect(hex(builder.finish().root)).toBe(hex(buildTreeReference(data).root))
  })

  it('throws ByteLengthMismatchError for too few or too many bytes', () => {
    const short = new ChunkTreeBuilder(1000)
    short.update(new Uint8Array(999))
    expect(() => short.finish()).toThrow(ByteLengthMismatchError)
    const long = new ChunkTreeBuilder(1000)
    long.update(new Uint8Array(600))
    expect(() => long.update(new Uint8Array(401))).toThrow(ByteLengthMismatchError)
    expect(() => long.finish()).toThrow(ByteLengthMismatchError)
    try {
      short.finish()
    } catch (err) {
      expect((err as Error).name).toBe('ByteLengthMismatchError')
    }
  })
})

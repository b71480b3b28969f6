import { createHash, randomBytes } from 'node:crypto'
import { sha256 } from '@noble/hashes/sha2.js'
import { describe, expect, it } from 'vitest'
import {
  buildChunkTree,
  buildChunkTreeReference,
  buildTree,
  buildTreeReference,
  merkleRoot,
  merkleRootReference,
  verifyProof
} from '@sherd/proofs'
import { kernelHasher } from '../src/kernel.js'
import { referenceHasher } from '../src/reference.js'
import { bytesOf, EDGE_SIZES, hex, oracleRoot } from './oracle.js'

const kernel = kernelHasher()!
const nodeSha = (m: Uint8Array): string => createHash('sha256').update(m).digest('hex')

describe('SHA-256 oracles on published vectors (FIPS 180-2 examples, NIST CAVP SHA256ShortMsg)', () => {
  const text = (s: string): Uint8Array => new TextEncoder().encode(s)
  const vectors: Array<[Uint8Array, string]> = [
    [text(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    [text('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    [
      text('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
      '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'
    ],
    [
      Buffer.from(
        '5a86b737eaea8ee976a0a24da63e7ed7eefad18a101c1211e2b3650c5187c2a8a650547208251f6d4237e661c7bf4c77f335390394c37fa1a9f9be836ac28509',
        'hex'
      ),
      '42e61e174fbb3897d6dd6cef3dd2802fe67b331953b06114a65c772859dfc1aa'
    ]
  ]
  it('node:crypto and @noble/hashes agree with the published digests', () => {
    for (const [message, digest] of vectors) {
      expect(nodeSha(message)).toBe(digest)
      expect(hex(sha256(message))).toBe(digest)
    }
  })
})

describe('WASM kernel SHA-256 of 65-byte messages', () => {
  it('runs here (WebAssembly SIMD)', () => {
    expect(kernel).not.toBeNull()
  })

  it('equals node:crypto on patterned and random messages, every lane and tail length', () => {
    const patterns = [
      new Uint8Array(65),
      new Uint8Array(65).fill(0xff),
      new Uint8Array(65).fill(0x80),
      Uint8Array.from({ length: 65 }, (_, i) => i),
      Uint8Array.from({ length: 65 }, (_, i) => 255 - i)
    ]
    for (let count = 1; count <= 9; count++) {
      const messages = new Uint8Array(count * 65)
      for (let i = 0; i < count; i++) messages.set(i < patterns.length ? patterns[i]! : randomBytes(65), i * 65)
      const digests = kernel.hash65(messages)
      for (let i = 0; i < count; i++) {
        expect(hex(digests.subarray(i * 32, i * 32 + 32))).toBe(nodeSha(messages.subarray(i * 65, i * 65 + 65)))
      }
    }
    const many = randomBytes(65 * 500)
    const digests = kernel.hash65(many)
    for (let i = 0; i < 500; i++)
      expect(hex(digests.subarray(i * 32, i * 32 + 32))).toBe(nodeSha(many.subarray(i * 65, i * 65 + 65)))
  })
})

describe('WASM kernel trees = reference = node:crypto oracle', () => {
  it('agree on every edge size', () => {
    for (const size of EDGE_SIZES) {
      const data = bytesOf(size, size + 13)
      const root = hex(oracleRoot(data))
      expect(hex(merkleRoot(data)), `size ${size}`).toBe(root)
      expect(hex(merkleRootReference(data))).toBe(root)
      expect(hex(buildTree(data).root)).toBe(root)
    }
  })

  it('agree on whole level arrays and subtree roots of every width', () => {
    for (const size of [0, 1, 65, 64 * 4, 64 * 5 + 1, 64 * 64, 64 * 100 + 9, 64 * 2048 + 64]) {
      const data = bytesOf(size, size + 5)
      const leaves = Math.max(1, Math.ceil(size / 64))
      let width = 1
      while (width < leaves) width *= 2
      expect(hex(kernel.levels(data, width)), `levels of ${size}`).toBe(hex(referenceHasher.levels(data, width)))
      for (let sub = 1; sub <= 2 * width && sub <= 4096; sub *= 2) {
        expect(hex(kernel.subtreeRoots(data, sub)), `size ${size} subtree ${sub}`).toBe(
          hex(referenceHasher.subtreeRoots(data, sub))
        )
      }
    }
  })

  it('agree on the levels above given nodes (chunk-tree upper levels) for every fill and base level', () => {
    for (const width of [1, 2, 4, 8, 64]) {
      for (const n of new Set([1, 2, 3, width - 1, width].filter((x) => x >= 1 && x <= width))) {
        for (const base of [0, 1, 10, 20]) {
          const nodes = randomBytes(n * 32)
          expect(hex(kernel.upperLevels(nodes, width, base)), `width ${width} n ${n} base ${base}`).toBe(
            hex(referenceHasher.upperLevels(nodes, width, base))
          )
        }
      }
    }
  })

  it('agree on random sizes and contents (property)', () => {
    for (let trial = 0; trial < 40; trial++) {
      const size = Math.floor(Math.random() * (trial < 30 ? 5000 : 200_000))
      const data = randomBytes(size)
      const expected = hex(oracleRoot(data))
      expect(hex(merkleRoot(data)), `random size ${size}`).toBe(expected)
      const tree = buildTree(data)
      expect(hex(tree.root)).toBe(expected)
      const i = Math.floor(Math.random() * tree.leafCount)
      expect(verifyProof(tree.root, tree.depth, tree.prove(i))).toBe(true)
    }
  })

  it('give identical proofs from full trees and chunk trees (property)', () => {
    for (let trial = 0; trial < 15; trial++) {
      const size = Math.floor(Math.random() * 40_000)
      const chunkSize = 2 ** (6 + Math.floor(Math.random() * 10))
      const data = randomBytes(size)
      const full = buildTreeReference(data)
      const chunked = buildChunkTree(data, chunkSize)
      expect(hex(chunked.root)).toBe(hex(full.root))
      expect(hex(buildChunkTreeReference(data, chunkSize).root)).toBe(hex(full.root))
      for (let k = 0; k < 10; k++) {
        const i = Math.floor(Math.random() * full.leafCount)
        const { start, end } = chunked.chunkRange(i)
        expect(chunked.proveFromChunk(i, data.subarray(start, end))).toEqual(full.prove(i))
      }
    }
  })

  it('agree across the 1 MiB slice boundaries of a larger shard (sliced roots vs one-call levels vs chunk tree vs oracle)', () => {
    const data = randomBytes(3 * 1024 * 1024 + 100)
    const root = hex(merkleRoot(data))
    expect(hex(buildTree(data).root)).toBe(root)
    expect(hex(buildChunkTree(data).root)).toBe(root)
    expect(root).toBe(hex(oracleRoot(data)))
  })
})

import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  buildTreeReference,
  depthOf,
  HASH_SIZE,
  leafCountOf,
  leafHash,
  LEAF_SIZE,
  merkleRootReference,
  nodeHash,
  verifyProof
} from '@sherd/proofs'
import { bytesOf, EDGE_SIZES, hex, oracleLevels, oracleRoot } from './oracle.js'

describe('shape', () => {
  it('counts leaves and depth', () => {
    expect([0, 1, 63, 64, 65, 128, 129].map(leafCountOf)).toEqual([1, 1, 1, 1, 2, 2, 3])
    expect([1, 2, 3, 4, 5, 8, 9, 1024, 1025].map(depthOf)).toEqual([0, 1, 2, 2, 3, 3, 4, 10, 11])
    expect(depthOf(2 ** 40)).toBe(40)
    expect(depthOf(2 ** 40 + 1)).toBe(41)
  })

  it('rejects impossible sizes', () => {
    expect(() => leafCountOf(-1)).toThrow(RangeError)
    expect(() => leafCountOf(1.5)).toThrow(RangeError)
    expect(() => depthOf(0)).toThrow(RangeError)
  })
})

describe('reference hashes', () => {
  it('hashes a leaf as SHA-256(0x00 ‖ 64 bytes) and a node as SHA-256(0x01 ‖ left ‖ right)', () => {
    const leaf = bytesOf(64, 3)
    expect(hex(leafHash(leaf))).toBe(
      createHash('sha256')
        .update(Buffer.from([0]))
        .update(leaf)
        .digest('hex')
    )
    const l = bytesOf(32, 4)
    const r = bytesOf(32, 5)
    expect(hex(nodeHash(l, r))).toBe(
      createHash('sha256')
        .update(Buffer.from([1]))
        .update(l)
        .update(r)
        .digest('hex')
    )
    expect(hex(leafHash(new Uint8Array(3).fill(7)))).toBe(hex(leafHash(Uint8Array.of(7, 7, 7, ...new Uint8Array(61)))))
    expect(() => leafHash(new Uint8Array(65))).toThrow(RangeError)
    expect(() => nodeHash(l, new Uint8Array(31))).toThrow(TypeError)
  })

  it('matches the node:crypto oracle on every edge size', () => {
    for (const size of EDGE_SIZES) {
      const data = bytesOf(size, size + 1)
      expect(hex(merkleRootReference(data)), `size ${size}`).toBe(hex(oracleRoot(data)))
    }
  })

  it('defines the empty shard as one zero leaf', () => {
    const root = merkleRootReference(new Uint8Array(0))
    expect(hex(root)).toBe(createHash('sha256').update(new Uint8Array(65)).digest('hex'))
    const tree = buildTreeReference(new Uint8Array(0))
    expect([tree.depth, tree.leafCount, tree.byteLength]).toEqual([0, 1, 0])
    const proof = tree.prove(0)
    expect(proof.path).toEqual([])
    expect(proof.leaf).toEqual(new Uint8Array(64))
    expect(verifyProof(root, 0, proof)).toBe(true)
  })

  it('pins the worked example of docs/proofs.md', () => {
    // 130 bytes 0x00..0x81: three leaves (the last holds 2 bytes), padded to four leaf hashes.
    const data = Uint8Array.from({ length: 130 }, (_, i) => i)
    const tree = buildTreeReference(data)
    expect(tree.depth).toBe(2)
    const levels = oracleLevels(data)
    expect(hex(levels[0]![3]!)).toBe('00'.repeat(32))
    expect(hex(tree.root)).toBe(hex(levels[2]![0]!))
    expect(hex(tree.root)).toBe(WORKED_ROOT)
    const proof = tree.prove(2)
    expect(proof.path.map(hex)).toEqual([hex(levels[0]![3]!), hex(levels[1]![0]!)])
  })
})

const WORKED_ROOT = '68c4370abf861fa19db318160a1a5ac53b54c213bf1167cf58856785fabbc753'

describe('proofs', () => {
  it('proves every leaf of every edge size, with the oracle siblings', () => {
    for (const size of EDGE_SIZES) {
      const data = bytesOf(size, size + 7)
      const tree = buildTreeReference(data)
      const levels = oracleLevels(data)
      for (let i = 0; i < tree.leafCount; i++) {
        const proof = tree.prove(i)
        expect(proof.path.length).toBe(tree.depth)
        expect(proof.path.map(hex)).toEqual(levels.slice(0, -1).map((level, j) => hex(level[(i >> j) ^ 1]!)))
        expect(verifyProof(tree.root, tree.depth, proof)).toBe(true)
      }
    }
  })

  it('rejects tampered and malformed proofs with false', () => {
    const data = bytesOf(64 * 5 + 3, 11)
    const tree = buildTreeReference(data)
    const good = tree.prove(3)
    const check = (proof: unknown): boolean => verifyProof(tree.root, tree.depth, proof as never)
    expect(check(good)).toBe(true)
    const flipped = good.leaf.slice()
    flipped[10]! ^= 1
    expect(check({ ...good, leaf: flipped })).toBe(false)
    expect(check({ ...good, index: 2 })).toBe(false)
    expect(check({ ...good, index: 3 + 8 })).toBe(false)
    expect(check({ ...good, index: -1 })).toBe(false)
    expect(check({ ...good, index: 1.5 })).toBe(false)
    expect(check({ ...good, leaf: good.leaf.subarray(0, 63) })).toBe(false)
    expect(check({ ...good, path: good.path.slice(1) })).toBe(false)
    expect(check({ ...good, path: [...good.path, new Uint8Array(32)] })).toBe(false)
    expect(check({ ...good, path: [good.path[0]!.subarray(1), ...good.path.slice(1)] })).toBe(false)
    expect(check({ ...good, path: [good.path[1], good.path[0], good.path[2]] })).toBe(false)
    expect(check({ ...good, path: [null, ...good.path.slice(1)] })).toBe(false)
    expect(check(null)).toBe(false)
    expect(check({ index: 3 })).toBe(false)
    // the same proof against a shallower or deeper tree is a wrong path length
    expect(verifyProof(tree.root, tree.depth - 1, good)).toBe(false)
    expect(verifyProof(tree.root, tree.depth + 1, good)).toBe(false)
    expect(() => verifyProof(tree.root.subarray(1), tree.depth, good)).toThrow(TypeError)
    expect(() => verifyProof(tree.root, -1, good)).toThrow(RangeError)
  })

  it('rejects out-of-range leaf indices', () => {
    const tree = buildTreeReference(bytesOf(64 * 5, 2))
    for (const bad of [-1, 5, 8, 0.5, Number.NaN]) expect(() => tree.prove(bad)).toThrow(RangeError)
    expect(() => buildTreeReference('abc' as never)).toThrow(TypeError)
  })

  it('keeps its own copy of the data', () => {
    const data = bytesOf(200, 9)
    const tree = buildTreeReference(data)
    data.fill(0)
    expect(verifyProof(tree.root, tree.depth, tree.prove(1))).toBe(true)
  })

  it('has 32-byte roots and 64-byte leaves', () => {
    const tree = buildTreeReference(bytesOf(1000))
    expect(tree.root.length).toBe(HASH_SIZE)
    expect(tree.prove(0).leaf.length).toBe(LEAF_SIZE)
  })
})

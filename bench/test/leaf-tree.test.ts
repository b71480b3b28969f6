import { createHash } from 'node:crypto'
import { sha256 } from '@noble/hashes/sha2.js'
import { merkleRoot } from '@sherd/proofs'
import { describe, expect, test } from 'vitest'
import { leafHashLevel, leafTreeRoot } from '../src/leaf-tree.js'

const nodeCrypto = (m: Uint8Array): Uint8Array => createHash('sha256').update(m).digest()

/** An independent statement of the generalized format: recursive, one concatenation per node, @noble/hashes. */
function oracleRoot(data: Uint8Array, leafSize: number): Uint8Array {
  const leafCount = Math.max(1, Math.ceil(data.length / leafSize))
  const width = 2 ** Math.ceil(Math.log2(leafCount))
  const leaf = (i: number): Uint8Array => {
    if (i >= leafCount) return new Uint8Array(32)
    const padded = new Uint8Array(leafSize)
    padded.set(data.subarray(i * leafSize, (i + 1) * leafSize))
    return sha256(Uint8Array.of(0, ...padded))
  }
  const node = (level: number, j: number): Uint8Array =>
    level === 0 ? leaf(j) : sha256(Uint8Array.of(1, ...node(level - 1, 2 * j), ...node(level - 1, 2 * j + 1)))
  return node(Math.log2(width), 0)
}

const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + 3) & 0xff)

describe('the leaf-size prototype of the bench (bench/src/leaf-tree.ts)', () => {
  test('at 64-byte leaves it is the project format: merkleRoot at every leaf edge', () => {
    for (const n of [0, 1, 63, 64, 65, 130, 4095, 4096, 4097, 65_537])
      expect(Buffer.from(leafTreeRoot(bytes(n), 64, nodeCrypto)).toString('hex')).toBe(
        Buffer.from(merkleRoot(bytes(n))).toString('hex')
      )
  })

  test('at 256 B, 1 KiB and 4 KiB it matches an independent recursive statement of the same rules', () => {
    for (const size of [256, 1024, 4096])
      for (const n of [0, 1, size - 1, size, size + 1, 5 * size + 3, 8 * size]) {
        const expected = Buffer.from(oracleRoot(bytes(n), size)).toString('hex')
        expect(Buffer.from(leafTreeRoot(bytes(n), size, nodeCrypto)).toString('hex'), `${size} B, ${n} bytes`).toBe(
          expected
        )
      }
  })

  test('the last leaf is zero-padded, not filled with the previous leaf’s bytes', () => {
    // 1.5 leaves: the second leaf's tail must hash as zeros even though the message buffer held leaf 0 before.
    const data = bytes(384)
    const withZeros = new Uint8Array(512)
    withZeros.set(data)
    expect(leafTreeRoot(data, 256, nodeCrypto)).toEqual(leafTreeRoot(withZeros, 256, nodeCrypto))
    expect(leafTreeRoot(data, 256, nodeCrypto)).not.toEqual(leafTreeRoot(bytes(512), 256, nodeCrypto))
  })

  test('the leaf level is padded to a power of two with zero hashes', () => {
    const level = leafHashLevel(bytes(3 * 1024), 1024, nodeCrypto)
    expect(level.length).toBe(4 * 32)
    expect(level.subarray(96)).toEqual(new Uint8Array(32))
    expect(level.subarray(0, 32)).toEqual(sha256(Uint8Array.of(0, ...bytes(1024))))
    expect(() => leafHashLevel(bytes(10), 0, nodeCrypto)).toThrow(RangeError)
  })
})

import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { MerkleRootBuilder, merkleRoot, merkleRootBuilderReference } from '@sherd/proofs'
import { oracleRoot } from './oracle.js'

const BLOCK = 65536

/** Feeds `data` in pieces cut at `cuts` (sorted offsets). */
function rootInPieces(builder: MerkleRootBuilder, data: Uint8Array, cuts: number[]): Uint8Array {
  let at = 0
  for (const cut of [...cuts, data.length]) {
    builder.append(data.subarray(at, cut))
    at = cut
  }
  return builder.finish()
}

describe('MerkleRootBuilder', () => {
  it('gives the whole-buffer root at every block and leaf edge, fed whole, byte by byte-ish and at random cuts', () => {
    const sizes = [
      0,
      1,
      63,
      64,
      65,
      BLOCK - 1,
      BLOCK,
      BLOCK + 1,
      2 * BLOCK,
      2 * BLOCK + 64,
      3 * BLOCK - 1,
      5 * BLOCK + 7,
      8 * BLOCK,
      8 * BLOCK + 1
    ]
    for (const size of sizes) {
      const data = randomBytes(size)
      const expected = oracleRoot(data)
      expect(Buffer.from(merkleRoot(data))).toEqual(expected)
      expect(Buffer.from(rootInPieces(new MerkleRootBuilder(), data, []))).toEqual(expected)
      const cuts = Array.from({ length: 6 }, () => Math.floor(Math.random() * (size + 1))).sort((a, b) => a - b)
      expect(
        Buffer.from(rootInPieces(new MerkleRootBuilder(), data, cuts)),
        `size ${size} cuts ${cuts.join(',')}`
      ).toEqual(expected)
      // Cuts exactly on block edges, and pieces of one block each.
      const edges = Array.from({ length: Math.floor(size / BLOCK) }, (_, i) => (i + 1) * BLOCK).filter((c) => c <= size)
      expect(Buffer.from(rootInPieces(new MerkleRootBuilder(), data, edges))).toEqual(expected)
      expect(Buffer.from(rootInPieces(merkleRootBuilderReference(), data, cuts))).toEqual(expected)
    }
  })

  it('takes pieces in many small appends (leaf-sized and odd)', () => {
    const data = randomBytes(3 * BLOCK + 100)
    const builder = new MerkleRootBuilder()
    for (let at = 0; at < data.length; at += 1000) builder.append(data.subarray(at, Math.min(at + 1000, data.length)))
    expect(builder.byteLength).toBe(data.length)
    expect(Buffer.from(builder.finish())).toEqual(oracleRoot(data))
  })

  it("keeps no reference to the caller's buffer", () => {
    const data = randomBytes(BLOCK + 10)
    const copy = Buffer.from(data)
    const builder = new MerkleRootBuilder()
    builder.append(data)
    data.fill(0)
    expect(Buffer.from(builder.finish())).toEqual(oracleRoot(copy))
  })

  it('refuses appends after finish and a second finish', () => {
    const builder = new MerkleRootBuilder()
    builder.finish()
    expect(() => builder.append(new Uint8Array(1))).toThrow(/after finish/)
    expect(() => builder.finish()).toThrow(/twice/)
  })
})

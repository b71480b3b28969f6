// The provider super-tree's TypeScript mirror against a plain full binary tree built independently; agreement with
// the contract (superRootOf, proofs) is checked on anvil in proof-set.test.ts.
import { nodeHash } from '@sherd/proofs'
import { randomBytes } from 'node:crypto'
import { bytesToHex, numberToBytes } from 'viem'
import { describe, expect, test } from 'vitest'
import { ProofEncodingError } from '../src/errors.js'
import { ProviderSuperTree, superDepth, superLeaf, SuperTreeSnapshot } from '../src/index.js'

/** Root of `leaves` padded with 32-byte zero leaves to a power of two: what zero subtrees stand for. */
function naiveRoot(leaves: Uint8Array[]): Uint8Array {
  let level = [...leaves]
  const width = 2 ** superDepth(leaves.length)
  while (level.length < width) level.push(new Uint8Array(32))
  while (level.length > 1) {
    const up: Uint8Array[] = []
    for (let i = 0; i < level.length; i += 2) up.push(nodeHash(level[i]!, level[i + 1]!))
    level = up
  }
  return level[0]!
}

function climb(leaf: Uint8Array, path: Uint8Array[], slot: number): Uint8Array {
  let h = leaf
  for (const [l, sibling] of path.entries())
    h = Math.floor(slot / 2 ** l) % 2 === 0 ? nodeHash(h, sibling) : nodeHash(sibling, h)
  return h
}

const randomLeaves = (n: number): Uint8Array[] => Array.from({ length: n }, () => new Uint8Array(randomBytes(32)))

describe('super-tree', () => {
  test("root and every slot's path agree with a plain zero-padded tree, 1 … 33 leaves", () => {
    for (let n = 1; n <= 33; n++) {
      const leaves = randomLeaves(n)
      const snapshot = new SuperTreeSnapshot(leaves)
      expect(snapshot.depth).toBe(superDepth(n))
      expect(bytesToHex(snapshot.root)).toBe(bytesToHex(naiveRoot(leaves)))
      for (let slot = 0; slot < n; slot++) {
        const path = snapshot.prove(slot)
        expect(path).toHaveLength(snapshot.depth)
        expect(bytesToHex(climb(leaves[slot]!, path, slot))).toBe(bytesToHex(snapshot.root))
      }
      expect(() => snapshot.prove(n)).toThrow(RangeError)
    }
    expect([1, 2, 3, 4, 5, 1024, 1025].map(superDepth)).toEqual([0, 1, 2, 2, 3, 10, 11])
  })

  test('a super-leaf binds the deal id: nodeHash(uint256 dealId, root)', () => {
    const root = new Uint8Array(randomBytes(32))
    expect(bytesToHex(superLeaf(7n, root))).toBe(bytesToHex(nodeHash(numberToBytes(7n, { size: 32 }), root)))
    expect(bytesToHex(superLeaf(7n, root))).not.toBe(bytesToHex(superLeaf(8n, root)))
    expect(bytesToHex(superLeaf(7n, bytesToHex(root)))).toBe(bytesToHex(superLeaf(7n, root)))
    expect(() => superLeaf(1n, new Uint8Array(31))).toThrow(ProofEncodingError)
  })

  test('a provider tree takes slots in any order, refuses a snapshot with a gap, and drops a stale snapshot', () => {
    const roots = randomLeaves(5)
    const tree = new ProviderSuperTree()
    for (const slot of [3, 0, 4, 1]) tree.set(slot, BigInt(slot + 1), roots[slot]!)
    expect(tree.snapshot(2).slots).toBe(2)
    expect(() => tree.snapshot(5)).toThrow(ProofEncodingError)
    tree.set(2, 3n, roots[2]!)
    const whole = tree.snapshot(5)
    expect(bytesToHex(whole.root)).toBe(bytesToHex(naiveRoot(roots.map((r, i) => superLeaf(BigInt(i + 1), r)))))
    expect(tree.snapshot(5)).toBe(whole)
    // A slot rewritten (a ledger that replaced a deal after a reorg) gives a new snapshot.
    tree.set(4, 99n, roots[4]!)
    expect(bytesToHex(tree.snapshot(5).root)).not.toBe(bytesToHex(whole.root))
    expect(() => new SuperTreeSnapshot([])).toThrow(ProofEncodingError)
  })
})

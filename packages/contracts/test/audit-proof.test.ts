// The audit proof's encoding (MerkleVerifier.sol's format): what answerAudit accepts is covered on anvil in
// proof-set.test.ts; here the lengths and the refusals of malformed items.
import { buildTree, challengeIndices, HASH_SIZE, LEAF_SIZE } from '@sherd/proofs'
import { randomBytes } from 'node:crypto'
import { bytesToHex, hexToBytes, size } from 'viem'
import { expect, test } from 'vitest'
import { encodeProof, ProofEncodingError, proofLength, proveChallenges } from '../src/index.js'

const tree = buildTree(new Uint8Array(randomBytes(64 * 1024)))

test('a proof is count × (leaf ‖ depth siblings), leaves in challenge order', () => {
  const seed = bytesToHex(randomBytes(32))
  const proof = proveChallenges(tree, seed, 10)
  expect(size(proof)).toBe(proofLength(tree.depth, 10))
  expect(proofLength(tree.depth, 10)).toBe(10 * (LEAF_SIZE + HASH_SIZE * tree.depth))
  const bytes = hexToBytes(proof)
  const item = LEAF_SIZE + HASH_SIZE * tree.depth
  challengeIndices(hexToBytes(seed), 10, tree.leafCount).forEach((index, j) => {
    const expected = tree.prove(index)
    expect(bytes.subarray(j * item, j * item + LEAF_SIZE)).toEqual(expected.leaf)
    expect(bytes.subarray(j * item + LEAF_SIZE, (j + 1) * item)).toEqual(
      new Uint8Array(expected.path.flatMap((s) => [...s]))
    )
  })
})

test('items that do not match the deal are refused with ProofEncodingError', () => {
  const good = tree.prove(0)
  expect(() => encodeProof([good], tree.depth - 1)).toThrow(ProofEncodingError)
  expect(() => encodeProof([good], tree.depth + 1)).toThrow(/path has/)
  expect(() => encodeProof([{ leaf: good.leaf.subarray(1), path: good.path }], tree.depth)).toThrow(/leaf is 63 bytes/)
  expect(() =>
    encodeProof([{ leaf: good.leaf, path: [good.path[0]!.subarray(1), ...good.path.slice(1)] }], tree.depth)
  ).toThrow(/sibling is 31 bytes/)
})

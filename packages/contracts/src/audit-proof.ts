import { challengeIndices, HASH_SIZE, LEAF_SIZE } from '@sherd/proofs'
import type { MerkleProof } from '@sherd/proofs'
import { bytesToHex, hexToBytes } from 'viem'
import type { Hex } from 'viem'
import { ProofEncodingError } from './errors.js'

// A proof of one deal's challenged leaves: what ProofSetMarket's answerAudit takes (MerkleVerifier.sol's format).

/** Bytes of a deal's proof: `count` items of leaf (64 bytes) ‖ `depth` siblings (32 bytes each). */
export function proofLength(depth: number, count: number): number {
  return count * (LEAF_SIZE + HASH_SIZE * depth)
}

/**
 * Packs the proofs of a deal's challenged leaves, in challenge order, into the calldata the market verifies:
 * leaf ‖ siblings bottom up, item after item, no indices (the contract derives them) and no ABI offsets.
 */
export function encodeProof(items: ReadonlyArray<Pick<MerkleProof, 'leaf' | 'path'>>, depth: number): Hex {
  const out = new Uint8Array(proofLength(depth, items.length))
  let offset = 0
  for (const [j, item] of items.entries()) {
    if (item.leaf.length !== LEAF_SIZE)
      throw new ProofEncodingError(`item ${j}: leaf is ${item.leaf.length} bytes, not ${LEAF_SIZE}`)
    if (item.path.length !== depth)
      throw new ProofEncodingError(`item ${j}: path has ${item.path.length} siblings, the deal's depth is ${depth}`)
    out.set(item.leaf, offset)
    offset += LEAF_SIZE
    for (const sibling of item.path) {
      if (sibling.length !== HASH_SIZE)
        throw new ProofEncodingError(`item ${j}: a sibling is ${sibling.length} bytes, not ${HASH_SIZE}`)
      out.set(sibling, offset)
      offset += HASH_SIZE
    }
  }
  return bytesToHex(out)
}

/** A tree that can prove any leaf (`MerkleTree` of @sherd/proofs). */
export interface ProvableTree {
  readonly depth: number
  readonly leafCount: number
  prove: (index: number) => MerkleProof
}

/**
 * The proof of a deal for challenge seed `seed` (an audit's, from `getProofSetAuditSeed`): the `count` leaves
 * `challengeIndices(seed, count, leafCount)` picks, encoded with `encodeProof`.
 */
export function proveChallenges(tree: ProvableTree, seed: Hex, count: number): Hex {
  const indices = challengeIndices(hexToBytes(seed), count, tree.leafCount)
  return encodeProof(
    indices.map((i) => tree.prove(i)),
    tree.depth
  )
}

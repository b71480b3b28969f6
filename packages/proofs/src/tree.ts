import { sha256 } from '@noble/hashes/sha2.js'
import { HASH_SIZE, LEAF_PREFIX, LEAF_SIZE, NODE_PREFIX } from './constants.js'
import type { TreeHasher } from './hasher.js'
import { checkBytes, checkHash, checkIndex, depthOf, leafCountOf, levelOffset } from './params.js'

/** A proof that `leaf` is leaf `index` of a tree: the 64 leaf bytes and exactly `depth` sibling hashes, bottom up. */
export interface MerkleProof {
  index: number
  /** 64 bytes; the last leaf of a shard carries its zero padding. */
  leaf: Uint8Array
  /** `depth` sibling hashes of 32 bytes; bit j of `index` set ⇔ the running hash is the right child at level j. */
  path: Uint8Array[]
}

/** A whole tree in memory: the shard's bytes plus every node, so any leaf can be proven. */
export interface MerkleTree {
  readonly root: Uint8Array
  readonly depth: number
  readonly leafCount: number
  readonly byteLength: number
  prove: (index: number) => MerkleProof
}

export function buildTreeWith(hasher: TreeHasher, data: Uint8Array): MerkleTree {
  checkBytes(data, 'data')
  const leafCount = leafCountOf(data.length)
  const depth = depthOf(leafCount)
  const width = 2 ** depth
  const nodes = hasher.levels(data, width)
  // A private copy: a caller that reuses its buffer must not make later proofs disagree with the root.
  const bytes = data.slice()
  return {
    root: nodes.slice(nodes.length - HASH_SIZE),
    depth,
    leafCount,
    byteLength: data.length,
    prove(index: number): MerkleProof {
      checkIndex(index, leafCount, 'leaf index')
      const leaf = new Uint8Array(LEAF_SIZE)
      leaf.set(bytes.subarray(index * LEAF_SIZE, Math.min((index + 1) * LEAF_SIZE, bytes.length)))
      const path: Uint8Array[] = []
      for (let level = 0; level < depth; level++) {
        const at = levelOffset(width, level) + (Math.floor(index / 2 ** level) ^ 1) * HASH_SIZE
        path.push(nodes.slice(at, at + HASH_SIZE))
      }
      return { index, leaf, path }
    }
  }
}

export function merkleRootWith(hasher: TreeHasher, data: Uint8Array): Uint8Array {
  checkBytes(data, 'data')
  return hasher.subtreeRoots(data, 2 ** depthOf(leafCountOf(data.length)))
}

/**
 * Checks `proof` against `root` for a tree of `depth` levels. Returns false for any malformed proof (wrong leaf
 * or sibling length, wrong path length, index outside the tree); throws only for a malformed root or depth,
 * which come from the caller rather than from the prover.
 */
export function verifyProof(root: Uint8Array, depth: number, proof: MerkleProof): boolean {
  checkHash(root, 'root')
  if (!Number.isSafeInteger(depth) || depth < 0 || depth > 52) {
    throw new RangeError(`depth must be an integer in [0, 52], got ${depth}`)
  }
  if (typeof proof !== 'object' || proof === null) return false
  const { index, leaf, path } = proof
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || index >= 2 ** depth) return false
  if (!(leaf instanceof Uint8Array) || leaf.length !== LEAF_SIZE) return false
  if (!Array.isArray(path) || path.length !== depth) return false
  const message = new Uint8Array(1 + LEAF_SIZE)
  message[0] = LEAF_PREFIX
  message.set(leaf, 1)
  let running = sha256(message)
  message[0] = NODE_PREFIX
  for (let level = 0; level < depth; level++) {
    const sibling: unknown = path[level]
    if (!(sibling instanceof Uint8Array) || sibling.length !== HASH_SIZE) return false
    const right = Math.floor(index / 2 ** level) % 2 === 1
    message.set(right ? sibling : running, 1)
    message.set(right ? running : sibling, 1 + HASH_SIZE)
    running = sha256(message)
  }
  let diff = 0
  for (let i = 0; i < HASH_SIZE; i++) diff |= running[i]! ^ root[i]!
  return diff === 0
}

import { buildChunkTreeWith, decodeChunkTreeWith } from './chunk-tree.js'
import type { ChunkTree } from './chunk-tree.js'
import { defaultHasher } from './default-hasher.js'
export { hasherName, usesKernel } from './default-hasher.js'
import { kernelHasher } from './kernel.js'
import { referenceHasher } from './reference.js'
import { MerkleRootBuilder } from './root-builder.js'
import { buildTreeWith, merkleRootWith } from './tree.js'
import type { MerkleTree } from './tree.js'

export { DEFAULT_CHUNK_SIZE, HASH_SIZE, LEAF_SIZE, MAX_CHALLENGES } from './constants.js'
export { ByteLengthMismatchError, ChunkMismatchError, ChunkTreeDecodeError } from './errors.js'
export { depthOf, leafCountOf } from './params.js'
export { leafHash, nodeHash } from './reference.js'
export { verifyProof } from './tree.js'
export type { MerkleProof, MerkleTree } from './tree.js'
export { challengeIndices } from './challenge.js'
export { ChunkTreeBuilder, encodeChunkTree } from './chunk-tree.js'
export { MerkleRootBuilder } from './root-builder.js'
export type { ChunkTree } from './chunk-tree.js'
export type { TreeHasher } from './hasher.js'

/** Root (32 bytes) of the Merkle tree over `data`; the commitment is (root, data.length). */
export function merkleRoot(data: Uint8Array): Uint8Array {
  return merkleRootWith(defaultHasher(), data)
}

/** The whole tree over `data` (a private copy of the bytes plus every node), to prove any leaf. */
export function buildTree(data: Uint8Array): MerkleTree {
  return buildTreeWith(defaultHasher(), data)
}

/** The provider's tree: nodes from the chunk roots up; proofs from one re-read chunk. */
export function buildChunkTree(data: Uint8Array, chunkSize?: number): ChunkTree {
  return buildChunkTreeWith(defaultHasher(), data, chunkSize)
}

/** Inverse of `encodeChunkTree`; throws `ChunkTreeDecodeError` for anything else, including a corrupt record. */
export function decodeChunkTree(bytes: Uint8Array): ChunkTree {
  return decodeChunkTreeWith(defaultHasher(), bytes)
}

/**
 * `merkleRoot` on the WASM SIMD kernel whatever the default hasher is: what a browser runs, and the native
 * hasher's baseline in the bench. Throws where the engine has no WebAssembly SIMD.
 */
export function merkleRootWasm(data: Uint8Array): Uint8Array {
  const kernel = kernelHasher()
  if (kernel === null) throw new Error('this engine has no WebAssembly SIMD, so there is no WASM kernel to run')
  return merkleRootWith(kernel, data)
}

/** `merkleRoot` computed by the pure-TypeScript reference (@noble/hashes, one message per call). */
export function merkleRootReference(data: Uint8Array): Uint8Array {
  return merkleRootWith(referenceHasher, data)
}

/** A `MerkleRootBuilder` on the pure-TypeScript reference hasher (same roots, ~20× slower). */
export function merkleRootBuilderReference(): MerkleRootBuilder {
  return new MerkleRootBuilder(referenceHasher)
}

/** `buildTree` computed by the pure-TypeScript reference. */
export function buildTreeReference(data: Uint8Array): MerkleTree {
  return buildTreeWith(referenceHasher, data)
}

/** `buildChunkTree` computed by the pure-TypeScript reference. */
export function buildChunkTreeReference(data: Uint8Array, chunkSize?: number): ChunkTree {
  return buildChunkTreeWith(referenceHasher, data, chunkSize)
}

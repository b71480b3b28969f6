import { HASH_SIZE, LEAF_SIZE } from './constants.js'
import { defaultHasher } from './default-hasher.js'
import type { TreeHasher } from './hasher.js'
import { checkBytes, depthOf, leafCountOf } from './params.js'
import { nodeHash, zeroHash } from './reference.js'

/** Leaves per block hashed by the kernel in one go: 64 KiB of data, the same subtree the chunk tree stores. */
const BLOCK_DEPTH = 10
const BLOCK_BYTES = 2 ** BLOCK_DEPTH * LEAF_SIZE

/**
 * The Merkle root of bytes that arrive in pieces of any size, without knowing their length in advance: the root
 * `merkleRoot` gives over the concatenation. Holds one 64 KiB block and one hash per tree level. Whole blocks are
 * hashed by the WASM kernel straight from the caller's buffer (many per call); only the ~1 node per 64 KiB above
 * them is hashed in TypeScript, which is noise next to the 2,047 hashes of a block.
 */
export class MerkleRootBuilder {
  readonly #hasher: TreeHasher
  /** Roots of full subtrees of blocks, left to right, strictly decreasing in level (a binary counter). */
  readonly #stack: Array<{ level: number; hash: Uint8Array }> = []
  readonly #pending = new Uint8Array(BLOCK_BYTES)
  #pendingLength = 0
  #byteLength = 0
  #finished = false

  constructor(hasher?: TreeHasher) {
    this.#hasher = hasher ?? defaultHasher()
  }

  /** Bytes appended so far. */
  get byteLength(): number {
    return this.#byteLength
  }

  /** Appends the next piece; the builder keeps no reference to `bytes` after it returns. */
  append(bytes: Uint8Array): void {
    checkBytes(bytes, 'bytes')
    if (this.#finished) throw new Error('MerkleRootBuilder.append called after finish(); start a new builder')
    this.#byteLength += bytes.length
    let offset = 0
    if (this.#pendingLength > 0) {
      offset = Math.min(BLOCK_BYTES - this.#pendingLength, bytes.length)
      this.#pending.set(bytes.subarray(0, offset), this.#pendingLength)
      this.#pendingLength += offset
      // A full pending block waits for more bytes: at finish, a tree of exactly one block is hashed at its own depth.
      if (this.#pendingLength === BLOCK_BYTES && offset < bytes.length) {
        this.#absorb(this.#pending)
        this.#pendingLength = 0
      }
    }
    const rest = bytes.length - offset
    if (rest === 0) return
    // Keep the last (possibly full) block pending, hash every block before it straight from the caller's buffer.
    const whole = Math.floor((rest - 1) / BLOCK_BYTES)
    if (whole > 0) {
      this.#absorb(bytes.subarray(offset, offset + whole * BLOCK_BYTES))
      offset += whole * BLOCK_BYTES
    }
    this.#pending.set(bytes.subarray(offset), 0)
    this.#pendingLength = bytes.length - offset
  }

  /** The root over every byte appended (an empty input is one zero leaf, as in `merkleRoot`). */
  finish(): Uint8Array {
    if (this.#finished) throw new Error('MerkleRootBuilder.finish called twice')
    this.#finished = true
    const depth = depthOf(leafCountOf(this.#byteLength))
    const tail = this.#pending.subarray(0, this.#pendingLength)
    if (this.#stack.length === 0) return this.#hasher.subtreeRoots(tail, 2 ** depth)
    if (tail.length > 0) this.#absorb(tail)
    // Close the tree: the rightmost subtree without a left neighbour of its size is a left child whose sibling
    // is padding, up to the tree's depth.
    while (this.#stack.length > 1 || this.#stack[0]!.level < depth) {
      const { level, hash } = this.#stack.pop()!
      this.#push(level + 1, nodeHash(hash, zeroHash(level)))
    }
    return this.#stack[0]!.hash
  }

  #absorb(blocks: Uint8Array): void {
    const roots = this.#hasher.subtreeRoots(blocks, 2 ** BLOCK_DEPTH)
    for (let at = 0; at < roots.length; at += HASH_SIZE) this.#push(BLOCK_DEPTH, roots.slice(at, at + HASH_SIZE))
  }

  #push(level: number, hash: Uint8Array): void {
    while (this.#stack.length > 0 && this.#stack[this.#stack.length - 1]!.level === level) {
      hash = nodeHash(this.#stack.pop()!.hash, hash)
      level++
    }
    this.#stack.push({ level, hash })
  }
}

import { sha256 } from '@noble/hashes/sha2.js'
import { HASH_SIZE, LEAF_PREFIX, LEAF_SIZE, NODE_PREFIX } from './constants.js'
import type { TreeHasher } from './hasher.js'
import { checkBytes, leafCountOf } from './params.js'

/** SHA-256(0x00 ‖ leaf), the leaf zero-padded to 64 bytes. The reference definition, one message per call. */
export function leafHash(leaf: Uint8Array): Uint8Array {
  checkBytes(leaf, 'leaf')
  if (leaf.length > LEAF_SIZE) throw new RangeError(`a leaf is at most ${LEAF_SIZE} bytes, got ${leaf.length}`)
  const message = new Uint8Array(1 + LEAF_SIZE)
  message[0] = LEAF_PREFIX
  message.set(leaf, 1)
  return sha256(message)
}

/** SHA-256(0x01 ‖ left ‖ right). The reference definition, one message per call. */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  checkBytes(left, 'left')
  checkBytes(right, 'right')
  if (left.length !== HASH_SIZE || right.length !== HASH_SIZE) {
    throw new TypeError(`node children must be ${HASH_SIZE} bytes, got ${left.length} and ${right.length}`)
  }
  const message = new Uint8Array(1 + 2 * HASH_SIZE)
  message[0] = NODE_PREFIX
  message.set(left, 1)
  message.set(right, 1 + HASH_SIZE)
  return sha256(message)
}

const zeroHashes: Uint8Array[] = [new Uint8Array(HASH_SIZE)]
/** Root of a subtree of 2^level padding leaves: zero hashes at the bottom, nodes hashed normally above. */
export function zeroHash(level: number): Uint8Array {
  while (zeroHashes.length <= level) {
    const below = zeroHashes[zeroHashes.length - 1]!
    zeroHashes.push(nodeHash(below, below))
  }
  return zeroHashes[level]!
}

/**
 * Fills the levels above the first `width` hashes of `out` (laid out level after level, 2 × width − 1 hashes in
 * all) one message per node, and returns `out`.
 */
function hashLevelsAbove(out: Uint8Array, width: number): Uint8Array {
  let from = 0
  let to = width * HASH_SIZE
  for (let n = width / 2; n >= 1; n /= 2) {
    for (let i = 0; i < n; i++) {
      const left = out.subarray(from + 2 * i * HASH_SIZE, from + (2 * i + 1) * HASH_SIZE)
      const right = out.subarray(from + (2 * i + 1) * HASH_SIZE, from + (2 * i + 2) * HASH_SIZE)
      out.set(nodeHash(left, right), to + i * HASH_SIZE)
    }
    from = to
    to += n * HASH_SIZE
  }
  return out
}

/**
 * The obviously-correct tree: hash every leaf, pad the leaf-hash level with zero hashes, hash every pair, no
 * shortcuts. It is the oracle the WASM kernel is tested against, not the fast path.
 */
export const referenceHasher: TreeHasher = {
  levels(data, width) {
    const leafCount = leafCountOf(data.length)
    const out = new Uint8Array((2 * width - 1) * HASH_SIZE)
    for (let i = 0; i < leafCount; i++) {
      out.set(leafHash(data.subarray(i * LEAF_SIZE, Math.min((i + 1) * LEAF_SIZE, data.length))), i * HASH_SIZE)
    }
    return hashLevelsAbove(out, width)
  },
  upperLevels(nodes, width, baseLevel) {
    const out = new Uint8Array((2 * width - 1) * HASH_SIZE)
    out.set(nodes)
    const pad = zeroHash(baseLevel)
    for (let i = nodes.length / HASH_SIZE; i < width; i++) out.set(pad, i * HASH_SIZE)
    return hashLevelsAbove(out, width)
  },
  subtreeRoots(data, subtreeWidth) {
    const leafCount = leafCountOf(data.length)
    const count = Math.ceil(leafCount / subtreeWidth)
    const chunkBytes = subtreeWidth * LEAF_SIZE
    const out = new Uint8Array(count * HASH_SIZE)
    for (let c = 0; c < count; c++) {
      const levels = referenceHasher.levels(
        data.subarray(c * chunkBytes, Math.min((c + 1) * chunkBytes, data.length)),
        subtreeWidth
      )
      out.set(levels.subarray(levels.length - HASH_SIZE), c * HASH_SIZE)
    }
    return out
  }
}

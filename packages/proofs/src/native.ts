import { HASH_SIZE, LEAF_PREFIX, LEAF_SIZE, NODE_PREFIX } from './constants.js'
import type { TreeHasher } from './hasher.js'
import { leafCountOf } from './params.js'
import { zeroHash } from './reference.js'

/**
 * SHA-256(prefix ‖ src[64·i, 64·i + 64)) → dst[32·i, 32·i + 32) for i < n; `dst` may be `src` (a level reduced in
 * place). What native/sha256-level.c exports: the one primitive the trees below are built from.
 */
export type HashLevel = (src: Uint8Array, dst: Uint8Array, n: number, prefix: number) => void

/** Leaves hashed per slice: 1 MiB of data, whose 512 KiB of leaf hashes stay in cache while they are reduced. */
const SLICE_DEPTH = 14
const SLICE_LEAVES = 2 ** SLICE_DEPTH

/**
 * The trees on a native SHA-256 (SHA-NI) level hasher: the same levels, roots and padding as the WASM kernel and the
 * reference (tested against both), about 3.5× the kernel's speed on this machine (docs/proofs.md, "Native hashing").
 * Each instance keeps a slice of scratch, so one per thread.
 */
export class NativeHasher implements TreeHasher {
  readonly #hashLevel: HashLevel
  readonly #scratch = new Uint8Array(SLICE_LEAVES * HASH_SIZE)
  readonly #lastLeaf = new Uint8Array(LEAF_SIZE)

  constructor(hashLevel: HashLevel) {
    this.#hashLevel = hashLevel
  }

  /** The leaf hashes of `data` into `dst` (leafCount · 32 bytes), its last leaf zero-padded; returns the leaf count. */
  #leafHashes(data: Uint8Array, dst: Uint8Array): number {
    const leafCount = leafCountOf(data.length)
    const whole = Math.floor(data.length / LEAF_SIZE)
    this.#hashLevel(data, dst, whole, LEAF_PREFIX)
    if (whole < leafCount) {
      this.#lastLeaf.fill(0)
      this.#lastLeaf.set(data.subarray(whole * LEAF_SIZE))
      this.#hashLevel(this.#lastLeaf, dst.subarray(whole * HASH_SIZE), 1, LEAF_PREFIX)
    }
    return leafCount
  }

  /** Fills every level above the bottom one of a level-major tree `width` nodes wide. */
  #hashUpward(out: Uint8Array, width: number): Uint8Array {
    let at = 0
    for (let count = width; count > 1; count /= 2) {
      const next = at + count * HASH_SIZE
      this.#hashLevel(out.subarray(at, next), out.subarray(next), count / 2, NODE_PREFIX)
      at = next
    }
    return out
  }

  levels(data: Uint8Array, width: number): Uint8Array {
    const out = new Uint8Array((2 * width - 1) * HASH_SIZE)
    this.#leafHashes(data, out)
    return this.#hashUpward(out, width)
  }

  upperLevels(nodes: Uint8Array, width: number, baseLevel: number): Uint8Array {
    const out = new Uint8Array((2 * width - 1) * HASH_SIZE)
    out.set(nodes)
    const padding = zeroHash(baseLevel)
    for (let at = nodes.length; at < width * HASH_SIZE; at += HASH_SIZE) out.set(padding, at)
    return this.#hashUpward(out, width)
  }

  subtreeRoots(data: Uint8Array, subtreeWidth: number): Uint8Array {
    const depth = Math.log2(subtreeWidth)
    const count = Math.ceil(leafCountOf(data.length) / subtreeWidth)
    const out = new Uint8Array(count * HASH_SIZE)
    const subtreeBytes = subtreeWidth * LEAF_SIZE
    if (depth <= SLICE_DEPTH) {
      // A slice of whole subtrees at a time, reduced level by level in place: pairs never cross a subtree.
      const perSlice = SLICE_LEAVES / subtreeWidth
      const scratch = this.#scratch
      for (let first = 0; first < count; first += perSlice) {
        const slice = data.subarray(first * subtreeBytes, Math.min((first + perSlice) * subtreeBytes, data.length))
        const leaves = this.#leafHashes(slice, scratch)
        const subtrees = Math.ceil(leaves / subtreeWidth)
        // The last subtree's missing leaves are zero leaf hashes, as in the whole tree.
        let nodes = subtrees * subtreeWidth
        scratch.fill(0, leaves * HASH_SIZE, nodes * HASH_SIZE)
        for (; nodes > subtrees; nodes /= 2) this.#hashLevel(scratch, scratch, nodes / 2, NODE_PREFIX)
        out.set(scratch.subarray(0, subtrees * HASH_SIZE), first * HASH_SIZE)
      }
      return out
    }
    // Big subtrees: roots of their slices, then those reduced, a level whose count is odd padded with the root of
    // a padding subtree of that height.
    for (let c = 0; c < count; c++) {
      const inner = this.subtreeRoots(
        data.subarray(c * subtreeBytes, Math.min((c + 1) * subtreeBytes, data.length)),
        SLICE_LEAVES
      )
      let nodes = inner.length / HASH_SIZE
      const level = new Uint8Array((nodes + 1) * HASH_SIZE)
      level.set(inner)
      for (let height = SLICE_DEPTH; height < depth; height++) {
        if (nodes % 2 === 1) level.set(zeroHash(height), nodes++ * HASH_SIZE)
        this.#hashLevel(level, level, nodes / 2, NODE_PREFIX)
        nodes /= 2
      }
      out.set(level.subarray(0, HASH_SIZE), c * HASH_SIZE)
    }
    return out
  }
}

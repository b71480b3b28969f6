import { buildTree, HASH_SIZE, LEAF_SIZE, nodeHash } from '@sherd/proofs'
import type { MerkleProof, MerkleTree } from '@sherd/proofs'
import { ProofEncodingError } from './errors.js'

/**
 * The real Merkle tree (docs/proofs.md) of a shard whose bytes are one block repeated: `leafCount` leaves, leaf i
 * being leaf (i mod blockLeaves) of `block`. Every subtree that covers whole copies of the block has a known
 * root, and every subtree of padding is the zero hash of its level, so a 1 GiB shard (depth 24) or a 1 TiB one
 * costs a block's tree plus one node per level, yet proves any leaf with its true path. The gas bench uses it to
 * put honest full-depth proofs of large deals on chain without building terabytes.
 */
export class PeriodicTree {
  readonly depth: number
  readonly leafCount: number
  readonly root: Uint8Array
  private readonly block: MerkleTree
  private readonly blockDepth: number
  /** full[l]: root of a level-l subtree made of whole blocks (l ≥ blockDepth). */
  private readonly full: Uint8Array[] = []
  private readonly zero: Uint8Array[] = [new Uint8Array(HASH_SIZE)]
  private readonly memo = new Map<string, Uint8Array>()

  /** `block` must be a power-of-two number of whole leaves; `leafCount` a multiple of the block's leaves. */
  constructor(block: Uint8Array, leafCount: number) {
    const blockLeaves = block.length / LEAF_SIZE
    if (!Number.isInteger(blockLeaves) || blockLeaves < 1 || (blockLeaves & (blockLeaves - 1)) !== 0) {
      throw new ProofEncodingError(
        `the block must be a power-of-two number of ${LEAF_SIZE}-byte leaves, got ${block.length} bytes`
      )
    }
    if (leafCount < blockLeaves || leafCount % blockLeaves !== 0)
      throw new ProofEncodingError(`leafCount ${leafCount} is not a multiple of the block's ${blockLeaves} leaves`)
    this.block = buildTree(block)
    this.blockDepth = this.block.depth
    this.leafCount = leafCount
    let depth = 0
    while (2 ** depth < leafCount) depth++
    this.depth = depth
    this.full[this.blockDepth] = this.block.root
    for (let l = this.blockDepth + 1; l <= depth; l++) this.full[l] = nodeHash(this.full[l - 1]!, this.full[l - 1]!)
    for (let l = 1; l <= depth; l++) this.zero[l] = nodeHash(this.zero[l - 1]!, this.zero[l - 1]!)
    this.root = this.node(depth, 0)
  }

  /** Node j of level l (level 0 = leaf hashes). */
  private node(level: number, j: number): Uint8Array {
    const width = 2 ** level
    const first = j * width
    if (first >= this.leafCount) return this.zero[level]!
    if (level <= this.blockDepth) {
      const blockWidth = 2 ** this.blockDepth
      const within = (first % blockWidth) / width
      return this.blockNode(level, within)
    }
    if (first + width <= this.leafCount) return this.full[level]!
    const key = `${level}/${j}`
    let h = this.memo.get(key)
    if (h === undefined) {
      h = nodeHash(this.node(level - 1, 2 * j), this.node(level - 1, 2 * j + 1))
      this.memo.set(key, h)
    }
    return h
  }

  // The block tree exposes proofs, not nodes: a node of the block is read off a proof's path of a neighbour.
  private blockNode(level: number, j: number): Uint8Array {
    if (level === this.blockDepth) return this.block.root
    const key = `b${level}/${j}`
    let h = this.memo.get(key)
    if (h === undefined) {
      // The sibling of node j at `level` appears in the path of any leaf under node j ^ 1.
      const neighbour = (j ^ 1) * 2 ** level
      h = this.block.prove(neighbour).path[level]!
      this.memo.set(key, h)
    }
    return h
  }

  prove(index: number): MerkleProof {
    if (!Number.isInteger(index) || index < 0 || index >= this.leafCount)
      throw new RangeError(`leaf ${index} not in 0..${this.leafCount - 1}`)
    const blockLeaves = 2 ** this.blockDepth
    const inner = this.block.prove(index % blockLeaves)
    const path = [...inner.path]
    // Arithmetic, not bitwise: indices of a large deal exceed 32 bits.
    for (let l = this.blockDepth; l < this.depth; l++) {
      const j = Math.floor(index / 2 ** l)
      path.push(this.node(l, j % 2 === 0 ? j + 1 : j - 1))
    }
    return { ...inner, index, path }
  }
}

import { HASH_SIZE, nodeHash } from '@sherd/proofs'
import { hexToBytes, numberToBytes } from 'viem'
import type { Hex } from 'viem'
import { ProofEncodingError } from './errors.js'

// A provider's super-tree (ProofSetMarket `_insert` / `_rootOf` / `superRootOf`): the Merkle tree over its
// deals' super-leaves in the order they opened, so every challenge of a period is checked against one root, and
// a path's length is about log2 of the provider's total leaves however its weight is split into deals.

/** A deal's leaf in its provider's super-tree: nodeHash(uint256 dealId, root). Binds the deal to its slot. */
export function superLeaf(dealId: bigint, root: Hex | Uint8Array): Uint8Array {
  const r = typeof root === 'string' ? hexToBytes(root) : root
  if (r.length !== HASH_SIZE)
    throw new ProofEncodingError(`deal ${dealId}: a root is ${HASH_SIZE} bytes, got ${r.length}`)
  return nodeHash(numberToBytes(dealId, { size: 32 }), r)
}

/** Levels of a super-tree of `slots` leaves: ⌈log2 slots⌉ (1 deal: 0, the root is its leaf). */
export function superDepth(slots: number): number {
  let depth = 0
  while (2 ** depth < slots) depth++
  return depth
}

/** A period's frozen super-tree: its first `slots` leaves, zero-padded to `depth` levels. */
export class SuperTreeSnapshot {
  readonly slots: number
  readonly depth: number
  readonly root: Uint8Array
  /** levels[l][j]: node j of level l (level 0 = the leaves), only the nodes covering real leaves. */
  private readonly levels: Uint8Array[][]
  private readonly zero: Uint8Array[]

  constructor(leaves: readonly Uint8Array[]) {
    if (leaves.length === 0) throw new ProofEncodingError('a super-tree snapshot needs at least one deal')
    this.slots = leaves.length
    this.depth = superDepth(leaves.length)
    this.zero = [new Uint8Array(HASH_SIZE)]
    for (let l = 1; l <= this.depth; l++) this.zero[l] = nodeHash(this.zero[l - 1]!, this.zero[l - 1]!)
    this.levels = [[...leaves]]
    for (let l = 1; l <= this.depth; l++) {
      const below = this.levels[l - 1]!
      const level: Uint8Array[] = []
      for (let j = 0; 2 * j < below.length; j++)
        level.push(nodeHash(below[2 * j]!, below[2 * j + 1] ?? this.zero[l - 1]!))
      this.levels.push(level)
    }
    this.root = this.levels[this.depth]![0]!
  }

  /** The `depth` siblings of slot `slot`, bottom up. */
  prove(slot: number): Uint8Array[] {
    if (!Number.isInteger(slot) || slot < 0 || slot >= this.slots)
      throw new RangeError(`slot ${slot} not in 0..${this.slots - 1}`)
    const path: Uint8Array[] = []
    for (let l = 0; l < this.depth; l++) {
      const j = Math.floor(slot / 2 ** l) ^ 1
      path.push(this.levels[l]![j] ?? this.zero[l]!)
    }
    return path
  }
}

/**
 * A provider's super-tree as its deals open: `set(slot, …)` in any order (a ledger may fold events out of
 * order), `snapshot(n)` once slots 0..n−1 are all known. Snapshots are cached by size (a period's is reused by
 * every chunk).
 */
export class ProviderSuperTree {
  private readonly leaves: Array<Uint8Array | undefined> = []
  private cached?: SuperTreeSnapshot

  set(slot: number, dealId: bigint, root: Hex | Uint8Array): void {
    if (!Number.isInteger(slot) || slot < 0) throw new RangeError(`slot ${slot} is not a non-negative integer`)
    const leaf = superLeaf(dealId, root)
    const old = this.leaves[slot]
    if (old !== undefined && !equal(old, leaf)) this.cached = undefined
    this.leaves[slot] = leaf
  }

  /** The snapshot of the first `slots` deals. */
  snapshot(slots: number): SuperTreeSnapshot {
    if (this.cached?.slots === slots) return this.cached
    const leaves: Uint8Array[] = []
    for (let i = 0; i < slots; i++) {
      const leaf = this.leaves[i]
      if (leaf === undefined)
        throw new ProofEncodingError(`slot ${i} of the super-tree is not known yet (${slots} needed)`)
      leaves.push(leaf)
    }
    this.cached = new SuperTreeSnapshot(leaves)
    return this.cached
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * Prototype of the Merkle tree of docs/proofs.md with a leaf of `leafSize` bytes instead of 64, for the leaf-size
 * study (docs/proofs.md, "Leaf size: measured trade-off"). Not a format: nothing outside bench/ uses it. Same rules
 * otherwise: leaf hash SHA-256(0x00 ‖ leaf) with the last leaf zero-padded to `leafSize`, node hash
 * SHA-256(0x01 ‖ left ‖ right), the leaf-hash level padded with zero hashes up to a power of two. At 64 bytes
 * it is the project's format, which bench/test/leaf-tree.test.ts checks against `merkleRoot`.
 */

/** SHA-256 of one whole message, 32 bytes. */
export type Sha256 = (message: Uint8Array) => Uint8Array

/** Leaves of a shard of `byteLength` bytes at `leafSize`: at least one, as `leafCountOf` for 64. */
export function leafCountAt(byteLength: number, leafSize: number): number {
  return Math.max(1, Math.ceil(byteLength / leafSize))
}

/**
 * The leaf-hash level of the `leafSize`-byte-leaf tree over `data`, padded with zero hashes to a power of two:
 * `width · 32` bytes. `leafHash` gets each leaf message (0x00 ‖ leaf, in a buffer reused between calls).
 */
export function leafHashLevel(data: Uint8Array, leafSize: number, leafHash: Sha256): Uint8Array {
  if (!Number.isInteger(leafSize) || leafSize < 1)
    throw new RangeError(`leaf size must be a positive integer, got ${leafSize}`)
  const leafCount = leafCountAt(data.length, leafSize)
  let width = 1
  while (width < leafCount) width *= 2
  const level = new Uint8Array(width * 32)
  const leafMessage = new Uint8Array(1 + leafSize)
  for (let i = 0; i < leafCount; i++) {
    const start = i * leafSize
    const end = Math.min(start + leafSize, data.length)
    leafMessage.set(data.subarray(start, end), 1)
    // Only the last leaf is short; its tail must be the zero padding, not the previous leaf's bytes.
    if (end - start < leafSize) leafMessage.fill(0, 1 + end - start)
    level.set(leafHash(leafMessage), i * 32)
  }
  return level
}

/** Root of the `leafSize`-byte-leaf tree over `data`; `nodeHash` gets each 65-byte node message. */
export function leafTreeRoot(
  data: Uint8Array,
  leafSize: number,
  leafHash: Sha256,
  nodeHash: Sha256 = leafHash
): Uint8Array {
  const level = leafHashLevel(data, leafSize, leafHash)
  // Reduced in place: node j of the next level overwrites bytes already read (32·j < 64·j + 64).
  const nodeMessage = new Uint8Array(65)
  nodeMessage[0] = 1
  for (let n = level.length / 32; n > 1; n /= 2) {
    for (let j = 0; j < n / 2; j++) {
      nodeMessage.set(level.subarray(64 * j, 64 * j + 64), 1)
      level.set(nodeHash(nodeMessage), 32 * j)
    }
  }
  return level.slice(0, 32)
}

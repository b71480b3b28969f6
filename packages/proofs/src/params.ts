import { HASH_SIZE, LEAF_SIZE } from './constants.js'

/** Number of 64-byte leaves for `byteLength` bytes: ceil(len / 64), at least 1 (the empty shard is one zero leaf). */
export function leafCountOf(byteLength: number): number {
  if (!Number.isSafeInteger(byteLength) || byteLength < 0) {
    throw new RangeError(`byteLength must be a non-negative safe integer, got ${byteLength}`)
  }
  return Math.max(1, Math.ceil(byteLength / LEAF_SIZE))
}

/** Tree depth for `leafCount` leaves: log2 of leafCount rounded up to a power of two (1 leaf → depth 0). */
export function depthOf(leafCount: number): number {
  if (!Number.isSafeInteger(leafCount) || leafCount < 1) {
    throw new RangeError(`leafCount must be a positive safe integer, got ${leafCount}`)
  }
  let depth = 0
  while (2 ** depth < leafCount) depth++
  return depth
}

export function checkBytes(value: unknown, what: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`)
}

export function checkHash(value: unknown, what: string): asserts value is Uint8Array {
  checkBytes(value, what)
  if (value.length !== HASH_SIZE) throw new TypeError(`${what} must be ${HASH_SIZE} bytes, got ${value.length}`)
}

export function checkIndex(index: unknown, count: number, what: string): asserts index is number {
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`${what} must be an integer in [0, ${count}), got ${String(index)}`)
  }
}

/** Offset in bytes of level `level` in a level-major node array of a tree `width` leaves wide. */
export function levelOffset(width: number, level: number): number {
  // levels 0..level-1 hold width + width/2 + ... = 2·width − 2·(width >> level) nodes
  return (2 * width - 2 * Math.floor(width / 2 ** level)) * HASH_SIZE
}

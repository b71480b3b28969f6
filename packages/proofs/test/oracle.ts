import { createHash, randomBytes } from 'node:crypto'

/** An independent tree over node:crypto, written from DESIGN.md alone: the oracle for both code paths. */
export function oracleLevels(data: Uint8Array): Buffer[][] {
  const leafCount = Math.max(1, Math.ceil(data.length / 64))
  let width = 1
  while (width < leafCount) width *= 2
  const leaves: Buffer[] = []
  for (let i = 0; i < width; i++) {
    if (i >= leafCount) {
      leaves.push(Buffer.alloc(32))
      continue
    }
    const leaf = Buffer.alloc(64)
    leaf.set(data.subarray(i * 64, Math.min(i * 64 + 64, data.length)))
    leaves.push(
      createHash('sha256')
        .update(Buffer.from([0]))
        .update(leaf)
        .digest()
    )
  }
  const levels = [leaves]
  while (levels[levels.length - 1]!.length > 1) {
    const below = levels[levels.length - 1]!
    const above: Buffer[] = []
    for (let i = 0; i < below.length; i += 2) {
      above.push(
        createHash('sha256')
          .update(Buffer.from([1]))
          .update(below[i]!)
          .update(below[i + 1]!)
          .digest()
      )
    }
    levels.push(above)
  }
  return levels
}

export function oracleRoot(data: Uint8Array): Buffer {
  const levels = oracleLevels(data)
  return levels[levels.length - 1]![0]!
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex')
}

/** Deterministic pseudo-random bytes so a failure names a reproducible size and seed. */
export function bytesOf(length: number, seed = 1): Uint8Array {
  const out = new Uint8Array(length)
  let x = seed >>> 0 || 1
  for (let i = 0; i < length; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

export { randomBytes }

/** Sizes where padding and level boundaries change: empty, partial leaves, 2^k and 2^k ± 1 leaves. */
export const EDGE_SIZES = [
  0,
  1,
  2,
  31,
  32,
  63,
  64,
  65,
  127,
  128,
  129,
  191,
  192,
  255,
  256,
  257,
  64 * 3,
  64 * 4 + 1,
  64 * 7,
  64 * 8,
  64 * 8 + 1,
  64 * 9,
  64 * 15,
  64 * 16,
  64 * 17,
  64 * 31 + 5,
  64 * 33,
  64 * 64 - 1
]

import { describe, expect, it } from 'vitest'
import {
  createErasureCoder,
  defaultCoder,
  ErasureParametersError,
  libraryCoder,
  simdCoder,
  TooFewShardsError
} from '@sherd/erasure'
import type { ErasureCoder } from '@sherd/erasure'

/** xorshift32: the cases below are random but the same on every run, so a failure reproduces. */
function prng(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1
  return (n) => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s % n
  }
}

function randomStripe(random: (n: number) => number, k: number, m: number, size: number): Uint8Array {
  const stripe = new Uint8Array((k + m) * size)
  for (let i = 0; i < k * size; i++) stripe[i] = random(256)
  return stripe
}

/** A pattern with `missing` absent shards out of k + m, chosen at random. */
function erasures(random: (n: number) => number, k: number, m: number, missing: number): boolean[] {
  const present = Array.from({ length: k + m }, () => true)
  for (let left = missing; left > 0; ) {
    const i = random(k + m)
    if (present[i]) {
      present[i] = false
      left--
    }
  }
  return present
}

function damage(stripe: Uint8Array, present: readonly boolean[], size: number): Uint8Array {
  const copy = stripe.slice()
  present.forEach((p, i) => {
    if (!p) copy.fill(0xa5, i * size, (i + 1) * size)
  })
  return copy
}

const library = libraryCoder()

/** Encodes with both coders and rebuilds one random pattern with each; every result must match byte for byte. */
function compare(coder: ErasureCoder, random: (n: number) => number, k: number, m: number, size: number): void {
  const ours = randomStripe(random, k, m, size)
  const theirs = ours.slice()
  coder.encode(ours, k, m)
  library.encode(theirs, k, m)
  expect(Buffer.compare(ours, theirs), `parity (${k},${m}) size ${size}`).toBe(0)
  if (m > 0)
    expect(
      ours.subarray(k * size).some((b) => b !== 0),
      'parity is not all zero'
    ).toBe(true)
  const present = erasures(random, k, m, random(m + 1))
  const byUs = damage(theirs, present, size)
  const byLibrary = byUs.slice()
  coder.reconstruct(byUs, k, m, present)
  library.reconstruct(byLibrary, k, m, present)
  const pattern = present.map((p) => (p ? 1 : 0)).join('')
  expect(Buffer.compare(byUs, theirs), `our rebuild (${k},${m}) size ${size} pattern ${pattern}`).toBe(0)
  expect(Buffer.compare(byLibrary, theirs), `library rebuild (${k},${m}) pattern ${pattern}`).toBe(0)
}

for (const relaxed of [true, false]) {
  describe(`simdCoder (${relaxed ? 'relaxed SIMD' : 'SIMD'}) against reed-solomon-erasure.wasm`, () => {
    const coder = simdCoder({ relaxed })

    it('gives identical parity and rebuilds for every (k, m) with k + m <= 24', () => {
      const random = prng(relaxed ? 24 : 42)
      for (let total = 1; total <= 24; total++) {
        for (let k = 1; k <= total; k++) {
          // Sizes straddle 16-byte vectors: some multiples of 16, most not.
          const size = 1 + random(3) === 1 ? 16 * (1 + random(20)) : 1 + random(400)
          compare(coder, random, k, total - k, size)
        }
      }
    })

    it('gives identical parity and rebuilds for (29,51) and (64,64), over several kernel chunks', () => {
      const random = prng(7)
      for (const [k, m, size] of [
        [29, 51, 30_001],
        [29, 51, 16],
        [64, 64, 20_003],
        [64, 64, 3]
      ] as const) {
        compare(coder, random, k, m, size)
      }
    })

    it('rebuilds any m missing shards at (10,20), stripes longer than one chunk', () => {
      const random = prng(11)
      for (let round = 0; round < 4; round++) compare(coder, random, 10, 20, 100_003 + round)
      const k = 10
      const m = 20
      const size = 70_001
      const stripe = randomStripe(random, k, m, size)
      coder.encode(stripe, k, m)
      const present = erasures(random, k, m, m)
      const damaged = damage(stripe, present, size)
      coder.reconstruct(damaged, k, m, present)
      expect(Buffer.compare(damaged, stripe)).toBe(0)
    })
  })
}

describe('simdCoder edge cases', () => {
  const coder = simdCoder()

  it('copies the data shard into every parity shard when k = 1', () => {
    const stripe = new Uint8Array(4 * 37)
    stripe.set(Uint8Array.from({ length: 37 }, (_, i) => i * 7))
    coder.encode(stripe, 1, 3)
    for (let p = 1; p < 4; p++)
      expect(Buffer.compare(stripe.subarray(p * 37, (p + 1) * 37), stripe.subarray(0, 37))).toBe(0)
  })

  it('leaves the stripe alone for m = 0 and for empty shards', () => {
    const stripe = Uint8Array.from({ length: 30 }, (_, i) => i)
    coder.encode(stripe, 3, 0)
    coder.reconstruct(stripe, 3, 0, [true, true, true])
    expect([...stripe]).toEqual(Array.from({ length: 30 }, (_, i) => i))
    const empty = new Uint8Array(0)
    coder.encode(empty, 4, 2)
    coder.reconstruct(empty, 4, 2, [false, true, true, false, true, true])
    expect(empty.length).toBe(0)
  })

  it('works on a view into a larger buffer', () => {
    const random = prng(3)
    const backing = new Uint8Array(6 * 100 + 13)
    const stripe = backing.subarray(13)
    stripe.set(randomStripe(random, 4, 2, 100))
    const expected = stripe.slice()
    library.encode(expected, 4, 2)
    coder.encode(stripe, 4, 2)
    expect(Buffer.compare(stripe, expected)).toBe(0)
    expect(Buffer.compare(backing.subarray(0, 13), new Uint8Array(13))).toBe(0)
  })

  it('refuses bad parameters and too few shards', () => {
    expect(() => coder.encode(new Uint8Array(10), 0, 2)).toThrow(ErasureParametersError)
    expect(() => coder.encode(new Uint8Array(10), 200, 57)).toThrow(ErasureParametersError)
    expect(() => coder.encode(new Uint8Array(10), 2, 1)).toThrow(ErasureParametersError)
    expect(() => coder.reconstruct(new Uint8Array(30), 2, 1, [true, true])).toThrow(ErasureParametersError)
    expect(() => coder.reconstruct(new Uint8Array(30), 2, 1, [true, false, false])).toThrow(TooFewShardsError)
  })
})

describe('createErasureCoder', () => {
  it('defaults to the SIMD kernel and still offers the library', () => {
    expect(createErasureCoder().name).toMatch(/^sherd-simd/)
    expect(defaultCoder()).toBe(defaultCoder())
    expect(createErasureCoder({ kernel: 'library' }).name).toBe('reed-solomon-erasure.wasm')
    expect(() => createErasureCoder({ kernel: 'gpu' as 'simd' })).toThrow(ErasureParametersError)
  })
})

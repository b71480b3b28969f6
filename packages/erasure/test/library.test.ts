import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ErasureParametersError, libraryCoder, TooFewShardsError } from '@sherd/erasure'

describe('libraryCoder', () => {
  const coder = libraryCoder()

  it('rebuilds any m missing shards, data and parity alike', () => {
    const k = 4
    const m = 2
    const size = 1000
    const stripe = new Uint8Array((k + m) * size)
    stripe.set(randomBytes(k * size))
    coder.encode(stripe, k, m)
    const original = stripe.slice()
    for (let a = 0; a < k + m; a++) {
      for (let b = a + 1; b < k + m; b++) {
        const damaged = original.slice()
        damaged.fill(0xee, a * size, (a + 1) * size)
        damaged.fill(0xee, b * size, (b + 1) * size)
        const present = Array.from({ length: k + m }, (_, i) => i !== a && i !== b)
        coder.reconstruct(damaged, k, m, present)
        expect(Buffer.compare(damaged, original)).toBe(0)
      }
    }
  })

  it('treats m = 0 as no parity', () => {
    const stripe = randomBytes(3 * 10)
    const copy = Uint8Array.from(stripe)
    coder.encode(stripe, 3, 0)
    expect(Buffer.compare(stripe, copy)).toBe(0)
  })

  it('refuses bad parameters and too few shards', () => {
    expect(() => coder.encode(new Uint8Array(10), 0, 2)).toThrow(ErasureParametersError)
    expect(() => coder.encode(new Uint8Array(10), 200, 57)).toThrow(ErasureParametersError)
    expect(() => coder.encode(new Uint8Array(10), 2, 1)).toThrow(ErasureParametersError)
    expect(() => coder.reconstruct(new Uint8Array(30), 2, 1, [true, false, false])).toThrow(TooFewShardsError)
  })
})

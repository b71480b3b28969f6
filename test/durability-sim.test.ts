// The durability simulation of bench/ (bench/src/durability.ts): deterministic, driven by the repair policy's
// threshold, and its closed forms right on cases worked by hand.
import { describe, expect, it } from 'vitest'
import {
  DAY_S,
  markovMttdlYears,
  noRepairLossProbability,
  simulateDurability,
  YEAR_S
} from '../bench/src/durability.js'
import type { DurabilityParams } from '../bench/src/durability.js'

const small: DurabilityParams = {
  k: 4,
  m: 2,
  files: 2_000,
  horizonS: YEAR_S / 4,
  providers: 100,
  failuresPerProviderYear: 2,
  joinFactor: 1,
  periodS: 3072,
  proofOffsetS: 36,
  segmentBytes: 2 ** 26,
  providerBytesPerS: 25e6 / 8,
  keeperBytesPerS: 100e6 / 8,
  filesPerKeeper: 100,
  dealTermS: 30 * DAY_S,
  extendLeadS: 14 * DAY_S,
  sweepS: 7 * DAY_S,
  seed: 7
}

describe('durability simulation', () => {
  it('is deterministic for a seed and differs for another', () => {
    const a = simulateDurability(small)
    const b = simulateDurability(small)
    expect(b).toEqual(a)
    expect(simulateDurability({ ...small, seed: 8 }).providerFailures).not.toBe(a.providerFailures)
  })

  it('repairs at the default threshold, keeps deals extended, and repairs nothing with repair off', () => {
    const on = simulateDurability(small)
    expect(on.threshold).toBe(5)
    expect(on.repairs).toBeGreaterThan(0)
    expect(on.extensions).toBeGreaterThan(small.files * 6)
    expect(on.meanDetectionS).toBeGreaterThan(small.periodS * 0.9)
    expect(on.meanDetectionS).toBeLessThan(small.periodS * 2)
    expect(on.segmentsSharingAProvider).toBe(0)
    const off = simulateDurability({ ...small, threshold: -1 })
    expect(off.repairs).toBe(0)
    expect(off.filesLost).toBeGreaterThan(on.filesLost)
  })

  it('the no-repair closed form is P(more than m of n failed)', () => {
    const q = 1 - Math.exp(-1)
    const survive = (1 - q) ** 6 + 6 * q * (1 - q) ** 5 + 15 * q ** 2 * (1 - q) ** 4
    expect(noRepairLossProbability(4, 2, 1, YEAR_S)).toBeCloseTo(1 - survive, 12)
    expect(noRepairLossProbability(4, 0, 1, 0)).toBe(0)
  })

  it('the Markov model without repair is the sum of the stage means, and repair lengthens it', () => {
    const lambda = 0.5
    let expected = 0
    for (let i = 4; i <= 6; i++) expected += 1 / (i * lambda)
    expect(markovMttdlYears(4, 2, -1, lambda, 1)).toBeCloseTo(expected, 10)
    expect(markovMttdlYears(4, 2, 5, lambda, 1e-4)).toBeGreaterThan(1e5)
  })
})

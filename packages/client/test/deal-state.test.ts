// A deal's missed periods as stat reports them: over the whole term (what the chain fails a deal on and a claim
// refunds) and over the recent window (the last maxMissedPeriods closed periods: what the keeper's liveness rule
// reads), from the deal's chain state and its provider's on-time proofs.
import { describe, expect, it } from 'vitest'
import type { ProofSetDeal } from '@sherd/contracts'
import { dealView, recentMissedWindow } from '../src/actions/deal-state.js'

const clock = (currentPeriod: bigint, maxMissedPeriods = 3) => ({
  currentPeriod,
  maxMissedPeriods,
  genesisBlock: 0n,
  periodBlocks: 8
})

function deal(startPeriod: bigint, endPeriod: bigint): ProofSetDeal {
  return {
    provider: '0x0000000000000000000000000000000000000001',
    client: '0x0000000000000000000000000000000000000002',
    root: '0x00',
    leafCount: 1n,
    depth: 0,
    state: 'live',
    settled: false,
    rangeStart: 0n,
    weight: 1n,
    startPeriod,
    endPeriod,
    voidFrom: 2n ** 64n - 1n,
    paidFrom: startPeriod,
    missed: 0,
    pricePerPeriod: 1n,
    collateral: 0n,
    escrow: 10n
  }
}

const proven = (...periods: number[]): Set<bigint> => new Set(periods.map(BigInt))

describe('a deal view counts', () => {
  it('a miss long ago, with every period proven since, in the term but not in the recent window', () => {
    // Periods 10..19 closed (current 20); 11 missed, the rest proven.
    const v = dealView(1n, deal(10n, 40n), clock(20n), proven(10, 12, 13, 14, 15, 16, 17, 18, 19))
    expect(v.closedPeriods).toBe(10)
    expect(v.missedPeriods).toBe(1)
    expect(v.recentMissedPeriods).toBe(0)
    expect(v.status).toBe('live')
  })

  it('misses in the last maxMissedPeriods closed periods as recent', () => {
    // 17 and 19 missed: both within 17..19; 11 is not.
    const v = dealView(1n, deal(10n, 40n), clock(20n), proven(10, 12, 13, 14, 15, 16, 18))
    expect(v.missedPeriods).toBe(3)
    expect(v.recentMissedPeriods).toBe(2)
    // The window follows the market's parameter: with maxMissedPeriods 1 only period 19 is recent.
    expect(dealView(1n, deal(10n, 40n), clock(20n, 1), proven(10, 12, 13, 14, 15, 16, 18)).recentMissedPeriods).toBe(1)
  })

  it('only closed periods of the term, for a deal younger than the window', () => {
    // Started at 19: one period closed, missed.
    const v = dealView(1n, deal(19n, 40n), clock(20n), proven())
    expect(v.missedPeriods).toBe(1)
    expect(v.recentMissedPeriods).toBe(1)
    expect(dealView(1n, deal(20n, 40n), clock(20n), proven()).recentMissedPeriods).toBe(0)
  })

  it('a window of at least one period', () => {
    expect(recentMissedWindow({ maxMissedPeriods: 3 })).toBe(3)
    expect(recentMissedWindow({ maxMissedPeriods: 0 })).toBe(1)
  })
})

import { describe, expect, it } from 'vitest'
import { decideSegment, defaultRepairThreshold, excludedProviders, mayPlace, shardHealth } from '../src/index.js'
import type { PolicyShard, ShardHealth } from '../src/index.js'

function segment(healths: ShardHealth[], dealEnds?: number[]): PolicyShard[] {
  return healths.map((health, shardIndex) => ({
    shardIndex,
    health,
    ...(health === 'missing' ? {} : { provider: `p${shardIndex}` }),
    ...(dealEnds === undefined ? {} : { dealEnd: dealEnds[shardIndex]! })
  }))
}

describe('repair policy', () => {
  it('default threshold keeps a margin above k and matches Storj at 29/80', () => {
    expect(defaultRepairThreshold(4, 2)).toBe(5)
    expect(defaultRepairThreshold(10, 4)).toBe(11)
    expect(defaultRepairThreshold(10, 20)).toBe(12)
    expect(defaultRepairThreshold(29, 51)).toBe(35)
    expect(defaultRepairThreshold(3, 0)).toBe(4)
    expect(() => defaultRepairThreshold(0, 2)).toThrow(RangeError)
    expect(() => defaultRepairThreshold(2.5, 2)).toThrow(/invalid code/)
  })

  it('waits while healthy shards are above the threshold, then rebuilds every unhealthy shard', () => {
    const h: ShardHealth[] = Array(30).fill('healthy')
    for (let i = 0; i < 17; i++) h[i] = 'failed' // 13 healthy > 12
    expect(decideSegment({ k: 10, m: 20, shards: segment(h) })).toMatchObject({
      healthy: 13,
      repair: false,
      rebuild: []
    })
    h[17] = 'suspect' // 12 healthy: repair, the suspect shard too
    const d = decideSegment({ k: 10, m: 20, shards: segment(h) })
    expect(d.repair).toBe(true)
    expect(d.rebuild).toEqual(Array.from({ length: 18 }, (_, i) => i))
  })

  it('4+2 repairs at the first loss; a missing shard counts as lost', () => {
    const d = decideSegment({
      k: 4,
      m: 2,
      shards: segment(['healthy', 'healthy', 'missing', 'healthy', 'healthy', 'healthy'])
    })
    expect(d).toMatchObject({ healthy: 5, threshold: 5, repair: true, rebuild: [2], belowK: false })
    expect(decideSegment({ k: 4, m: 2, shards: segment(Array(6).fill('healthy')) }).repair).toBe(false)
  })

  it('below k it cannot repair and says so', () => {
    const d = decideSegment({
      k: 4,
      m: 2,
      shards: segment(['healthy', 'healthy', 'healthy', 'failed', 'suspect', 'failed'])
    })
    expect(d).toMatchObject({ healthy: 3, belowK: true, repair: false, rebuild: [] })
  })

  it('a custom threshold k + m − 1 repairs any loss (what `sherd repair` does)', () => {
    const h: ShardHealth[] = Array(80).fill('healthy')
    h[79] = 'failed'
    expect(decideSegment({ k: 29, m: 51, shards: segment(h) }).repair).toBe(false)
    expect(decideSegment({ k: 29, m: 51, shards: segment(h), threshold: 79 }).rebuild).toEqual([79])
  })

  it('extends healthy deals that end within the lead time, not unhealthy ones', () => {
    const shards = segment(
      ['healthy', 'healthy', 'failed', 'healthy', 'healthy', 'healthy'],
      [100, 150, 101, 200, 110, 111]
    )
    expect(decideSegment({ k: 4, m: 2, shards, now: 95, extendLead: 15 }).extend).toEqual([0, 4])
    expect(decideSegment({ k: 4, m: 2, shards }).extend).toEqual([])
  })

  it('leaves ended shards out: never rebuilt, not counted healthy, and a segment past its term is over', () => {
    // Ended alongside live shards: nothing failed, nothing to rebuild, however few healthy shards remain.
    expect(
      decideSegment({ k: 4, m: 2, shards: segment(['ended', 'ended', 'healthy', 'healthy', 'healthy', 'healthy']) })
    ).toMatchObject({ healthy: 4, ended: 2, termOn: true, belowK: false, repair: false, rebuild: [] })
    // A failure while the term is on is repaired; the ended shard is not part of the rebuild.
    expect(
      decideSegment({ k: 4, m: 2, shards: segment(['ended', 'failed', 'healthy', 'healthy', 'healthy', 'healthy']) })
    ).toMatchObject({ healthy: 4, ended: 1, belowK: false, repair: true, rebuild: [1] })
    // Too few healthy shards while the term is on is still below k.
    expect(
      decideSegment({ k: 4, m: 2, shards: segment(['ended', 'failed', 'suspect', 'healthy', 'healthy', 'healthy']) })
    ).toMatchObject({ termOn: true, belowK: true, repair: false })
    // Every deal ended: over, neither below k nor repaired.
    expect(decideSegment({ k: 4, m: 2, shards: segment(Array(6).fill('ended')) })).toMatchObject({
      ended: 6,
      termOn: false,
      belowK: false,
      repair: false
    })
    // A deal that failed mid-term keeps the term on only until its own end.
    const lapsed = segment(['failed', 'ended', 'ended', 'ended', 'ended', 'ended'], [100, 100, 100, 100, 100, 100])
    expect(decideSegment({ k: 4, m: 2, shards: lapsed, now: 99 })).toMatchObject({ termOn: true, belowK: true })
    expect(decideSegment({ k: 4, m: 2, shards: lapsed, now: 100 })).toMatchObject({ termOn: false, belowK: false })
    // Without an ended shard the term is on, as before: a segment of failed deals is below k whatever their ends.
    expect(
      decideSegment({ k: 4, m: 2, shards: segment(Array(6).fill('failed'), Array(6).fill(100)), now: 200 })
    ).toMatchObject({ termOn: true, belowK: true })
  })

  it('rejects a shard list that does not match the code', () => {
    expect(() => decideSegment({ k: 4, m: 2, shards: segment(Array(5).fill('healthy')) })).toThrow(/6 shards, not 5/)
  })

  it('never places two shards of a segment on one provider', () => {
    const shards = segment(['healthy', 'failed', 'missing', 'suspect'])
    expect([...excludedProviders(shards)].sort()).toEqual(['p0', 'p1', 'p3'])
    expect(mayPlace(shards, 'p1')).toBe(false)
    expect(mayPlace(shards, 'p9')).toBe(true)
  })

  it('liveness rule: one missed period or 30 minutes unanswered is suspect', () => {
    expect(shardHealth({})).toBe('missing')
    expect(shardHealth({ provider: 'a' })).toBe('healthy')
    expect(shardHealth({ provider: 'a', missedPeriods: 1 })).toBe('suspect')
    expect(shardHealth({ provider: 'a', unresponsiveMs: 29 * 60_000 })).toBe('healthy')
    expect(shardHealth({ provider: 'a', unresponsiveMs: 30 * 60_000 })).toBe('suspect')
    expect(shardHealth({ provider: 'a', dealOver: true, missedPeriods: 2 })).toBe('failed')
    expect(shardHealth({ provider: 'a', termOver: true, unresponsiveMs: 60 * 60_000 })).toBe('ended')
  })
})

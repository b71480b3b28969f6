import { describe, expect, it } from 'vitest'
import { shardsToRebuild } from '../src/actions/repair.js'
import type { SegmentStat, ShardState } from '../src/actions/stat.js'

const NOW = 1_000_000

/** A 4 + 2 segment from each shard's deal state and end (ms); healthy means live and answering. */
function segment(states: Array<{ state: ShardState; endsAtMs?: number }>): SegmentStat {
  const shards = states.map(({ state, endsAtMs }, shardIndex) => ({
    segmentIndex: 0,
    shardIndex,
    commitment: `c${shardIndex}`,
    provider: `p${shardIndex}`,
    state,
    healthy: state === 'live',
    ...(endsAtMs === undefined ? {} : { endsAtMs })
  }))
  return { index: 0, size: 4, shardSize: 1, shards, healthyShards: shards.filter((s) => s.healthy).length }
}

const later = NOW + 60_000
const earlier = NOW - 60_000

describe('shardsToRebuild', () => {
  it('an explicit repair rebuilds every unhealthy shard, ended ones included (a renewal the user asked for)', () => {
    const seg = segment([
      { state: 'ended', endsAtMs: earlier },
      { state: 'failed', endsAtMs: earlier },
      { state: 'live', endsAtMs: later },
      { state: 'live', endsAtMs: later },
      { state: 'live', endsAtMs: later },
      { state: 'live', endsAtMs: later }
    ])
    expect([...shardsToRebuild(seg, 4, 2, {}, NOW).bad].sort()).toEqual([0, 1])
  })

  it("the keeper's repair rebuilds a failed shard of a segment whose term is on, and leaves the ended one", () => {
    const seg = segment([
      { state: 'ended', endsAtMs: earlier },
      { state: 'failed', endsAtMs: later },
      { state: 'live', endsAtMs: later },
      { state: 'live', endsAtMs: later },
      { state: 'live', endsAtMs: later },
      { state: 'live', endsAtMs: later }
    ])
    expect([...shardsToRebuild(seg, 4, 2, { leaveEnded: true }, NOW).bad]).toEqual([1])
  })

  it("the keeper's repair rebuilds nothing in a segment past its term: ended shards and a failed one past its end", () => {
    // Below k of healthy shards, but nothing paid is left to protect: rebuilding would open new full-term deals.
    const seg = segment([
      { state: 'ended', endsAtMs: earlier },
      { state: 'failed', endsAtMs: earlier },
      { state: 'ended', endsAtMs: earlier },
      { state: 'ended', endsAtMs: earlier },
      { state: 'ended', endsAtMs: earlier },
      { state: 'ended', endsAtMs: earlier }
    ])
    expect(shardsToRebuild(seg, 4, 2, { leaveEnded: true }, NOW).bad.size).toBe(0)
    // The same segment judged before the failed deal's end: its term was still on.
    expect([...shardsToRebuild(seg, 4, 2, { leaveEnded: true }, earlier - 1).bad]).toEqual([1])
  })
})

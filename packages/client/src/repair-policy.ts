/**
 * The repair policy: pure decisions about one segment, shared by `repair` (what to rebuild), the keeper (when to
 * repair and extend) and the durability simulation in bench/ (which imports this module, so the figures it
 * reports are the figures of this code). No I/O, no clock: the caller passes the time and what it observed.
 * docs/keeper.md explains the threshold and the liveness rule.
 */

/**
 * What the keeper knows about one shard.
 * - `healthy`: the provider answers and its deal is live.
 * - `suspect`: the provider has not answered for a while or missed a period; it may come back, but it is not
 *   counted towards the segment's health (a shard we cannot fetch now does not protect the segment now).
 * - `failed`: the deal failed, ended or expired, or the shard did not verify.
 * - `missing`: no provider or no deal for it (never placed, or placement was interrupted).
 */
export type ShardHealth = 'healthy' | 'suspect' | 'failed' | 'missing'

export interface PolicyShard {
  readonly shardIndex: number
  readonly health: ShardHealth
  /** Provider holding it (peer id or any stable key); absent for `missing`. */
  readonly provider?: string
  /** When its deal's term ends, in the caller's time unit (the same unit as `now`). */
  readonly dealEnd?: number
}

export interface SegmentPolicyInput {
  readonly k: number
  readonly m: number
  readonly shards: readonly PolicyShard[]
  /** Repair when healthy shards ≤ this; default `defaultRepairThreshold(k, m)`. */
  readonly threshold?: number
  /** The current time, in the unit of `dealEnd`; needed for extension decisions. */
  readonly now?: number
  /** Extend a healthy shard's deal when it ends within this much time of `now`. Default: never extend. */
  readonly extendLead?: number
}

export interface SegmentDecision {
  /** Shards counted healthy. */
  readonly healthy: number
  readonly threshold: number
  /** Fewer than k healthy shards: cannot be rebuilt from what answers now (suspect shards may still come back). */
  readonly belowK: boolean
  /** Rebuild now: healthy ≤ threshold and at least k healthy shards to rebuild from. */
  readonly repair: boolean
  /** Shard indexes to rebuild (every shard not healthy), ascending; empty unless `repair`. */
  readonly rebuild: readonly number[]
  /** Healthy shards whose deal ends within `extendLead` of `now`, ascending. */
  readonly extend: readonly number[]
}

/** Below this margin per parity shard, Storj's 29/35/80 (repair at 6 shards above k of 51 parity shards). */
const STORJ_MARGIN_PER_PARITY = 6 / 51

/**
 * Repair when healthy shards fall to k + max(1, round(m · 6/51)): Storj's ratio (29 data, 80 total, repair at 35,
 * so 6 of its 51 parity shards held back), and never less than k + 1, so a segment under repair survives one
 * more loss while it is rebuilt. 4+2 → 5 (repair at the first loss), 10+4 → 11, 10+20 → 12, 29/51 → 35.
 * Waiting until the margin is reached batches the losses of a segment into one repair (k shards read per repair
 * however many are rebuilt), which is what keeps repair traffic low for wide codes.
 */
export function defaultRepairThreshold(k: number, m: number): number {
  checkCode(k, m)
  return k + Math.max(1, Math.round(m * STORJ_MARGIN_PER_PARITY))
}

/**
 * The liveness rule: how observations map to a shard's health. A provider that missed `suspectAfterMissed`
 * proving periods (default 1: ProofSetMarket catches a dead provider in its first period) or has not answered
 * for `suspectAfterMs` is suspect; a deal the market failed, ended or expired is failed.
 */
export interface LivenessObservation {
  readonly provider?: string
  /** The deal is over for good (failed, faulted, ended, expired) or the shard did not verify. */
  readonly dealOver?: boolean
  readonly missedPeriods?: number
  /** Time since the provider last answered, in ms (absent: it answers). */
  readonly unresponsiveMs?: number
}

export interface LivenessRule {
  readonly suspectAfterMissed: number
  readonly suspectAfterMs: number
}

/** One missed period, or 30 minutes without an answer (less than one 51-minute ProofSetMarket period). */
export const DEFAULT_LIVENESS: LivenessRule = { suspectAfterMissed: 1, suspectAfterMs: 30 * 60_000 }

export function shardHealth(o: LivenessObservation, rule: LivenessRule = DEFAULT_LIVENESS): ShardHealth {
  if (o.provider === undefined) return 'missing'
  if (o.dealOver === true) return 'failed'
  if ((o.missedPeriods ?? 0) >= rule.suspectAfterMissed) return 'suspect'
  if ((o.unresponsiveMs ?? 0) >= rule.suspectAfterMs) return 'suspect'
  return 'healthy'
}

export function decideSegment(input: SegmentPolicyInput): SegmentDecision {
  const { k, m, shards } = input
  checkCode(k, m)
  if (shards.length !== k + m) throw new RangeError(`a ${k}+${m} segment has ${k + m} shards, not ${shards.length}`)
  const threshold = input.threshold ?? defaultRepairThreshold(k, m)
  const healthy = shards.filter((s) => s.health === 'healthy')
  const belowK = healthy.length < k
  const repair = !belowK && healthy.length <= threshold && healthy.length < k + m
  const rebuild = repair
    ? shards
        .filter((s) => s.health !== 'healthy')
        .map((s) => s.shardIndex)
        .sort((a, b) => a - b)
    : []
  const { now, extendLead } = input
  const extend =
    now === undefined || extendLead === undefined
      ? []
      : healthy
          .filter((s) => s.dealEnd !== undefined && s.dealEnd - now <= extendLead)
          .map((s) => s.shardIndex)
          .sort((a, b) => a - b)
  return { healthy: healthy.length, threshold, belowK, repair, rebuild, extend }
}

/**
 * The placement constraint: providers a rebuilt shard of this segment must not go to, i.e. every provider holding
 * any of its shards (healthy or not: a suspect provider may come back with its shard, and two shards on one
 * provider would fail together).
 */
export function excludedProviders(shards: readonly PolicyShard[]): Set<string> {
  return new Set(shards.flatMap((s) => (s.provider === undefined ? [] : [s.provider])))
}

/** True when `provider` may receive a rebuilt shard of this segment. */
export function mayPlace(shards: readonly PolicyShard[], provider: string): boolean {
  return !shards.some((s) => s.provider === provider)
}

function checkCode(k: number, m: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(m) || k < 1 || m < 0) {
    throw new RangeError(`invalid code ${k}+${m}: k must be a positive integer and m a non-negative integer`)
  }
}

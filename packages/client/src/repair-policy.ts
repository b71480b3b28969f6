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
 * - `failed`: the deal failed, faulted or was never funded, or the shard did not verify.
 * - `missing`: no provider or no deal for it (never placed, or placement was interrupted).
 * - `ended`: the deal ran its paid term. Not a fault: never counted healthy, never rebuilt (a rebuild would open
 *   a new full-term deal, a renewal nobody paid for), and a segment none of whose deals runs any more is over,
 *   neither below k nor repaired.
 */
export type ShardHealth = 'healthy' | 'suspect' | 'failed' | 'missing' | 'ended'

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
  /** Shards whose deal ran its paid term (`ended`). */
  readonly ended: number
  /**
   * The segment's paid term is on: no shard ended, or some deal still runs (a shard with a provider that has not
   * ended and, when `now` and its `dealEnd` are known, ends after `now`; a deal that failed mid-term counts only
   * until its own end). A segment past its term has nothing paid left to protect.
   */
  readonly termOn: boolean
  /**
   * The term is on and fewer than k shards are healthy: cannot be rebuilt from what answers now (suspect shards
   * may still come back).
   */
  readonly belowK: boolean
  /** Rebuild now: the term is on, healthy ≤ threshold, at least k healthy shards, and some shard to rebuild. */
  readonly repair: boolean
  /** Shard indexes to rebuild (every shard neither healthy nor ended), ascending; empty unless `repair`. */
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
 * for `suspectAfterMs` is suspect; a deal the market failed is failed; a deal past its paid term is ended.
 */
export interface LivenessObservation {
  readonly provider?: string
  /** The deal is over for good (failed, faulted, declared lost, never funded) or the shard did not verify. */
  readonly dealOver?: boolean
  /** The deal ran its paid term (ended, claimed or not): `ended`, not `failed`. */
  readonly termOver?: boolean
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
  if (o.termOver === true) return 'ended'
  if ((o.missedPeriods ?? 0) >= rule.suspectAfterMissed) return 'suspect'
  if ((o.unresponsiveMs ?? 0) >= rule.suspectAfterMs) return 'suspect'
  return 'healthy'
}

export function decideSegment(input: SegmentPolicyInput): SegmentDecision {
  const { k, m, shards } = input
  checkCode(k, m)
  if (shards.length !== k + m) throw new RangeError(`a ${k}+${m} segment has ${k + m} shards, not ${shards.length}`)
  const threshold = input.threshold ?? defaultRepairThreshold(k, m)
  const { now, extendLead } = input
  const healthy = shards.filter((s) => s.health === 'healthy')
  const ended = shards.filter((s) => s.health === 'ended').length
  // Ended shards are out of the decision: what protects the segment is its healthy shards, what a repair restores
  // is the failed, suspect and missing ones. So a failure in a segment with ended shards is repaired while its term
  // is on (the user paid for the file to survive until then), and the ended shards are left to lapse.
  const termOn =
    ended === 0 ||
    shards.some(
      (s) =>
        s.provider !== undefined &&
        s.health !== 'ended' &&
        (now === undefined || s.dealEnd === undefined || s.dealEnd > now)
    )
  const lost = shards
    .filter((s) => s.health !== 'healthy' && s.health !== 'ended')
    .map((s) => s.shardIndex)
    .sort((a, b) => a - b)
  const belowK = termOn && healthy.length < k
  const repair = termOn && !belowK && healthy.length <= threshold && lost.length > 0
  const rebuild = repair ? lost : []
  const extend =
    now === undefined || extendLead === undefined
      ? []
      : healthy
          .filter((s) => s.dealEnd !== undefined && s.dealEnd - now <= extendLead)
          .map((s) => s.shardIndex)
          .sort((a, b) => a - b)
  return { healthy: healthy.length, threshold, ended, termOn, belowK, repair, rebuild, extend }
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

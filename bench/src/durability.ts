/**
 * A discrete-event simulation of files kept by keepers on a churning provider network, driven by the repair policy
 * of @sherd/client (`decideSegment`, `shardHealth`, `excludedProviders`): the decisions here are that code's.
 * Providers join and fail (exponential lifetimes); a dead provider is noticed when its proof-set period closes
 * unproven (the liveness rule turns one missed period into `suspect`); a keeper rebuilds a segment from k shards at
 * a stated bandwidth, one segment at a time; deals are extended before their term ends on the keeper's weekly
 * sweep. Seeded and deterministic. The model and its assumptions are in docs/keeper.md.
 */
import { decideSegment, defaultRepairThreshold, excludedProviders, shardHealth } from '@sherd/client'
import type { PolicyShard, ShardHealth } from '@sherd/client'

export const YEAR_S = 365 * 24 * 3600
const DAY_S = 24 * 3600

export interface DurabilityParams {
  k: number
  m: number
  /** Repair threshold (healthy ≤ threshold → repair); default the policy's. Negative: never repair. */
  threshold?: number
  files: number
  /** Simulated seconds. */
  horizonS: number
  providers: number
  /** Permanent provider failures (disk loss + departure) per provider-year. */
  failuresPerProviderYear: number
  /** New providers per year, as a multiple of the initial count × failure rate (1: a steady population). */
  joinFactor: number
  /** ProofSetMarket period: 256 blocks of 12 s. */
  periodS: number
  /** Offset in its period at which a live provider has proven it (challenge block + a block). */
  proofOffsetS: number
  /** Plaintext bytes per segment (a file here is one segment). */
  segmentBytes: number
  /** Per-provider bandwidth, bytes/s: each of the k reads and each rebuilt upload runs at this rate, in parallel. */
  providerBytesPerS: number
  /** One keeper's link, bytes/s: it moves k + r shards per repair, one repair at a time. */
  keeperBytesPerS: number
  filesPerKeeper: number
  /** Deal term and the keeper's extension lead and sweep interval, seconds. */
  dealTermS: number
  extendLeadS: number
  sweepS: number
  seed: number
  /** Times (s) at which to sample the fraction of files lost (for the model check's curve). */
  sampleAtS?: number[]
}

export interface DurabilityResult {
  k: number
  m: number
  threshold: number
  files: number
  fileYears: number
  /** File-years before loss (a lost file is no longer at risk): the exposure a loss rate is measured on. */
  fileYearsAtRisk: number
  filesLost: number
  filesLostPerMillionFileYears: number
  /** Segments whose truly alive shards ever fell below k + 1. */
  segmentsBelowKPlus1: number
  repairs: number
  shardsRebuilt: number
  extensions: number
  providerFailures: number
  providerJoins: number
  /** Bytes read and written by repairs, per stored byte per simulated year. */
  repairTrafficPerStoredByteYear: number
  /** Mean seconds from a provider's death to its shards being suspect. */
  meanDetectionS: number
  /** Mean seconds from detection to the repair's completion (queueing included). */
  meanRepairS: number
  /** -log10 of the per-file-year loss rate; with no loss, the 95 % bound from 0 losses (3 / file-years). */
  nines: number
  ninesIsBound: boolean
  samples: Array<{ tS: number; fractionLost: number }>
  eventCount: number
  /** Segments that ended with two shards on one provider (the placement constraint says: none). */
  segmentsSharingAProvider: number
}

/** mulberry32: small, seeded, deterministic. */
function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const DEATH = 0
const DETECT = 1
const JOIN = 2
const REPAIR_DONE = 3
const SWEEP = 4
const SAMPLE = 5

/** A binary min-heap of events on parallel arrays (time, kind, subject). */
class EventQueue {
  private t: number[] = []
  private kind: number[] = []
  private subject: number[] = []
  get size(): number {
    return this.t.length
  }
  push(t: number, kind: number, subject: number): void {
    this.t.push(t)
    this.kind.push(kind)
    this.subject.push(subject)
    let i = this.t.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (this.t[p]! <= this.t[i]!) break
      this.swap(i, p)
      i = p
    }
  }
  pop(): [number, number, number] {
    const top: [number, number, number] = [this.t[0]!, this.kind[0]!, this.subject[0]!]
    const last = this.t.length - 1
    this.swap(0, last)
    this.t.pop()
    this.kind.pop()
    this.subject.pop()
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let s = i
      if (l < this.t.length && this.t[l]! < this.t[s]!) s = l
      if (r < this.t.length && this.t[r]! < this.t[s]!) s = r
      if (s === i) break
      this.swap(i, s)
      i = s
    }
    return top
  }
  private swap(i: number, j: number): void {
    ;[this.t[i], this.t[j]] = [this.t[j]!, this.t[i]!]
    ;[this.kind[i], this.kind[j]] = [this.kind[j]!, this.kind[i]!]
    ;[this.subject[i], this.subject[j]] = [this.subject[j]!, this.subject[i]!]
  }
}

const HEALTH: readonly ShardHealth[] = ['healthy', 'suspect', 'failed', 'missing']
const H_HEALTHY = 0
const H_SUSPECT = 1
const H_FAILED = 2

export function simulateDurability(p: DurabilityParams): DurabilityResult {
  const { k, m, files } = p
  const n = k + m
  const threshold = p.threshold ?? defaultRepairThreshold(k, m)
  const random = rng(p.seed)
  const exp = (ratePerS: number): number => -Math.log(1 - random()) / ratePerS
  const failRate = p.failuresPerProviderYear / YEAR_S
  const shardBytes = Math.ceil(p.segmentBytes / k)

  // Providers: alive flag and the slots (segment·n + shard) they hold.
  const alive: boolean[] = []
  const holds: Array<Set<number>> = []
  const aliveList: number[] = []
  const alivePos: number[] = []
  const queue = new EventQueue()
  const addProvider = (now: number): void => {
    const id = alive.length
    alive.push(true)
    holds.push(new Set())
    alivePos.push(aliveList.length)
    aliveList.push(id)
    const death = now + exp(failRate)
    if (death < p.horizonS) queue.push(death, DEATH, id)
  }
  for (let i = 0; i < p.providers; i++) addProvider(0)

  // Segments: per-shard provider, the keeper's view of its health, deal end; truly alive shard count.
  const provider = new Int32Array(files * n)
  const view = new Uint8Array(files * n)
  const dealEnd = new Float64Array(files * n)
  const aliveShards = new Int32Array(files).fill(n)
  const lost = new Uint8Array(files)
  const belowKPlus1 = new Uint8Array(files)
  const repairQueued = new Uint8Array(files)
  const keeperFreeAt = new Float64Array(Math.ceil(files / p.filesPerKeeper))
  const repairStartedFromDetection = new Float64Array(files)

  const pickProvider = (exclude: Set<number>): number => {
    if (aliveList.length <= exclude.size)
      throw new Error(`only ${aliveList.length} providers alive for a ${k}+${m} segment`)
    for (;;) {
      const id = aliveList[Math.floor(random() * aliveList.length)]!
      if (!exclude.has(id)) return id
    }
  }
  const place = (seg: number, shard: number, id: number, now: number): void => {
    const slot = seg * n + shard
    provider[slot] = id
    view[slot] = H_HEALTHY
    dealEnd[slot] = now + p.dealTermS
    holds[id]!.add(slot)
  }
  // Initial placement: n distinct providers per segment, the same constraint the policy gives the placer.
  for (let seg = 0; seg < files; seg++) {
    const used = new Set<number>()
    for (let s = 0; s < n; s++) {
      const id = pickProvider(used)
      used.add(id)
      place(seg, s, id, 0)
    }
  }

  const policyView = (seg: number): PolicyShard[] => {
    const shards: PolicyShard[] = []
    for (let s = 0; s < n; s++) {
      const slot = seg * n + s
      shards.push({
        shardIndex: s,
        health: HEALTH[view[slot]!]!,
        provider: String(provider[slot]),
        dealEnd: dealEnd[slot]!
      })
    }
    return shards
  }

  let filesLost = 0
  let lostSeconds = 0
  let repairs = 0
  let shardsRebuilt = 0
  let extensions = 0
  let providerFailures = 0
  let providerJoins = 0
  let repairBytes = 0
  let detectionTotalS = 0
  let detections = 0
  let repairTotalS = 0
  const samples: Array<{ tS: number; fractionLost: number }> = []
  const deathAt = new Map<number, number>()

  const enqueueRepair = (seg: number, now: number, rebuildCount: number): void => {
    if (repairQueued[seg] === 1) return
    repairQueued[seg] = 1
    const keeper = Math.floor(seg / p.filesPerKeeper)
    const service = repairServiceS(p, rebuildCount)
    const start = Math.max(now, keeperFreeAt[keeper]!)
    keeperFreeAt[keeper] = start + service
    repairStartedFromDetection[seg] = now
    queue.push(start + service, REPAIR_DONE, seg)
  }

  const evaluate = (seg: number, now: number, sweep: boolean): void => {
    if (lost[seg] === 1) return
    const decision = decideSegment({
      k,
      m,
      shards: policyView(seg),
      threshold,
      ...(sweep ? { now, extendLead: p.extendLeadS } : {})
    })
    for (const s of decision.extend) {
      dealEnd[seg * n + s] = dealEnd[seg * n + s]! + p.dealTermS
      extensions++
    }
    if (decision.repair) enqueueRepair(seg, now, decision.rebuild.length)
  }

  const completeRepair = (seg: number, now: number): void => {
    repairQueued[seg] = 0
    if (lost[seg] === 1) return
    const shards = policyView(seg)
    const decision = decideSegment({ k, m, shards, threshold })
    if (!decision.repair) return
    // The keeper reads k shards it believes healthy; one on a provider that died meanwhile fails to fetch and
    // joins the shards to rebuild.
    const rebuild = new Set(decision.rebuild)
    let read = 0
    for (const s of shards) {
      if (read >= k) break
      if (s.health !== 'healthy') continue
      if (alive[provider[seg * n + s.shardIndex]!] === true) read++
      else rebuild.add(s.shardIndex)
    }
    if (read < k) return // lost already: counted when the k-th-from-last provider died
    const exclude = new Set([...excludedProviders(shards)].map(Number))
    for (const s of rebuild) {
      const slot = seg * n + s
      const old = provider[slot]!
      holds[old]!.delete(slot)
      if (alive[old] !== true) {
        /* already subtracted from aliveShards at its death */
      } else aliveShards[seg]!--
      const id = pickProvider(exclude)
      exclude.add(id)
      place(seg, s, id, now)
      aliveShards[seg]!++
    }
    repairs++
    shardsRebuilt += rebuild.size
    repairBytes += (k + rebuild.size) * shardBytes
    repairTotalS += now - repairStartedFromDetection[seg]!
  }

  // Joins keep the population steady (joinFactor 1): as many arrive per year as fail.
  const joinRate = p.joinFactor * p.providers * failRate
  if (joinRate > 0) queue.push(exp(joinRate), JOIN, 0)
  for (let t = p.sweepS; t < p.horizonS; t += p.sweepS) queue.push(t, SWEEP, 0)
  for (const t of p.sampleAtS ?? []) queue.push(t, SAMPLE, 0)
  let eventCount = 0

  while (queue.size > 0) {
    const [now, kind, subject] = queue.pop()
    if (now > p.horizonS) break
    eventCount++
    if (kind === DEATH) {
      providerFailures++
      alive[subject] = false
      const pos = alivePos[subject]!
      const last = aliveList[aliveList.length - 1]!
      aliveList[pos] = last
      alivePos[last] = pos
      aliveList.pop()
      for (const slot of holds[subject]!) {
        const seg = Math.floor(slot / n)
        aliveShards[seg]!--
        if (aliveShards[seg]! < k + 1) belowKPlus1[seg] = 1
        if (aliveShards[seg]! < k && lost[seg] === 0) {
          lost[seg] = 1
          filesLost++
          lostSeconds += p.horizonS - now
        }
      }
      // Caught when the first period it should have proven closes unproven.
      const period = Math.floor(now / p.periodS)
      const provenThisPeriod = now - period * p.periodS >= p.proofOffsetS
      const detectAt = (period + (provenThisPeriod ? 2 : 1)) * p.periodS
      deathAt.set(subject, now)
      queue.push(detectAt, DETECT, subject)
    } else if (kind === DETECT) {
      detectionTotalS += now - deathAt.get(subject)!
      detections++
      const health = shardHealth({ provider: String(subject), missedPeriods: 1 })
      const segs = new Set<number>()
      for (const slot of holds[subject]!) {
        if (view[slot] === H_HEALTHY) view[slot] = health === 'suspect' ? H_SUSPECT : H_FAILED
        segs.add(Math.floor(slot / n))
      }
      for (const seg of segs) evaluate(seg, now, false)
    } else if (kind === JOIN) {
      providerJoins++
      addProvider(now)
      queue.push(now + exp(joinRate), JOIN, 0)
    } else if (kind === REPAIR_DONE) {
      completeRepair(subject, now)
    } else if (kind === SWEEP) {
      for (let seg = 0; seg < files; seg++) {
        if (lost[seg] === 1) continue
        // A deal whose term ran out unextended is over: the market no longer pays for the shard.
        let due = false
        for (let s = 0; s < n; s++) {
          const slot = seg * n + s
          if (dealEnd[slot]! <= now && view[slot] === H_HEALTHY) view[slot] = H_FAILED
          if (view[slot] !== H_HEALTHY || dealEnd[slot]! - now <= p.extendLeadS) due = true
        }
        // The policy decides for every segment with something to decide; the rest would get an empty decision.
        if (due) evaluate(seg, now, true)
      }
    } else if (kind === SAMPLE) {
      samples.push({ tS: now, fractionLost: filesLost / files })
    }
  }

  let segmentsSharingAProvider = 0
  for (let seg = 0; seg < files; seg++) {
    if (new Set(provider.subarray(seg * n, (seg + 1) * n)).size !== n) segmentsSharingAProvider++
  }
  const fileYears = (files * p.horizonS) / YEAR_S
  const storedBytes = files * n * shardBytes
  const rate = filesLost / fileYears
  const ninesIsBound = filesLost === 0
  return {
    k,
    m,
    threshold,
    files,
    fileYears,
    fileYearsAtRisk: fileYears - lostSeconds / YEAR_S,
    filesLost,
    filesLostPerMillionFileYears: rate * 1e6,
    segmentsBelowKPlus1: belowKPlus1.reduce((a, b) => a + b, 0),
    repairs,
    shardsRebuilt,
    extensions,
    providerFailures,
    providerJoins,
    repairTrafficPerStoredByteYear: repairBytes / storedBytes / (p.horizonS / YEAR_S),
    meanDetectionS: detections === 0 ? 0 : detectionTotalS / detections,
    meanRepairS: repairs === 0 ? 0 : repairTotalS / repairs,
    nines: -Math.log10(ninesIsBound ? 3 / fileYears : rate),
    ninesIsBound,
    samples,
    eventCount,
    segmentsSharingAProvider
  }
}

/** One segment's repair: k parallel reads, then the uploads, each at a provider's rate, bounded by the keeper's link. */
export function repairServiceS(
  p: Pick<DurabilityParams, 'k' | 'segmentBytes' | 'providerBytesPerS' | 'keeperBytesPerS'>,
  rebuilt: number
): number {
  const shardBytes = Math.ceil(p.segmentBytes / p.k)
  return Math.max((2 * shardBytes) / p.providerBytesPerS, ((p.k + rebuilt) * shardBytes) / p.keeperBytesPerS)
}

/** P(more than m of n independent shards failed by time t), each failing at rate λ: the no-repair closed form. */
export function noRepairLossProbability(k: number, m: number, failuresPerYear: number, tS: number): number {
  const n = k + m
  const q = 1 - Math.exp((-failuresPerYear * tS) / YEAR_S)
  let survive = 0
  let c = 1
  for (let j = 0; j <= m; j++) {
    survive += c * q ** j * (1 - q) ** (n - j)
    c = (c * (n - j)) / (j + 1)
  }
  return 1 - survive
}

/**
 * Birth–death Markov model of one segment with repair: from i healthy shards, a failure at rate i·λ; at
 * i ≤ threshold a repair back to n at rate μ (exponential, mean = detection + repair time). Returns the mean
 * time to data loss in years (the chain's absorption time at k − 1 from n), computed with 1 − b carried
 * separately so that μ ≫ λ loses no precision.
 */
export function markovMttdlYears(
  k: number,
  m: number,
  threshold: number,
  failuresPerYear: number,
  meanRepairYears: number
): number {
  const n = k + m
  const lambda = failuresPerYear
  const mu = 1 / meanRepairYears
  // T_i = a_i + b_i · T_n; c_i = 1 − b_i.
  let a = 0
  let c = 1
  for (let i = k; i <= n; i++) {
    const mui = i <= threshold && i < n ? mu : 0
    const out = i * lambda + mui
    a = (1 + i * lambda * a) / out
    c = (i * lambda * c) / out
  }
  return a / c
}

export function periodSeconds(periodBlocks = 256, blockSeconds = 12): number {
  return periodBlocks * blockSeconds
}
export { DAY_S }

/**
 * Closed form for repair at the first loss (threshold k + m − 1) without queueing: a segment is lost when, after a
 * shard's provider dies, m more of the other n − 1 die before the repair completes. The repair completes R after
 * the death: the detection delay (to the close of the first period it should have proven: P − u, or 2P − u if
 * it had proven its period already at offset u) plus the service time. Losses per segment-year =
 * n·λ·E_u[P(Binomial(n − 1, 1 − e^(−λR(u))) ≥ m)], u uniform over the period (second-order effects, such as a
 * death during the repair of an earlier one restarting the window, are neglected: λR ≪ 1).
 */
export function firstLossRepairLossRate(
  k: number,
  m: number,
  failuresPerYear: number,
  periodS: number,
  proofOffsetS: number,
  serviceS: number,
  steps = 4000
): number {
  const n = k + m
  let sum = 0
  for (let i = 0; i < steps; i++) {
    const u = ((i + 0.5) / steps) * periodS
    const windowS = (u < proofOffsetS ? periodS - u : 2 * periodS - u) + serviceS
    sum += 1 - binomialBelow(n - 1, 1 - Math.exp((-failuresPerYear * windowS) / YEAR_S), m)
  }
  return (n * failuresPerYear * sum) / steps
}

/** P(Binomial(trials, q) < below). */
function binomialBelow(trials: number, q: number, below: number): number {
  let total = 0
  let c = 1
  for (let j = 0; j < below; j++) {
    total += c * q ** j * (1 - q) ** (trials - j)
    c = (c * (trials - j)) / (j + 1)
  }
  return total
}

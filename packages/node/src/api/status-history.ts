import type { Startable } from '@libp2p/interface'
import type { ChainStatus } from './http-api.js'

/** The dashboard's chart: this many proving periods (a day of 2-minute periods; 1.5 hours of the devnet's 8 s ones). */
export const HISTORY_MAX_PERIODS = 720
/** Recent errors kept for the dashboard. */
export const HISTORY_MAX_ERRORS = 20
/** How often the history reads the prover's counters: well inside any proving period. */
export const HISTORY_SAMPLE_INTERVAL_MS = 1_000

/** The prover's cumulative counters as they stood at the end of one proving period (or now, for the current one). */
export interface PeriodPoint {
  period: string
  block?: string
  /** When this point was last updated (ms since the epoch). */
  atMs: number
  /** Cumulative periods proven on time and marked missed since the ledger began (the prover's totals, as in /status). */
  periodsProven: number
  periodsMissed: number
  /** Cumulative earnings, token base units, decimal. */
  earnings: string
}

export interface RecentError {
  /** When the error was first seen (ms since the epoch). */
  atMs: number
  message: string
}

/** What `/history` answers. */
export interface StatusHistoryJson {
  /** Oldest first, one per proving period seen since the node started, at most HISTORY_MAX_PERIODS. */
  points: PeriodPoint[]
  /** Newest first: the prover's failed steps (`lastError` values), at most HISTORY_MAX_ERRORS. */
  errors: RecentError[]
  startedAtMs: number
  sampleIntervalMs: number
}

export interface StatusHistoryInit {
  sampleIntervalMs?: number
  maxPeriods?: number
  maxErrors?: number
}

/**
 * A bounded in-memory ring of per-period counters and recent errors, sampled from the prover's live status. The
 * prover keeps totals, not a time series, and its ledger is keyed by deal; sampling the status keeps this history
 * independent of how the prover and its ledger are built. It starts empty at every start: the chart covers the time
 * since then (the totals themselves survive restarts in the ledger).
 */
export class StatusHistory implements Startable {
  private readonly points: PeriodPoint[] = []
  private readonly errors: RecentError[] = []
  private lastErrorSeen: string | undefined
  private timer: NodeJS.Timeout | undefined
  private startedAtMs = Date.now()
  private readonly sampleIntervalMs: number
  private readonly maxPeriods: number
  private readonly maxErrors: number

  constructor(
    private readonly chain: () => ChainStatus,
    init: StatusHistoryInit = {}
  ) {
    this.sampleIntervalMs = init.sampleIntervalMs ?? HISTORY_SAMPLE_INTERVAL_MS
    this.maxPeriods = init.maxPeriods ?? HISTORY_MAX_PERIODS
    this.maxErrors = init.maxErrors ?? HISTORY_MAX_ERRORS
  }

  start(): void {
    this.startedAtMs = Date.now()
    this.sample()
    this.timer = setInterval(() => {
      this.sample()
    }, this.sampleIntervalMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Folds the current status in: the point of the current period is updated, a new period adds one. */
  sample(): void {
    const chain = this.chain()
    if (chain.lastError !== undefined && chain.lastError !== this.lastErrorSeen) {
      this.errors.unshift({ atMs: Date.now(), message: chain.lastError })
      this.errors.length = Math.min(this.errors.length, this.maxErrors)
    }
    // Cleared means the step succeeded: the same error coming back later is a new occurrence.
    this.lastErrorSeen = chain.lastError
    if (chain.period === undefined) return
    const point: PeriodPoint = {
      period: chain.period,
      ...(chain.block === undefined ? {} : { block: chain.block }),
      atMs: Date.now(),
      periodsProven: chain.periodsProven,
      periodsMissed: chain.periodsMissed,
      earnings: chain.earnings
    }
    const last = this.points.at(-1)
    if (last !== undefined && last.period === point.period) {
      this.points[this.points.length - 1] = point
    } else {
      this.points.push(point)
      if (this.points.length > this.maxPeriods) this.points.splice(0, this.points.length - this.maxPeriods)
    }
  }

  toJSON(): StatusHistoryJson {
    return {
      points: this.points.map((p) => ({ ...p })),
      errors: this.errors.map((e) => ({ ...e })),
      startedAtMs: this.startedAtMs,
      sampleIntervalMs: this.sampleIntervalMs
    }
  }
}

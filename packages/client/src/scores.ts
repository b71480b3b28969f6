import { files, replaceFile } from '#platform'
import { LATENCY_EWMA_WEIGHT } from './constants.js'

/** What the client has seen of one provider (keyed by peer id). */
export interface ProviderRecord {
  /** Transfers (uploads, fetches, manifest requests) that completed and verified. */
  successes: number
  /** Transfers that failed: unreachable, refused, timed out, cut short. */
  failures: number
  /** Bytes that failed their commitment (a shard with the wrong root, a manifest with the wrong CID). */
  corrupt: number
  /** Periods this provider missed on our deals, as last read from chain (per deal, summed). */
  missedProofs: number
  /** Moving average of time to first byte / request latency, ms. */
  latencyMs?: number
  /** Moving average of transfer throughput, bytes per second. */
  bytesPerSecond?: number
  lastSeenMs?: number
}

const empty = (): ProviderRecord => ({ successes: 0, failures: 0, corrupt: 0, missedProofs: 0 })

/**
 * Local provider scores: every transfer outcome, corrupt bytes and proofs missed on chain. `score()` is in (0, 1]:
 * a Laplace-smoothed success ratio where corrupt bytes weigh as three failures, then halved for every corrupt
 * answer (lying is worse than being slow or down) and for every four missed proofs.
 * Placement ranks providers by it; `stat` and `sherd providers` show it. Optionally kept in a JSON file.
 */
export class ProviderScores {
  private readonly records = new Map<string, ProviderRecord>()
  /** missed periods per deal, so re-reading a deal does not count its misses twice */
  private readonly missedByDeal = new Map<string, { provider: string; missed: number }>()
  private saving: Promise<void> = Promise.resolve()

  constructor(private readonly file?: string) {}

  /** Loads the score file, if any (a missing or unreadable file starts afresh). */
  async load(): Promise<void> {
    if (this.file === undefined) return
    try {
      const data = JSON.parse(await files.readText(this.file)) as {
        providers?: Record<string, ProviderRecord>
        deals?: Record<string, { provider: string; missed: number }>
      }
      for (const [id, r] of Object.entries(data.providers ?? {})) this.records.set(id, { ...empty(), ...r })
      for (const [id, d] of Object.entries(data.deals ?? {})) this.missedByDeal.set(id, d)
    } catch {}
  }

  /** Writes the score file atomically (rename), serialised. */
  async save(): Promise<void> {
    const file = this.file
    if (file === undefined) return
    this.saving = this.saving
      .then(async () => {
        await replaceFile(
          file,
          JSON.stringify(
            { providers: Object.fromEntries(this.records), deals: Object.fromEntries(this.missedByDeal) },
            null,
            1
          )
        )
      })
      .catch(() => {})
    await this.saving
  }

  private get(provider: string): ProviderRecord {
    let r = this.records.get(provider)
    if (r === undefined) {
      r = empty()
      this.records.set(provider, r)
    }
    return r
  }

  record(provider: string): Readonly<ProviderRecord> {
    return this.records.get(provider) ?? empty()
  }

  all(): Map<string, Readonly<ProviderRecord>> {
    return new Map(this.records)
  }

  success(provider: string, sample: { ms?: number; bytes?: number } = {}): void {
    const r = this.get(provider)
    r.successes++
    r.lastSeenMs = Date.now()
    if (sample.ms !== undefined) {
      const ms = Math.max(sample.ms, 0.1)
      if (sample.bytes !== undefined && sample.bytes >= 64 * 1024) {
        const bps = sample.bytes / (ms / 1000)
        r.bytesPerSecond =
          r.bytesPerSecond === undefined
            ? bps
            : r.bytesPerSecond * (1 - LATENCY_EWMA_WEIGHT) + bps * LATENCY_EWMA_WEIGHT
      } else {
        r.latencyMs =
          r.latencyMs === undefined ? ms : r.latencyMs * (1 - LATENCY_EWMA_WEIGHT) + ms * LATENCY_EWMA_WEIGHT
      }
    }
  }

  failure(provider: string): void {
    this.get(provider).failures++
  }

  corruption(provider: string): void {
    this.get(provider).corrupt++
  }

  /** Records what chain says deal `dealId` of `provider` has missed so far (idempotent per deal). */
  missed(provider: string, dealId: bigint, missedPeriods: number): void {
    const key = dealId.toString()
    const before = this.missedByDeal.get(key)?.missed ?? 0
    if (missedPeriods <= before) return
    this.missedByDeal.set(key, { provider, missed: missedPeriods })
    this.get(provider).missedProofs += missedPeriods - before
  }

  /** In (0, 1]; 0.5 for a provider never seen. */
  score(provider: string): number {
    const r = this.records.get(provider)
    if (r === undefined) return 0.5
    const ratio = (r.successes + 1) / (r.successes + r.failures + 3 * r.corrupt + 2)
    return ratio * 0.5 ** (r.corrupt + r.missedProofs / 4)
  }
}

import { logger } from '@libp2p/logger'
import type { Startable } from '@libp2p/interface'
import { OFFER_TTL_SECONDS } from '../chain/offer-signer.js'
import type { ProofSetLedger } from '../prover/ledger.js'
import { ConfigError } from '../errors.js'
import type { NodeMetrics } from '../api/metrics.js'
import type { ShardStore } from './store.js'
import { hex } from './store.js'

const log = logger('sherd:node:gc')

/** A full sweep of the store this often: unclaimed shards only expire by the clock, hours apart. */
export const GC_INTERVAL_MS = 10 * 60_000
/**
 * A shard no deal names is kept this long after it was stored, after a client was last told it is already here, or
 * after the last offer signed on it: a client asks for the offer once the shard is stored and opens the deal while
 * the offer lives (OFFER_TTL_SECONDS, 1 h). The second hour is margin for the deal's transaction to be mined and
 * folded into the ledger, across an RPC outage of up to GC_LEDGER_MAX_AGE_MS and clock skew.
 */
export const GC_GRACE_MS = 2 * 60 * 60_000
/**
 * Decisions need a ledger that knows every deal opened lately: the collector acts only when the prover's last
 * successful scan is this recent (it scans every second; an RPC outage longer than this pauses collection).
 */
export const GC_LEDGER_MAX_AGE_MS = 5 * 60_000

/**
 * A deal needs its shard until it is off the books (DealSettled): the market settles a deal only once its provider
 * has answered every challenge that could land on it, so an ended, faulted or declared deal whose earlier periods
 * are still due keeps its shard until those are proven.
 */
function needsShard(d: { settled: boolean }): boolean {
  return !d.settled
}

export interface ShardCollectorInit {
  /** Default true. */
  enabled?: boolean
  /** Full sweep interval (default GC_INTERVAL_MS); a pass also runs after each prover scan that saw a deal end. */
  intervalMs?: number
  /** Keep a shard no deal needs this long after it was stored or claimed (default GC_GRACE_MS; more than OFFER_TTL_SECONDS). */
  graceMs?: number
  /** Lifetime of the offers this node signs (default OFFER_TTL_SECONDS): the grace period must exceed it. */
  offerTtlSeconds?: number
  /** Longest time since the prover's last scan for which the ledger counts as current (default GC_LEDGER_MAX_AGE_MS). */
  ledgerMaxAgeMs?: number
  /** The clock grace periods are measured with (ms since the epoch); tests inject one. */
  now?: () => number
}

export interface ShardCollectorComponents {
  store: Pick<ShardStore, 'listRoots' | 'getInfo' | 'deleteShard' | 'claimedAtMs'>
  ledger: Pick<ProofSetLedger, 'sorted' | 'size' | 'started'>
  metrics: NodeMetrics
  /** Dispatches `synced` each time the prover has folded the market's events up to the chain head (`ProofSetProver.events`). */
  scans: EventTarget
  /** Told about every shard deleted (the unclaimed-bytes count drops it). */
  onDeleted?: (root: Uint8Array) => void
}

/** The collector's numbers on `/status` (`gc`). */
export interface GcStatus {
  enabled: boolean
  graceMs: number
  intervalMs: number
  shardsDeleted: number
  bytesFreed: number
  passes: number
  lastPassAtMs?: number
  /** Set while passes are skipped, saying why (no chain, or the ledger is not current). */
  waiting?: string
  lastError?: string
}

export interface GcPassResult {
  /** False when the pass was skipped (ledger not current, collector stopped or disabled). */
  ran: boolean
  deleted: number
  freedBytes: number
  /** Shards no live deal needs, kept for now: inside their grace period, or being read. */
  kept: number
}

interface RootDeals {
  live: boolean
  /** Deals on the root in the ledger: a new one means the root was in use again since it was last seen over. */
  count: number
}

type PassKind = 'sweep' | 'scan'

/**
 * Deletes stored shards no deal needs, freeing their capacity. A shard is deleted when
 *  - every deal on its root (the ledger may hold several: identical shards share a root) is off the books
 *    (settled: its last challenge can no longer come), and
 *  - it is not inside its grace period: a client was told it is already here or was given an offer on it less than
 *    `graceMs` ago, or it was stored less than `graceMs` ago and after every deal on its root was over (none, for a
 *    shard no deal names yet: an upload whose deal was never opened).
 *
 * It acts only on a current ledger (a prover scan within `ledgerMaxAgeMs`), so a node without a chain, or one just
 * restarted that has not caught up with the deals opened while it was down, deletes nothing. A sweep of every
 * stored root runs every `intervalMs` (and after the first scan); after each later scan a pass looks only at the
 * roots of deals that have newly ended. A shard being read or written is skipped (`ShardBusyError`) and retried.
 */
export class ShardCollector implements Startable {
  readonly status: GcStatus
  private readonly graceMs: number
  private readonly intervalMs: number
  private readonly ledgerMaxAgeMs: number
  private readonly now: () => number
  private timer: NodeJS.Timeout | undefined
  private abort: AbortController | undefined
  private lastScanAt: number | undefined
  private swept = false
  private queue: Promise<unknown> = Promise.resolve()
  private queued: { kind: PassKind; result: Promise<GcPassResult> } | undefined
  /** Deals already looked at by a scan pass (their shard deleted, kept for the sweep, or not stored). */
  private readonly handled = new Set<string>()
  /** First time a shard whose record has no stored time was seen (its grace counts from then). */
  private readonly firstSeen = new Map<string, number>()
  /** When this collector first saw every deal of a root settled (kept after the shard is deleted, dropped when a deal on it is live again). */
  private readonly overSince = new Map<string, { atMs: number; deals: number }>()
  private readonly onSynced = (): void => {
    this.lastScanAt = performance.now()
    void this.request(this.swept ? 'scan' : 'sweep')
  }

  constructor(
    private readonly components: ShardCollectorComponents,
    init: ShardCollectorInit = {}
  ) {
    this.graceMs = init.graceMs ?? GC_GRACE_MS
    this.intervalMs = init.intervalMs ?? GC_INTERVAL_MS
    this.ledgerMaxAgeMs = init.ledgerMaxAgeMs ?? GC_LEDGER_MAX_AGE_MS
    this.now = init.now ?? Date.now
    const offerTtlMs = (init.offerTtlSeconds ?? OFFER_TTL_SECONDS) * 1000
    if (!(this.graceMs > offerTtlMs)) {
      throw new ConfigError(
        `gc.graceMs (${this.graceMs}) must exceed the offer lifetime (${offerTtlMs} ms), or a shard whose offer a client still holds could be deleted before the deal opens; the default is ${GC_GRACE_MS}`
      )
    }
    if (!(this.intervalMs > 0)) throw new ConfigError(`gc.intervalMs must be positive, got ${this.intervalMs}`)
    this.status = {
      enabled: init.enabled ?? true,
      graceMs: this.graceMs,
      intervalMs: this.intervalMs,
      shardsDeleted: 0,
      bytesFreed: 0,
      passes: 0,
      waiting: "the prover's first scan of the chain"
    }
  }

  async start(): Promise<void> {
    if (!this.status.enabled) {
      this.status.waiting = undefined
      return
    }
    this.abort = new AbortController()
    this.swept = false
    this.lastScanAt = undefined
    this.components.scans.addEventListener('synced', this.onSynced)
    this.timer = setInterval(() => {
      void this.request('sweep')
    }, this.intervalMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    this.components.scans.removeEventListener('synced', this.onSynced)
    clearInterval(this.timer)
    this.timer = undefined
    this.abort?.abort()
    await this.queue
    this.abort = undefined
  }

  /** Runs a full sweep now (after any pass in progress) and returns what it did. */
  async run(): Promise<GcPassResult> {
    return await this.request('sweep')
  }

  /** Queues a pass; a request while one is already queued joins it (a sweep covers a scan pass). */
  private async request(kind: PassKind): Promise<GcPassResult> {
    if (this.queued !== undefined) {
      if (kind === 'sweep') this.queued.kind = 'sweep'
      return await this.queued.result
    }
    const entry: { kind: PassKind; result: Promise<GcPassResult> } = {
      kind,
      result: Promise.resolve({ ran: false, deleted: 0, freedBytes: 0, kept: 0 })
    }
    entry.result = this.queue.then(async () => {
      this.queued = undefined
      return await this.pass(entry.kind)
    })
    this.queued = entry
    this.queue = entry.result.catch(() => {})
    return await entry.result
  }

  private async pass(kind: PassKind): Promise<GcPassResult> {
    const result: GcPassResult = { ran: false, deleted: 0, freedBytes: 0, kept: 0 }
    const signal = this.abort?.signal
    if (signal === undefined || signal.aborted || !this.components.ledger.started) return result
    const { metrics } = this.components
    if (this.lastScanAt === undefined || performance.now() - this.lastScanAt > this.ledgerMaxAgeMs) {
      this.status.waiting =
        this.lastScanAt === undefined
          ? "the prover's first scan of the chain"
          : `a prover scan (none for over ${this.ledgerMaxAgeMs} ms: chain unreachable?)`
      metrics.gcRuns.inc({ outcome: 'skipped' })
      return result
    }
    this.status.waiting = undefined
    result.ran = true
    try {
      if (kind === 'sweep') {
        await this.sweep(result, signal)
        this.swept = true
      } else {
        await this.scanPass(result, signal)
      }
      this.status.lastError = undefined
      metrics.gcRuns.inc({ outcome: 'ok' })
    } catch (err) {
      if (signal.aborted) return result
      this.status.lastError = (err as Error).message
      metrics.gcRuns.inc({ outcome: 'error' })
      log.error('%s pass failed: %e', kind, err)
    }
    this.status.passes++
    this.status.lastPassAtMs = this.now()
    if (result.deleted > 0)
      log(
        '%s: deleted %d shard(s), %d bytes freed; %d kept for now',
        kind,
        result.deleted,
        result.freedBytes,
        result.kept
      )
    return result
  }

  private index = new Map<string, RootDeals>()
  private indexedDeals = -1

  /** Deals by root, rebuilt whenever a deal was added since (the only change that can turn "over" into "live"). */
  private rootDeals(rootHex: string): RootDeals | undefined {
    const { ledger } = this.components
    if (ledger.size !== this.indexedDeals) {
      const index = new Map<string, RootDeals>()
      for (const d of ledger.sorted()) {
        const key = d.root.slice(2).toLowerCase()
        const entry = index.get(key) ?? { live: false, count: 0 }
        entry.count++
        if (needsShard(d)) entry.live = true
        index.set(key, entry)
      }
      this.index = index
      this.indexedDeals = ledger.size
    }
    return this.index.get(rootHex)
  }

  private async sweep(result: GcPassResult, signal: AbortSignal): Promise<void> {
    // A deal's state moves on without adding a deal: start the sweep from a fresh index.
    this.indexedDeals = -1
    const roots: Uint8Array[] = []
    for await (const root of this.components.store.listRoots()) roots.push(root)
    for (const root of roots) {
      if (signal.aborted) return
      if (this.rootDeals(hex(root))?.live === true) continue
      await this.consider(root, result)
    }
  }

  private async scanPass(result: GcPassResult, signal: AbortSignal): Promise<void> {
    const roots = new Map<string, string[]>()
    for (const d of this.components.ledger.sorted()) {
      if (needsShard(d) || this.handled.has(d.id)) continue
      const key = d.root.slice(2).toLowerCase()
      roots.set(key, [...(roots.get(key) ?? []), d.id])
    }
    if (roots.size > 0) this.indexedDeals = -1
    for (const [rootHex, ids] of roots) {
      if (signal.aborted) return
      const busy = await this.consider(Uint8Array.from(Buffer.from(rootHex, 'hex')), result)
      if (!busy) for (const id of ids) this.handled.add(id)
    }
  }

  /** Deletes the shard if nothing needs it; true if it was busy (to be tried again). */
  private async consider(root: Uint8Array, result: GcPassResult): Promise<boolean> {
    const { store, metrics } = this.components
    const rootHex = hex(root)
    let info
    try {
      info = await store.getInfo(root)
    } catch (err) {
      if ((err as Error).name === 'NotFoundError') return false
      throw err
    }
    // From here to deleteShard's own checks nothing awaits: the ledger, the claims and the readers are read as they are.
    const deals = this.rootDeals(rootHex)
    if (deals?.live === true) {
      this.overSince.delete(rootHex)
      return false
    }
    const now = this.now()
    const claimed = store.claimedAtMs(root)
    let storedAt = info.storedAtMs
    if (storedAt <= 0) {
      storedAt = this.firstSeen.get(rootHex) ?? now
      this.firstSeen.set(rootHex, storedAt)
    }
    // Over since the first pass that saw it so: a shard stored after that (an upload for a new deal on the same
    // root) gets its grace period.
    let overAt = 0
    if (deals !== undefined) {
      const seen = this.overSince.get(rootHex)
      overAt = seen !== undefined && seen.deals === deals.count ? seen.atMs : now
      this.overSince.set(rootHex, { atMs: overAt, deals: deals.count })
    }
    const claimedRecently = claimed !== undefined && now - claimed < this.graceMs
    const storedForNewDeal = (deals === undefined || storedAt > overAt) && now - storedAt < this.graceMs
    if (claimedRecently || storedForNewDeal) {
      result.kept++
      return false
    }
    try {
      const freed = await store.deleteShard(root)
      result.deleted++
      result.freedBytes += freed
      this.status.shardsDeleted++
      this.status.bytesFreed += freed
      metrics.gcShardsDeleted.inc()
      metrics.gcBytesFreed.inc(freed)
      this.firstSeen.delete(rootHex)
      this.components.onDeleted?.(root)
      log(
        'deleted shard %s (%d bytes): %s',
        rootHex,
        freed,
        deals === undefined ? 'no deal named it within the grace period' : 'every deal on it is over'
      )
      return false
    } catch (err) {
      const name = (err as Error).name
      if (name === 'NotFoundError') return false
      if (name === 'ShardBusyError') {
        result.kept++
        log('shard %s is busy; trying again later', rootHex)
        return true
      }
      throw err
    }
  }
}

export function shardCollector(
  init: ShardCollectorInit = {}
): (components: ShardCollectorComponents) => ShardCollector {
  return (components) => new ShardCollector(components, init)
}

import { logger } from '@libp2p/logger'
import type { MarketClient } from '@sherd/contracts'
import type { SherdClient } from '../client.js'
import type { FileStat } from '../actions/stat.js'
import type { RepairProgressEvent, RepairResult } from '../actions/repair.js'
import { decideSegment, defaultRepairThreshold, DEFAULT_LIVENESS, shardHealth } from '../repair-policy.js'
import type { LivenessRule, PolicyShard, SegmentDecision } from '../repair-policy.js'
import { sleep } from '@sherd/protocol'
import { KeeperConfigError } from './errors.js'
import { KeeperHttp } from './http.js'
import { KeeperMetrics } from './metrics.js'
import { readFileMarketEvents } from './market-events.js'
import type { FileMarketEvent, WatchedDeals } from './market-events.js'
import { KeeperStore, linkCid } from './store.js'
import type { KeptDeal, KeptFile } from './store.js'
import {
  DEFAULT_EXTEND_LEAD_MS,
  DEFAULT_EXTEND_PERIODS,
  DEFAULT_KEEPER_EVENT_INTERVAL_MS,
  DEFAULT_KEEPER_POLL_INTERVAL_MS,
  MIN_KEEPER_POLL_INTERVAL_MS
} from './constants.js'

const log = logger('sherd:keeper')

/** The SDK calls the keeper makes: its only way to the network and the chain. */
export type KeeperClient = Pick<SherdClient, 'stat' | 'repair' | 'extend'> & Partial<Pick<SherdClient, 'publishLatest'>>

export interface KeeperInit {
  /** Directory of the keeper's store (keeper.json, mode 0700). */
  dir: string
  /** Time between two checks of every file (default 60 s): the safety net under the market events. */
  pollIntervalMs?: number
  /** Time between two reads of the market's events (default 12 s, about a block); needs the `market` component. */
  eventIntervalMs?: number
  /** Repair a segment when its healthy shards fall to this; default `defaultRepairThreshold(k, m)` per file. */
  threshold?: number | ((k: number, m: number) => number)
  /** When a shard counts as suspect (default: one missed period, or 30 min without an answer). */
  liveness?: LivenessRule
  /** Extend a file's deals when a healthy shard's deal ends within this (default 14 days). */
  extendLeadMs?: number
  /** Periods bought per extension (default 16). */
  extendPeriods?: number
  /** Token base units the keeper may spend on extensions, in total across restarts (default 0: never extend). */
  budget?: bigint
  /** Serve /health, /status and /metrics on this port (0: any free port; absent: no HTTP server). */
  httpPort?: number
  httpHost?: string
  /** Term of the deals a repair opens (default the client's). */
  repairPeriods?: number
  /** The clock, ms since the epoch (tests). */
  now?: () => number
  onEvent?: (event: KeeperEvent) => void
  /**
   * Fault injection, off by default: awaited at `point` of the real repair path, so a test can kill the keeper
   * exactly there. `sherd keeper start` sets it only from SHERD_KEEPER_PAUSE_AFTER (docs/keeper.md). A rejection
   * (the keeper stopping) fails the repair, which keeps its intent like any failure.
   */
  pause?: (
    point: KeeperPausePoint,
    detail: { fileId: string; deals: readonly KeptDeal[] },
    signal: AbortSignal
  ) => Promise<void>
}

/**
 * Where `KeeperInit.pause` can hold a repair. `deals-recorded`: the SDK repair has returned (its deals are open and
 * paid for, its new manifest is written) and every deal it opened is in the store's intent, but the new link is not
 * recorded: a keeper killed here must finish the repair by adopting those deals. Reached only by a repair that
 * opened at least one deal.
 */
export type KeeperPausePoint = 'deals-recorded'
export const KEEPER_PAUSE_POINTS: readonly KeeperPausePoint[] = ['deals-recorded']

export interface KeeperComponents {
  client: KeeperClient
  /**
   * The market, read for its events (DealFaulted, DealDeclaredLost, DealFailed, PeriodMissed) of the kept files'
   * deals: each one triggers a check of its files at once. Without it the keeper only polls.
   */
  market?: MarketClient
}

export type KeeperEvent =
  | { type: 'keeper:pass'; files: number; ms: number }
  /** A market event of a kept file's deal (or of a provider holding one of its shards); a check of its files follows. */
  | { type: 'keeper:market-event'; event: FileMarketEvent }
  | { type: 'keeper:event-read-failed'; error: string }
  | { type: 'keeper:checked'; fileId: string; cid: string; segments: readonly SegmentView[] }
  | { type: 'keeper:check-failed'; fileId: string; error: string }
  /** `why`: the segments to repair as the check saw them (absent when finishing a recorded repair). */
  | {
      type: 'keeper:repair-started'
      fileId: string
      cid: string
      segments: readonly number[]
      adopting: number
      why?: readonly SegmentView[]
    }
  | { type: 'keeper:deal-recorded'; fileId: string; deal: KeptDeal }
  | { type: 'keeper:repaired'; fileId: string; from: string; cid: string; shards: number }
  | { type: 'keeper:repair-failed'; fileId: string; error: string }
  /** The file's latest-version record, so that its older links read this version (docs/keeper.md). */
  | { type: 'keeper:published'; fileId: string; cid: string; accepted: number; asked: number }
  | { type: 'keeper:publish-failed'; fileId: string; error: string }
  | { type: 'keeper:extended'; fileId: string; periods: number; escrow: bigint }
  | { type: 'keeper:extend-skipped'; fileId: string; reason: string }
  /** Some of the file's deals reached the end of their paid term: not a fault, and not repaired (docs/keeper.md). */
  | { type: 'keeper:ended'; fileId: string; cid: string; shards: number }

/** One segment as the keeper saw it in its last check. */
export interface SegmentView {
  readonly index: number
  readonly healthy: number
  readonly threshold: number
  readonly k: number
  readonly m: number
  readonly suspect: number
  readonly failed: number
  readonly missing: number
  /** Shards whose deal's paid term is over: not counted as failed, and the segment is not repaired for them. */
  readonly ended: number
  readonly belowK: boolean
  readonly repair: boolean
  readonly extend: number
}

/** What /status serves: no link or key, only CIDs. */
export interface KeeperStatus {
  readonly running: boolean
  readonly startedAt?: number
  readonly pollIntervalMs: number
  readonly passes: number
  readonly lastPassAt?: number
  readonly budget: { readonly limit: string; readonly spent: string }
  readonly files: ReadonlyArray<{
    readonly id: string
    readonly capability: 'read' | 'repair'
    readonly cid: string
    readonly history: readonly string[]
    readonly repairs: number
    readonly shardsRebuilt: number
    readonly repairPending: boolean
    readonly lastError?: string
    readonly checkedAt?: number
    readonly segments?: readonly SegmentView[]
  }>
}

export interface Keeper {
  start: () => Promise<void>
  stop: () => Promise<void>
  /** Runs one check of every file now (the polling task runs the same); resolves when it is done. */
  checkNow: () => Promise<void>
  status: () => KeeperStatus
  readonly store: KeeperStore | undefined
  readonly metrics: KeeperMetrics
  /** http://127.0.0.1:<port> once started with `httpPort`. */
  readonly httpUrl: string | undefined
}

/**
 * The repair keeper: checks every file in its store each `pollIntervalMs` with `stat` (chain state and a dial of
 * every provider), decides per segment with `decideSegment`, repairs a segment once its healthy shards fall to the
 * threshold (recording its intent, then each deal as it opens, so a restart finishes it without paying twice), and
 * extends deals ending within `extendLeadMs` while the budget lasts. docs/keeper.md.
 *
 * @example
 * const keeper = createKeeper({ dir, budget: 10n ** 18n, httpPort: 7080 }, { client })
 * await keeper.start()
 */
export function createKeeper(init: KeeperInit, components: KeeperComponents): Keeper {
  const pollIntervalMs = init.pollIntervalMs ?? DEFAULT_KEEPER_POLL_INTERVAL_MS
  if (!Number.isSafeInteger(pollIntervalMs) || pollIntervalMs < MIN_KEEPER_POLL_INTERVAL_MS) {
    throw new KeeperConfigError(
      `the poll interval must be at least ${MIN_KEEPER_POLL_INTERVAL_MS} ms, got ${pollIntervalMs}`
    )
  }
  const budget = init.budget ?? 0n
  if (budget < 0n) throw new KeeperConfigError('the budget cannot be negative')
  const extendPeriods = init.extendPeriods ?? DEFAULT_EXTEND_PERIODS
  if (!Number.isSafeInteger(extendPeriods) || extendPeriods < 1)
    throw new KeeperConfigError(`extendPeriods must be a positive integer, got ${extendPeriods}`)
  const extendLeadMs = init.extendLeadMs ?? DEFAULT_EXTEND_LEAD_MS
  const liveness = init.liveness ?? DEFAULT_LIVENESS
  const now = init.now ?? Date.now
  const emit = init.onEvent ?? (() => {})
  const { client } = components
  const metrics = new KeeperMetrics()
  const thresholdFor = (k: number, m: number): number =>
    init.threshold === undefined
      ? defaultRepairThreshold(k, m)
      : typeof init.threshold === 'number'
        ? init.threshold
        : init.threshold(k, m)

  let store: KeeperStore | undefined
  let http: KeeperHttp | undefined
  let controller: AbortController | undefined
  let loop: Promise<void> | undefined
  let pass: Promise<void> | undefined
  let startedAt: number | undefined
  let passes = 0
  let lastPassAt: number | undefined
  /** When each provider last answered a probe: the liveness rule's clock. */
  const lastAnswered = new Map<string, number>()
  const lastViews = new Map<string, { at: number; segments: readonly SegmentView[] }>()
  /** Each file's deals and providers at its last check: what the event reader filters on. */
  const dealsOf = new Map<string, { deals: bigint[]; providers: string[] }>()
  const eventIntervalMs = init.eventIntervalMs ?? DEFAULT_KEEPER_EVENT_INTERVAL_MS
  if (!Number.isSafeInteger(eventIntervalMs) || eventIntervalMs < MIN_KEEPER_POLL_INTERVAL_MS) {
    throw new KeeperConfigError(
      `the event interval must be at least ${MIN_KEEPER_POLL_INTERVAL_MS} ms, got ${eventIntervalMs}`
    )
  }
  let eventLoop: Promise<void> | undefined

  function views(s: FileStat): { segments: SegmentView[]; decisions: SegmentDecision[] } {
    const t = now()
    const decisions: SegmentDecision[] = []
    const segments = s.segments.map((seg) => {
      const shards = seg.shards.map((sh): PolicyShard => {
        // Silent since its last answer seen (or since the keeper started, for one never seen answering).
        if (sh.provider !== undefined && sh.online !== false) lastAnswered.set(sh.provider, t)
        const since =
          sh.provider === undefined || sh.online !== false
            ? undefined
            : (lastAnswered.get(sh.provider) ?? startedAt ?? t)
        const health = shardHealth(
          {
            ...(sh.provider === undefined ? {} : { provider: sh.provider }),
            dealOver:
              sh.state === 'failed' || sh.state === 'faulted' || sh.state === 'declared' || sh.state === 'unfunded',
            // Not a provider's fault: the policy counts it neither healthy nor failed and never rebuilds it.
            termOver: sh.state === 'ended',
            // Recent misses only: a miss long ago with every period proven since says nothing about now.
            ...(sh.recentMissedPeriods === undefined ? {} : { missedPeriods: sh.recentMissedPeriods }),
            ...(since === undefined ? {} : { unresponsiveMs: t - since })
          },
          liveness
        )
        return {
          shardIndex: sh.shardIndex,
          health,
          ...(sh.provider === undefined ? {} : { provider: sh.provider }),
          ...(sh.endsAtMs === undefined ? {} : { dealEnd: sh.endsAtMs })
        }
      })
      const d = decideSegment({
        k: s.k,
        m: s.m,
        shards,
        threshold: thresholdFor(s.k, s.m),
        now: t,
        extendLead: extendLeadMs
      })
      decisions.push(d)
      const count = (h: PolicyShard['health']): number => shards.filter((x) => x.health === h).length
      return {
        index: seg.index,
        healthy: d.healthy,
        threshold: d.threshold,
        k: s.k,
        m: s.m,
        suspect: count('suspect'),
        failed: count('failed'),
        missing: count('missing'),
        ended: d.ended,
        belowK: d.belowK,
        repair: d.repair,
        extend: d.extend.length
      }
    })
    return { segments, decisions }
  }

  async function repairFile(
    file: KeptFile,
    segments: readonly number[],
    signal: AbortSignal,
    why?: readonly SegmentView[]
  ): Promise<void> {
    const s = store!
    const fromCid = linkCid(file.link)
    const kept = file.intent?.deals ?? []
    // Recorded before the repair can spend anything: the deals it opens are added as they open.
    await s.updateFile(file.id, (f) => ({
      ...f,
      intent: { startedAt: f.intent?.startedAt ?? now(), fromCid, segments, deals: f.intent?.deals ?? [] }
    }))
    emit({
      type: 'keeper:repair-started',
      fileId: file.id,
      cid: fromCid,
      segments,
      adopting: kept.length,
      ...(why === undefined ? {} : { why })
    })
    log('repairing %s (segments %o, adopting %d deals)', file.id, segments, kept.length)
    let writes: Promise<unknown> = Promise.resolve()
    const recorded: KeptDeal[] = []
    const onProgress = (e: RepairProgressEvent): void => {
      if (e.type !== 'put:deal-opened') return
      metrics.repairEscrow += e.escrow
      const deal: KeptDeal = {
        segmentIndex: e.segmentIndex,
        shardIndex: e.shardIndex,
        provider: e.provider,
        dealId: e.dealId.toString()
      }
      writes = writes.then(async () => {
        await s.updateFile(file.id, (f) =>
          f.intent === undefined
            ? f
            : {
                ...f,
                intent: {
                  ...f.intent,
                  deals: [
                    ...f.intent.deals.filter(
                      (d) => !(d.segmentIndex === deal.segmentIndex && d.shardIndex === deal.shardIndex)
                    ),
                    deal
                  ]
                }
              }
        )
        recorded.push(deal)
        emit({ type: 'keeper:deal-recorded', fileId: file.id, deal })
      })
    }
    let result: Pick<RepairResult, 'link' | 'repaired'>
    try {
      result = await client.repair(file.link, {
        signal,
        onProgress,
        // The repair moves shards with missed periods only if the keeper's rule counts one miss as suspect.
        includeMissed: liveness.suspectAfterMissed <= 1,
        // The policy never rebuilds an ended shard; neither may the repair it starts.
        leaveEnded: true,
        adopt: kept.map((d) => ({
          segmentIndex: d.segmentIndex,
          shardIndex: d.shardIndex,
          provider: d.provider,
          dealId: BigInt(d.dealId)
        })),
        ...(init.repairPeriods === undefined ? {} : { periods: init.repairPeriods })
      })
    } catch (err) {
      await writes
      const e = err as Error & { link?: string }
      // The manifest was written (the file is readable under it); some new deals did not activate: the next
      // check sees those shards unhealthy and repairs them.
      if (e.name === 'DealActivationError' && typeof e.link === 'string') {
        result = { link: e.link, repaired: [] }
      } else {
        metrics.repairs.failed++
        if (!signal.aborted) {
          await s.updateFile(file.id, (f) => ({ ...f, lastError: `repair: ${e.message}` }))
          emit({ type: 'keeper:repair-failed', fileId: file.id, error: e.message })
        }
        throw err
      }
    }
    await writes
    if (init.pause !== undefined && recorded.length > 0)
      await init.pause('deals-recorded', { fileId: file.id, deals: recorded }, signal)
    const newCid = linkCid(result.link)
    const rebuilt = result.repaired.length
    await s.updateFile(file.id, (f) => {
      const { intent: _done, lastError: _cleared, ...rest } = f
      return {
        ...rest,
        link: result.link,
        history: newCid === fromCid ? f.history : [...f.history, fromCid],
        repairs: f.repairs + (newCid === fromCid ? 0 : 1),
        shardsRebuilt: f.shardsRebuilt + rebuilt
      }
    })
    metrics.repairs.ok++
    metrics.shardsRebuilt += rebuilt
    emit({ type: 'keeper:repaired', fileId: file.id, from: fromCid, cid: newCid, shards: rebuilt })
    log('repaired %s: %s -> %s (%d shards)', file.id, fromCid, newCid, rebuilt)
  }

  async function extendFile(file: KeptFile, s: FileStat, signal: AbortSignal): Promise<void> {
    const st = store!
    const cost = (s.costPerPeriod ?? 0n) * BigInt(extendPeriods)
    const spent = BigInt(st.state.extendSpent)
    if (spent + cost > budget) {
      emit({
        type: 'keeper:extend-skipped',
        fileId: file.id,
        reason: `the budget is spent: ${spent} of ${budget} used, ${cost} needed`
      })
      return
    }
    // Reserved (counted as spent) before the transactions: a crash in between can only under-spend the budget.
    await st.update((state) => ({
      ...state,
      extendSpent: (BigInt(state.extendSpent) + cost).toString(),
      extendIntent: { fileId: file.id, periods: extendPeriods, reserved: cost.toString(), startedAt: now() }
    }))
    let escrow = cost
    try {
      const r = await client.extend(file.link, extendPeriods, { signal })
      escrow = r.escrow
      metrics.extensions++
      emit({ type: 'keeper:extended', fileId: file.id, periods: extendPeriods, escrow: r.escrow })
    } finally {
      await st.update((state) => {
        const { extendIntent: _settled, ...rest } = state
        return { ...rest, extendSpent: (BigInt(state.extendSpent) - cost + escrow).toString() }
      })
    }
  }

  /**
   * Publishes a repaired file's newest CID (once per CID; retried at every check until a provider takes it), so its
   * owner's older links follow it. Not a reason to fail the check: the file is safe either way.
   */
  async function publishFile(file: KeptFile, signal: AbortSignal): Promise<void> {
    const cid = linkCid(file.link)
    if (client.publishLatest === undefined || file.history.length === 0 || file.publishedCid === cid) return
    try {
      const r = await client.publishLatest(file.link, {
        olderCids: file.history,
        ...(file.publishedSeq === undefined ? {} : { afterSeq: file.publishedSeq }),
        signal
      })
      if (r.accepted === 0) throw new Error(`none of the ${r.asked} providers asked took the record`)
      await store!.updateFile(file.id, (f) => ({ ...f, publishedCid: cid, publishedSeq: r.seq }))
      emit({ type: 'keeper:published', fileId: file.id, cid, accepted: r.accepted, asked: r.asked })
    } catch (err) {
      if (signal.aborted) throw err
      emit({ type: 'keeper:publish-failed', fileId: file.id, error: (err as Error).message })
      log.error('publishing the latest version of %s failed (retried next check): %s', file.id, (err as Error).message)
    }
  }

  async function checkFile(file: KeptFile, signal: AbortSignal): Promise<void> {
    if (file.intent !== undefined) {
      // An unfinished repair (a restart, or a failure): finish it first, with the deals it already opened.
      await repairFile(file, file.intent.segments, signal)
      file = store!.file(file.id) ?? file
    }
    await publishFile(file, signal)
    file = store!.file(file.id) ?? file
    const s = await client.stat(file.link, { signal, probe: true })
    const shards = s.segments.flatMap((seg) => seg.shards)
    dealsOf.set(file.id, {
      deals: shards.flatMap((sh) => (sh.dealId === undefined ? [] : [sh.dealId])),
      providers: shards.flatMap((sh) => (sh.chainAddress === undefined ? [] : [sh.chainAddress.toLowerCase()]))
    })
    const { segments, decisions } = views(s)
    lastViews.set(file.id, { at: now(), segments })
    emit({ type: 'keeper:checked', fileId: file.id, cid: s.cid, segments })
    const ended = segments.reduce((n, v) => n + v.ended, 0)
    if (ended > 0) {
      emit({ type: 'keeper:ended', fileId: file.id, cid: s.cid, shards: ended })
      log(
        '%s: %d deals reached the end of their paid term; not repaired (extend before the end renews)',
        file.id,
        ended
      )
    }
    const toRepair = segments.filter((v) => v.repair)
    if (toRepair.length > 0) {
      await repairFile(
        file,
        toRepair.map((v) => v.index),
        signal,
        toRepair
      )
      await publishFile(store!.file(file.id) ?? file, signal)
      return
    }
    if (decisions.some((d) => d.extend.length > 0) && budget > 0n) await extendFile(file, s, signal)
  }

  /** Checks every file, or only the files in `only` (after a market event: not counted as a pass). */
  async function runPass(signal: AbortSignal, only?: ReadonlySet<string>): Promise<void> {
    const started = now()
    const s = store!
    const state = await s.reload()
    /** One file's check; a failure is counted and reported, and the others are still checked. */
    const checkOne = async (file: KeptFile, after: string): Promise<void> => {
      signal.throwIfAborted()
      try {
        await checkFile(file, signal)
      } catch (err) {
        if (signal.aborted) throw err
        metrics.checkErrors++
        const message = (err as Error).message
        emit({ type: 'keeper:check-failed', fileId: file.id, error: message })
        log.error('checking %s%s failed: %s', file.id, after, message)
      }
    }
    if (only !== undefined) {
      for (const file of s.files.filter((f) => only.has(f.id))) await checkOne(file, ' after a market event')
      updateGauges()
      return
    }
    if (state.extendIntent !== undefined) {
      // An extension was under way when the keeper stopped: whether it went through or not, its reserve stays
      // counted (never overspend); stat shows whether the deals moved, and the next check extends again if not.
      await s.update((st) => {
        const { extendIntent: _gone, ...rest } = st
        return rest
      })
    }
    for (const file of s.files) await checkOne(file, '')
    passes++
    metrics.passes++
    lastPassAt = now()
    updateGauges()
    emit({ type: 'keeper:pass', files: s.files.length, ms: now() - started })
  }

  function updateGauges(): void {
    const all = [...lastViews.entries()].filter(([id]) => store?.file(id) !== undefined).flatMap(([, v]) => v.segments)
    metrics.files = store?.files.length ?? 0
    metrics.segments = {
      healthy: all.filter((v) => v.healthy === v.k + v.m).length,
      degraded: all.filter((v) => v.healthy < v.k + v.m && !v.belowK).length,
      belowK: all.filter((v) => v.belowK).length
    }
    metrics.minMargin = all.length === 0 ? undefined : Math.min(...all.map((v) => v.healthy - v.k))
    metrics.budget = budget
    metrics.extendSpent = BigInt(store?.state.extendSpent ?? '0')
    metrics.repairsPending = store?.files.filter((f) => f.intent !== undefined).length ?? 0
  }

  async function checkNow(only?: ReadonlySet<string>): Promise<void> {
    if (store === undefined || controller === undefined)
      throw new KeeperConfigError('the keeper is not started: call start() first')
    // One pass at a time: a call during a pass waits for it and then runs its own.
    while (pass !== undefined) await pass.catch(() => {})
    pass = runPass(controller.signal, only).finally(() => {
      pass = undefined
    })
    await pass
  }

  function watched(): WatchedDeals {
    const deals = new Map<bigint, Set<string>>()
    const providers = new Map<string, Set<string>>()
    const add = <K>(map: Map<K, Set<string>>, key: K, id: string): void => {
      const set = map.get(key) ?? new Set()
      set.add(id)
      map.set(key, set)
    }
    for (const f of store?.files ?? []) {
      const d = dealsOf.get(f.id)
      if (d === undefined) continue
      for (const id of d.deals) add(deals, id, f.id)
      for (const p of d.providers) add(providers, p, f.id)
    }
    return { deals, providers }
  }

  /**
   * One read of the market's events since the stored cursor, then a check of every file they concern. The cursor
   * is stored before the checks: a keeper stopped in between runs a full pass at its next start anyway.
   */
  async function followEvents(market: MarketClient, signal: AbortSignal): Promise<void> {
    const s = store!
    const head = await market.publicClient.getBlockNumber({ cacheTime: 0 })
    const stored = s.state.eventCursor
    // First run: the first pass's stat reads the deals' state up to now, so older events add nothing.
    if (stored === undefined) {
      await s.update((st) => ({ ...st, eventCursor: head.toString() }))
      return
    }
    const from = BigInt(stored) + 1n
    if (head < from) return
    const events = await readFileMarketEvents(market, watched(), from, head, signal)
    await s.update((st) =>
      st.eventCursor !== undefined && BigInt(st.eventCursor) >= head ? st : { ...st, eventCursor: head.toString() }
    )
    if (events.length === 0) return
    const files = new Set<string>()
    for (const event of events) {
      metrics.marketEvents[event.eventName] = (metrics.marketEvents[event.eventName] ?? 0) + 1
      emit({ type: 'keeper:market-event', event })
      log(
        'market event %s (deal %s, provider %s): checking %o',
        event.eventName,
        event.dealId,
        event.provider,
        event.fileIds
      )
      for (const id of event.fileIds) files.add(id)
    }
    await checkNow(files)
  }

  const keeper: Keeper = {
    get store() {
      return store
    },
    metrics,
    get httpUrl() {
      return http?.url
    },

    async start() {
      if (controller !== undefined) return
      store = await KeeperStore.open(init.dir)
      controller = new AbortController()
      startedAt = now()
      updateGauges()
      if (init.httpPort !== undefined) {
        http = new KeeperHttp(
          { port: init.httpPort, ...(init.httpHost === undefined ? {} : { host: init.httpHost }) },
          { status: () => keeper.status(), metrics }
        )
        await http.start()
      }
      const signal = controller.signal
      loop = (async () => {
        while (!signal.aborted) {
          try {
            await checkNow()
          } catch (err) {
            if (signal.aborted) break
            metrics.checkErrors++
            log.error('keeper pass failed: %s', (err as Error).message)
          }
          try {
            await sleep(pollIntervalMs, signal)
          } catch {
            break
          }
        }
      })()
      const market = components.market
      if (market !== undefined) {
        eventLoop = (async () => {
          while (!signal.aborted) {
            try {
              await followEvents(market, signal)
            } catch (err) {
              if (signal.aborted) break
              metrics.eventReadErrors++
              emit({ type: 'keeper:event-read-failed', error: (err as Error).message })
              log.error('reading market events failed (retried from the same block): %s', (err as Error).message)
            }
            try {
              await sleep(eventIntervalMs, signal)
            } catch {
              break
            }
          }
        })()
      }
      log('keeper started: %d files, polling every %d ms', store.files.length, pollIntervalMs)
    },

    async stop() {
      const c = controller
      if (c === undefined) return
      c.abort(new Error('the keeper is stopping'))
      await loop?.catch(() => {})
      await eventLoop?.catch(() => {})
      await pass?.catch(() => {})
      await http?.stop()
      http = undefined
      controller = undefined
      loop = undefined
      eventLoop = undefined
    },

    async checkNow() {
      await checkNow()
    },

    status() {
      const files = (store?.files ?? []).map((f) => {
        const v = lastViews.get(f.id)
        return {
          id: f.id,
          capability: f.capability,
          cid: linkCid(f.link),
          history: f.history,
          repairs: f.repairs,
          shardsRebuilt: f.shardsRebuilt,
          repairPending: f.intent !== undefined,
          ...(f.lastError === undefined ? {} : { lastError: f.lastError }),
          ...(v === undefined ? {} : { checkedAt: v.at, segments: v.segments })
        }
      })
      return {
        running: controller !== undefined,
        ...(startedAt === undefined ? {} : { startedAt }),
        pollIntervalMs,
        passes,
        ...(lastPassAt === undefined ? {} : { lastPassAt }),
        budget: { limit: budget.toString(), spent: store?.state.extendSpent ?? '0' },
        files
      }
    }
  }
  return keeper
}

import { logger } from '@libp2p/logger'
import type { Startable } from '@libp2p/interface'
import {
  claimProofSetDeals,
  commitProofSetSeed,
  failProofSetAudit,
  markProofSetMissed,
  proofSetRevertName,
  readProofSetEvents
} from '@sherd/contracts'
import type { MarketClient, ProofSetEventLog } from '@sherd/contracts'
import type { ChainConnection } from './chain.js'
import type { NodeMetrics } from '../api/metrics.js'
import { ProofSetClock } from '../prover/context.js'
import { pollUntilAborted } from '../polling.js'
import type { TxQueue } from '../prover/tx-queue.js'
import {
  PROOF_SET_POLL_INTERVAL_MS,
  PROOF_SET_RETRY_INITIAL_MS,
  PROOF_SET_RETRY_MAX_MS,
  PROOF_SET_TX_TIMEOUT_MS
} from '../prover/index.js'

const log = logger('sherd:node:miss-reporter')

/** Transactions sent per step at most, so a backlog (a reporter starting late) does not hold the account for long. */
export const MAX_MARKS_PER_STEP = 20
/**
 * `blockhash` reads back 256 blocks: a seed is committed at most this many blocks after its challenge block, with
 * a few blocks of margin for the transaction to land.
 */
export const SEED_READABLE_BLOCKS = 250n
/**
 * A period's seed is committed by whoever proves first (free). The reporter waits this many blocks after the
 * challenge block for that (at most the period, and half the readable window) before it commits the seed itself.
 */
export const SEED_COMMIT_DELAY_BLOCKS = 128n

type MarketLog = ProofSetEventLog

export interface MissReporterInit {
  pollIntervalMs?: number
  retryMaxBackoffMs?: number
  txTimeoutMs?: number
  /** First block to scan (default: the market's deployment block). */
  fromBlock?: bigint
}

export interface MissReporterComponents {
  connection: () => ChainConnection | undefined
  metrics: NodeMetrics
  txQueue: TxQueue
}

interface WatchedProvider {
  /** Its deals not off the books: [start, voidFrom). */
  deals: Map<bigint, { start: bigint; end: bigint; failureClaimed: boolean }>
  proven: Set<bigint>
  missed: Set<bigint>
  /** Periods below this are proven, marked or had no deal. */
  checkedFrom: bigint
}

/** What the reporter did, for tests and status. */
export interface MissReporterStatus {
  marked: number
  seedsCommitted: number
  auditsFailed: number
  failuresClaimed: number
  /** Token base units credited to this node for the misses it marked. */
  rewards: bigint
  lastError?: string
}

/**
 * Watches the other providers of the market and sends what anyone may send, for the network's sake:
 *  - `markMissed(provider, period)` for each closed period a provider with deals did not prove on time (the reporter
 *    is credited `reporterBps` of the slash): what slashes a dead provider;
 *  - `claim` of a provider's deals once they have missed `maxMissedPeriods` periods: the deals fail on chain
 *    (DealFailed), which is what clients repair from, even if nobody else claims them;
 *  - `commitSeed(period)` for a period nobody has proven SEED_COMMIT_DELAY_BLOCKS after its challenge block, while its
 *    block hash can still be read, so a provider that comes back later answers that period's own challenges;
 *  - `failAudit(dealId)` for another provider's audit left unanswered past its period (the client gets its bond
 *    back with the reward; the client may also call it itself).
 * It follows the market's events from the deployment block in memory; a restart reads them again. It keeps no
 * checkpoints: after a reorg it may skip a mark (an event it folded was dropped) or send one the chain refuses; both
 * are harmless, since the market itself counts every period not proven on time at the next claim. Its own deals
 * it never marks (that would burn its own stake for nothing) and its own audits its prover answers.
 */
export class MissReporter implements Startable {
  readonly status: MissReporterStatus = {
    marked: 0,
    seedsCommitted: 0,
    auditsFailed: 0,
    failuresClaimed: 0,
    rewards: 0n
  }
  private abort: AbortController | undefined
  private running: Promise<void> | undefined
  private clock: ProofSetClock | undefined
  private maxMissed = 0
  private cursor: bigint | undefined
  private readonly providers = new Map<string, WatchedProvider>()
  private readonly dealProvider = new Map<bigint, string>()
  private readonly seeded = new Set<bigint>()
  private seedCheckedFrom: bigint | undefined
  private readonly audits = new Map<bigint, bigint>()
  private readonly init: Required<Omit<MissReporterInit, 'fromBlock'>> & Pick<MissReporterInit, 'fromBlock'>

  constructor(
    private readonly components: MissReporterComponents,
    init: MissReporterInit = {}
  ) {
    this.init = {
      pollIntervalMs: init.pollIntervalMs ?? PROOF_SET_POLL_INTERVAL_MS,
      retryMaxBackoffMs: init.retryMaxBackoffMs ?? PROOF_SET_RETRY_MAX_MS,
      txTimeoutMs: init.txTimeoutMs ?? PROOF_SET_TX_TIMEOUT_MS,
      fromBlock: init.fromBlock
    }
  }

  async start(): Promise<void> {
    if (this.components.connection() === undefined) return
    this.abort = new AbortController()
    const signal = this.abort.signal
    this.running = pollUntilAborted(
      async (signal) => await this.stepOnce(signal),
      {
        intervalMs: this.init.pollIntervalMs,
        retryInitialMs: PROOF_SET_RETRY_INITIAL_MS,
        retryMaxBackoffMs: this.init.retryMaxBackoffMs
      },
      signal
    ).catch((err) => {
      if (!signal.aborted) log.error('miss reporter stopped: %e', err)
    })
  }

  async stop(): Promise<void> {
    this.abort?.abort(new Error('the miss reporter is stopping'))
    await this.running
    this.abort = undefined
    this.running = undefined
  }

  /** One step for the polling loop: false (retried sooner) when it failed. */
  private async stepOnce(signal: AbortSignal): Promise<boolean> {
    try {
      await this.step(signal)
      this.status.lastError = undefined
      return true
    } catch (err) {
      if (signal.aborted) return true
      this.status.lastError = String((err as Error)?.message).split('\n')[0]
      this.components.metrics.proverErrors.inc({ stage: 'report-misses' })
      log.error('step failed (retrying): %s', this.status.lastError)
      return false
    }
  }

  private async step(signal: AbortSignal): Promise<void> {
    const conn = this.components.connection()
    if (conn === undefined) return
    const { mc } = conn
    this.clock ??= new ProofSetClock(conn.genesisBlock, conn.params)
    this.maxMissed = conn.params.maxMissedPeriods
    const cursor = this.cursor ?? (this.init.fromBlock ?? conn.genesisBlock) - 1n
    const head = await mc.publicClient.getBlockNumber({ cacheTime: 0 })
    const me = conn.address.toLowerCase()
    if (cursor < head) {
      for (const entry of await readProofSetEvents(mc, { fromBlock: cursor + 1n, toBlock: head, signal }))
        this.fold(entry, me)
      this.cursor = head
    }
    const budget = { left: MAX_MARKS_PER_STEP }
    await this.markMisses(mc, head, budget, signal)
    await this.commitSeeds(mc, head, budget, signal)
    await this.failAudits(mc, head, budget, signal)
  }

  private attempt(signal: AbortSignal): AbortSignal {
    return AbortSignal.any([signal, AbortSignal.timeout(this.init.txTimeoutMs)])
  }

  /** Sends one transaction from the provider's account; a revert (someone else was first) is logged, not thrown. */
  private async send(
    what: string,
    signal: AbortSignal,
    fn: (options: { signal: AbortSignal }) => Promise<unknown>
  ): Promise<boolean> {
    try {
      await this.components.txQueue.run(async () => await fn({ signal: this.attempt(signal) }))
      return true
    } catch (err) {
      const revert = proofSetRevertName(err)
      if (revert === undefined) throw err
      log('%s not sent: %s', what, revert)
      return false
    }
  }

  private async markMisses(
    mc: MarketClient,
    head: bigint,
    budget: { left: number },
    signal: AbortSignal
  ): Promise<void> {
    const clock = this.clock!
    // Period q is closed once head + 1 (where a transaction lands) is past its last block.
    const closed = clock.periodOf(head + 1n) - 1n
    for (const [provider, p] of this.providers) {
      for (let q = p.checkedFrom; q <= closed && budget.left > 0; q++) {
        if (p.proven.has(q) || p.missed.has(q) || !hasDealIn(p, q)) continue
        signal.throwIfAborted()
        budget.left--
        if (
          await this.send(
            `markMissed(${provider}, ${q})`,
            signal,
            async (o) => await markProofSetMissed(mc, { provider: provider as `0x${string}`, period: q }, o)
          )
        ) {
          this.status.marked++
          this.components.metrics.missesReported.inc()
          log('marked period %s of provider %s missed', String(q), provider)
        }
        // Marked now, or proven late / marked by someone else: either way it is settled for this reporter.
        p.missed.add(q)
      }
      while (
        p.checkedFrom <= closed &&
        (p.proven.has(p.checkedFrom) || p.missed.has(p.checkedFrom) || !hasDealIn(p, p.checkedFrom))
      )
        p.checkedFrom++
      // Deals that missed their limit fail only when claimed: claim them, so their clients see DealFailed and repair.
      const failing: bigint[] = []
      for (const [id, d] of p.deals) {
        if (d.failureClaimed) continue
        let misses = 0
        for (let q = d.start; q < d.end && q <= closed; q++) if (p.missed.has(q) && !p.proven.has(q)) misses++
        if (misses >= this.maxMissed) failing.push(id)
      }
      if (failing.length > 0 && budget.left > 0) {
        budget.left--
        if (
          await this.send(
            `claim of ${failing.length} failing deal(s)`,
            signal,
            async (o) => await claimProofSetDeals(mc, failing, o)
          )
        ) {
          this.status.failuresClaimed += failing.length
          log(
            'claimed %d deal(s) of provider %s that missed %d periods: they fail on chain',
            failing.length,
            provider,
            this.maxMissed
          )
        }
        for (const id of failing) p.deals.get(id)!.failureClaimed = true
      }
    }
  }

  private anyDealIn(q: bigint): boolean {
    for (const p of this.providers.values()) if (hasDealIn(p, q)) return true
    return false
  }

  private async commitSeeds(
    mc: MarketClient,
    head: bigint,
    budget: { left: number },
    signal: AbortSignal
  ): Promise<void> {
    const clock = this.clock!
    const delay =
      SEED_COMMIT_DELAY_BLOCKS < BigInt(clock.params.periodBlocks)
        ? SEED_COMMIT_DELAY_BLOCKS
        : BigInt(clock.params.periodBlocks)
    // From the oldest period whose challenge block hash is still readable: one a provider went down in may be unseeded.
    this.seedCheckedFrom ??= head > SEED_READABLE_BLOCKS ? clock.periodOf(head - SEED_READABLE_BLOCKS) + 1n : 0n
    for (let q = this.seedCheckedFrom; budget.left > 0; q++) {
      const cb = clock.challengeBlock(q)
      // A transaction sent now lands at head + 1 or later.
      if (head + 1n < cb + delay) break
      this.seedCheckedFrom = q + 1n
      if (this.seeded.has(q) || !this.anyDealIn(q)) continue
      if (head + 1n - cb > SEED_READABLE_BLOCKS) {
        log.error(
          'the seed of period %s can no longer be committed (its challenge block %s is too old)',
          String(q),
          String(cb)
        )
        continue
      }
      signal.throwIfAborted()
      budget.left--
      if (await this.send(`commitSeed(${q})`, signal, async (o) => await commitProofSetSeed(mc, q, o))) {
        this.status.seedsCommitted++
        log('committed the seed of period %s (nobody had proven it)', String(q))
      }
      this.seeded.add(q)
    }
  }

  private async failAudits(
    mc: MarketClient,
    head: bigint,
    budget: { left: number },
    signal: AbortSignal
  ): Promise<void> {
    const clock = this.clock!
    for (const [dealId, period] of this.audits) {
      if (budget.left <= 0) return
      if (head + 1n < clock.startBlock(period + 1n)) continue
      signal.throwIfAborted()
      budget.left--
      if (await this.send(`failAudit(${dealId})`, signal, async (o) => await failProofSetAudit(mc, dealId, o))) {
        this.status.auditsFailed++
        log('failed the unanswered audit of deal %s (period %s)', String(dealId), String(period))
      }
      this.audits.delete(dealId)
    }
  }

  private watched(provider: string): WatchedProvider {
    let p = this.providers.get(provider)
    if (p === undefined) {
      p = { deals: new Map(), proven: new Set(), missed: new Set(), checkedFrom: -1n }
      this.providers.set(provider, p)
    }
    return p
  }

  private fold(entry: MarketLog, me: string): void {
    switch (entry.eventName) {
      case 'DealOpened': {
        const a = entry.args
        const provider = a.provider.toLowerCase()
        this.dealProvider.set(a.dealId, provider)
        if (provider === me) return
        const p = this.watched(provider)
        p.deals.set(a.dealId, { start: BigInt(a.startPeriod), end: BigInt(a.endPeriod), failureClaimed: false })
        if (p.checkedFrom < 0n || BigInt(a.startPeriod) < p.checkedFrom) p.checkedFrom = BigInt(a.startPeriod)
        return
      }
      case 'DealFaulted':
      case 'DealDeclaredLost':
      case 'DealFailed': {
        const p = this.providers.get(entry.args.provider.toLowerCase())
        const d = p?.deals.get(entry.args.dealId)
        if (d === undefined) return
        // Void from the fault's period on (a failed deal's own point is not in the event: stop watching it).
        if (entry.eventName === 'DealFailed') p!.deals.delete(entry.args.dealId)
        else d.end = entry.args.period > d.start ? entry.args.period : d.start
        if (entry.eventName === 'DealFaulted') this.audits.delete(entry.args.dealId)
        return
      }
      case 'DealSettled': {
        const provider = this.dealProvider.get(entry.args.dealId)
        if (provider !== undefined) this.providers.get(provider)?.deals.delete(entry.args.dealId)
        return
      }
      case 'PeriodProven':
        // A late proof does not pay, and markMissed still takes it: only on-time proofs settle a period.
        if (entry.args.onTime) this.providers.get(entry.args.provider.toLowerCase())?.proven.add(entry.args.period)
        return
      case 'PeriodMissed':
        this.providers.get(entry.args.provider.toLowerCase())?.missed.add(entry.args.period)
        if (entry.args.reporter.toLowerCase() === me) this.status.rewards += entry.args.reward
        return
      case 'SeedCommitted':
        this.seeded.add(entry.args.period)
        return
      case 'AuditRequested': {
        const provider = this.dealProvider.get(entry.args.dealId)
        if (provider !== undefined && provider !== me) this.audits.set(entry.args.dealId, entry.args.period)
        return
      }
      case 'AuditAnswered':
      case 'AuditFailed':
        this.audits.delete(entry.args.dealId)
        return
      default:
    }
  }
}

function hasDealIn(p: WatchedProvider, q: bigint): boolean {
  for (const d of p.deals.values()) if (d.start <= q && q < d.end) return true
  return false
}

export function missReporter(init: MissReporterInit = {}): (components: MissReporterComponents) => MissReporter {
  return (components) => new MissReporter(components, init)
}

import { logger } from '@libp2p/logger'
import type { Startable } from '@libp2p/interface'
import { getMarketParams, markMissed } from '@sherd/contracts'
import type { ChainConnection } from './chain.js'
import type { NodeMetrics } from './metrics.js'
import { fetchMarketLogs, lower, MarketClock, readGenesisBlock, revertOf, sleep } from './prover-chain.js'
import type { TxQueue } from './prover-chain.js'
import { PROVER_POLL_INTERVAL_MS, PROVER_RETRY_INITIAL_MS, PROVER_RETRY_MAX_MS, PROOF_TX_TIMEOUT_MS } from './prover.js'

const log = logger('sherd:node:miss-reporter')

/** Marks sent per step at most, so a backlog (a reporter starting late) does not hold the account for long. */
export const MAX_MARKS_PER_STEP = 20

export interface MissReporterInit {
  pollIntervalMs?: number
  retryMaxBackoffMs?: number
  txTimeoutMs?: number
  /** First block to scan for deals (default: the market's deployment block). */
  fromBlock?: bigint
}

export interface MissReporterComponents {
  connection: () => ChainConnection | undefined
  metrics: NodeMetrics
  txQueue: TxQueue
}

/** What the reporter knows of another provider's active deal, from the market's events. */
interface WatchedDeal {
  provider: string
  start: bigint
  /** One past the last period. */
  end: bigint
  /** Periods below this are proven or marked. */
  checkedFrom: bigint
  proven: Set<bigint>
  missed: Set<bigint>
}

/**
 * Marks closed, unproven periods of other providers' active deals missed (`markMissed`: anyone may, and the
 * reporter is credited `reporterBps` of the slash). This is what slashes a dead provider and fails its deals.
 * It follows the market's events (DealActivated, DealExtended, PeriodProven, PeriodMissed, DealFailed, DealEnded)
 * from the deployment block, in memory; a restart re-reads them.
 */
export class MissReporter implements Startable {
  private abort: AbortController | undefined
  private running: Promise<void> | undefined
  private clock: MarketClock | undefined
  private cursor: bigint | undefined
  private readonly deals = new Map<bigint, WatchedDeal>()
  private readonly init: Required<Omit<MissReporterInit, 'fromBlock'>> & Pick<MissReporterInit, 'fromBlock'>

  constructor (private readonly components: MissReporterComponents, init: MissReporterInit = {}) {
    this.init = {
      pollIntervalMs: init.pollIntervalMs ?? PROVER_POLL_INTERVAL_MS,
      retryMaxBackoffMs: init.retryMaxBackoffMs ?? PROVER_RETRY_MAX_MS,
      txTimeoutMs: init.txTimeoutMs ?? PROOF_TX_TIMEOUT_MS,
      fromBlock: init.fromBlock
    }
  }

  async start (): Promise<void> {
    if (this.components.connection() === undefined) return
    this.abort = new AbortController()
    const signal = this.abort.signal
    this.running = this.loop(signal).catch((err) => { if (!signal.aborted) log.error('miss reporter stopped: %e', err) })
  }

  async stop (): Promise<void> {
    this.abort?.abort(new Error('the miss reporter is stopping'))
    await this.running
    this.abort = undefined
    this.running = undefined
  }

  private async loop (signal: AbortSignal): Promise<void> {
    let failures = 0
    while (!signal.aborted) {
      try {
        await this.step(signal)
        failures = 0
      } catch (err) {
        if (signal.aborted) return
        failures++
        this.components.metrics.proverErrors.inc({ stage: 'report-misses' })
        log.error('step failed (retrying): %s', (err as Error)?.message?.split('\n')[0])
      }
      const delay = failures === 0 ? this.init.pollIntervalMs : Math.min(PROVER_RETRY_INITIAL_MS * 2 ** (failures - 1), this.init.retryMaxBackoffMs)
      try { await sleep(delay, signal) } catch { return }
    }
  }

  private async step (signal: AbortSignal): Promise<void> {
    const conn = this.components.connection()
    if (conn === undefined) return
    const { mc } = conn
    if (this.clock === undefined) {
      const [params, genesis] = await Promise.all([getMarketParams(mc), readGenesisBlock(mc)])
      this.clock = new MarketClock(genesis, params)
      this.cursor = (this.init.fromBlock ?? genesis) - 1n
    }
    const head = await mc.publicClient.getBlockNumber({ cacheTime: 0 })
    if (head > this.cursor!) {
      for (const entry of await fetchMarketLogs(mc, this.cursor! + 1n, head, { signal })) this.fold(entry.eventName, entry.args, lower(conn.address))
      this.cursor = head
    }
    const closed = this.clock.closedThrough(head)
    let marks = 0
    for (const [id, d] of this.deals) {
      const last = d.end - 1n < closed ? d.end - 1n : closed
      for (let p = d.checkedFrom; p <= last && marks < MAX_MARKS_PER_STEP; p++) {
        if (d.proven.has(p) || d.missed.has(p)) continue
        signal.throwIfAborted()
        marks++
        try {
          await this.components.txQueue.run(async () => await markMissed(mc, { dealId: id, period: p }, { signal: AbortSignal.any([signal, AbortSignal.timeout(this.init.txTimeoutMs)]) }))
          this.components.metrics.missesReported.inc()
          log('marked period %s of deal %s (provider %s) missed', String(p), String(id), d.provider)
        } catch (err) {
          const revert = revertOf(err)
          if (revert === undefined) throw err
          if (revert.name === 'WrongDealState') { this.deals.delete(id); break }
          // PeriodAlreadyProven / PeriodAlreadyMissed: another reporter or a late scan; either way it is settled.
          log('period %s of deal %s not marked: %s', String(p), String(id), revert.name)
        }
        d.missed.add(p)
      }
      while (d.checkedFrom <= last && (d.proven.has(d.checkedFrom) || d.missed.has(d.checkedFrom))) {
        d.proven.delete(d.checkedFrom)
        d.missed.delete(d.checkedFrom)
        d.checkedFrom++
      }
      if (d.checkedFrom >= d.end) this.deals.delete(id)
    }
  }

  private fold (eventName: string, a: Record<string, unknown>, me: string): void {
    const id = a.dealId as bigint
    switch (eventName) {
      case 'DealActivated':
        // A provider marking its own periods would burn 80 % of each slash for nothing.
        if (lower(a.provider) === me) return
        this.deals.set(id, { provider: String(a.provider), start: a.startPeriod as bigint, end: a.endPeriod as bigint, checkedFrom: a.startPeriod as bigint, proven: new Set(), missed: new Set() })
        return
      case 'DealExtended': {
        const d = this.deals.get(id)
        if (d !== undefined) d.end = d.start + BigInt(a.periods as number)
        return
      }
      case 'PeriodProven':
        this.deals.get(id)?.proven.add(a.period as bigint)
        return
      case 'PeriodMissed':
        this.deals.get(id)?.missed.add(a.period as bigint)
        return
      case 'DealFailed': case 'DealEnded':
        this.deals.delete(id)
        return
      default:
    }
  }
}

export function missReporter (init: MissReporterInit = {}): (components: MissReporterComponents) => MissReporter {
  return (components) => new MissReporter(components, init)
}

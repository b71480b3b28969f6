import { logger } from '@libp2p/logger'
import { proofSetMarketAbi } from '@sherd/contracts'
import type { MarketClient } from '@sherd/contracts'
import { BaseError, isAddressEqual, parseEventLogs, ResponseBodyTooLargeError } from 'viem'
import type { Address, GetContractEventsReturnType, Hex } from 'viem'
import { MAX_LOG_RANGE_BLOCKS } from './tx-queue.js'
import { RECENT_PROVEN_PERIODS } from './ledger.js'
import type { ProofSetLedger, ProofSetLedgerDealState, ProofSetLedgerTx } from './ledger.js'

const log = logger('sherd:node:proof-set:sync')

/** A ProofSetMarket event, typed from the generated ABI (the union narrows on `eventName`). */
export type ProofSetLog = GetContractEventsReturnType<typeof proofSetMarketAbi, undefined, true>[number]

const CHAIN_STATES: readonly ProofSetLedgerDealState[] = ['live', 'live', 'declared', 'faulted', 'failed', 'ended']

export interface LedgerSyncInit {
  /** Fold only blocks at least this deep below the head (0: up to the head; reorgs are undone when seen). */
  confirmations?: number
  /** First block to scan when the ledger is empty (default: the market's deployment block). */
  fromBlock?: bigint
}

export interface SyncResult {
  /** Block the ledger is folded up to. */
  cursor: bigint
  /** Blocks rolled back by a reorg found in this pass (0: none). */
  rolledBack: bigint
}

/**
 * Folds the market's events for one provider into the ledger and keeps it on the canonical chain. Each pass:
 *  1. checks that the chain still has the cursor block's hash; if not, finds the newest checkpoint it still has
 *     and undoes every batch after it (or empties the ledger when none is left), then scans again from there;
 *  2. scans (cursor, head − confirmations] in ranges of at most MAX_LOG_RANGE_BLOCKS, each range one batch, and
 *     accepts a range only if its last block's hash was the same before and after the logs were read and every
 *     log's block hash is the chain's (so no range mixes two forks).
 */
export class LedgerSync {
  constructor(
    private readonly ledger: ProofSetLedger,
    private readonly mc: MarketClient,
    private readonly provider: Address,
    private readonly genesisBlock: bigint,
    private readonly init: LedgerSyncInit = {}
  ) {}

  async sync(head: bigint, signal?: AbortSignal): Promise<SyncResult> {
    const rolledBack = await this.checkReorg()
    const target = head - BigInt(this.init.confirmations ?? 0)
    let cursor = this.cursor()
    while (cursor < target) {
      signal?.throwIfAborted()
      const to = cursor + MAX_LOG_RANGE_BLOCKS < target ? cursor + MAX_LOG_RANGE_BLOCKS : target
      if (!(await this.foldRange(cursor + 1n, to))) break
      cursor = to
    }
    return { cursor: this.cursor(), rolledBack }
  }

  private cursor(): bigint {
    const c = this.ledger.meta.cursor
    return c !== undefined ? BigInt(c) : (this.init.fromBlock ?? this.genesisBlock) - 1n
  }

  private async hashAt(block: bigint): Promise<Hex | undefined> {
    try {
      return (await this.mc.publicClient.getBlock({ blockNumber: block })).hash ?? undefined
    } catch (err) {
      // A block above the head after a reorg shortened the chain.
      if (/not found|could not be found/i.test(String((err as Error).message))) return undefined
      throw err
    }
  }

  /** Undoes what a reorg removed; returns how many blocks the cursor moved back. */
  private async checkReorg(): Promise<bigint> {
    const { cursor, cursorHash } = this.ledger.meta
    if (cursor === undefined || cursorHash === undefined) return 0n
    if ((await this.hashAt(BigInt(cursor))) === cursorHash) return 0n
    let ancestor: bigint | undefined
    for await (const cp of this.ledger.checkpoints()) {
      if ((await this.hashAt(BigInt(cp.block))) === cp.hash) {
        ancestor = BigInt(cp.block)
        break
      }
    }
    await this.ledger.rollBack(ancestor)
    const back = BigInt(cursor) - this.cursor()
    log(
      'reorg: block %s (%s) is no longer on the chain; rolled the ledger back %s blocks to %s',
      cursor,
      cursorHash,
      String(back),
      String(this.cursor())
    )
    return back
  }

  /** Folds [from, to] in one batch; false if the chain moved under the read (the next pass retries). */
  private async foldRange(from: bigint, to: bigint): Promise<boolean> {
    const before = await this.hashAt(to)
    const previous = from > 0n ? this.ledger.meta.cursorHash : undefined
    if (before === undefined) return false
    const logs = await this.fetchLogs(from, to)
    const hashes = new Map<bigint, Hex | undefined>([[to, await this.hashAt(to)]])
    if (hashes.get(to) !== before) return false
    for (const l of logs) {
      if (!hashes.has(l.blockNumber)) hashes.set(l.blockNumber, await this.hashAt(l.blockNumber))
      if (hashes.get(l.blockNumber) !== l.blockHash) return false
    }
    // The range must continue the chain the ledger is on: block from − 1 still has the cursor's hash.
    if (previous !== undefined && this.ledger.meta.cursor !== undefined && (await this.hashAt(from - 1n)) !== previous)
      return false
    const tx = this.ledger.begin()
    const refresh = new Set<bigint>()
    for (const entry of logs) this.fold(tx, entry, refresh)
    for (const id of refresh) await this.refresh(tx, id, to)
    await tx.commit(to, before)
    return true
  }

  /**
   * The market's logs in [from, to], in chain order. An answer too large for the RPC (or for viem's 10 MiB
   * response limit) is split in halves by block; a single block too large (10,000 deals opened in one block are
   * ~9 MB of logs) is read receipt by receipt.
   */
  private async fetchLogs(from: bigint, to: bigint): Promise<ProofSetLog[]> {
    try {
      const logs = await this.mc.publicClient.getContractEvents({
        address: this.mc.market,
        abi: proofSetMarketAbi,
        fromBlock: from,
        toBlock: to,
        strict: true
      })
      return logs
    } catch (err) {
      if (!isTooLarge(err)) throw err
    }
    if (from < to) {
      const mid = from + (to - from) / 2n
      return [...(await this.fetchLogs(from, mid)), ...(await this.fetchLogs(mid + 1n, to))]
    }
    const block = await this.mc.publicClient.getBlock({ blockNumber: from })
    const out: ProofSetLog[] = []
    for (const hash of block.transactions) {
      const receipt = await this.mc.publicClient.getTransactionReceipt({ hash })
      const logs = receipt.logs.filter((l) => isAddressEqual(l.address, this.mc.market))
      out.push(...parseEventLogs({ abi: proofSetMarketAbi, logs, strict: true }))
    }
    return out
  }

  private mine(address: Address): boolean {
    return isAddressEqual(address, this.provider)
  }

  private fold(tx: ProofSetLedgerTx, entry: ProofSetLog, refresh: Set<bigint>): void {
    switch (entry.eventName) {
      case 'DealOpened': {
        const a = entry.args
        if (!this.mine(a.provider)) return
        const leafCount = (a.size + 63n) / 64n
        tx.put({
          id: a.dealId.toString(),
          root: a.root,
          size: a.size.toString(),
          leafCount: leafCount.toString(),
          rangeStart: a.rangeStart.toString(),
          weight: a.weight.toString(),
          client: a.client,
          pricePerPeriod: a.pricePerPeriod.toString(),
          startPeriod: a.startPeriod.toString(),
          endPeriod: a.endPeriod.toString(),
          voidFrom: a.endPeriod.toString(),
          paidFrom: a.startPeriod.toString(),
          state: 'live',
          settled: false,
          openedBlock: entry.blockNumber.toString()
        })
        return
      }
      case 'DealExtended': {
        // Only a live deal whose term is not over can be extended, so its range stays challengeable to the new end.
        const d = tx.deal(entry.args.dealId)
        if (d === undefined) return
        d.endPeriod = entry.args.endPeriod.toString()
        d.voidFrom = entry.args.endPeriod.toString()
        return
      }
      case 'DealFaulted': {
        const d = tx.deal(entry.args.dealId)
        if (d === undefined) return
        d.state = 'faulted'
        d.voidFrom = entry.args.period.toString()
        delete d.auditPeriod
        tx.meta.slashed = (BigInt(tx.meta.slashed) + entry.args.slashed).toString()
        log.error('deal %s faulted in period %s (%s slashed)', d.id, d.voidFrom, String(entry.args.slashed))
        return
      }
      case 'DealDeclaredLost': {
        const d = tx.deal(entry.args.dealId)
        if (d === undefined) return
        d.state = 'declared'
        const period = entry.args.period
        d.voidFrom = (period > BigInt(d.startPeriod) ? period : BigInt(d.startPeriod)).toString()
        tx.meta.slashed = (BigInt(tx.meta.slashed) + entry.args.slashed).toString()
        return
      }
      case 'DealFailed':
      case 'AuditFailed': {
        const d = tx.deal(entry.args.dealId)
        if (d === undefined) return
        if (entry.eventName === 'AuditFailed') delete d.auditPeriod
        // The events do not carry the new voidFrom: read the deal as of the range's last block.
        refresh.add(entry.args.dealId)
        return
      }
      case 'DealSettled': {
        const d = tx.deal(entry.args.dealId)
        if (d === undefined) return
        d.settled = true
        d.paidFrom = d.endPeriod
        d.state = CHAIN_STATES[entry.args.state] ?? d.state
        tx.meta.paid = (BigInt(tx.meta.paid) + entry.args.paid).toString()
        return
      }
      case 'Claimed': {
        const d = tx.deal(entry.args.dealId)
        if (d === undefined) return
        d.paidFrom = entry.args.paidFrom.toString()
        tx.meta.paid = (BigInt(tx.meta.paid) + entry.args.paid).toString()
        return
      }
      case 'AuditRequested': {
        const d = tx.deal(entry.args.dealId)
        if (d === undefined) return
        d.auditPeriod = entry.args.period.toString()
        return
      }
      case 'AuditAnswered': {
        const d = tx.deal(entry.args.dealId)
        if (d !== undefined) delete d.auditPeriod
        return
      }
      case 'PeriodProven':
        if (!this.mine(entry.args.provider)) return
        if (entry.args.onTime) {
          tx.meta.periodsProven++
          tx.meta.provenPeriods = [...(tx.meta.provenPeriods ?? []), entry.args.period.toString()].slice(
            -RECENT_PROVEN_PERIODS
          )
        } else {
          tx.meta.periodsProvenLate++
        }
        return
      case 'PeriodMissed':
        if (!this.mine(entry.args.provider)) return
        tx.meta.periodsMarkedMissed++
        tx.meta.slashed = (BigInt(tx.meta.slashed) + entry.args.slashed).toString()
        return
      case 'Withdrawn':
        if (!this.mine(entry.args.account)) return
        tx.meta.withdrawn = (BigInt(tx.meta.withdrawn) + entry.args.amount).toString()
        return
      default:
    }
  }

  private async refresh(tx: ProofSetLedgerTx, dealId: bigint, block: bigint): Promise<void> {
    const d = tx.deal(dealId)
    if (d === undefined) return
    const chain = await this.mc.publicClient.readContract({
      address: this.mc.market,
      abi: proofSetMarketAbi,
      functionName: 'getDeal',
      args: [dealId],
      blockNumber: block
    })
    d.state = CHAIN_STATES[chain.state] ?? d.state
    d.voidFrom = chain.voidFrom.toString()
    d.settled = chain.settled
    d.paidFrom = chain.settled ? d.endPeriod : chain.paidFrom.toString()
    if (d.state === 'faulted' || d.state === 'failed') delete d.auditPeriod
  }
}

/** The RPC refused an answer for its size: ask for less. */
function isTooLarge(err: unknown): boolean {
  if (
    err instanceof BaseError &&
    err.walk((e) => e instanceof ResponseBodyTooLargeError) instanceof ResponseBodyTooLargeError
  )
    return true
  return /size limit|too large|more than \d+ (results|logs)|response size|limit exceeded|too many (results|logs)/i.test(
    String((err as Error)?.message)
  )
}

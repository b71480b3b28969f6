import { logger } from '@libp2p/logger'
import { getProofSetProvider, getProofSetWithdrawable } from '@sherd/contracts'
import type { TransactionReceipt } from 'viem'
import { TxQueue } from './tx-queue.js'
import { fitIdBatches, ID_BATCH_SIZE, sendCall } from './batching.js'
import type { ProverContext } from './context.js'
import type { ProofSetLedgerDeal } from './ledger.js'

const log = logger('sherd:node:proof-set:claims')

export interface ClaimsInit {
  /** Claim every this many periods (a claim pays all closed periods since the last one, so rarer is cheaper). */
  everyPeriods?: number
  /** Withdraw after claiming once at least this much is withdrawable (token base units; 0n: never). */
  withdrawMinimum?: bigint
}

export const CLAIM_EVERY_PERIODS = 4

export interface ClaimRound {
  period: bigint
  dealIds: bigint[]
  receipts: TransactionReceipt[]
  withdrawal?: TransactionReceipt
}

/**
 * Deals a claim would move: closed periods of their term not paid yet, or a term over whose collateral the claim
 * would release (every period up to its void point answered).
 */
export function claimable(d: ProofSetLedgerDeal, current: bigint, due: bigint): boolean {
  if (d.settled) return false
  const paidFrom = BigInt(d.paidFrom)
  const voidFrom = BigInt(d.voidFrom)
  const upTo = current < voidFrom ? current : voidFrom
  if (upTo > paidFrom) return true
  return current >= voidFrom && due >= voidFrom
}

/**
 * Claims payment lazily, on a schedule: every `everyPeriods` periods, all claimable deals in as few transactions
 * as fit the gas cap, then withdraws. A round sends one transaction per step, so a long round (10,000 deals are
 * 13 transactions) never holds up a period's proof. Claims are idempotent on chain (a settled deal is skipped,
 * paidFrom only moves forward), and the candidates come from the ledger's paidFrom, which only the folded Claimed
 * events move, so a deal is not claimed again for periods it was already paid for.
 */
export class ClaimScheduler {
  private lastRound: bigint | undefined
  private round: (ClaimRound & { queue: bigint[][] }) | undefined
  private batchSize = ID_BATCH_SIZE
  private readonly everyPeriods: number
  private readonly withdrawMinimum: bigint
  private readonly serial = new TxQueue()
  private readonly finished = new WeakMap<object, ClaimRound>()

  constructor(
    private readonly ctx: ProverContext,
    init: ClaimsInit = {}
  ) {
    this.everyPeriods = Math.max(1, init.everyPeriods ?? CLAIM_EVERY_PERIODS)
    this.withdrawMinimum = init.withdrawMinimum ?? 1n
  }

  /** Advances the round by one transaction (starting one when due, or when `force`); the round once finished. */
  async step(head: bigint, force = false): Promise<ClaimRound | undefined> {
    // One step at a time: the prover's loop and `claimNow` share the round.
    return await this.serial.run(async () => await this.advance(head, force))
  }

  private async advance(head: bigint, force: boolean): Promise<ClaimRound | undefined> {
    const { clock, mc, address } = this.ctx
    const current = clock.periodOf(head + 1n)
    if (this.round === undefined) {
      if (!force && (current % BigInt(this.everyPeriods) !== 0n || this.lastRound === current)) return undefined
      await this.begin(current)
      return undefined
    }
    const round = this.round
    const list = round.queue[0]
    if (list !== undefined) {
      const { receipt } = await this.ctx.txQueue.run(
        async () => await sendCall(mc, { functionName: 'claim', args: [list] }, { signal: this.ctx.attempt() })
      )
      round.queue.shift()
      round.receipts.push(receipt)
      log(
        'period %s: claimed %d deal(s) in %s (%d gas)',
        String(round.period),
        list.length,
        receipt.transactionHash,
        Number(receipt.gasUsed)
      )
      return undefined
    }
    if (this.withdrawMinimum > 0n && (await getProofSetWithdrawable(mc, address)) >= this.withdrawMinimum) {
      const { receipt } = await this.ctx.txQueue.run(
        async () => await sendCall(mc, { functionName: 'withdraw', args: [] }, { signal: this.ctx.attempt() })
      )
      round.withdrawal = receipt
    }
    this.round = undefined
    this.lastRound = round.period
    const { queue: _, ...done } = round
    this.finished.set(round, done)
    return done
  }

  private async begin(current: bigint): Promise<ClaimRound & { queue: bigint[][] }> {
    const { ledger, mc, address } = this.ctx
    const due = (await getProofSetProvider(mc, address)).due
    const ids = ledger
      .sorted()
      .filter((d) => claimable(d, current, due))
      .map((d) => BigInt(d.id))
    const { batches, size } = await fitIdBatches(
      mc,
      ids,
      (list) => ({ functionName: 'claim', args: [list] }),
      this.batchSize
    )
    this.batchSize = size
    this.round = { period: current, dealIds: ids, receipts: [], queue: batches }
    return this.round
  }

  /** Runs a whole round now, off schedule, interleaved with the prover's own steps (which may finish it). */
  async claimNow(head: () => Promise<bigint>): Promise<ClaimRound> {
    const now = this.ctx.clock.periodOf((await head()) + 1n)
    const round = await this.serial.run(async () => this.round ?? (await this.begin(now)))
    for (;;) {
      const done = this.finished.get(round)
      if (done !== undefined) return done
      await this.step(await head())
    }
  }
}

import { logger } from '@libp2p/logger'
import { getProofSetProvider, getProofSetWithdrawable } from '@sherd/contracts'
import type { TransactionReceipt } from 'viem'
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
export function claimable (d: ProofSetLedgerDeal, current: bigint, due: bigint): boolean {
  if (d.settled) return false
  const paidFrom = BigInt(d.paidFrom)
  const voidFrom = BigInt(d.voidFrom)
  const upTo = current < voidFrom ? current : voidFrom
  if (upTo > paidFrom) return true
  return current >= voidFrom && due >= voidFrom
}

/**
 * Claims payment lazily, on a schedule: every `everyPeriods` periods, all claimable deals in as few transactions
 * as fit the gas cap, then withdraws. Claims are idempotent on chain (a settled deal is skipped, paidFrom only
 * moves forward), and the candidates come from the ledger's paidFrom, which only the folded Claimed events move,
 * so a deal is not claimed again for periods it was already paid for.
 */
export class ClaimScheduler {
  private lastRound: bigint | undefined
  private batchSize = ID_BATCH_SIZE
  private readonly everyPeriods: number
  private readonly withdrawMinimum: bigint

  constructor (private readonly ctx: ProverContext, init: ClaimsInit = {}) {
    this.everyPeriods = Math.max(1, init.everyPeriods ?? CLAIM_EVERY_PERIODS)
    this.withdrawMinimum = init.withdrawMinimum ?? 1n
  }

  async step (head: bigint, force = false): Promise<ClaimRound | undefined> {
    const { clock, ledger, mc, address } = this.ctx
    const current = clock.periodOf(head + 1n)
    if (!force && (current % BigInt(this.everyPeriods) !== 0n || this.lastRound === current)) return undefined
    const due = (await getProofSetProvider(mc, address)).due
    const ids = ledger.sorted().filter((d) => claimable(d, current, due)).map((d) => BigInt(d.id))
    const round: ClaimRound = { period: current, dealIds: ids, receipts: [] }
    if (ids.length > 0) {
      const { batches, size } = await fitIdBatches(mc, ids, (list) => ({ functionName: 'claim', args: [list] }), this.batchSize)
      this.batchSize = size
      for (const list of batches) {
        const { receipt } = await this.ctx.txQueue.run(async () => await sendCall(mc, { functionName: 'claim', args: [list] }, { signal: this.ctx.attempt() }))
        round.receipts.push(receipt)
        log('period %s: claimed %d deal(s) in %s (%d gas)', String(current), list.length, receipt.transactionHash, Number(receipt.gasUsed))
      }
    }
    if (this.withdrawMinimum > 0n && await getProofSetWithdrawable(mc, address) >= this.withdrawMinimum) {
      const { receipt } = await this.ctx.txQueue.run(async () => await sendCall(mc, { functionName: 'withdraw', args: [] }, { signal: this.ctx.attempt() }))
      round.withdrawal = receipt
    }
    this.lastRound = current
    return round
  }
}

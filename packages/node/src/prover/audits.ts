import { logger } from '@libp2p/logger'
import { challengeIndices } from '@sherd/proofs'
import type { ChunkTree } from '@sherd/proofs'
import { encodeProof, getProofSetAuditSeed, isProofSetRevert, PROOF_SET_AUDIT_CHALLENGES } from '@sherd/contracts'
import { hexToBytes } from 'viem'
import type { Hex, TransactionReceipt } from 'viem'
import { sendCall } from './batching.js'
import type { ProverContext } from './context.js'
import { isLost, proveDealLeaves } from './faults.js'
import type { Lost } from './faults.js'

const log = logger('sherd:node:proof-set:audits')

export interface AnsweredAudit {
  dealId: bigint
  period: bigint
  receipt: TransactionReceipt
}

/**
 * A full proof of one deal as an audit answer carries it: `count` leaves drawn from `seed` (`challengeIndices`),
 * each read from the store's chunks (the tree from the store unless `cachedTree`) and checked against the root,
 * encoded for the market. Lost data gives `Lost`.
 */
export async function buildDealProof(
  store: ProverContext['store'],
  deal: { root: Hex; size: bigint },
  seed: Hex,
  count = PROOF_SET_AUDIT_CHALLENGES,
  cachedTree?: ChunkTree
): Promise<Hex | Lost> {
  const leaves = challengeIndices(hexToBytes(seed), count, Number((deal.size + 63n) / 64n))
  const data = await proveDealLeaves(store, deal, leaves, cachedTree)
  if (isLost(data)) return data
  return encodeProof(
    leaves.map((i) => data.prove(i)),
    data.depth
  )
}

/**
 * Answers on-demand audits (`AuditRequested`, folded into the ledger) in their period's window, after its
 * challenge block: PROOF_SET_AUDIT_CHALLENGES leaves of the deal drawn from the audit seed, read from the store and
 * checked. An audit whose data is lost cannot be answered; it fails at its deadline (the deal faults), as it must.
 */
export class AuditAnswerer {
  /** `dealId:period` answered by this process and not folded yet, or found unanswerable: not tried again. */
  private readonly handled = new Set<string>()

  constructor(private readonly ctx: ProverContext) {}

  async step(head: bigint): Promise<AnsweredAudit[]> {
    const { ledger, clock, mc, store } = this.ctx
    const pending = head + 1n
    const out: AnsweredAudit[] = []
    for (const d of ledger.sorted()) {
      if (d.auditPeriod === undefined) continue
      const period = BigInt(d.auditPeriod)
      const key = `${d.id}:${period}`
      if (this.handled.has(key)) continue
      if (pending <= clock.challengeBlock(period) || pending > clock.lastBlock(period)) continue
      const dealId = BigInt(d.id)
      const seed = await getProofSetAuditSeed(mc, dealId, period)
      const proof = await buildDealProof(store, { root: d.root, size: BigInt(d.size) }, seed)
      if (typeof proof !== 'string') {
        log.error(
          'deal %s: audit of period %s cannot be answered, its data is lost (%s)',
          d.id,
          String(period),
          proof.reason
        )
        this.handled.add(key)
        continue
      }
      try {
        const { receipt } = await this.ctx.txQueue.run(
          async () =>
            await sendCall(mc, { functionName: 'answerAudit', args: [dealId, proof] }, { signal: this.ctx.attempt() })
        )
        this.handled.add(key)
        out.push({ dealId, period, receipt })
        log('deal %s: audit of period %s answered in %s', d.id, String(period), receipt.transactionHash)
      } catch (err) {
        if (isProofSetRevert(err, 'NoAudit')) {
          this.handled.add(key)
          continue
        }
        throw err
      }
    }
    return out
  }
}

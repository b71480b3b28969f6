import { formatTokenAmount } from '@sherd/contracts'
import type { TokenInfo } from '@sherd/contracts'
import type { Hex } from 'viem'
import type { ProofSetLedger, ProofSetLedgerDealState } from '../prover/ledger.js'

/** The most recent deals shown on /status and the dashboard. */
export const STATUS_DEALS_MAX = 100

/** One deal on /status: its term, and what it earned in the periods this provider proved. */
export interface DealSummary {
  id: string
  state: ProofSetLedgerDealState
  /** Off the books: paid out, collateral released. */
  settled: boolean
  root: Hex
  size: number
  startPeriod: string
  endPeriod: string
  periods: number
  /** Closed periods of its term proven on time (of the last RECENT_PROVEN_PERIODS the ledger remembers). */
  periodsProven: number
  /** Closed periods of its term not proven on time. */
  periodsMissed: number
  /** Token base units: price × periods proven (claimed or not). */
  earned: string
}

export interface LedgerStatus {
  deals: number
  dealStates: Record<string, number>
  dealList: DealSummary[]
  /** Own periods proven on time, proven late (unpaid) and marked missed by others. */
  periodsProven: number
  periodsProvenLate: number
  periodsMissed: number
  /** Token base units, decimal: claimed (paid into the withdrawable balance), and proven but not yet claimed. */
  earnings: string
  unclaimed: string
  withdrawn: string
  slashed: string
}

/**
 * The ledger as /status shows it. `current` is the period the next block is in: periods below it are closed.
 * Unclaimed earnings are price × the periods proven on time since each deal's last claim.
 */
export function ledgerStatus(ledger: Pick<ProofSetLedger, 'sorted' | 'meta'>, current: bigint): LedgerStatus {
  const proven = (ledger.meta.provenPeriods ?? []).map(BigInt)
  const dealStates: Record<string, number> = { live: 0, declared: 0, faulted: 0, failed: 0, ended: 0 }
  let unclaimed = 0n
  const deals = ledger.sorted()
  for (const d of deals) {
    const state = d.state === 'live' && BigInt(d.endPeriod) <= current ? 'ended' : d.state
    dealStates[state] = (dealStates[state] ?? 0) + 1
    if (d.settled) continue
    const upTo = minBig(current, BigInt(d.voidFrom))
    const paidFrom = BigInt(d.paidFrom)
    unclaimed += BigInt(d.pricePerPeriod) * BigInt(proven.filter((q) => q >= paidFrom && q < upTo).length)
  }
  const dealList = deals
    .slice(-STATUS_DEALS_MAX)
    .reverse()
    .map((d): DealSummary => {
      const start = BigInt(d.startPeriod)
      const upTo = minBig(current, BigInt(d.voidFrom))
      const closed = upTo > start ? Number(upTo - start) : 0
      const provenHere = proven.filter((q) => q >= start && q < upTo).length
      return {
        id: d.id,
        state: d.state,
        settled: d.settled,
        root: d.root,
        size: Number(d.size),
        startPeriod: d.startPeriod,
        endPeriod: d.endPeriod,
        periods: Number(BigInt(d.endPeriod) - start),
        periodsProven: provenHere,
        periodsMissed: Math.max(0, closed - provenHere),
        earned: (BigInt(d.pricePerPeriod) * BigInt(provenHere)).toString()
      }
    })
  return {
    deals: deals.length,
    dealStates,
    dealList,
    periodsProven: ledger.meta.periodsProven,
    periodsProvenLate: ledger.meta.periodsProvenLate,
    periodsMissed: ledger.meta.periodsMarkedMissed,
    earnings: ledger.meta.paid,
    unclaimed: unclaimed.toString(),
    withdrawn: ledger.meta.withdrawn,
    slashed: ledger.meta.slashed
  }
}

/** Base-unit amounts of a status as token strings (`12.5 SHERD`): what people read. */
export function amountsInTokens(amounts: Record<string, string | undefined>, token: TokenInfo): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(amounts)) {
    if (value !== undefined && /^[0-9]+$/.test(value)) out[key] = formatTokenAmount(BigInt(value), token)
  }
  return out
}

function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b
}

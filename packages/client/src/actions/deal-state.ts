import { getProofSetDeal, readProofSetEvents } from '@sherd/contracts'
import type { MarketClient, ProofSetDeal } from '@sherd/contracts'
import type { Address, PublicClient } from 'viem'
import { marketParams } from '../chain.js'
import { mapLimit } from './deals.js'

/**
 * A deal as the client reports it: the chain's state, made current where the chain settles lazily. `live` (opened,
 * in its provider's proof set from its start period), `declared` (its provider declared the data lost),
 * `faulted` (a challenge or an audit of it went unanswered), `failed` (its provider missed maxMissedPeriods of its
 * periods: the chain marks it at the next claim, the client already counts it), `ended` (its term is over, claimed
 * or not), `unknown` (no such deal on this market).
 */
export type DealStatus = 'live' | 'declared' | 'faulted' | 'failed' | 'ended' | 'unknown'

export interface DealView {
  readonly id: bigint
  readonly deal: ProofSetDeal
  readonly status: DealStatus
  /** Periods of its term that have closed (or up to where it became void). */
  readonly closedPeriods: number
  /** Of those, proven on time by its provider (each paid the deal's price). */
  readonly provenPeriods: number
  readonly missedPeriods: number
  /**
   * Misses among its last `recentMissedWindow(clock)` closed periods: whether its provider is missing proofs now.
   * `missedPeriods` counts the whole term (what the chain fails a deal on, and what a claim refunds); a provider that
   * missed one period long ago and proved every one since is not missing anything now.
   */
  readonly recentMissedPeriods: number
  /** Its term is over (current period ≥ endPeriod): it cannot be extended, `claim` settles it. */
  readonly termOver: boolean
  /** What a `claim` would move now: to the provider for periods proven on time, back to the client for the others. */
  readonly claimable: { readonly provider: bigint; readonly client: bigint }
  /** First block after its last period: storage is paid for until then. */
  readonly endBlock: bigint
}

/**
 * Block times for end-of-storage dates: past blocks are read from the chain; a future block is placed at the head's
 * time plus the blocks to go times the mean block interval over the last BLOCK_TIME_SAMPLE_BLOCKS blocks.
 */
const BLOCK_TIME_SAMPLE_BLOCKS = 256n
/** Deal reads in flight at once. */
const DEAL_READ_CONCURRENCY = 8

export interface ChainClock {
  readonly head: bigint
  readonly currentPeriod: bigint
  readonly periodBlocks: number
  readonly genesisBlock: bigint
  readonly maxMissedPeriods: number
  /** Mean ms per block, or undefined when the chain has not moved enough to tell. */
  readonly msPerBlock: number | undefined
  /** The time of `block`, ms since the epoch: exact if mined, estimated if not (undefined if it cannot be). */
  timeOf: (block: bigint) => Promise<number | undefined>
}

/** Reads the chain's head, the market's period layout and its recent block times. */
export async function readChainClock(publicClient: PublicClient, market: MarketClient): Promise<ChainClock> {
  const [head, params] = await Promise.all([publicClient.getBlockNumber({ cacheTime: 0 }), marketParams(market)])
  const from = head > BLOCK_TIME_SAMPLE_BLOCKS ? head - BLOCK_TIME_SAMPLE_BLOCKS : 0n
  const [headBlock, fromBlock] = await Promise.all([
    publicClient.getBlock({ blockNumber: head }),
    publicClient.getBlock({ blockNumber: from })
  ])
  const elapsedMs = Number(headBlock.timestamp - fromBlock.timestamp) * 1000
  const msPerBlock = head > from && elapsedMs > 0 ? elapsedMs / Number(head - from) : undefined
  const mined = new Map<bigint, Promise<number>>()
  return {
    head,
    // The period the next block falls in: what a transaction sent now is judged by.
    currentPeriod: (head + 1n - params.genesisBlock) / BigInt(params.periodBlocks),
    genesisBlock: params.genesisBlock,
    periodBlocks: params.periodBlocks,
    maxMissedPeriods: params.maxMissedPeriods,
    msPerBlock,
    async timeOf(block) {
      if (block <= head) {
        let t = mined.get(block)
        if (t === undefined) {
          t = publicClient.getBlock({ blockNumber: block }).then((b) => Number(b.timestamp) * 1000)
          mined.set(block, t)
        }
        return await t
      }
      if (msPerBlock === undefined) return undefined
      return Number(headBlock.timestamp) * 1000 + Number(block - head) * msPerBlock
    }
  }
}

/**
 * The window `recentMissedPeriods` counts over: the market's `maxMissedPeriods` closed periods (3 on the defaults,
 * about 2.6 hours of 51.2-minute periods), at least 1. The chain fails a deal at that many misses, so a provider
 * missing now fails its deals within this window; a miss older than that, with every period since proven, was an
 * outage that ended. It is also the most a keeper's `suspectAfterMissed` is set to (the chain's own verdict).
 */
export function recentMissedWindow(clock: Pick<ChainClock, 'maxMissedPeriods'>): number {
  return Math.max(1, clock.maxMissedPeriods)
}

/** First block of `period`. */
export function periodStartBlock(clock: Pick<ChainClock, 'genesisBlock' | 'periodBlocks'>, period: bigint): bigint {
  return clock.genesisBlock + period * BigInt(clock.periodBlocks)
}

/**
 * The periods each provider proved on time since `fromPeriod`, from its PeriodProven logs (paged): what pays its
 * deals, and what every period not in it costs them (a miss).
 */
async function provenPeriods(
  market: MarketClient,
  clock: ChainClock,
  providers: ReadonlyMap<Address, bigint>,
  signal?: AbortSignal
): Promise<Map<string, Set<bigint>>> {
  const out = new Map<string, Set<bigint>>()
  await mapLimit([...providers], 4, async ([provider, fromPeriod]) => {
    const logs = await readProofSetEvents(market, {
      eventName: 'PeriodProven',
      args: { provider },
      fromBlock: periodStartBlock(clock, fromPeriod),
      ...(signal === undefined ? {} : { signal })
    })
    out.set(provider.toLowerCase(), new Set(logs.filter((l) => l.args.onTime).map((l) => l.args.period)))
  })
  return out
}

/** Reads `ids` and works out each deal's status, periods proven and missed, claimable amounts and end. */
export async function readDeals(
  market: MarketClient,
  clock: ChainClock,
  ids: readonly bigint[],
  signal?: AbortSignal
): Promise<Map<bigint, DealView>> {
  const unique = [...new Set(ids)]
  const deals = await mapLimit(unique, DEAL_READ_CONCURRENCY, async (id) => {
    signal?.throwIfAborted()
    try {
      return await getProofSetDeal(market, id)
    } catch {
      // UnknownDeal: an id from another market (a restarted devnet), or a manifest that names a wrong one.
      return undefined
    }
  })
  const firstPeriod = new Map<Address, bigint>()
  deals.forEach((d) => {
    if (d === undefined || d.state === 'none') return
    const prior = firstPeriod.get(d.provider)
    if (prior === undefined || d.startPeriod < prior) firstPeriod.set(d.provider, d.startPeriod)
  })
  const proven = await provenPeriods(market, clock, firstPeriod, signal)
  const out = new Map<bigint, DealView>()
  unique.forEach((id, i) => {
    const deal = deals[i]
    if (deal === undefined || deal.state === 'none') return
    out.set(id, dealView(id, deal, clock, proven.get(deal.provider.toLowerCase()) ?? new Set()))
  })
  return out
}

/** One deal's view from its chain state and its provider's on-time proofs (exported for its tests). */
export function dealView(
  id: bigint,
  deal: ProofSetDeal,
  clock: Pick<ChainClock, 'currentPeriod' | 'maxMissedPeriods' | 'genesisBlock' | 'periodBlocks'>,
  proven: ReadonlySet<bigint>
): DealView {
  const current = clock.currentPeriod
  const min = (a: bigint, b: bigint): bigint => (a < b ? a : b)
  const closedTo = min(min(current, deal.endPeriod), deal.voidFrom)
  let provenCount = 0
  let closed = 0
  let recentMissed = 0
  const recentFrom = closedTo - BigInt(recentMissedWindow(clock))
  for (let p = deal.startPeriod; p < closedTo; p++) {
    closed++
    if (proven.has(p)) provenCount++
    else if (p >= recentFrom) recentMissed++
  }
  const missed = closed - provenCount
  let toProvider = 0n
  let toClient = 0n
  if (!deal.settled) {
    for (let p = deal.paidFrom; p < min(current, deal.endPeriod); p++) {
      if (p < deal.voidFrom && proven.has(p)) toProvider += deal.pricePerPeriod
      else toClient += deal.pricePerPeriod
    }
  }
  const termOver = current >= deal.endPeriod
  let status: DealStatus
  switch (deal.state) {
    case 'live':
      status = termOver ? 'ended' : missed >= clock.maxMissedPeriods ? 'failed' : 'live'
      break
    case 'none':
      status = 'unknown'
      break
    default:
      status = deal.state
  }
  return {
    id,
    deal,
    status,
    closedPeriods: closed,
    provenPeriods: provenCount,
    missedPeriods: missed,
    recentMissedPeriods: recentMissed,
    termOver,
    claimable: { provider: toProvider, client: toClient },
    endBlock: periodStartBlock(clock, deal.endPeriod)
  }
}

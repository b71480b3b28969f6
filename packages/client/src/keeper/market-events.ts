import { readProofSetEvents } from '@sherd/contracts'
import type { MarketClient } from '@sherd/contracts'
import type { Address } from 'viem'

/** The market events that can cost a kept file a shard: each triggers a check of the files it concerns. */
export const KEEPER_WATCHED_EVENTS = ['DealFaulted', 'DealDeclaredLost', 'DealFailed', 'PeriodMissed'] as const
export type KeeperWatchedEvent = (typeof KEEPER_WATCHED_EVENTS)[number]

/** What the keeper learned from its files' last checks: which deal and which provider belongs to which file. */
export interface WatchedDeals {
  /** Deal id → ids of the kept files with a shard under it. */
  readonly deals: ReadonlyMap<bigint, ReadonlySet<string>>
  /** Provider chain address (lower-case) → ids of the kept files with a shard on it. */
  readonly providers: ReadonlyMap<string, ReadonlySet<string>>
}

export interface FileMarketEvent {
  readonly eventName: KeeperWatchedEvent
  readonly blockNumber: bigint
  readonly provider: string
  readonly dealId?: bigint
  readonly period?: bigint
  /** The kept files it concerns. */
  readonly fileIds: readonly string[]
}

/**
 * Topics per query: a filter names every watched deal (or provider) as an OR of topic values, and nodes limit how
 * many a filter may carry; more are read in several queries.
 */
const MAX_TOPICS_PER_QUERY = 256

function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = []
  for (let i = 0; i < items.length; i += MAX_TOPICS_PER_QUERY) out.push(items.slice(i, i + MAX_TOPICS_PER_QUERY))
  return out
}

/**
 * The watched events of `watched`'s deals and providers in blocks `fromBlock`..`toBlock`, oldest first, each with
 * the files it concerns. Queries filter on the indexed deal id (DealFaulted, DealDeclaredLost, DealFailed) and
 * provider (PeriodMissed), so the keeper reads its files' events only, paged by `readProofSetEvents`.
 */
export async function readFileMarketEvents(
  market: MarketClient,
  watched: WatchedDeals,
  fromBlock: bigint,
  toBlock: bigint,
  signal?: AbortSignal
): Promise<FileMarketEvent[]> {
  if (toBlock < fromBlock) return []
  const out: FileMarketEvent[] = []
  const range = { fromBlock, toBlock, ...(signal === undefined ? {} : { signal }) }
  const filesOfDeal = (id: bigint): string[] => [...(watched.deals.get(id) ?? [])]
  for (const ids of chunks([...watched.deals.keys()])) {
    for (const e of await readProofSetEvents(market, { eventName: 'DealFaulted', args: { dealId: ids }, ...range })) {
      out.push({
        eventName: 'DealFaulted',
        blockNumber: e.blockNumber,
        provider: e.args.provider.toLowerCase(),
        dealId: e.args.dealId,
        period: e.args.period,
        fileIds: filesOfDeal(e.args.dealId)
      })
    }
    for (const e of await readProofSetEvents(market, {
      eventName: 'DealDeclaredLost',
      args: { dealId: ids },
      ...range
    })) {
      out.push({
        eventName: 'DealDeclaredLost',
        blockNumber: e.blockNumber,
        provider: e.args.provider.toLowerCase(),
        dealId: e.args.dealId,
        period: e.args.period,
        fileIds: filesOfDeal(e.args.dealId)
      })
    }
    for (const e of await readProofSetEvents(market, { eventName: 'DealFailed', args: { dealId: ids }, ...range })) {
      out.push({
        eventName: 'DealFailed',
        blockNumber: e.blockNumber,
        provider: e.args.provider.toLowerCase(),
        dealId: e.args.dealId,
        fileIds: filesOfDeal(e.args.dealId)
      })
    }
  }
  for (const providers of chunks([...watched.providers.keys()])) {
    for (const e of await readProofSetEvents(market, {
      eventName: 'PeriodMissed',
      args: { provider: providers as Address[] },
      ...range
    })) {
      const provider = e.args.provider.toLowerCase()
      out.push({
        eventName: 'PeriodMissed',
        blockNumber: e.blockNumber,
        provider,
        period: e.args.period,
        fileIds: [...(watched.providers.get(provider) ?? [])]
      })
    }
  }
  return out
    .filter((e) => e.fileIds.length > 0)
    .sort((a, b) => (a.blockNumber < b.blockNumber ? -1 : a.blockNumber > b.blockNumber ? 1 : 0))
}

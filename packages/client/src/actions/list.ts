import type { MarketClient } from '@sherd/contracts'
import type { PublicClient } from 'viem'
import { marketTag } from '../journal.js'
import type { JournalEntry, PutJournal } from '../journal.js'
import { readChainClock, readDeals } from './deal-state.js'
import type { ChainClock, DealStatus, DealView } from './deal-state.js'
import { unfinished } from './resume.js'

/**
 * A deal as `listFiles` counts it: its status on chain (`DealStatus`); `unopened` (not opened yet: an interrupted
 * put), `unfunded` (it could not be opened, or the put was abandoned), `none` (no chain was read).
 */
export type ListedDealState = DealStatus | 'unopened' | 'unfunded' | 'none'

/**
 * The file as a whole: `interrupted` (a put stopped before it stored the manifest: `resume` finishes it),
 * `healthy` (every deal live), `degraded` (some deals faulted, failed, ended or never opened; `repair`),
 * `expired` (no deal runs any more), `abandoned` (given up with `abandon`), `deleted` (`delete` was run: nothing
 * is renewed, running deals serve out their term until `endsAt`), `unknown` (no chain to ask, or another
 * chain's entry).
 */
export type FileHealth = 'interrupted' | 'healthy' | 'degraded' | 'expired' | 'abandoned' | 'deleted' | 'unknown'

export interface ListedFile {
  readonly id: string
  readonly name?: string
  readonly createdAt: string
  readonly link?: string
  readonly fileSize: number
  /** Token base units the put's deals escrow (what it costs when every deal opens). */
  readonly escrow: bigint
  /** Of that, what deals opened on chain escrowed. */
  readonly escrowOpened: bigint
  readonly health: FileHealth
  /** Deals by state. */
  readonly deals: Readonly<Partial<Record<ListedDealState, number>>>
  /** When the first running deal ends (the file's redundancy starts to drop): block, and a date estimated from block times. */
  readonly expiresBlock?: bigint
  readonly expiresAt?: Date
  /** When the last running deal ends (storage stops altogether): block, and estimated date. */
  readonly endsBlock?: bigint
  readonly endsAt?: Date
  /** When `delete` was run on the file (ISO time). */
  readonly deletedAt?: string
  /** A repair entry: the manifest version it replaced. */
  readonly previousCid?: string
  /** A newer entry (a repair) replaced this file's manifest: use its link. */
  readonly supersededBy?: string
  /** The entry was made on another chain or market than the one asked (its deals were not read). */
  readonly otherChain: boolean
  /** `resume` has work to do on it. */
  readonly resumable: boolean
}

export interface ListFilesOptions {
  /** The chain to read the deals from; without it only what the journal knows is listed. */
  market?: MarketClient & { publicClient: PublicClient }
  chainId?: number
  signal?: AbortSignal
}

/**
 * The files of the journal with their size, cost, expiry and health, read from the chain only (no provider is
 * contacted, no libp2p started). Expiry dates are estimated from the chain's average block time over its last
 * 256 blocks (`readChainClock`).
 */
export async function listFiles(
  journal: PutJournal,
  options: ListFilesOptions = {}
): Promise<{ files: ListedFile[]; unreadable: Array<{ path: string; error: string }> }> {
  const { entries, unreadable } = await journal.list()
  const mc = options.market
  const sameMarket = entries.some((e) => mc !== undefined && e.market.toLowerCase() === mc.market.toLowerCase())
  const tag = mc !== undefined && sameMarket ? await marketTag(mc.publicClient, mc.market) : undefined
  const onChain = (e: JournalEntry): boolean =>
    mc !== undefined &&
    e.market.toLowerCase() === mc.market.toLowerCase() &&
    e.marketTag === tag &&
    (options.chainId === undefined || options.chainId === e.chainId)
  const ids = entries.filter(onChain).flatMap((e) => e.deals.flatMap((d) => (d.dealId === undefined ? [] : [d.dealId])))
  let clock: ChainClock | undefined
  let views = new Map<bigint, DealView>()
  if (mc !== undefined && entries.some(onChain)) {
    clock = await readChainClock(mc.publicClient, mc)
    views = await readDeals(mc, clock, ids, options.signal)
  }
  // A repair's entry names the manifest it replaced: that file's entry points on to it.
  const successor = new Map(
    entries.flatMap((e) =>
      e.previousCid !== undefined && e.state === 'stored' && e.link !== undefined
        ? [[e.previousCid, e.link] as const]
        : []
    )
  )
  return {
    files: await Promise.all(
      entries.map(
        async (e) =>
          await describe(e, onChain(e) ? clock : undefined, views, mc !== undefined && !onChain(e), successor)
      )
    ),
    unreadable
  }
}

async function dateOf(block: bigint, clock: ChainClock): Promise<Date | undefined> {
  const ms = await clock.timeOf(block)
  return ms === undefined ? undefined : new Date(ms)
}

async function describe(
  entry: JournalEntry,
  clock: ChainClock | undefined,
  views: ReadonlyMap<bigint, DealView>,
  otherChain: boolean,
  successor: ReadonlyMap<string, string>
): Promise<ListedFile> {
  const counts: Partial<Record<ListedDealState, number>> = {}
  let escrowOpened = 0n
  let firstEnd: bigint | undefined
  let lastEnd: bigint | undefined
  for (const d of entry.deals) {
    let state: ListedDealState
    const v = d.dealId === undefined ? undefined : views.get(d.dealId)
    if (d.dealId === undefined) {
      state = d.error === undefined && entry.state === 'opening' ? 'unopened' : 'unfunded'
    } else if (clock === undefined || v === undefined) {
      state = 'none'
    } else {
      escrowOpened += d.offer.pricePerPeriod * BigInt(d.offer.periods)
      state = v.status
      if (state === 'live') {
        if (firstEnd === undefined || v.endBlock < firstEnd) firstEnd = v.endBlock
        if (lastEnd === undefined || v.endBlock > lastEnd) lastEnd = v.endBlock
      }
    }
    counts[state] = (counts[state] ?? 0) + 1
  }
  const live = counts.live ?? 0
  const health: FileHealth =
    entry.state === 'abandoned'
      ? 'abandoned'
      : entry.deletedAt !== undefined
        ? 'deleted'
        : entry.state !== 'stored'
          ? 'interrupted'
          : clock === undefined
            ? 'unknown'
            : live === entry.deals.length
              ? 'healthy'
              : live === 0
                ? 'expired'
                : 'degraded'
  const expiresAt = firstEnd === undefined || clock === undefined ? undefined : await dateOf(firstEnd, clock)
  const endsAt = lastEnd === undefined || clock === undefined ? undefined : await dateOf(lastEnd, clock)
  const newer = entry.cid === undefined ? undefined : successor.get(entry.cid)
  return {
    id: entry.id,
    ...(entry.name === undefined ? {} : { name: entry.name }),
    createdAt: entry.createdAt,
    ...(entry.link === undefined ? {} : { link: entry.link }),
    fileSize: entry.fileSize,
    escrow: entry.escrow,
    escrowOpened,
    health,
    deals: counts,
    ...(firstEnd === undefined ? {} : { expiresBlock: firstEnd }),
    ...(expiresAt === undefined ? {} : { expiresAt }),
    ...(lastEnd === undefined ? {} : { endsBlock: lastEnd }),
    ...(endsAt === undefined ? {} : { endsAt }),
    ...(entry.deletedAt === undefined ? {} : { deletedAt: entry.deletedAt }),
    ...(entry.previousCid === undefined ? {} : { previousCid: entry.previousCid }),
    ...(newer === undefined ? {} : { supersededBy: newer }),
    otherChain,
    resumable: unfinished(entry)
  }
}

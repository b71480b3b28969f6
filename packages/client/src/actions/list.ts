import { getDeal, getMarketParams, storageMarketAbi } from '@sherd/contracts'
import type { Deal, DealState, MarketClient } from '@sherd/contracts'
import type { PublicClient } from 'viem'
import { marketTag } from '../journal.js'
import type { JournalEntry, PutJournal } from '../journal.js'
import { mapLimit } from './deals.js'
import { unfinished } from './resume.js'

/** Blocks looked back over to estimate the chain's block time. */
const BLOCK_TIME_WINDOW_BLOCKS = 1_000n
/** Deal reads in flight at once. */
const LIST_READ_CONCURRENCY = 16

/**
 * A deal as `listFiles` counts it: its chain state; `unopened` (not opened yet: an interrupted put), `unfunded`
 * (it could not be opened, or the put was abandoned), `overdue` (pending past its activation deadline: it will
 * never activate, `delete` refunds it), `over` (its term ran out).
 */
export type ListedDealState = DealState | 'unopened' | 'unfunded' | 'overdue' | 'over'

/**
 * The file as a whole: `interrupted` (a put stopped before it stored the manifest: `resume` finishes it),
 * `healthy` (every deal pending or active), `degraded` (some deals failed, expired or never opened; `repair`),
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
 * contacted, no libp2p started). Expiry dates are estimated from the chain's average block time over the last
 * BLOCK_TIME_WINDOW_BLOCKS blocks.
 */
export async function listFiles (journal: PutJournal, options: ListFilesOptions = {}): Promise<{ files: ListedFile[], unreadable: Array<{ path: string, error: string }> }> {
  const { entries, unreadable } = await journal.list()
  const mc = options.market
  const sameMarket = entries.some((e) => mc !== undefined && e.market.toLowerCase() === mc.market.toLowerCase())
  const tag = mc !== undefined && sameMarket ? await marketTag(mc.publicClient, mc.market) : undefined
  const onChain = (e: JournalEntry): boolean => mc !== undefined && e.market.toLowerCase() === mc.market.toLowerCase() &&
    e.marketTag === tag && (options.chainId === undefined || options.chainId === e.chainId)
  const ids = entries.filter(onChain).flatMap((e) => e.deals.flatMap((d) => d.dealId === undefined ? [] : [d.dealId]))
  let clock: ChainClock | undefined
  const dealById = new Map<bigint, Deal>()
  if (mc !== undefined && entries.some(onChain)) {
    const [c, deals] = await Promise.all([
      readClock(mc),
      mapLimit(ids, LIST_READ_CONCURRENCY, async (id) => { options.signal?.throwIfAborted(); return await getDeal(mc, id) })
    ])
    clock = c
    for (const deal of deals) dealById.set(deal.id, deal)
  }
  return { files: entries.map((e) => describe(e, onChain(e) ? clock : undefined, dealById, mc !== undefined && !onChain(e))), unreadable }
}

interface ChainClock {
  head: bigint
  headTime: number
  secondsPerBlock: number
  genesisBlock: bigint
  periodBlocks: bigint
  activationBlocks: bigint
  currentPeriod: bigint
}

async function readClock (mc: MarketClient): Promise<ChainClock> {
  const pc = mc.publicClient
  const head = await pc.getBlock({ blockTag: 'latest' })
  const back = head.number > BLOCK_TIME_WINDOW_BLOCKS ? head.number - BLOCK_TIME_WINDOW_BLOCKS : 0n
  const [earlier, params, genesisBlock] = await Promise.all([
    pc.getBlock({ blockNumber: back }),
    getMarketParams(mc),
    pc.readContract({ address: mc.market, abi: storageMarketAbi, functionName: 'genesisBlock' })
  ])
  const blocks = Number(head.number - earlier.number)
  // One block mined (a fresh chain) gives no rate: a second per block is anvil's devnet pace.
  const secondsPerBlock = blocks > 0 ? Math.max(Number(head.timestamp - earlier.timestamp) / blocks, 0) : 1
  const periodBlocks = BigInt(params.periodBlocks)
  return {
    head: head.number, headTime: Number(head.timestamp), secondsPerBlock, genesisBlock, periodBlocks, activationBlocks: BigInt(params.activationBlocks),
    currentPeriod: (head.number - genesisBlock) / periodBlocks
  }
}

function dateOf (block: bigint, clock: ChainClock): Date {
  return new Date((clock.headTime + Number(block - clock.head) * clock.secondsPerBlock) * 1000)
}

function describe (entry: JournalEntry, clock: ChainClock | undefined, dealById: ReadonlyMap<bigint, Deal>, otherChain: boolean): ListedFile {
  const counts: Partial<Record<ListedDealState, number>> = {}
  let escrowOpened = 0n
  let firstEnd: bigint | undefined
  let lastEnd: bigint | undefined
  for (const d of entry.deals) {
    let state: ListedDealState
    if (d.dealId === undefined) {
      state = d.error === undefined && entry.state === 'opening' ? 'unopened' : 'unfunded'
    } else if (clock === undefined || !dealById.has(d.dealId)) {
      state = 'none'
    } else {
      const deal = dealById.get(d.dealId)!
      escrowOpened += d.offer.pricePerPeriod * BigInt(d.offer.periods)
      state = deal.state === 'pending' && clock.head > deal.openedBlock + clock.activationBlocks ? 'overdue' : deal.state
      // A pending deal that activates now starts proving next period.
      const startPeriod = state === 'active' ? deal.startPeriod : state === 'pending' ? clock.currentPeriod + 1n : undefined
      if (startPeriod !== undefined) {
        const endBlock = clock.genesisBlock + (startPeriod + BigInt(deal.periods)) * clock.periodBlocks
        if (endBlock <= clock.head) state = 'over'
        else {
          if (firstEnd === undefined || endBlock < firstEnd) firstEnd = endBlock
          if (lastEnd === undefined || endBlock > lastEnd) lastEnd = endBlock
        }
      }
    }
    counts[state] = (counts[state] ?? 0) + 1
  }
  const live = (counts.pending ?? 0) + (counts.active ?? 0)
  const health: FileHealth = entry.state === 'abandoned'
    ? 'abandoned'
    : entry.deletedAt !== undefined
      ? 'deleted'
    : entry.state !== 'stored'
      ? 'interrupted'
      : clock === undefined ? 'unknown' : live === entry.deals.length ? 'healthy' : live === 0 ? 'expired' : 'degraded'
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
    ...(firstEnd === undefined || clock === undefined
      ? {}
      : { expiresBlock: firstEnd, expiresAt: dateOf(firstEnd, clock) }),
    ...(lastEnd === undefined || clock === undefined ? {} : { endsBlock: lastEnd, endsAt: dateOf(lastEnd, clock) }),
    ...(entry.deletedAt === undefined ? {} : { deletedAt: entry.deletedAt }),
    otherChain,
    resumable: unfinished(entry)
  }
}

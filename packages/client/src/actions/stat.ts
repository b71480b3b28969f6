import { getCurrentPeriod, getDeal, getMarketParams, storageMarketAbi } from '@sherd/contracts'
import type { Deal, MarketClient } from '@sherd/contracts'
import type { PublicClient } from 'viem'
import type { Manifest } from '@sherd/protocol'
import type { CID } from 'multiformats/cid'
import { DIAL_TIMEOUT_MS } from '../constants.js'
import type { ClientContext } from '../context.js'
import { ClientConfigError } from '../errors.js'
import { mapLimit } from './deals.js'
import type { RepairTarget } from '../capability.js'

/**
 * A shard's state. From chain: `pending` (opened, not yet activated), `active` (activated, no period proven yet),
 * `proving` (periods proven, none missed), `missed` (at least one period missed, not failed yet), `failed`,
 * `ended`, `expired` (never activated). `unfunded`: the manifest names no deal. `unknown`: no chain to ask.
 */
export type ShardState = 'pending' | 'active' | 'proving' | 'missed' | 'failed' | 'ended' | 'expired' | 'unfunded' | 'unknown'

export interface ShardStat {
  readonly segmentIndex: number
  readonly shardIndex: number
  /** The shard CID (commitment). */
  readonly commitment: string
  readonly provider?: string
  readonly chainAddress?: string
  readonly dealId?: bigint
  readonly state: ShardState
  readonly periods?: number
  readonly provenPeriods?: number
  readonly missedPeriods?: number
  /** Pending and past its activation deadline: it will expire. */
  readonly activationOverdue?: boolean
  /** Token base units the deal pays per period, and its escrow not yet paid out or refunded. */
  readonly pricePerPeriod?: bigint
  readonly escrow?: bigint
  /**
   * First block after the deal's last period: storage is paid for until then. A pending deal's end assumes it is
   * activated now (its term starts with the next period).
   */
  readonly endBlock?: bigint
  /** When `endBlock` is (or was) mined, ms since the epoch: read from the chain if past, estimated if ahead. */
  readonly endsAtMs?: number
  /** The provider answered a dial just now (only when probed). */
  readonly online?: boolean
  /** Local score of the provider. */
  readonly score?: number
  /** Counts toward k + m: a live deal (pending in time, active, proving, missed) with a reachable provider. */
  readonly healthy: boolean
}

export interface SegmentStat {
  readonly index: number
  readonly size: number
  readonly shardSize: number
  readonly shards: readonly ShardStat[]
  readonly healthyShards: number
}

export interface FileStat {
  readonly cid: string
  readonly fileSize: number
  readonly k: number
  readonly m: number
  readonly segments: readonly SegmentStat[]
  /** Every segment has k + m healthy shards. */
  readonly healthy: boolean
  /** Every segment has at least k healthy shards. */
  readonly recoverable: boolean
  /**
   * When the file stops being paid for: the first block at which some segment has fewer than k deals left
   * running (each segment's k-th longest deal, the earliest over segments), and that block's time (estimated).
   * Absent without a chain, or when the file is already past it.
   */
  readonly storageEndBlock?: bigint
  readonly storageEndsAtMs?: number
  /** The chain's head when the deals were read (past `endBlock`s are exact dates, later ones estimates). */
  readonly chainHead?: bigint
  /** Token base units per period the file's running deals cost together. */
  readonly costPerPeriod?: bigint
  /** Escrow still held for the file's running deals, token base units. */
  readonly escrowLeft?: bigint
}

export interface StatOptions {
  signal?: AbortSignal
  /** Dial every provider to see whether it is up (default true). */
  probe?: boolean
}

/** Dials each provider once; true if it answered within DIAL_TIMEOUT_MS. */
export async function probeProviders (ctx: ClientContext, providers: Iterable<string>, signal?: AbortSignal): Promise<Map<string, boolean>> {
  const ids = [...new Set(providers)]
  const out = new Map<string, boolean>()
  await mapLimit(ids, 8, async (id) => {
    const addrs = ctx.directory.addrsOf(id)
    if (addrs.length === 0) { out.set(id, false); return }
    try {
      const timeout = AbortSignal.timeout(DIAL_TIMEOUT_MS)
      await ctx.host.dial(addrs, { signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]) })
      out.set(id, true)
    } catch {
      signal?.throwIfAborted()
      out.set(id, false)
    }
  })
  return out
}

function stateOf (deal: Deal): ShardState {
  switch (deal.state) {
    case 'pending': return 'pending'
    case 'active': return deal.missedPeriods > 0 ? 'missed' : deal.provenPeriods > 0 ? 'proving' : 'active'
    case 'failed': return 'failed'
    case 'ended': return 'ended'
    case 'expired': return 'expired'
    default: return 'unfunded'
  }
}

/**
 * Block times for end-of-storage dates: past blocks are read from the chain; a future block is placed at the head's
 * time plus the blocks to go times the mean block interval over the last BLOCK_TIME_SAMPLE_BLOCKS blocks.
 */
const BLOCK_TIME_SAMPLE_BLOCKS = 256n

export interface ChainClock {
  readonly head: bigint
  readonly currentPeriod: bigint
  readonly periodBlocks: number
  readonly activationBlocks: number
  readonly genesisBlock: bigint
  /** Mean ms per block, or undefined when the chain has not moved enough to tell. */
  readonly msPerBlock: number | undefined
  /** The time of `block`, ms since the epoch: exact if mined, estimated if not (undefined if it cannot be). */
  timeOf: (block: bigint) => Promise<number | undefined>
}

/** Reads the chain's head, the market's period layout and its recent block times. */
export async function readChainClock (publicClient: PublicClient, market: MarketClient): Promise<ChainClock> {
  const [head, params, currentPeriod, genesisBlock] = await Promise.all([
    publicClient.getBlockNumber({ cacheTime: 0 }),
    getMarketParams(market),
    getCurrentPeriod(market),
    publicClient.readContract({ address: market.market, abi: storageMarketAbi, functionName: 'genesisBlock' })
  ])
  const from = head > BLOCK_TIME_SAMPLE_BLOCKS ? head - BLOCK_TIME_SAMPLE_BLOCKS : 0n
  const [headBlock, fromBlock] = await Promise.all([publicClient.getBlock({ blockNumber: head }), publicClient.getBlock({ blockNumber: from })])
  const elapsedMs = Number(headBlock.timestamp - fromBlock.timestamp) * 1000
  const msPerBlock = head > from && elapsedMs > 0 ? elapsedMs / Number(head - from) : undefined
  const mined = new Map<bigint, Promise<number>>()
  return {
    head, currentPeriod, genesisBlock, msPerBlock,
    periodBlocks: params.periodBlocks,
    activationBlocks: params.activationBlocks,
    async timeOf (block) {
      if (block <= head) {
        let t = mined.get(block)
        if (t === undefined) { t = publicClient.getBlock({ blockNumber: block }).then((b) => Number(b.timestamp) * 1000); mined.set(block, t) }
        return await t
      }
      if (msPerBlock === undefined) return undefined
      return Number(headBlock.timestamp) * 1000 + Number(block - head) * msPerBlock
    }
  }
}

/** First block after the deal's term (for a pending deal: if it were activated now). */
export function dealEndBlock (deal: Deal, clock: Pick<ChainClock, 'currentPeriod' | 'periodBlocks' | 'genesisBlock'>): bigint | undefined {
  const start = deal.state === 'active' || deal.state === 'ended' ? deal.startPeriod : deal.state === 'pending' ? clock.currentPeriod + 1n : undefined
  if (start === undefined) return undefined
  return clock.genesisBlock + (start + BigInt(deal.periods)) * BigInt(clock.periodBlocks)
}

/** An active deal whose last period has closed: nothing more is proven or paid, even before `endDeal` settles it. */
export function termOver (deal: Deal, clock: Pick<ChainClock, 'currentPeriod'>): boolean {
  return deal.state === 'active' && clock.currentPeriod >= deal.startPeriod + BigInt(deal.periods)
}

const LIVE: ReadonlySet<ShardState> = new Set(['pending', 'active', 'proving', 'missed', 'unknown'])

/**
 * Reports where every shard of a file is and how its deal stands on chain (state, periods proven and missed), with
 * each provider's local score and, by default, whether it answers. Missed periods read here feed the scores.
 */
export async function stat (ctx: ClientContext, target: RepairTarget, options: StatOptions = {}): Promise<FileStat> {
  // Loaded here, not at the top: capability.js brings the wire code, which callers of inspectManifest that only
  // read the chain (the CLI's stat of a cached manifest) should not load. A repair capability is enough to stat.
  const { getRepairableManifest } = await import('../capability.js')
  const { manifest, cid } = await getRepairableManifest(ctx, target, options)
  return await inspectManifest(ctx, manifest, cid, options)
}

/**
 * What `inspectManifest` reads: the chain and the scores. The directory (registered chain addresses) and the host
 * (probing) are optional, so a manifest in hand can be inspected from the chain alone, without libp2p.
 */
export type StatContext = Pick<ClientContext, 'scores' | 'market' | 'publicClient'> & Partial<Pick<ClientContext, 'directory' | 'host'>>

/** `stat` over a manifest already in hand. */
export async function inspectManifest (ctx: StatContext, manifest: Manifest, cid: CID, options: StatOptions = {}): Promise<FileStat> {
  const refs = manifest.segments.flatMap((s, si) => s.shards.map((sh, i) => ({ si, i, sh })))
  const probe = options.probe ?? true
  if (probe && (ctx.host === undefined || ctx.directory === undefined)) throw new ClientConfigError('probing providers needs a started client: pass probe: false to read the chain only')
  const online = probe ? await probeProviders(ctx as ClientContext, refs.map((r) => r.sh.provider).filter((p): p is string => p !== undefined), options.signal) : undefined
  const market = ctx.market
  const clock = market !== undefined && ctx.publicClient !== undefined ? await readChainClock(ctx.publicClient, market) : undefined
  const stats = await mapLimit(refs, 8, async ({ si, i, sh }): Promise<ShardStat> => {
    options.signal?.throwIfAborted()
    const provider = sh.provider
    let state: ShardState = market === undefined ? 'unknown' : 'unfunded'
    let deal: Deal | undefined
    if (market !== undefined && sh.deal !== undefined) {
      deal = await getDeal(market, sh.deal)
      state = clock !== undefined && termOver(deal, clock) ? 'ended' : stateOf(deal)
      if (provider !== undefined) ctx.scores.missed(provider, sh.deal, deal.missedPeriods)
    }
    const chainAddress = provider === undefined ? undefined : ctx.directory?.describe(provider).chainAddress ?? deal?.provider
    const overdue = deal?.state === 'pending' && clock !== undefined && clock.head > deal.openedBlock + BigInt(clock.activationBlocks)
    const endBlock = deal !== undefined && clock !== undefined ? dealEndBlock(deal, clock) : undefined
    const endsAtMs = endBlock === undefined ? undefined : await clock?.timeOf(endBlock)
    const up = provider === undefined ? false : online?.get(provider)
    const healthy = provider !== undefined && LIVE.has(state) && overdue !== true && up !== false
    return {
      segmentIndex: si,
      shardIndex: i,
      commitment: sh.commitment.toString(),
      ...(provider === undefined ? {} : { provider, score: ctx.scores.score(provider) }),
      ...(chainAddress === undefined ? {} : { chainAddress }),
      ...(sh.deal === undefined ? {} : { dealId: sh.deal }),
      state,
      ...(deal === undefined ? {} : { periods: deal.periods, provenPeriods: deal.provenPeriods, missedPeriods: deal.missedPeriods, pricePerPeriod: deal.pricePerPeriod, escrow: deal.escrow }),
      ...(deal?.state === 'pending' ? { activationOverdue: overdue } : {}),
      ...(endBlock === undefined ? {} : { endBlock }),
      ...(endsAtMs === undefined ? {} : { endsAtMs }),
      ...(up === undefined ? {} : { online: up }),
      healthy
    }
  })
  const segments = manifest.segments.map((s, index): SegmentStat => {
    const shards = stats.filter((x) => x.segmentIndex === index)
    return { index, size: s.size, shardSize: s.shardSize, shards, healthyShards: shards.filter((x) => x.healthy).length }
  })
  await ctx.scores.save()
  const running = stats.filter((x) => LIVE.has(x.state) && x.activationOverdue !== true)
  const storageEndBlock = clock === undefined ? undefined : fileEndBlock(segments, manifest.k, clock.head)
  const storageEndsAtMs = storageEndBlock === undefined ? undefined : await clock?.timeOf(storageEndBlock)
  return {
    cid: cid.toString(),
    fileSize: manifest.fileSize,
    k: manifest.k,
    m: manifest.m,
    segments,
    healthy: segments.every((s) => s.healthyShards === manifest.k + manifest.m),
    recoverable: segments.every((s) => s.healthyShards >= manifest.k),
    ...(storageEndBlock === undefined ? {} : { storageEndBlock }),
    ...(storageEndsAtMs === undefined ? {} : { storageEndsAtMs }),
    ...(clock === undefined ? {} : {
      chainHead: clock.head,
      costPerPeriod: running.reduce((sum, x) => sum + (x.pricePerPeriod ?? 0n), 0n),
      escrowLeft: running.reduce((sum, x) => sum + (x.escrow ?? 0n), 0n)
    })
  }
}

// A segment is readable while k of its shards are stored, so its storage ends with its k-th longest running deal.
function fileEndBlock (segments: readonly SegmentStat[], k: number, head: bigint): bigint | undefined {
  let end: bigint | undefined
  for (const seg of segments) {
    const ends = seg.shards
      .filter((x) => LIVE.has(x.state) && x.activationOverdue !== true && x.endBlock !== undefined)
      .map((x) => x.endBlock!)
      .sort((a, b) => a > b ? -1 : a < b ? 1 : 0)
    const segEnd = ends[k - 1]
    if (segEnd === undefined || segEnd <= head) return undefined
    if (end === undefined || segEnd < end) end = segEnd
  }
  return end
}

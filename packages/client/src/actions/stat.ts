import type { Manifest } from '@sherd/protocol'
import type { CID } from 'multiformats/cid'
import { DIAL_TIMEOUT_MS } from '../constants.js'
import type { ClientContext } from '../context.js'
import { ClientConfigError } from '../errors.js'
import { mapLimit } from './deals.js'
import { readChainClock, readDeals } from './deal-state.js'
import type { DealStatus, DealView } from './deal-state.js'
import type { RepairTarget } from '../capability.js'

/**
 * A shard's state: its deal's (`DealStatus`: live, declared, faulted, failed, ended, unknown), or `unfunded`
 * (the manifest names no deal) or `unknown` (no chain to ask).
 */
export type ShardState = DealStatus | 'unfunded'

export interface ShardStat {
  readonly segmentIndex: number
  readonly shardIndex: number
  /** The shard CID (commitment). */
  readonly commitment: string
  readonly provider?: string
  readonly chainAddress?: string
  readonly dealId?: bigint
  readonly state: ShardState
  /** The deal's term in periods, and its first period (it joins its provider's proof set then). */
  readonly periods?: number
  readonly startPeriod?: bigint
  /** Closed periods of its term its provider proved on time (each paid), and the others (misses). */
  readonly provenPeriods?: number
  readonly missedPeriods?: number
  /** Of those, the ones among the last `maxMissedPeriods` closed periods: whether its provider misses proofs now. */
  readonly recentMissedPeriods?: number
  /** Token base units the deal pays per period, and its escrow not yet paid out or refunded. */
  readonly pricePerPeriod?: bigint
  readonly escrow?: bigint
  /** What a claim would move now: earned by the provider, and refunded to the client (`delete` claims ended deals). */
  readonly claimable?: { readonly provider: bigint; readonly client: bigint }
  /** First block after the deal's last period: storage is paid for until then. */
  readonly endBlock?: bigint
  /** When `endBlock` is (or was) mined, ms since the epoch: read from the chain if past, estimated if ahead. */
  readonly endsAtMs?: number
  /** The provider answered a dial just now (only when probed). */
  readonly online?: boolean
  /** Local score of the provider. */
  readonly score?: number
  /** Counts toward k + m: a live deal with a reachable provider. */
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
export async function probeProviders(
  ctx: ClientContext,
  providers: Iterable<string>,
  signal?: AbortSignal
): Promise<Map<string, boolean>> {
  const ids = [...new Set(providers)]
  const out = new Map<string, boolean>()
  await mapLimit(ids, 8, async (id) => {
    const addrs = ctx.directory.addrsOf(id)
    if (addrs.length === 0) {
      out.set(id, false)
      return
    }
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

const LIVE: ReadonlySet<ShardState> = new Set(['live', 'unknown'])

/**
 * Reports where every shard of a file is and how its deal stands on chain (state, periods proven and missed), with
 * each provider's local score and, by default, whether it answers. Missed periods read here feed the scores.
 */
export async function stat(ctx: ClientContext, target: RepairTarget, options: StatOptions = {}): Promise<FileStat> {
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
export type StatContext = Pick<ClientContext, 'scores' | 'market' | 'publicClient'> &
  Partial<Pick<ClientContext, 'directory' | 'host'>>

/** `stat` over a manifest already in hand. */
export async function inspectManifest(
  ctx: StatContext,
  manifest: Manifest,
  cid: CID,
  options: StatOptions = {}
): Promise<FileStat> {
  const refs = manifest.segments.flatMap((s, si) => s.shards.map((sh, i) => ({ si, i, sh })))
  const probe = options.probe ?? true
  if (probe && (ctx.host === undefined || ctx.directory === undefined))
    throw new ClientConfigError('probing providers needs a started client: pass probe: false to read the chain only')
  const online = probe
    ? await probeProviders(
        ctx as ClientContext,
        refs.map((r) => r.sh.provider).filter((p): p is string => p !== undefined),
        options.signal
      )
    : undefined
  const market = ctx.market
  const clock =
    market !== undefined && ctx.publicClient !== undefined ? await readChainClock(ctx.publicClient, market) : undefined
  const views: Map<bigint, DealView> =
    market !== undefined && clock !== undefined
      ? await readDeals(
          market,
          clock,
          refs.flatMap((r) => (r.sh.deal === undefined ? [] : [r.sh.deal])),
          options.signal
        )
      : new Map()
  const endTimes = new Map<bigint, number>()
  if (clock !== undefined) {
    await mapLimit([...new Set([...views.values()].map((v) => v.endBlock))], 8, async (block) => {
      const t = await clock.timeOf(block)
      if (t !== undefined) endTimes.set(block, t)
    })
  }
  const stats = refs.map(({ si, i, sh }): ShardStat => {
    const provider = sh.provider
    const v = sh.deal === undefined ? undefined : views.get(sh.deal)
    const state: ShardState =
      market === undefined ? 'unknown' : sh.deal === undefined ? 'unfunded' : (v?.status ?? 'unknown')
    if (v !== undefined && provider !== undefined) ctx.scores.missed(provider, v.id, v.missedPeriods)
    const chainAddress =
      provider === undefined ? undefined : (ctx.directory?.describe(provider).chainAddress ?? v?.deal.provider)
    const up = provider === undefined ? false : online?.get(provider)
    const healthy = provider !== undefined && LIVE.has(state) && up !== false
    return {
      segmentIndex: si,
      shardIndex: i,
      commitment: sh.commitment.toString(),
      ...(provider === undefined ? {} : { provider, score: ctx.scores.score(provider) }),
      ...(chainAddress === undefined ? {} : { chainAddress }),
      ...(sh.deal === undefined ? {} : { dealId: sh.deal }),
      state,
      ...(v === undefined
        ? {}
        : {
            periods: Number(v.deal.endPeriod - v.deal.startPeriod),
            startPeriod: v.deal.startPeriod,
            provenPeriods: v.provenPeriods,
            missedPeriods: v.missedPeriods,
            recentMissedPeriods: v.recentMissedPeriods,
            pricePerPeriod: v.deal.pricePerPeriod,
            escrow: v.deal.escrow,
            claimable: v.claimable,
            endBlock: v.endBlock,
            ...(endTimes.has(v.endBlock) ? { endsAtMs: endTimes.get(v.endBlock)! } : {})
          }),
      ...(up === undefined ? {} : { online: up }),
      healthy
    }
  })
  const segments = manifest.segments.map((s, index): SegmentStat => {
    const shards = stats.filter((x) => x.segmentIndex === index)
    return {
      index,
      size: s.size,
      shardSize: s.shardSize,
      shards,
      healthyShards: shards.filter((x) => x.healthy).length
    }
  })
  await ctx.scores.save()
  const running = stats.filter((x) => x.state === 'live')
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
    ...(clock === undefined
      ? {}
      : {
          chainHead: clock.head,
          costPerPeriod: running.reduce((sum, x) => sum + (x.pricePerPeriod ?? 0n), 0n),
          escrowLeft: running.reduce((sum, x) => sum + (x.escrow ?? 0n), 0n)
        })
  }
}

// A segment is readable while k of its shards are stored, so its storage ends with its k-th longest running deal.
function fileEndBlock(segments: readonly SegmentStat[], k: number, head: bigint): bigint | undefined {
  let end: bigint | undefined
  for (const seg of segments) {
    const ends = seg.shards
      .filter((x) => x.state === 'live' && x.endBlock !== undefined)
      .map((x) => x.endBlock!)
      .sort((a, b) => (a > b ? -1 : a < b ? 1 : 0))
    const segEnd = ends[k - 1]
    if (segEnd === undefined || segEnd <= head) return undefined
    if (end === undefined || segEnd < end) end = segEnd
  }
  return end
}

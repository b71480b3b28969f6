import { getDeal, getMarketParams } from '@sherd/contracts'
import type { Deal } from '@sherd/contracts'
import type { Manifest } from '@sherd/protocol'
import type { CID } from 'multiformats/cid'
import { DIAL_TIMEOUT_MS } from '../constants.js'
import type { ClientContext } from '../context.js'
import { mapLimit } from './deals.js'
import { getManifest } from './get.js'
import type { FileTarget } from './get.js'

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

const LIVE: ReadonlySet<ShardState> = new Set(['pending', 'active', 'proving', 'missed', 'unknown'])

/**
 * Reports where every shard of a file is and how its deal stands on chain (state, periods proven and missed), with
 * each provider's local score and, by default, whether it answers. Missed periods read here feed the scores.
 */
export async function stat (ctx: ClientContext, target: FileTarget, options: StatOptions = {}): Promise<FileStat> {
  const { manifest, cid } = await getManifest(ctx, target, options)
  return await inspectManifest(ctx, manifest, cid, options)
}

/** `stat` over a manifest already in hand. */
export async function inspectManifest (ctx: ClientContext, manifest: Manifest, cid: CID, options: StatOptions = {}): Promise<FileStat> {
  const refs = manifest.segments.flatMap((s, si) => s.shards.map((sh, i) => ({ si, i, sh })))
  const probe = options.probe ?? true
  const online = probe ? await probeProviders(ctx, refs.map((r) => r.sh.provider).filter((p): p is string => p !== undefined), options.signal) : undefined
  const market = ctx.market
  let head: bigint | undefined
  let activationBlocks = 0
  if (market !== undefined && ctx.publicClient !== undefined) {
    head = await ctx.publicClient.getBlockNumber({ cacheTime: 0 })
    activationBlocks = (await getMarketParams(market)).activationBlocks
  }
  const stats = await mapLimit(refs, 8, async ({ si, i, sh }): Promise<ShardStat> => {
    options.signal?.throwIfAborted()
    const provider = sh.provider
    const chainAddress = provider === undefined ? undefined : ctx.directory.describe(provider).chainAddress
    let state: ShardState = market === undefined ? 'unknown' : 'unfunded'
    let deal: Deal | undefined
    if (market !== undefined && sh.deal !== undefined) {
      deal = await getDeal(market, sh.deal)
      state = stateOf(deal)
      if (provider !== undefined) ctx.scores.missed(provider, sh.deal, deal.missedPeriods)
    }
    const overdue = deal?.state === 'pending' && head !== undefined && head > deal.openedBlock + BigInt(activationBlocks)
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
      ...(deal === undefined ? {} : { periods: deal.periods, provenPeriods: deal.provenPeriods, missedPeriods: deal.missedPeriods }),
      ...(deal?.state === 'pending' ? { activationOverdue: overdue } : {}),
      ...(up === undefined ? {} : { online: up }),
      healthy
    }
  })
  const segments = manifest.segments.map((s, index): SegmentStat => {
    const shards = stats.filter((x) => x.segmentIndex === index)
    return { index, size: s.size, shardSize: s.shardSize, shards, healthyShards: shards.filter((x) => x.healthy).length }
  })
  await ctx.scores.save()
  return {
    cid: cid.toString(),
    fileSize: manifest.fileSize,
    k: manifest.k,
    m: manifest.m,
    segments,
    healthy: segments.every((s) => s.healthyShards === manifest.k + manifest.m),
    recoverable: segments.every((s) => s.healthyShards >= manifest.k)
  }
}

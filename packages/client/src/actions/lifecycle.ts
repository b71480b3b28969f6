import { endDeal, expireDeal, extendDeal, getCurrentPeriod, getDeal, getMarketParams, getPeriodInfo, getWithdrawable, withdraw } from '@sherd/contracts'
import type { Deal } from '@sherd/contracts'
import { withChain } from '../context.js'
import type { ChainContext, ClientContext } from '../context.js'
import { ChainActionError } from '../errors.js'
import { approveOnce, dealConcurrency, mapLimit } from './deals.js'
import { recordDeletion } from '../journal.js'
import { getManifest } from './get.js'
import type { FileTarget } from './get.js'
import { getRepairableManifest } from '../capability.js'
import type { RepairTarget } from '../capability.js'

export interface ExtendOptions { signal?: AbortSignal }

const DEAL_STATE_CAUSE: Partial<Record<Deal['state'], string>> = {
  ended: ' (its term is over and it was settled)',
  failed: ' (its provider missed too many periods)',
  expired: ' (its provider never activated it)'
}

export interface ExtendResult {
  /** Deals extended, with their new term. */
  readonly extended: ReadonlyArray<{ dealId: bigint, provider?: string, periods: number }>
  /** Deals left as they were and why (ended, failed, past maxPeriods...). */
  readonly skipped: ReadonlyArray<{ dealId?: bigint, provider?: string, reason: string }>
  /** Token units escrowed for the extension. */
  readonly escrow: bigint
}

/**
 * Extends every live deal of a file by `periods` proving periods at its price (approving the total once). Deals
 * that cannot be extended (ended, failed, expired, or past the offer's maxPeriods) are reported in `skipped`;
 * `repair` replaces those.
 */
export async function extend (context: ClientContext, target: RepairTarget, periods: number, options: ExtendOptions = {}): Promise<ExtendResult> {
  const ctx = withChain(context, 'extend')
  if (!Number.isSafeInteger(periods) || periods < 1 || periods > 2 ** 32 - 1) throw new RangeError(`periods must be a positive integer, got ${periods}`)
  const { manifest } = await getRepairableManifest(ctx, target, options)
  const shards = manifest.segments.flatMap((s) => s.shards)
  const skipped: Array<{ dealId?: bigint, provider?: string, reason: string }> = []
  const live: Array<{ deal: Deal, provider?: string }> = []
  const [currentPeriod, { periodBlocks }] = await Promise.all([getCurrentPeriod(ctx.market), getMarketParams(ctx.market)])
  for (const sh of shards) {
    if (sh.deal === undefined) { skipped.push({ ...(sh.provider === undefined ? {} : { provider: sh.provider }), reason: 'the shard has no deal: run repair to place it under a new one' }); continue }
    const deal = await getDeal(ctx.market, sh.deal)
    const base = { dealId: sh.deal, ...(sh.provider === undefined ? {} : { provider: sh.provider }) }
    const endPeriod = deal.startPeriod + BigInt(deal.periods)
    // The market refuses to extend a term that is over even while the deal still reads active (not yet settled by
    // endDeal): say so here rather than send a transaction that reverts.
    if (deal.state === 'active' && currentPeriod >= endPeriod) {
      skipped.push({ ...base, reason: `its term ended with period ${endPeriod - 1n} (the chain is in period ${currentPeriod}, ${periodBlocks} blocks each): an ended deal cannot be extended; run repair while k shards are still served, or put the file again` })
      continue
    }
    if (deal.state !== 'pending' && deal.state !== 'active') { skipped.push({ ...base, reason: `the deal is ${deal.state}${DEAL_STATE_CAUSE[deal.state] ?? ''}: it cannot be extended; run repair to move the shard to a new deal` }); continue }
    if (deal.periods + periods > deal.maxPeriods) { skipped.push({ ...base, reason: `would exceed the offer's maxPeriods ${deal.maxPeriods}` }); continue }
    live.push({ deal, ...(sh.provider === undefined ? {} : { provider: sh.provider }) })
  }
  const escrow = live.reduce((sum, l) => sum + l.deal.pricePerPeriod * BigInt(periods), 0n)
  await approveOnce(ctx, escrow, options.signal)
  const extended: Array<{ dealId: bigint, provider?: string, periods: number }> = []
  await mapLimit(live, dealConcurrency(ctx), async ({ deal, provider }) => {
    try {
      await extendDeal(ctx.market, { dealId: deal.id, addedPeriods: periods }, options)
      extended.push({ dealId: deal.id, ...(provider === undefined ? {} : { provider }), periods: deal.periods + periods })
    } catch (err) {
      options.signal?.throwIfAborted()
      skipped.push({ dealId: deal.id, ...(provider === undefined ? {} : { provider }), reason: new ChainActionError(`extending deal ${deal.id}`, err, provider).message })
    }
  })
  return { extended, skipped, escrow: extended.reduce((sum, e) => sum + (live.find((l) => l.deal.id === e.dealId)?.deal.pricePerPeriod ?? 0n) * BigInt(periods), 0n) }
}

export interface DeleteOptions { signal?: AbortSignal }

export interface DeleteResult {
  /** Deals settled now (expired unactivated deals, ended terms), refunds credited. */
  readonly settled: ReadonlyArray<{ dealId: bigint, action: 'expired' | 'ended' }>
  /** Deals still running: the contract has no early cancel, they run out their term and are not renewed. */
  readonly running: ReadonlyArray<{ dealId: bigint, endsAtPeriod?: bigint }>
  /** Tokens withdrawn to the account (refunds of this and earlier deals). */
  readonly withdrawn: bigint
  /** Journal entries of the file marked deleted (empty without a journal, or for a file put elsewhere). */
  readonly journalEntries?: readonly string[]
}

/**
 * Stops paying for a file: the SDK never renews deals, and the market has no early termination, so deals run out
 * their term. What the contract allows is done now: unactivated deals past their deadline are expired (escrow
 * refunded), deals whose term is over are ended, and the account's refunds are withdrawn. The deletion is
 * recorded in the put journal first, so `ls` shows the file as deleted even if a settlement fails (running
 * `delete` again is safe).
 */
export async function deleteFile (context: ClientContext, target: FileTarget, options: DeleteOptions = {}): Promise<DeleteResult> {
  const ctx = withChain(context, 'delete')
  const { manifest, cid } = await getManifest(ctx, target, options)
  const ids = manifest.segments.flatMap((s) => s.shards.map((sh) => sh.deal)).filter((d): d is bigint => d !== undefined)
  const journalEntries = ctx.journal === undefined ? [] : await recordDeletion(ctx.journal, cid.toString())
  return { ...await settleDeals(ctx, ids, options), journalEntries }
}

/** What `deleteFile` does for a file's deals, for any deal ids of the account (also an abandoned put's). */
export async function settleDeals (ctx: ChainContext, ids: readonly bigint[], options: DeleteOptions = {}): Promise<DeleteResult> {
  const { activationBlocks } = await getMarketParams(ctx.market)
  const head = await ctx.publicClient.getBlockNumber({ cacheTime: 0 })
  const current = await getPeriodInfo(ctx.market)
  const settled: Array<{ dealId: bigint, action: 'expired' | 'ended' }> = []
  const running: Array<{ dealId: bigint, endsAtPeriod?: bigint }> = []
  for (const id of ids) {
    options.signal?.throwIfAborted()
    const deal = await getDeal(ctx.market, id)
    try {
      if (deal.state === 'pending' && head > deal.openedBlock + BigInt(activationBlocks)) {
        await expireDeal(ctx.market, id, options)
        settled.push({ dealId: id, action: 'expired' })
      } else if (deal.state === 'active' && current.period >= deal.startPeriod + BigInt(deal.periods)) {
        await endDeal(ctx.market, id, options)
        settled.push({ dealId: id, action: 'ended' })
      } else if (deal.state === 'pending' || deal.state === 'active') {
        running.push({ dealId: id, ...(deal.state === 'active' ? { endsAtPeriod: deal.startPeriod + BigInt(deal.periods) } : {}) })
      }
    } catch (err) {
      options.signal?.throwIfAborted()
      // Providers settle their own deals as soon as the market allows, so one may have beaten this call: the
      // refund is credited all the same (and withdrawn below).
      const now = (await getDeal(ctx.market, id)).state
      if (now === 'ended' || now === 'expired') {
        settled.push({ dealId: id, action: now })
        continue
      }
      throw new ChainActionError(`settling deal ${id}`, err)
    }
  }
  let withdrawn = 0n
  if (await getWithdrawable(ctx.market, ctx.account) > 0n) withdrawn = (await withdraw(ctx.market, options)).amount
  return { settled, running, withdrawn }
}

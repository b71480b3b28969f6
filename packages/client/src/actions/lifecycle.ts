import {
  claimProofSetDeals,
  extendProofSetDeals,
  getProofSetProvider,
  getProofSetWithdrawable,
  withdrawProofSet
} from '@sherd/contracts'
import type { Address } from 'viem'
import { withChain } from '../context.js'
import type { ClientContext } from '../context.js'
import { recordDeletion } from '../journal.js'
import { marketParams } from '../chain.js'
import { approveOnce, chainActionError, mapLimit } from './deals.js'
import type { DealChain } from './deals.js'
import { readChainClock, readDeals } from './deal-state.js'
import type { DealView } from './deal-state.js'
import { getManifest } from './get.js'
import type { FileTarget } from './get.js'
import { getRepairableManifest } from '../capability.js'
import type { RepairTarget } from '../capability.js'

export interface ExtendOptions {
  signal?: AbortSignal
}

export interface ExtendResult {
  /** Deals extended, with their new term in periods. */
  readonly extended: ReadonlyArray<{ dealId: bigint; provider?: string; periods: number }>
  /** Deals left as they were and why (not live, term over, beyond the provider's maxTermPeriods, …). */
  readonly skipped: ReadonlyArray<{ dealId?: bigint; provider?: string; reason: string }>
  /** Token units escrowed for the extension. */
  readonly escrow: bigint
}

/** Why a deal in `status` cannot be extended, and what to do instead. */
const STATUS_CAUSE: Record<Exclude<DealView['status'], 'live'>, string> = {
  declared: 'its provider declared the shard lost',
  faulted: 'its provider failed a challenge or an audit of it',
  failed: 'its provider missed too many periods',
  ended: 'its term is over',
  unknown: 'the market has no such deal'
}

/**
 * Extends every live deal of a file by `periods` proving periods at its price, all in one `extendDeals`
 * transaction (approving the total once). A deal the market would refuse is left out before anything is sent, in
 * `skipped` with the reason: not live (declared, faulted, failed, ended), its term over, or a new term beyond its
 * provider's `maxTermPeriods` (the provider's consent to long deals). When the market refuses the transaction
 * anyway (a provider's free stake cannot back the added collateral: InsufficientStake), every deal of it is skipped
 * with that reason and nothing is paid.
 */
export async function extend(
  context: ClientContext,
  target: RepairTarget,
  periods: number,
  options: ExtendOptions = {}
): Promise<ExtendResult> {
  const ctx = withChain(context, 'extend')
  if (!Number.isSafeInteger(periods) || periods < 1 || periods > 2 ** 32 - 1)
    throw new RangeError(`periods must be a positive integer, got ${periods}`)
  const { manifest } = await getRepairableManifest(ctx, target, options)
  return await extendDeals(
    ctx,
    manifest.segments.flatMap((s) => s.shards),
    periods,
    options
  )
}

/** What `extend` does once it has the file's shards (their deals and providers): chain only. */
export async function extendDeals(
  ctx: DealChain,
  shards: ReadonlyArray<{ deal?: bigint; provider?: string }>,
  periods: number,
  options: ExtendOptions = {}
): Promise<ExtendResult> {
  const clock = await readChainClock(ctx.publicClient, ctx.market)
  const views = await readDeals(
    ctx.market,
    clock,
    shards.flatMap((sh) => (sh.deal === undefined ? [] : [sh.deal])),
    options.signal
  )
  const providers = new Map<Address, { maxTermPeriods: number; freeStake: bigint }>()
  for (const v of views.values()) {
    if (v.status !== 'live' || providers.has(v.deal.provider)) continue
    const p = await getProofSetProvider(ctx.market, v.deal.provider)
    providers.set(v.deal.provider, {
      maxTermPeriods: p.maxTermPeriods,
      freeStake: p.stake > p.locked ? p.stake - p.locked : 0n
    })
  }
  const collateralBps = BigInt((await marketParams(ctx.market)).collateralBps)
  const backed = new Map<Address, bigint>()
  const skipped: Array<{ dealId?: bigint; provider?: string; reason: string }> = []
  const live: Array<{ view: DealView; provider?: string }> = []
  for (const sh of shards) {
    const who = sh.provider === undefined ? {} : { provider: sh.provider }
    if (sh.deal === undefined) {
      skipped.push({ ...who, reason: 'the shard has no deal: run repair to place it under a new one' })
      continue
    }
    const base = { dealId: sh.deal, ...who }
    const v = views.get(sh.deal)
    if (v === undefined) {
      skipped.push({ ...base, reason: `${STATUS_CAUSE.unknown}: check --contract, or run repair` })
      continue
    }
    const term = Number(v.deal.endPeriod - v.deal.startPeriod)
    if (v.termOver) {
      skipped.push({
        ...base,
        reason: `its term ended with period ${v.deal.endPeriod - 1n} (the chain is in period ${clock.currentPeriod}, ${clock.periodBlocks} blocks each): an ended deal cannot be extended; run repair while k shards are still served, or put the file again`
      })
      continue
    }
    if (v.status !== 'live') {
      skipped.push({
        ...base,
        reason: `the deal is ${v.status} (${STATUS_CAUSE[v.status]}): it cannot be extended; run repair to move the shard to a new deal`
      })
      continue
    }
    const provider = providers.get(v.deal.provider)!
    if (term + periods > provider.maxTermPeriods) {
      skipped.push({
        ...base,
        reason: `a term of ${term + periods} periods is beyond its provider's limit of ${provider.maxTermPeriods} (maxTermPeriods): extend by at most ${Math.max(0, provider.maxTermPeriods - term)}, or repair onto a provider that accepts longer terms`
      })
      continue
    }
    // The extension locks more of the provider's stake (collateral follows the escrow): the market refuses the
    // whole transaction for one provider short of it, so such deals are left out here.
    const added = (v.deal.pricePerPeriod * BigInt(periods) * collateralBps + 9_999n) / 10_000n
    const already = backed.get(v.deal.provider) ?? 0n
    if (already + added > provider.freeStake) {
      skipped.push({
        ...base,
        reason: `its provider's free stake (${provider.freeStake} base units) cannot back ${already + added} of added collateral: the provider must stake more; extend fewer periods or repair onto another provider`
      })
      continue
    }
    backed.set(v.deal.provider, already + added)
    live.push({ view: v, ...who })
  }
  const escrow = live.reduce((sum, l) => sum + l.view.deal.pricePerPeriod * BigInt(periods), 0n)
  if (live.length === 0) return { extended: [], skipped, escrow: 0n }
  await approveOnce(ctx, escrow, options.signal)
  try {
    await extendProofSetDeals(ctx.market, { dealIds: live.map((l) => l.view.id), addedPeriods: periods }, options)
  } catch (err) {
    options.signal?.throwIfAborted()
    const reason = chainActionError(`extending ${live.length} deal(s) by ${periods} periods`, err).message
    return {
      extended: [],
      skipped: [
        ...skipped,
        ...live.map((l) => ({
          dealId: l.view.id,
          ...(l.provider === undefined ? {} : { provider: l.provider }),
          reason
        }))
      ],
      escrow: 0n
    }
  }
  return {
    extended: live.map((l) => ({
      dealId: l.view.id,
      ...(l.provider === undefined ? {} : { provider: l.provider }),
      periods: Number(l.view.deal.endPeriod - l.view.deal.startPeriod) + periods
    })),
    skipped,
    escrow
  }
}

export interface DeleteOptions {
  signal?: AbortSignal
}

export interface DeleteResult {
  /** Deals claimed now: closed periods paid or refunded; those whose term is over (or that are void) leave the books. */
  readonly settled: ReadonlyArray<{ dealId: bigint; action: 'claimed' }>
  /** Deals still running: the contract has no early termination, they run out their term and are not renewed. */
  readonly running: ReadonlyArray<{ dealId: bigint; endsAtPeriod: bigint }>
  /** Tokens withdrawn to the account (refunds of this and earlier deals). */
  readonly withdrawn: bigint
  /** Journal entries of the file marked deleted (empty without a journal, or for a file put elsewhere). */
  readonly journalEntries?: readonly string[]
}

/**
 * Stops paying for a file: the SDK never renews deals, and the market has no early termination, so live deals run
 * out their term. The deletion is recorded in the put journal first (so `ls` shows the file as deleted even if a
 * claim fails; running `delete` again is safe), then every deal whose term is over or that is void is claimed
 * (refunding what its provider did not earn) and the account's refunds are withdrawn.
 */
export async function deleteFile(
  context: ClientContext,
  target: FileTarget,
  options: DeleteOptions = {}
): Promise<DeleteResult> {
  const ctx = withChain(context, 'delete')
  const { manifest, cid } = await getManifest(ctx, target, options)
  const ids = manifest.segments
    .flatMap((s) => s.shards.map((sh) => sh.deal))
    .filter((d): d is bigint => d !== undefined)
  const journalEntries = ctx.journal === undefined ? [] : await recordDeletion(ctx.journal, cid.toString())
  return { ...(await settleDeals(ctx, ids, options)), journalEntries }
}

/** Deals claimed per transaction: a claim walks each deal's closed periods (~17 k gas per deal at 6 periods). */
const CLAIM_BATCH = 100

/**
 * What `deleteFile` does for a file's deals, for any deal ids of the account (also an abandoned put's): claims
 * every unsettled deal whose term is over, that is void, or that missed enough periods to fail, in batches, then
 * withdraws. Live deals are returned in `running` with the period their term ends.
 */
export async function settleDeals(
  ctx: DealChain,
  ids: readonly bigint[],
  options: DeleteOptions = {}
): Promise<DeleteResult> {
  const clock = await readChainClock(ctx.publicClient, ctx.market)
  const views = await readDeals(ctx.market, clock, ids, options.signal)
  const claim: bigint[] = []
  const running: Array<{ dealId: bigint; endsAtPeriod: bigint }> = []
  const due = new Map<Address, bigint>()
  for (const v of views.values()) {
    if (v.deal.settled) continue
    // A deal with maxMissedPeriods misses reads live on chain until a claim fails it and refunds its escrow.
    if (v.status === 'live') {
      running.push({ dealId: v.id, endsAtPeriod: v.deal.endPeriod })
      continue
    }
    // A claim moves the closed periods' money, and takes the deal off the books once its provider's due period
    // has passed its last one (no challenge can land on it then). With neither, a claim would do nothing.
    if (v.claimable.client === 0n && v.claimable.provider === 0n) {
      if (!due.has(v.deal.provider))
        due.set(v.deal.provider, (await getProofSetProvider(ctx.market, v.deal.provider)).due)
      const last = v.deal.voidFrom < v.deal.endPeriod ? v.deal.voidFrom : v.deal.endPeriod
      if (due.get(v.deal.provider)! < last) continue
    }
    claim.push(v.id)
  }
  const batches = Array.from({ length: Math.ceil(claim.length / CLAIM_BATCH) }, (_, i) =>
    claim.slice(i * CLAIM_BATCH, (i + 1) * CLAIM_BATCH)
  )
  await mapLimit(batches, 1, async (batch) => {
    try {
      await claimProofSetDeals(ctx.market, batch, options)
    } catch (err) {
      options.signal?.throwIfAborted()
      throw chainActionError(`claiming deals ${batch.join(', ')}`, err)
    }
  })
  let withdrawn = 0n
  if ((await getProofSetWithdrawable(ctx.market, ctx.account)) > 0n) {
    try {
      withdrawn = (await withdrawProofSet(ctx.market, options)).amount
    } catch (err) {
      options.signal?.throwIfAborted()
      throw chainActionError('withdrawing the refunds', err)
    }
  }
  return { settled: claim.map((dealId) => ({ dealId, action: 'claimed' as const })), running, withdrawn }
}

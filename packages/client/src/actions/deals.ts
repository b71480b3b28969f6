import { getMarketParams, getToken, openDeal, readTokenInfo, storageMarketAbi, waitForSuccess } from '@sherd/contracts'
import { erc20Abi } from 'viem'
import { DEAL_CONCURRENCY } from '../constants.js'
import type { ChainContext } from '../context.js'
import { ChainActionError, DealActivationError, InsufficientFundsError } from '../errors.js'
import { sleep } from '../sleep.js'
import type { PutProgressEvent } from '../events.js'
import type { PlacedShard } from './place.js'

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R> (items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i]!, i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/**
 * Makes sure the market may spend `amount` of the account's tokens: one balance check and, if the allowance is
 * short, one approval for the whole amount (so the deals that follow need no approval each).
 */
export async function approveOnce (ctx: ChainContext, amount: bigint, signal?: AbortSignal): Promise<boolean> {
  if (amount === 0n) return false
  const token = await getToken(ctx.market)
  const [balance, allowance] = await Promise.all([
    ctx.publicClient.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [ctx.account] }),
    ctx.publicClient.readContract({ address: token, abi: erc20Abi, functionName: 'allowance', args: [ctx.account, ctx.market.market] })
  ])
  if (balance < amount) throw new InsufficientFundsError(amount, balance, token, await readTokenInfo(ctx.publicClient, token).catch(() => undefined))
  if (allowance >= amount) return false
  try {
    const hash = await ctx.walletClient.writeContract({
      address: token, abi: erc20Abi, functionName: 'approve', args: [ctx.market.market, amount], account: ctx.walletClient.account, chain: ctx.walletClient.chain ?? null
    })
    await waitForSuccess(ctx.publicClient, hash, { signal })
  } catch (err) {
    signal?.throwIfAborted()
    throw new ChainActionError(`approving the market for ${amount} token units`, err)
  }
  return true
}

/** Deals can be opened concurrently only when the account tracks its own nonces (viem's nonceManager). */
export function dealConcurrency (ctx: ChainContext): number {
  return (ctx.walletClient.account as { nonceManager?: unknown }).nonceManager === undefined ? 1 : DEAL_CONCURRENCY
}

export interface OpenedDeal {
  readonly placed: PlacedShard
  readonly dealId?: bigint
  readonly openedBlock?: bigint
  readonly error?: Error
}

/** Opens one deal per placed shard from its signed offer; a failed one is returned with its error, not thrown. */
export async function openDeals (
  ctx: ChainContext, placed: readonly PlacedShard[], signal: AbortSignal, onOpened: (deal: OpenedDeal) => void
): Promise<OpenedDeal[]> {
  return await mapLimit(placed, dealConcurrency(ctx), async (p) => {
    signal.throwIfAborted()
    let deal: OpenedDeal
    try {
      const { dealId, receipt } = await openDeal(ctx.market, { offer: p.offer, signature: p.signature }, { signal })
      deal = { placed: p, dealId, openedBlock: receipt.blockNumber }
    } catch (err) {
      signal.throwIfAborted()
      deal = { placed: p, error: new ChainActionError(`opening the deal for segment ${p.segmentIndex} shard ${p.shardIndex} with ${p.provider}`, err, p.provider) }
    }
    onOpened(deal)
    return deal
  })
}

/** The key under which `fundAndOpenDeals` returns the deal of a shard. */
export function shardKey (segmentIndex: number, shardIndex: number): string {
  return `${segmentIndex}/${shardIndex}`
}

/**
 * Approves the escrow of every placed shard with one approval, then opens their deals, reporting each as
 * `put:deal-opened` or `put:deal-failed`. Returns the deals in placement order, the same keyed by
 * `shardKey(segment, shard)`, and the total escrow.
 */
export async function fundAndOpenDeals (
  ctx: ChainContext, placed: readonly PlacedShard[], signal: AbortSignal, emit: (event: PutProgressEvent) => void
): Promise<{ deals: OpenedDeal[], byShard: Map<string, OpenedDeal>, escrow: bigint }> {
  const escrowOf = (p: PlacedShard): bigint => p.offer.pricePerPeriod * BigInt(p.offer.periods)
  const escrow = placed.reduce((sum, p) => sum + escrowOf(p), 0n)
  if (await approveOnce(ctx, escrow, signal)) emit({ type: 'put:approved', amount: escrow })
  let opened = 0
  const deals = await openDeals(ctx, placed, signal, (deal) => {
    const p = deal.placed
    if (deal.dealId !== undefined) {
      emit({ type: 'put:deal-opened', segmentIndex: p.segmentIndex, shardIndex: p.shardIndex, provider: p.provider, dealId: deal.dealId, escrow: escrowOf(p), dealsOpened: ++opened, dealsTotal: placed.length })
    } else {
      emit({ type: 'put:deal-failed', segmentIndex: p.segmentIndex, shardIndex: p.shardIndex, provider: p.provider, error: deal.error?.message ?? 'unknown' })
    }
  })
  const byShard = new Map(deals.map((deal) => [shardKey(deal.placed.segmentIndex, deal.placed.shardIndex), deal]))
  return { deals, byShard, escrow }
}

/**
 * Waits until every deal is activated (DealActivated logs), polling. Returns the ids still pending when every
 * one of them is past its activation deadline (they can no longer activate) or `timeoutMs` passed.
 */
export async function waitForActivation (
  ctx: ChainContext, deals: ReadonlyArray<{ dealId: bigint, openedBlock: bigint }>, options: {
    timeoutMs: number, pollingIntervalMs: number, signal: AbortSignal, onActivated?: (dealId: bigint, activated: number) => void
  }
): Promise<bigint[]> {
  if (deals.length === 0) return []
  const { activationBlocks } = await getMarketParams(ctx.market)
  const pending = new Set(deals.map((d) => d.dealId))
  const fromBlock = deals.reduce((min, d) => d.openedBlock < min ? d.openedBlock : min, deals[0]!.openedBlock)
  const lastDeadline = deals.reduce((max, d) => d.openedBlock > max ? d.openedBlock : max, 0n) + BigInt(activationBlocks)
  const started = Date.now()
  let activated = 0
  let scannedTo = fromBlock - 1n
  for (;;) {
    options.signal.throwIfAborted()
    const head = await ctx.publicClient.getBlockNumber({ cacheTime: 0 })
    if (head > scannedTo) {
      const logs = await ctx.publicClient.getContractEvents({
        address: ctx.market.market, abi: storageMarketAbi, eventName: 'DealActivated', fromBlock: scannedTo + 1n, toBlock: head, strict: true
      })
      scannedTo = head
      for (const l of logs) {
        const id = (l.args as { dealId: bigint }).dealId
        if (pending.delete(id)) options.onActivated?.(id, ++activated)
      }
    }
    if (pending.size === 0) return []
    if (head > lastDeadline || Date.now() - started > options.timeoutMs) return [...pending]
    await sleep(options.pollingIntervalMs, options.signal)
  }
}

/**
 * Settles a put or repair whose manifest is already stored under `link`: a shard whose deal could not be opened,
 * or (when `wait`) a deal its provider did not activate in time, is a DealActivationError that carries the link,
 * since the file is readable and `repair` can re-place those shards.
 */
export async function requireActiveDeals (
  ctx: ChainContext, deals: readonly OpenedDeal[], link: string,
  options: { wait: boolean, timeoutMs: number, pollingIntervalMs: number, signal: AbortSignal, emit: (event: PutProgressEvent) => void }
): Promise<void> {
  const unfunded = deals.filter((deal) => deal.dealId === undefined)
  if (unfunded.length > 0) throw new DealActivationError(unfunded.map((u) => ({ provider: u.placed.provider })), link)
  if (!options.wait) return
  const waiting = deals.map((deal) => ({ dealId: deal.dealId!, openedBlock: deal.openedBlock! }))
  const pending = await waitForActivation(ctx, waiting, {
    timeoutMs: options.timeoutMs,
    pollingIntervalMs: options.pollingIntervalMs,
    signal: options.signal,
    onActivated: (dealId, activated) => { options.emit({ type: 'put:deal-activated', dealId, activated, total: waiting.length }) }
  })
  if (pending.length > 0) {
    const byId = new Map(deals.map((deal) => [deal.dealId, deal.placed.provider]))
    throw new DealActivationError(pending.map((dealId) => ({ dealId, provider: byId.get(dealId) ?? '?' })), link)
  }
}

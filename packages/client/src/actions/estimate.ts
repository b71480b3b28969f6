import { formatTokenAmount } from '@sherd/contracts'
import type { TokenInfo } from '@sherd/contracts'
import { codeProblem, MAX_SEGMENT_SIZE_BYTES, segmentCount, shardSizeFor } from '@sherd/protocol'
import { erc20Abi } from 'viem'
import type { Address } from 'viem'
import { withChain } from '../context.js'
import type { ChainContext, ClientContext } from '../context.js'
import { InsufficientFundsError, InsufficientGasError, NotEnoughProvidersError } from '../errors.js'
import { marketCollateralBps, marketToken } from '../chain.js'
import { dealCollateral, pricePerPeriodFor, rankProviders, stakeBacks } from '../context.js'
import type { StakeCheck } from '../context.js'
import {
  DEFAULT_DATA_SHARDS,
  DEFAULT_PARITY_SHARDS,
  InvalidCodeError,
  InvalidOptionError,
  STREAMING_SEGMENT_SIZE_BYTES
} from '../pipeline/index.js'

export interface EstimatePutOptions {
  k?: number
  m?: number
  segmentSize?: number
  periods?: number
  maxPricePerMiB?: bigint
  signal?: AbortSignal
}

/** Where one shard would go and what its deal would escrow. */
export interface EstimatedShard {
  readonly segmentIndex: number
  readonly shardIndex: number
  readonly bytes: number
  readonly provider: string
  readonly chainAddress: Address
  readonly pricePerMiB: bigint
  /** Price per period (the provider's offer rounds the shard's MiB up) × periods. */
  readonly escrow: bigint
  /** What the deal locks from the provider's stake (escrow × collateralBps / 10,000). */
  readonly collateral: bigint
}

/** A provider left out because its free stake cannot back the collateral of the shards this put would give it. */
export interface StakeShortProvider {
  readonly provider: string
  /** stake − lockedStake on chain, base units. */
  readonly freeStake: bigint
  /** Collateral it would have had to back: the shards already given to it plus the one it was refused. */
  readonly needed: bigint
  /** First segment it was left out of. */
  readonly segmentIndex: number
}

export interface PutEstimate {
  readonly fileSize: number
  readonly segments: number
  readonly k: number
  readonly m: number
  readonly periods: number
  /** The placement put would make with what the client knows now (a failed upload moves a shard elsewhere). */
  readonly shards: readonly EstimatedShard[]
  /** Token base units the deals would escrow. */
  readonly escrow: bigint
  /** Providers skipped because their free stake cannot back the collateral (placement skips them the same way). */
  readonly stakeShort: readonly StakeShortProvider[]
  readonly token: TokenInfo
  readonly balance: bigint
  /** What the market may already spend; put approves the whole escrow once if this is short. */
  readonly allowance: bigint
  /** `escrow - balance` when the balance is short, else 0. */
  readonly missing: bigint
  /** Native coin for gas, wei: one approval and one openDeals transaction per batch of deals. */
  readonly gasBalance: bigint
}

/**
 * What a put of `fileSize` bytes would cost and where its shards would go, from the registry's prices and the
 * providers the client knows now: the same ranking put uses, with the load of earlier segments counted (prices as announced: the offers
 * the providers sign after the upload are binding, and put checks the balance against them again). Reads
 * the account's token balance, allowance and gas; sends nothing.
 */
export async function estimatePut(
  context: ClientContext,
  fileSize: number,
  options: EstimatePutOptions = {}
): Promise<PutEstimate> {
  const ctx = withChain(context, 'estimating a put')
  const d = ctx.defaults
  const k = options.k ?? d.k ?? DEFAULT_DATA_SHARDS
  const m = options.m ?? d.m ?? DEFAULT_PARITY_SHARDS
  // A put of a known size streams, at the streaming default (put.ts).
  const segmentSize = options.segmentSize ?? d.segmentSize ?? STREAMING_SEGMENT_SIZE_BYTES
  const periods = options.periods ?? d.periods
  const maxPricePerMiB = options.maxPricePerMiB ?? d.maxPricePerMiB
  const problem = codeProblem(k, m)
  if (problem !== undefined) throw new InvalidCodeError(k, m, problem)
  if (!Number.isSafeInteger(segmentSize) || segmentSize < 1 || segmentSize > MAX_SEGMENT_SIZE_BYTES) {
    throw new InvalidOptionError(
      `segmentSize ${String(segmentSize)} must be an integer from 1 to ${MAX_SEGMENT_SIZE_BYTES} bytes`
    )
  }
  if (!Number.isSafeInteger(fileSize) || fileSize < 0)
    throw new InvalidOptionError(`fileSize ${String(fileSize)} must be a non-negative integer number of bytes`)
  await ctx.directory.refreshRegistry(options.signal === undefined ? {} : { signal: options.signal })
  const segments = segmentCount(fileSize, segmentSize)
  const load = new Map<string, number>()
  const reserved = new Map<string, number>()
  const committed = new Map<string, bigint>()
  const stake: StakeCheck = { periods, collateralBps: await marketCollateralBps(ctx.market), committed }
  const stakeShort = new Map<string, StakeShortProvider>()
  const shards: EstimatedShard[] = []
  // Providers usable but for their stake, as of segment `s`: what --dry-run reports as skipped.
  const noteStakeShort = (s: number, bytes: number): void => {
    for (const p of ctx.directory.list()) {
      if (stakeShort.has(p.peerId) || p.freeStake === undefined || !p.registered || stakeBacks(p, bytes, stake))
        continue
      const needed =
        (committed.get(p.peerId) ?? 0n) + dealCollateral(bytes, p.pricePerMiB ?? 0n, periods, stake.collateralBps)
      stakeShort.set(p.peerId, { provider: p.peerId, freeStake: p.freeStake, needed, segmentIndex: s })
    }
  }
  for (let s = 0; s < segments; s++) {
    const plaintext = s < segments - 1 ? segmentSize : fileSize - s * segmentSize
    const bytes = shardSizeFor(plaintext, k)
    const rank = (): ReturnType<typeof rankProviders> => {
      const full = new Set(
        ctx.directory
          .list()
          .filter((p) => (p.freeBytes ?? 0) - (reserved.get(p.peerId) ?? 0) < bytes)
          .map((p) => p.peerId)
      )
      return rankProviders(ctx, bytes, full, load, maxPricePerMiB, stake)
    }
    let ranked = rank()
    if (ranked.length < k + m && s === 0) {
      // As placement does: right after start() the table may still be filling, so wait for announcements once.
      await ctx.directory.waitUntil(() => rank().length >= k + m, d.discoveryTimeoutMs, options.signal)
      ranked = rank()
    }
    if (ranked.length < k + m) {
      noteStakeShort(s, bytes)
      throw new NotEnoughProvidersError(
        k + m,
        ranked.length,
        ` for ${bytes}-byte shards of segment ${s} (registered, dialable, with free space${maxPricePerMiB === undefined ? '' : ', within the price cap'}, with free stake for the collateral` +
          `${stakeShort.size === 0 ? '' : `: ${stakeShort.size} provider(s) lack it`})` +
          ` after waiting ${d.discoveryTimeoutMs} ms for announcements (discoveryTimeoutMs)`
      )
    }
    noteStakeShort(s, bytes)
    ranked.slice(0, k + m).forEach((p, shardIndex) => {
      load.set(p.peerId, (load.get(p.peerId) ?? 0) + 1)
      reserved.set(p.peerId, (reserved.get(p.peerId) ?? 0) + bytes)
      const pricePerMiB = p.pricePerMiB ?? 0n
      const pricePerPeriod = pricePerPeriodFor(bytes, pricePerMiB)
      const collateral = dealCollateral(bytes, pricePerMiB, periods, stake.collateralBps)
      committed.set(p.peerId, (committed.get(p.peerId) ?? 0n) + collateral)
      shards.push({
        segmentIndex: s,
        shardIndex,
        bytes,
        provider: p.peerId,
        chainAddress: p.chainAddress!,
        pricePerMiB,
        escrow: pricePerPeriod * BigInt(periods),
        collateral
      })
    })
  }
  const escrow = shards.reduce((sum, sh) => sum + sh.escrow, 0n)
  const funds = await readFunds(ctx)
  return {
    fileSize,
    segments,
    k,
    m,
    periods,
    shards,
    escrow,
    stakeShort: [...stakeShort.values()],
    ...funds,
    missing: escrow > funds.balance ? escrow - funds.balance : 0n
  }
}

async function readFunds(
  ctx: ChainContext
): Promise<{ token: TokenInfo; balance: bigint; allowance: bigint; gasBalance: bigint }> {
  const token = await marketToken(ctx.market)
  const address = token.address
  const [balance, allowance, gasBalance] = await Promise.all([
    ctx.publicClient.readContract({ address, abi: erc20Abi, functionName: 'balanceOf', args: [ctx.account] }),
    ctx.publicClient.readContract({
      address,
      abi: erc20Abi,
      functionName: 'allowance',
      args: [ctx.account, ctx.market.market]
    }),
    ctx.publicClient.getBalance({ address: ctx.account })
  ])
  return { token, balance, allowance, gasBalance }
}

/** Refuses a put the account cannot pay for, saying how much is missing in tokens (or that it has no gas). */
export function requireFunds(estimate: PutEstimate, account: Address): void {
  if (estimate.missing > 0n)
    throw new InsufficientFundsError(estimate.escrow, estimate.balance, estimate.token.address, (a) =>
      formatTokenAmount(a, estimate.token)
    )
  if (estimate.gasBalance === 0n && estimate.escrow > 0n) throw new InsufficientGasError(account)
}

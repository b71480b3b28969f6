import { logger } from '@libp2p/logger'
import type { ProofSetOffer } from '@sherd/contracts'
import type { Address, Hex } from 'viem'
import { HEDGE_AFTER_MEDIAN_FACTOR, HEDGE_CHECK_MS, MAX_PLACEMENT_ATTEMPTS, RETRY_BACKOFF_MS } from '../constants.js'
import { marketCollateralBps } from '../chain.js'
import { dealCollateral, pricePerPeriodFor, rankProviders } from '../context.js'
import type { ChainContext, StakeCheck } from '../context.js'
import type { KnownProvider } from '../providers.js'
import {
  NotEnoughProvidersError,
  ProviderMisbehaviourError,
  ProviderRequestError,
  ShardPlacementError
} from '../errors.js'
import { sleep } from '@sherd/protocol'
import type { PutProgressEvent } from '../events.js'
import { fetchShard, refusedWith, requestShardOffer, storeShard, streamShard } from '../transfer.js'

const log = logger('sherd:client:place')

/** A shard to place: its position, bytes and Merkle root. */
export interface ShardToPlace {
  readonly segmentIndex: number
  readonly shardIndex: number
  readonly bytes: Uint8Array
  readonly root: Uint8Array
}

/** A shard stored on a provider, with the offer it signed once it held it (the deal is opened later, from the offer). */
export interface PlacedShard {
  readonly segmentIndex: number
  readonly shardIndex: number
  readonly provider: string
  readonly chainAddress: Address
  readonly offer: ProofSetOffer
  readonly signature: Hex
  readonly bytes: number
}

export interface PlaceOptions {
  periods: number
  extraUploads: number
  maxPricePerMiB?: bigint
  signal: AbortSignal
  onProgress?: (event: PutProgressEvent) => void
  /** Shared across segments of one operation: shards given to each provider so far (spreads load). */
  load: Map<string, number>
  /** Shared across segments of one operation: providers that failed outright (not tried again). */
  avoid: Set<string>
  /**
   * Shared across segments of one operation: collateral of the shards given to each provider so far, so no
   * provider is given more than its free stake backs (a call of its own when absent).
   */
  committed?: Map<string, bigint>
  /** Running total of shard bytes stored, for progress events. */
  stored: { bytes: number }
  /** The provider requests placement makes (libp2p unless given: the placement tests give fakes of them). */
  exchange?: ShardExchange
}

/**
 * The requests placing a shard makes of a provider: the upload (whole, or streamed as the encoder produces it),
 * its signed offer for the bytes it holds, and (streamed placement) a fetch to copy a shard to another provider.
 */
export interface ShardExchange {
  storeShard: typeof storeShard
  streamShard: typeof streamShard
  requestShardOffer: typeof requestShardOffer
  fetchShard: typeof fetchShard
}

export const LIBP2P_EXCHANGE: ShardExchange = { storeShard, streamShard, requestShardOffer, fetchShard }

interface Attempt {
  readonly provider: string
  readonly controller: AbortController
  readonly startedAt: number
  readonly hedge: boolean
}

/**
 * Places `shards` (of one segment, or a repair's rebuilt shards) on distinct providers, none of them in
 * `exclude` (providers already holding a shard of the same segment). For each shard: upload it, check the
 * receipt, then ask the provider's signed offer for it (a provider signs only for bytes it holds) and verify it. Uploads run in parallel; a failed one moves to
 * the next-best provider (up to MAX_PLACEMENT_ATTEMPTS); once `extraUploads` or fewer remain and one has run
 * HEDGE_AFTER_MEDIAN_FACTOR × the median of the finished ones, a spare copy is raced on another provider and
 * the slower copy is cancelled as soon as one finishes.
 */
export async function placeShards(
  ctx: ChainContext,
  shards: readonly ShardToPlace[],
  exclude: ReadonlySet<string>,
  options: PlaceOptions
): Promise<PlacedShard[]> {
  if (shards.length === 0) return []
  const taken = new Set(exclude)
  const bytes = shards[0]!.bytes.byteLength
  const committed = options.committed ?? new Map<string, bigint>()
  const stake: StakeCheck = {
    periods: options.periods,
    collateralBps: await marketCollateralBps(ctx.market),
    committed
  }
  const collateralOn = (provider: string): bigint =>
    dealCollateral(bytes, ctx.directory.describe(provider).pricePerMiB ?? 0n, options.periods, stake.collateralBps)
  const rank = (): KnownProvider[] =>
    rankProviders(ctx, bytes, new Set([...taken, ...options.avoid]), options.load, options.maxPricePerMiB, stake)
  let initial = rank()
  if (initial.length < shards.length) {
    // The table may still be filling (a put right after start() on a network still forming): wait for announcements.
    await ctx.directory.waitUntil(() => rank().length >= shards.length, ctx.defaults.discoveryTimeoutMs, options.signal)
    initial = rank()
  }
  if (initial.length < shards.length) {
    throw new NotEnoughProvidersError(
      shards.length,
      initial.length,
      ` for ${bytes}-byte shards of segment ${shards[0]!.segmentIndex} (registered, dialable, with free space` +
        `${options.maxPricePerMiB === undefined ? '' : ', within the price cap'}, with free stake for the collateral${exclude.size === 0 ? '' : `, not among the ${exclude.size} that hold or held its other shards`})` +
        ` after waiting ${ctx.defaults.discoveryTimeoutMs} ms for announcements (discoveryTimeoutMs)`
    )
  }
  // Aborted during the awaits above: the listener below would never hear of it, and the attempts launched on an
  // aborted signal end without settling the placement, so the put would hang instead of stopping.
  options.signal.throwIfAborted()
  const segmentAbort = new AbortController()
  const signal = AbortSignal.any([options.signal, segmentAbort.signal])
  const results: Array<PlacedShard | undefined> = shards.map(() => undefined)
  const running: Attempt[][] = shards.map(() => [])
  const errors: Array<Array<{ provider: string; error: string }>> = shards.map(() => [])
  const tries: number[] = shards.map(() => 0)
  const durations: number[] = []
  let hedges = 0
  let remaining = shards.length
  const { promise, resolve, reject } = Promise.withResolvers<PlacedShard[]>()
  const emit = options.onProgress ?? (() => {})
  const exchange = options.exchange ?? LIBP2P_EXCHANGE

  const nextProvider = (): string | undefined => {
    const [best] = rank()
    if (best === undefined) return undefined
    taken.add(best.peerId)
    return best.peerId
  }

  const launch = (i: number, provider: string, hedge: boolean): void => {
    const shard = shards[i]!
    const attempt: Attempt = { provider, controller: new AbortController(), startedAt: performance.now(), hedge }
    running[i]!.push(attempt)
    tries[i]!++
    options.load.set(provider, (options.load.get(provider) ?? 0) + 1)
    const collateral = collateralOn(provider)
    committed.set(provider, (committed.get(provider) ?? 0n) + collateral)
    const attemptSignal = AbortSignal.any([signal, attempt.controller.signal])
    void (async () => {
      const info = ctx.directory.describe(provider)
      await exchange.storeShard(
        ctx,
        provider,
        {
          root: shard.root,
          bytes: shard.bytes,
          ...(info.chainAddress === undefined ? {} : { expectedSigner: info.chainAddress })
        },
        attemptSignal
      )
      return await exchange.requestShardOffer(
        ctx,
        provider,
        info.chainAddress,
        {
          root: shard.root,
          byteLength: shard.bytes.byteLength,
          periods: options.periods,
          ...(options.maxPricePerMiB === undefined
            ? {}
            : { maxPricePerPeriod: pricePerPeriodFor(shard.bytes.byteLength, options.maxPricePerMiB) })
        },
        attemptSignal
      )
    })().then(
      (offered) => {
        const ms = performance.now() - attempt.startedAt
        ctx.scores.success(provider, { ms, bytes: shard.bytes.byteLength })
        running[i] = running[i]!.filter((a) => a !== attempt)
        if (results[i] !== undefined || signal.aborted) return // a hedge race lost at the finish line
        results[i] = {
          segmentIndex: shard.segmentIndex,
          shardIndex: shard.shardIndex,
          provider,
          chainAddress: offered.offer.provider,
          offer: offered.offer,
          signature: offered.signature,
          bytes: shard.bytes.byteLength
        }
        durations.push(ms)
        ctx.directory.reserve(provider, shard.bytes.byteLength)
        options.stored.bytes += shard.bytes.byteLength
        emit({
          type: 'put:shard-stored',
          segmentIndex: shard.segmentIndex,
          shardIndex: shard.shardIndex,
          provider,
          bytes: shard.bytes.byteLength,
          storedBytes: options.stored.bytes,
          ms
        })
        for (const other of running[i]!) {
          other.controller.abort(new Error('another copy of this shard finished first'))
          emit({
            type: 'put:upload-cancelled',
            segmentIndex: shard.segmentIndex,
            shardIndex: shard.shardIndex,
            provider: other.provider
          })
        }
        running[i] = []
        if (--remaining === 0) resolve(results as PlacedShard[])
      },
      (err: unknown) => {
        running[i] = running[i]!.filter((a) => a !== attempt)
        options.load.set(provider, Math.max(0, (options.load.get(provider) ?? 1) - 1))
        const c = (committed.get(provider) ?? 0n) - collateral
        committed.set(provider, c > 0n ? c : 0n)
        if (attempt.controller.signal.aborted || signal.aborted || results[i] !== undefined) return
        const e = err as Error
        // A provider that refuses an offer its free stake cannot back (our registry read was older than its stake),
        // or a shard because it already holds as many bytes without a deal as it accepts, is honest: its score is
        // left alone, and it is not asked again in this operation.
        const stakeRefusal = refusedWith(e, 'InsufficientStakeError') || refusedWith(e, 'UnclaimedBytesExceededError')
        if (stakeRefusal)
          log('%s refused segment %d shard %d: %s', provider, shard.segmentIndex, shard.shardIndex, e.message)
        else if (e instanceof ProviderMisbehaviourError) ctx.scores.corruption(provider)
        else ctx.scores.failure(provider)
        // A provider that cannot be reached, lies or lacks stake is left out for the rest of the operation; one whose
        // transfer broke off may be retried when no other provider is free.
        const retryable = e instanceof ProviderRequestError && !e.unreachable && !stakeRefusal
        if (!retryable) options.avoid.add(provider)
        errors[i]!.push({ provider, error: e.message })
        log('segment %d shard %d on %s failed: %s', shard.segmentIndex, shard.shardIndex, provider, e.message)
        if (running[i]!.length > 0) {
          emit({
            type: 'put:shard-failed',
            segmentIndex: shard.segmentIndex,
            shardIndex: shard.shardIndex,
            provider,
            error: e.message,
            next: 'waiting-for-other-copy'
          })
          return
        }
        const canRetry = tries[i]! < MAX_PLACEMENT_ATTEMPTS
        const next = canRetry ? (nextProvider() ?? (retryable ? provider : undefined)) : undefined
        emit({
          type: 'put:shard-failed',
          segmentIndex: shard.segmentIndex,
          shardIndex: shard.shardIndex,
          provider,
          error: e.message,
          next: next === undefined ? 'giving-up' : 'retry'
        })
        if (next === undefined) {
          segmentAbort.abort(new Error('placement failed'))
          reject(new ShardPlacementError(shard.segmentIndex, shard.shardIndex, errors[i]!))
          return
        }
        if (next === provider) {
          sleep(RETRY_BACKOFF_MS * tries[i]!, signal).then(
            () => {
              if (results[i] === undefined) launch(i, next, false)
            },
            () => {}
          )
        } else {
          launch(i, next, false)
        }
      }
    )
  }

  shards.forEach((_, i) => {
    const p = initial[i]!.peerId
    taken.add(p)
    launch(i, p, false)
  })

  const hedgeTimer = setInterval(() => {
    if (options.extraUploads <= hedges || durations.length === 0 || remaining > options.extraUploads) return
    const sorted = [...durations].sort((a, b) => a - b)
    const median = sorted[Math.floor(sorted.length / 2)]!
    const now = performance.now()
    for (let i = 0; i < shards.length && hedges < options.extraUploads; i++) {
      const live = running[i]!
      if (results[i] !== undefined || live.length !== 1 || live[0]!.hedge) continue
      if (now - live[0]!.startedAt < HEDGE_AFTER_MEDIAN_FACTOR * median) continue
      const spare = nextProvider()
      if (spare === undefined) return
      hedges++
      emit({
        type: 'put:shard-hedged',
        segmentIndex: shards[i]!.segmentIndex,
        shardIndex: shards[i]!.shardIndex,
        slowProvider: live[0]!.provider,
        provider: spare
      })
      launch(i, spare, true)
    }
  }, HEDGE_CHECK_MS)
  const onAbort = (): void => {
    reject(options.signal.reason)
  }
  options.signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await promise
  } finally {
    clearInterval(hedgeTimer)
    options.signal.removeEventListener('abort', onAbort)
    if (remaining > 0) segmentAbort.abort(new Error('placement stopped'))
  }
}

import { logger } from '@libp2p/logger'
import type { ShardRef } from '@sherd/protocol'
import { bytesEqual, hexOf } from '../bytes.js'
import { MAX_PLACEMENT_ATTEMPTS } from '../constants.js'
import { marketCollateralBps } from '../chain.js'
import { dealCollateral, pricePerPeriodFor, rankProviders } from '../context.js'
import type { ChainContext, StakeCheck } from '../context.js'
import {
  NotEnoughProvidersError,
  ProviderMisbehaviourError,
  ProviderRequestError,
  ShardPlacementError
} from '../errors.js'
import type { EncodedStripe } from '../pipeline/index.js'
import { refusedWith } from '../transfer.js'
import { LIBP2P_EXCHANGE } from './place.js'
import type { PlacedShard, PlaceOptions } from './place.js'

const log = logger('sherd:client:stream-place')

/**
 * Stripes a shard upload may have queued (copied, not yet taken by its stream) while the other uploads keep up.
 * The encoder waits for the slowest of the k + m fastest uploads; an upload further behind than this, while k + m
 * others keep up, is the segment's straggler and is cancelled. 2 stripes (2 MiB per shard at 1 MiB stripes) is
 * enough to ride out a scheduling hiccup without holding more than (k + m + spares) × 3 stripes.
 */
export const LANE_QUEUE_STRIPES = 2

/**
 * Bytes of stripes the uploads of one segment may hold queued, all lanes together: a wide code queues fewer stripes
 * (at 10 + 20 a stripe is 11.25 MiB, so one; at k + m = 192 it is 12 MiB, also one), a narrow one up to
 * LANE_QUEUE_STRIPES (4 + 2: 6 MiB a stripe, 2 queued). What a lane holds is then at most its queue plus
 * the piece its stream is sending, so a put's upload memory stays under ~2 × this plus one stripe at any code.
 */
export const UPLOAD_QUEUE_BYTES = 16 * 2 ** 20

/** Stripes a lane may have queued while it counts as keeping up, for stripes of `stripeBytes` (all shards). */
export function laneQueueStripes(stripeBytes: number): number {
  return Math.max(0, Math.min(LANE_QUEUE_STRIPES, Math.floor(UPLOAD_QUEUE_BYTES / stripeBytes)))
}

/**
 * A streamed upload runs at the encoder's pace (the k + m-th fastest provider, the source, the CPU), so its length
 * in time says nothing about the provider: it is bounded by progress instead. One whose stream has taken no piece
 * for this long while pieces wait for it has stalled and fails.
 */
export const UPLOAD_STALL_MS = 30_000
/** The whole of one streamed upload, as a last bound: the provider's own store timeout (STORE_TIMEOUT_MS of @sherd/node). */
export const STREAMED_UPLOAD_MAX_MS = 10 * 60_000

class Cancelled extends Error {
  override name = 'UploadCancelledError'
}
class StalledUploadError extends Error {
  override name = 'StalledUploadError'
}

/** Waits until `arm`'s callback is called or `signal` aborts, leaving no listener behind. */
async function waitFor(arm: (wake: () => void) => void, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>((resolve) => {
    const wake = (): void => {
      signal.removeEventListener('abort', wake)
      resolve()
    }
    signal.addEventListener('abort', wake, { once: true })
    arm(wake)
  })
}

/** One shard's upload to one provider at a time: the stripes queued for it, and where it stands. */
class Lane {
  readonly queue: Uint8Array[] = []
  ended = false
  /** Its stream has taken a piece: a failure now cannot move it elsewhere (the pieces sent are gone). */
  started = false
  /** A provider that holds the whole shard (stored, root checked) but refused to sign its offer: where to copy it from. */
  heldBy: string | undefined
  state: 'running' | 'finished' | 'failed' | 'cancelled' = 'running'
  provider = ''
  tries = 0
  controller = new AbortController()
  collateral = 0n
  startedAt = 0
  /** When its stream last took a piece, or a piece arrived for an idle queue (ms, performance.now()). */
  lastProgress = 0
  readonly errors: Array<{ provider: string; error: string }> = []
  private wake: (() => void) | undefined

  constructor(
    readonly shardIndex: number,
    private readonly onChange: () => void
  ) {}

  push(piece: Uint8Array, final: boolean): void {
    if (this.queue.length === 0) this.lastProgress = performance.now()
    this.queue.push(piece)
    if (final) this.ended = true
    this.wake?.()
  }

  get live(): boolean {
    return this.state === 'running'
  }

  /** The pieces in order, as the stream asks for them; ends after the final one or when the lane is cancelled. */
  async *pieces(signal: AbortSignal): AsyncGenerator<Uint8Array> {
    this.started = true
    for (;;) {
      signal.throwIfAborted()
      const piece = this.queue.shift()
      if (piece !== undefined) {
        this.lastProgress = performance.now()
        this.onChange()
        yield piece
        continue
      }
      if (this.ended) return
      await waitFor((wake) => {
        this.wake = wake
      }, signal)
      this.wake = undefined
    }
  }
}

export interface SegmentUploadInit {
  readonly segmentIndex: number
  readonly shardSize: number
  /** Shards the encoder produces for this segment (k + m + spares). */
  readonly shards: number
  /** Uploads kept (k + m): once that many finished, the others are cancelled. */
  readonly keep: number
  /** The segment's commitments, once the encoder has finished it. */
  readonly commitments: Promise<readonly ShardRef[]>
}

/**
 * Streams one segment's shards to providers as the encoder produces them (`onStripe`), and keeps the first `keep`
 * uploads that finish (stored, root checked against the client's own, offer signed). Every shard is uploaded
 * without its root (the client has it only after the last stripe); the provider's receipt names the root it
 * computed, and a provider whose root differs from ours is treated as lying (`ProviderMisbehaviourError`, score
 * lowered, not asked again). An upload that fails before its first byte moves to the next-best provider; one that
 * fails later is dropped (the bytes sent are gone), which the spare shards absorb. `done` resolves with the `keep`
 * placed shards or rejects with `ShardPlacementError` when too few uploads are left.
 */
export class SegmentUpload {
  readonly done: Promise<PlacedShard[]>
  private readonly lanes: Lane[]
  private readonly results: PlacedShard[] = []
  private readonly taken = new Set<string>()
  private readonly segmentAbort = new AbortController()
  private readonly signal: AbortSignal
  private readonly resolve: (placed: PlacedShard[]) => void
  private readonly reject: (err: unknown) => void
  private settled = false
  private changed: () => void = () => {}
  private stake!: StakeCheck
  private committed!: Map<string, bigint>

  constructor(
    private readonly ctx: ChainContext,
    private readonly init: SegmentUploadInit,
    private readonly options: PlaceOptions
  ) {
    const { promise, resolve, reject } = Promise.withResolvers<PlacedShard[]>()
    promise.catch(() => {})
    this.done = promise
    this.resolve = resolve
    this.reject = reject
    this.signal = AbortSignal.any([options.signal, this.segmentAbort.signal])
    this.lanes = Array.from(
      { length: init.shards },
      (_, i) =>
        new Lane(i, () => {
          this.changed()
        })
    )
    const watchdog = setInterval(() => {
      const now = performance.now()
      for (const lane of this.lanes) {
        if (lane.live && lane.queue.length > 0 && now - lane.lastProgress > UPLOAD_STALL_MS) {
          lane.controller.abort(
            new StalledUploadError(`the upload to ${lane.provider} took no bytes for ${UPLOAD_STALL_MS} ms`)
          )
        }
      }
    }, 1000)
    watchdog.unref?.()
    void promise
      .finally(() => {
        clearInterval(watchdog)
      })
      .catch(() => {})
  }

  private rank(): ReturnType<typeof rankProviders> {
    return rankProviders(
      this.ctx,
      this.init.shardSize,
      new Set([...this.taken, ...this.options.avoid]),
      this.options.load,
      this.options.maxPricePerMiB,
      this.stake
    )
  }

  /** Picks providers for every shard (waiting for announcements if the table is short) and opens the uploads. */
  async start(): Promise<void> {
    this.committed = this.options.committed ?? new Map<string, bigint>()
    this.stake = {
      periods: this.options.periods,
      collateralBps: await marketCollateralBps(this.ctx.market),
      committed: this.committed
    }
    const wanted = this.lanes.length
    let initial = this.rank()
    if (initial.length < this.init.keep) {
      await this.ctx.directory.waitUntil(
        () => this.rank().length >= wanted,
        this.ctx.defaults.discoveryTimeoutMs,
        this.options.signal
      )
      initial = this.rank()
    }
    if (initial.length < this.init.keep) {
      throw new NotEnoughProvidersError(
        this.init.keep,
        initial.length,
        ` for ${this.init.shardSize}-byte shards of segment ${this.init.segmentIndex} (registered, dialable, with free space` +
          `${this.options.maxPricePerMiB === undefined ? '' : ', within the price cap'}, with free stake for the collateral)` +
          ` after waiting ${this.ctx.defaults.discoveryTimeoutMs} ms for announcements (discoveryTimeoutMs)`
      )
    }
    // Fewer providers than shards: the spares that have none are simply not uploaded.
    for (const lane of this.lanes) {
      const provider = initial[lane.shardIndex]?.peerId
      if (provider === undefined) {
        lane.state = 'cancelled'
        continue
      }
      this.taken.add(provider)
      this.launch(lane, provider)
    }
  }

  /** The encoder's sink for this segment: queues each shard's piece (a copy) and waits while too few uploads keep up. */
  async onStripe(stripe: EncodedStripe): Promise<void> {
    this.signal.throwIfAborted()
    // Lanes keep views into the stripe (freed once the last lane has sent its piece): the encoder's own buffer when
    // it hands it over (`owned`), else one copy for all lanes (the encoder reuses its buffer once this returns).
    // The encoder lays a stripe's pieces out back to back in one buffer; a stripe built otherwise is copied into one.
    const first = stripe.pieces[0]!
    const contiguous = stripe.pieces.every(
      (p, i) =>
        p.buffer === first.buffer &&
        p.byteOffset === first.byteOffset + i * stripe.width &&
        p.byteLength === stripe.width
    )
    let kept: Uint8Array
    if (contiguous) {
      const whole = new Uint8Array(first.buffer, first.byteOffset, stripe.width * stripe.pieces.length)
      kept = stripe.owned ? whole : whole.slice()
    } else {
      kept = new Uint8Array(stripe.width * stripe.pieces.length)
      stripe.pieces.forEach((p, i) => {
        kept.set(p, i * stripe.width)
      })
    }
    for (const lane of this.lanes) {
      if (lane.live)
        lane.push(kept.subarray(lane.shardIndex * stripe.width, (lane.shardIndex + 1) * stripe.width), stripe.final)
    }
    for (;;) {
      if (this.settled) {
        this.signal.throwIfAborted()
        return
      }
      const live = this.lanes.filter((l) => l.live)
      const depth = laneQueueStripes(stripe.width * stripe.pieces.length)
      const keepingUp = live.filter((l) => l.queue.length <= depth)
      const finished = this.results.length
      if (keepingUp.length + finished >= this.init.keep) {
        // Those further behind are not needed to reach k + m: cancel them rather than hold their queues.
        if (live.length + finished > this.init.keep) {
          let spare = live.length + finished - this.init.keep
          for (const lane of live.filter((l) => l.queue.length > depth)) {
            if (spare-- <= 0) break
            this.cancel(lane, 'fell behind the other uploads (straggler)')
          }
        }
        return
      }
      if (live.length + finished < this.init.keep) {
        this.fail(this.lanes.find((l) => l.state === 'failed') ?? this.lanes[0]!)
        this.signal.throwIfAborted()
        return
      }
      await waitFor((wake) => {
        this.changed = wake
      }, this.signal)
      this.changed = () => {}
    }
  }

  private cancel(lane: Lane, why: string): void {
    if (!lane.live) return
    lane.state = 'cancelled'
    lane.queue.length = 0
    lane.controller.abort(new Cancelled(why))
    log('segment %d shard %d on %s cancelled: %s', this.init.segmentIndex, lane.shardIndex, lane.provider, why)
    this.options.onProgress?.({
      type: 'put:upload-cancelled',
      segmentIndex: this.init.segmentIndex,
      shardIndex: lane.shardIndex,
      provider: lane.provider
    })
    this.changed()
  }

  private fail(lane: Lane): void {
    if (this.settled) return
    this.settled = true
    const error = new ShardPlacementError(
      this.init.segmentIndex,
      lane.shardIndex,
      this.lanes.flatMap((l) => l.errors)
    )
    this.segmentAbort.abort(error)
    this.reject(error)
  }

  private launch(lane: Lane, provider: string, copyFrom?: string): void {
    const { ctx, options } = this
    const { segmentIndex, shardSize } = this.init
    lane.provider = provider
    lane.tries++
    lane.controller = new AbortController()
    lane.startedAt = performance.now()
    lane.lastProgress = lane.startedAt
    options.load.set(provider, (options.load.get(provider) ?? 0) + 1)
    lane.collateral = dealCollateral(
      shardSize,
      ctx.directory.describe(provider).pricePerMiB ?? 0n,
      options.periods,
      this.stake.collateralBps
    )
    this.committed.set(provider, (this.committed.get(provider) ?? 0n) + lane.collateral)
    const signal = AbortSignal.any([this.signal, lane.controller.signal])
    const { fetchShard, storeShard, streamShard, requestShardOffer } = options.exchange ?? LIBP2P_EXCHANGE
    void (async () => {
      const info = ctx.directory.describe(provider)
      const expected = info.chainAddress === undefined ? {} : { expectedSigner: info.chainAddress }
      const askOffer = (root: Uint8Array) =>
        requestShardOffer(
          ctx,
          provider,
          info.chainAddress,
          {
            root,
            byteLength: shardSize,
            periods: options.periods,
            ...(options.maxPricePerMiB === undefined
              ? {}
              : { maxPricePerPeriod: pricePerPeriodFor(shardSize, options.maxPricePerMiB) })
          },
          signal
        )
      if (copyFrom !== undefined) {
        // The streamed pieces are gone, but a provider that refused only the offer holds the whole shard: fetch it
        // back (verified against its root) and store it here whole.
        const root = (await this.init.commitments)[lane.shardIndex]!.root
        const bytes = await fetchShard(ctx, copyFrom, root, shardSize, signal)
        await storeShard(ctx, provider, { root, bytes, ...expected }, signal)
        return await askOffer(root)
      }
      const receipt = await streamShard(
        ctx,
        provider,
        {
          byteLength: shardSize,
          pieces: lane.pieces(signal),
          ...expected
        },
        signal,
        STREAMED_UPLOAD_MAX_MS
      )
      const root = (await this.init.commitments)[lane.shardIndex]!.root
      if (receipt !== undefined && !bytesEqual(receipt.receipt.subject, root)) {
        throw new ProviderMisbehaviourError(
          provider,
          `signed a receipt for root ${hexOf(receipt.receipt.subject)}, but the bytes sent hash to ${hexOf(root)}`
        )
      }
      lane.heldBy = provider
      return await askOffer(root)
    })().then(
      (offered) => {
        const ms = performance.now() - lane.startedAt
        ctx.scores.success(provider, { ms, bytes: shardSize })
        if (!lane.live || this.settled) return
        lane.state = 'finished'
        this.results.push({
          segmentIndex,
          shardIndex: lane.shardIndex,
          provider,
          chainAddress: offered.offer.provider,
          offer: offered.offer,
          signature: offered.signature,
          bytes: shardSize
        })
        ctx.directory.reserve(provider, shardSize)
        options.stored.bytes += shardSize
        options.onProgress?.({
          type: 'put:shard-stored',
          segmentIndex,
          shardIndex: lane.shardIndex,
          provider,
          bytes: shardSize,
          storedBytes: options.stored.bytes,
          ms
        })
        if (this.results.length === this.init.keep) {
          this.settled = true
          for (const other of this.lanes)
            this.cancel(other, `${this.init.keep} other uploads of the segment finished first`)
          this.resolve([...this.results].sort((a, b) => a.shardIndex - b.shardIndex))
        }
        this.changed()
      },
      (err: unknown) => {
        options.load.set(provider, Math.max(0, (options.load.get(provider) ?? 1) - 1))
        const c = (this.committed.get(provider) ?? 0n) - lane.collateral
        this.committed.set(provider, c > 0n ? c : 0n)
        if (lane.state === 'cancelled' || this.settled) return
        if (options.signal.aborted) {
          this.settled = true
          this.reject(options.signal.reason)
          return
        }
        const e = err as Error
        const stakeRefusal = refusedWith(e, 'InsufficientStakeError') || refusedWith(e, 'UnclaimedBytesExceededError')
        if (stakeRefusal) log('%s refused segment %d shard %d: %s', provider, segmentIndex, lane.shardIndex, e.message)
        else if (e instanceof ProviderMisbehaviourError) ctx.scores.corruption(provider)
        else ctx.scores.failure(provider)
        const retryable = e instanceof ProviderRequestError && !e.unreachable && !stakeRefusal
        if (!retryable) options.avoid.add(provider)
        lane.errors.push({ provider, error: e.message })
        log('segment %d shard %d on %s failed: %s', segmentIndex, lane.shardIndex, provider, e.message)
        // Nothing of it left the client yet: the same shard can go to another provider. Or it did, but a provider
        // holds it whole (it refused only the offer): copy it from there.
        const copyFrom =
          lane.heldBy !== undefined && lane.heldBy !== provider
            ? lane.heldBy
            : lane.heldBy === provider && stakeRefusal
              ? provider
              : undefined
        const movable = !lane.started || copyFrom !== undefined
        const next = movable && lane.tries < MAX_PLACEMENT_ATTEMPTS ? this.rank()[0]?.peerId : undefined
        options.onProgress?.({
          type: 'put:shard-failed',
          segmentIndex,
          shardIndex: lane.shardIndex,
          provider,
          error: e.message,
          next: next === undefined ? 'giving-up' : 'retry'
        })
        if (next !== undefined) {
          this.taken.add(next)
          this.launch(lane, next, lane.started ? copyFrom : undefined)
          return
        }
        lane.state = 'failed'
        lane.queue.length = 0
        const possible = this.lanes.filter((l) => l.live).length + this.results.length
        if (possible < this.init.keep) this.fail(lane)
        this.changed()
      }
    )
  }

  /** Stops every upload still running (the put failed or was aborted elsewhere). */
  abort(reason: unknown): void {
    if (!this.settled) {
      this.settled = true
      this.reject(reason)
    }
    this.segmentAbort.abort(reason)
  }
}

// placeShards with fakes of what it takes: a provider directory, a market whose only read is collateralBps, and a
// fake provider exchange (upload, then signed offer) per provider that succeeds, fails in a chosen way or hangs.
// Real: ProviderScores and the ranking. No anvil, no libp2p.
import { describe, expect, it } from 'vitest'
import type { ProofSetOffer } from '@sherd/contracts'
import { RemoteError } from '@sherd/protocol'
import type { ShardRef } from '@sherd/protocol'
import type { Address, Hex } from 'viem'
import { placeShards } from '../src/actions/place.js'
import { LANE_QUEUE_STRIPES, SegmentUpload } from '../src/actions/stream-place.js'
import type { PlaceOptions, ShardExchange, ShardToPlace } from '../src/actions/place.js'
import type { ChainContext } from '../src/context.js'
import {
  NotEnoughProvidersError,
  ProviderMisbehaviourError,
  ProviderRequestError,
  ShardPlacementError
} from '../src/errors.js'
import type { PutProgressEvent } from '../src/events.js'
import type { KnownProvider } from '../src/providers.js'
import { ProviderScores } from '../src/scores.js'

const SHARD_BYTES = 64 * 1024
const FREE_BYTES = 16 * SHARD_BYTES
const MARKET: Address = '0x00000000000000000000000000000000000000aa'

type Behaviour =
  | { kind: 'ok' }
  | { kind: 'unreachable' }
  | { kind: 'broken-transfer' }
  | { kind: 'lies' }
  | { kind: 'wrong-receipt' }
  | { kind: 'refuses-stake' }
  | { kind: 'hangs' }

const addressOf = (peerId: string): Address => `0x${Buffer.from(peerId.padEnd(20, '_').slice(0, 20)).toString('hex')}`

/** A network of fake providers: each upload is answered by the provider's behaviour, each call recorded. */
class FakeNetwork {
  readonly providers = new Map<string, KnownProvider>()
  readonly behaviour = new Map<string, Behaviour[]>()
  readonly uploads: Array<{ provider: string; shard: string }> = []
  readonly aborted: string[] = []
  readonly abortReasons: string[] = []
  readonly scores = new ProviderScores()

  add(peerId: string, over: Partial<KnownProvider> = {}, ...behaviour: Behaviour[]): this {
    this.providers.set(peerId, {
      peerId,
      chainAddress: addressOf(peerId),
      addrs: [`/ip4/127.0.0.1/tcp/1/p2p/${peerId}`],
      pricePerMiB: 10n,
      freeBytes: FREE_BYTES,
      registered: true,
      fresh: true,
      score: 0.5,
      ...over
    })
    this.behaviour.set(peerId, behaviour.length === 0 ? [{ kind: 'ok' }] : behaviour)
    return this
  }

  /** The next behaviour of `peerId` (the last one repeats). */
  private next(peerId: string): Behaviour {
    const list = this.behaviour.get(peerId)!
    return list.length > 1 ? list.shift()! : list[0]!
  }

  readonly directory = {
    list: (): KnownProvider[] => [...this.providers.keys()].map((id) => this.directory.describe(id)),
    describe: (peerId: string): KnownProvider => ({ ...this.providers.get(peerId)!, score: this.scores.score(peerId) }),
    reserve: (peerId: string, bytes: number): void => {
      const p = this.providers.get(peerId)!
      this.providers.set(peerId, { ...p, freeBytes: Math.max(0, (p.freeBytes ?? 0) - bytes) })
    },
    waitUntil: async (): Promise<void> => {}
  }

  readonly exchange: ShardExchange = {
    storeShard: async (_ctx, peerId, shard, signal) => {
      const hex = Buffer.from(shard.root).toString('hex')
      this.uploads.push({ provider: peerId, shard: hex })
      const b = this.next(peerId)
      await new Promise((resolve) => setImmediate(resolve))
      switch (b.kind) {
        case 'ok':
        case 'lies':
        case 'wrong-receipt':
        case 'refuses-stake':
          return undefined
        case 'unreachable':
          throw new ProviderRequestError(peerId, 'shard upload', new Error('dial failed'), true)
        case 'broken-transfer':
          throw new ProviderRequestError(peerId, 'shard upload', new Error('stream reset'))
        case 'hangs':
          return await new Promise((_resolve, reject) => {
            signal?.addEventListener(
              'abort',
              () => {
                this.aborted.push(peerId)
                this.abortReasons.push(String(signal.reason?.message))
                reject(signal.reason)
              },
              { once: true }
            )
          })
      }
    },
    // A streamed upload: the provider hashes what arrives and signs the root it computed (here: first byte + 1).
    streamShard: async (_ctx, peerId, upload, signal) => {
      this.uploads.push({ provider: peerId, shard: 'streamed' })
      const b = this.next(peerId)
      if (b.kind === 'unreachable')
        throw new ProviderRequestError(peerId, 'shard upload', new Error('dial failed'), true)
      if (b.kind === 'hangs') {
        return await new Promise((_resolve, reject) => {
          signal?.addEventListener(
            'abort',
            () => {
              this.aborted.push(peerId)
              this.abortReasons.push(String(signal.reason?.message))
              reject(signal.reason)
            },
            { once: true }
          )
        })
      }
      let first: number | undefined
      let received = 0
      for await (const piece of upload.pieces) {
        first ??= piece[0]
        received += piece.byteLength
      }
      if (received !== upload.byteLength) throw new Error(`fake provider got ${received} of ${upload.byteLength} bytes`)
      const subject = new Uint8Array(32).fill(b.kind === 'wrong-receipt' ? 0xee : first! + 1)
      return { receipt: { subject } } as unknown as Awaited<ReturnType<ShardExchange['streamShard']>>
    },
    fetchShard: async () => {
      throw new Error('no copy between providers in these tests')
    },
    requestShardOffer: async (ctx, peerId, expected, ask) => {
      const b = this.behaviour.get(peerId)!.at(0)!
      if (b.kind === 'lies') throw new ProviderMisbehaviourError(peerId, 'signed an offer for another root')
      if (b.kind === 'refuses-stake')
        throw new ProviderRequestError(
          peerId,
          'offer request',
          new RemoteError('InsufficientStakeError', 'free stake too low')
        )
      const offer: ProofSetOffer = {
        provider: expected!,
        client: ctx.client,
        root: `0x${Buffer.from(ask.root).toString('hex')}`,
        size: BigInt(ask.byteLength),
        pricePerPeriod: 1n,
        periods: ask.periods,
        nonce: 1n,
        expiry: 1n
      }
      return { offer, signature: '0x01' as Hex, hash: '0x02' as Hex }
    }
  }

  context(discoveryTimeoutMs = 0): ChainContext {
    // The market's one read here is collateralBps (what a deal locks from the provider's stake).
    const publicClient = {
      readContract: async ({ functionName }: { functionName: string }): Promise<bigint> =>
        functionName === 'collateralBps' ? 5_000n : 1n
    }
    return {
      directory: this.directory,
      scores: this.scores,
      defaults: { discoveryTimeoutMs },
      market: { market: MARKET, publicClient },
      marketAddress: MARKET,
      chainId: 31337,
      client: addressOf('client'),
      account: addressOf('client')
    } as unknown as ChainContext
  }
}

function shards(count: number, segmentIndex = 0): ShardToPlace[] {
  return Array.from({ length: count }, (_, shardIndex) => ({
    segmentIndex,
    shardIndex,
    bytes: new Uint8Array(SHARD_BYTES).fill(shardIndex),
    root: new Uint8Array(32).fill(shardIndex + 1)
  }))
}

function options(net: FakeNetwork, over: Partial<PlaceOptions> = {}): PlaceOptions & { events: PutProgressEvent[] } {
  const events: PutProgressEvent[] = []
  return {
    periods: 4,
    extraUploads: 0,
    signal: new AbortController().signal,
    load: new Map(),
    avoid: new Set(),
    stored: { bytes: 0 },
    exchange: net.exchange,
    onProgress: (e) => {
      events.push(e)
    },
    events,
    ...over
  }
}

describe('placeShards (fake providers)', () => {
  it('puts each shard on a distinct provider, best-ranked first, none excluded, and records what it gave each', async () => {
    const net = new FakeNetwork()
      .add('cheap', { pricePerMiB: 1n })
      .add('mid', { pricePerMiB: 5n })
      .add('dear', { pricePerMiB: 50n })
      .add('held')
    const opts = options(net)
    const placed = await placeShards(net.context(), shards(2), new Set(['held']), opts)
    expect(placed.map((p) => [p.shardIndex, p.provider])).toEqual([
      [0, 'cheap'],
      [1, 'mid']
    ])
    expect(
      placed.every(
        (p) =>
          p.chainAddress === addressOf(p.provider) && p.offer.size === BigInt(SHARD_BYTES) && p.bytes === SHARD_BYTES
      )
    ).toBe(true)
    expect(net.uploads.map((u) => u.provider).sort()).toEqual(['cheap', 'mid'])
    expect(Object.fromEntries(opts.load)).toEqual({ cheap: 1, mid: 1 })
    expect(opts.stored.bytes).toBe(2 * SHARD_BYTES)
    expect(net.providers.get('cheap')!.freeBytes).toBe(FREE_BYTES - SHARD_BYTES)
    expect(net.scores.record('cheap').successes).toBe(1)
    expect(opts.events.filter((e) => e.type === 'put:shard-stored')).toHaveLength(2)
  })

  it('stops with the abort’s reason when aborted while it reads the market, before any upload, instead of hanging', async () => {
    const net = new FakeNetwork().add('a').add('b')
    const controller = new AbortController()
    const ctx = net.context()
    const read = ctx.market.publicClient.readContract.bind(ctx.market.publicClient)
    // The abort lands during placement's first await (a Ctrl-C while it reads collateralBps).
    ;(ctx.market.publicClient as { readContract: unknown }).readContract = async (args: never) => {
      controller.abort(new Error('stopped by the user'))
      return await read(args)
    }
    const placing = placeShards(ctx, shards(2), new Set(), options(net, { signal: controller.signal }))
    const outcome = await Promise.race([
      placing.then(
        () => 'placed',
        (err: Error) => err.message
      ),
      new Promise((resolve) => setTimeout(() => resolve('still running after 5 s'), 5_000))
    ])
    expect(outcome).toBe('stopped by the user')
    expect(net.uploads).toEqual([])
  })

  it('moves a shard whose provider is unreachable to the next-best one, scores the failure and leaves that provider out', async () => {
    const net = new FakeNetwork()
      .add('down', { pricePerMiB: 1n }, { kind: 'unreachable' })
      .add('a', { pricePerMiB: 5n })
      .add('b', { pricePerMiB: 6n })
    const opts = options(net)
    const placed = await placeShards(net.context(), shards(2), new Set(), opts)
    expect(placed.map((p) => p.provider).sort()).toEqual(['a', 'b'])
    expect(net.scores.record('down').failures).toBe(1)
    expect(opts.avoid.has('down')).toBe(true)
    expect(opts.load.get('down')).toBe(0)
    expect(opts.events).toContainEqual(
      expect.objectContaining({ type: 'put:shard-failed', provider: 'down', next: 'retry' })
    )
  })

  it('counts a lying provider as corrupt and an honest stake refusal as neither failure nor corruption; both are left out', async () => {
    const net = new FakeNetwork()
      .add('liar', { pricePerMiB: 1n }, { kind: 'lies' })
      .add('poor', { pricePerMiB: 2n }, { kind: 'refuses-stake' })
      .add('a', { pricePerMiB: 5n })
      .add('b', { pricePerMiB: 6n })
    const opts = options(net)
    const placed = await placeShards(net.context(), shards(2), new Set(), opts)
    expect(placed.map((p) => p.provider).sort()).toEqual(['a', 'b'])
    expect(net.scores.record('liar')).toMatchObject({ corrupt: 1, failures: 0 })
    expect(net.scores.record('poor')).toMatchObject({ corrupt: 0, failures: 0 })
    expect([...opts.avoid].sort()).toEqual(['liar', 'poor'])
  })

  it('retries a broken transfer on the same provider when no other is free, and gives up after the attempt limit', async () => {
    const net = new FakeNetwork().add('flaky', {}, { kind: 'broken-transfer' }, { kind: 'ok' })
    const placed = await placeShards(net.context(), shards(1), new Set(), options(net))
    expect(placed.map((p) => p.provider)).toEqual(['flaky'])
    expect(net.uploads.map((u) => u.provider)).toEqual(['flaky', 'flaky'])

    const broken = new FakeNetwork().add('broken', {}, { kind: 'broken-transfer' })
    const err = await placeShards(broken.context(), shards(1), new Set(), options(broken)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ShardPlacementError)
    expect((err as ShardPlacementError).attempts).toHaveLength(4)
    expect(broken.uploads).toHaveLength(4)
  }, 30_000)

  it('refuses with NotEnoughProvidersError before uploading when fewer usable providers than shards are known', async () => {
    const net = new FakeNetwork()
      .add('a')
      .add('full', { freeBytes: SHARD_BYTES - 1 })
      .add('b')
    const err = await placeShards(net.context(), shards(3), new Set(), options(net)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotEnoughProvidersError)
    expect(err).toMatchObject({ needed: 3, available: 2 })
    expect(net.uploads).toEqual([])
  })

  it('leaves out a provider whose free stake cannot back one more deal in this operation', async () => {
    // 64 KiB at 10 per MiB: 1 per period, × 4 periods × 50 % = 2 of collateral per shard.
    const net = new FakeNetwork()
      .add('thin', { pricePerMiB: 10n, freeStake: 2n })
      .add('a', { pricePerMiB: 20n })
      .add('b', { pricePerMiB: 20n })
    const opts = options(net, { committed: new Map([['thin', 1n]]) })
    const placed = await placeShards(net.context(), shards(2), new Set(), opts)
    expect(placed.map((p) => p.provider).sort()).toEqual(['a', 'b'])
    expect(net.uploads.some((u) => u.provider === 'thin')).toBe(false)
  })

  it('races a spare copy of the last shard whose upload hangs, keeps the first to finish and cancels the other', async () => {
    const net = new FakeNetwork()
      .add('a', { pricePerMiB: 1n })
      .add('b', { pricePerMiB: 1n })
      .add('slow', { pricePerMiB: 1n }, { kind: 'hangs' })
      .add('spare', { pricePerMiB: 9n })
    const opts = options(net, { extraUploads: 1 })
    const placed = await placeShards(net.context(), shards(3), new Set(), opts)
    expect(placed.map((p) => p.provider).sort()).toEqual(['a', 'b', 'spare'])
    expect(net.aborted).toEqual(['slow'])
    expect(opts.events).toContainEqual(
      expect.objectContaining({ type: 'put:shard-hedged', slowProvider: 'slow', provider: 'spare' })
    )
    expect(opts.events).toContainEqual(expect.objectContaining({ type: 'put:upload-cancelled', provider: 'slow' }))
  }, 30_000)
})

const STRIPE_WIDTH = 16 * 1024
const STRIPES = SHARD_BYTES / STRIPE_WIDTH

/** Streams one segment of `count` shards (shard i all bytes i, root all i + 1) through a SegmentUpload keeping `keep`. */
async function streamSegment(
  net: FakeNetwork,
  count: number,
  keep: number,
  opts: PlaceOptions
): Promise<PromiseSettledResult<Awaited<SegmentUpload['done']>>> {
  // SegmentUpload reads only each commitment's root.
  const commitments = Promise.resolve(
    Array.from({ length: count }, (_, i) => ({
      root: new Uint8Array(32).fill(i + 1),
      byteLength: SHARD_BYTES
    })) as unknown as ShardRef[]
  )
  const upload = new SegmentUpload(
    net.context(),
    { segmentIndex: 0, shardSize: SHARD_BYTES, shards: count, keep, commitments },
    opts
  )
  await upload.start()
  try {
    for (let s = 0; s < STRIPES; s++) {
      await upload.onStripe({
        segmentIndex: 0,
        stripeIndex: s,
        shardOffset: s * STRIPE_WIDTH,
        width: STRIPE_WIDTH,
        final: s === STRIPES - 1,
        pieces: Array.from({ length: count }, (_, i) => new Uint8Array(STRIPE_WIDTH).fill(i))
      } as unknown as Parameters<SegmentUpload['onStripe']>[0])
    }
  } catch {}
  const [result] = await Promise.allSettled([upload.done])
  return result
}

describe('SegmentUpload (streamed placement, fake providers)', () => {
  it('streams every shard to a distinct provider, keeps the first `keep` to finish and cancels the spare', async () => {
    const net = new FakeNetwork().add('a').add('b').add('c')
    const opts = options(net)
    const result = await streamSegment(net, 3, 2, opts)
    expect(result.status).toBe('fulfilled')
    const placed = (result as PromiseFulfilledResult<Awaited<SegmentUpload['done']>>).value
    expect(placed).toHaveLength(2)
    expect(new Set(placed.map((p) => p.provider)).size).toBe(2)
    expect(placed.map((p) => p.shardIndex)).toEqual([...placed.map((p) => p.shardIndex)].sort((x, y) => x - y))
    expect(opts.events.filter((e) => e.type === 'put:upload-cancelled')).toHaveLength(1)
    expect(opts.stored.bytes).toBe(2 * SHARD_BYTES)
  })

  it('moves an upload that fails before its first byte to the next-best provider', async () => {
    const net = new FakeNetwork()
      .add('down', { pricePerMiB: 1n }, { kind: 'unreachable' })
      .add('a', { pricePerMiB: 2n })
      .add('next', { pricePerMiB: 9n })
    const opts = options(net)
    const result = await streamSegment(net, 2, 2, opts)
    expect(result.status).toBe('fulfilled')
    expect(
      (result as PromiseFulfilledResult<Awaited<SegmentUpload['done']>>).value.map((p) => p.provider).sort()
    ).toEqual(['a', 'next'])
    expect(net.scores.record('down').failures).toBe(1)
    expect(opts.avoid.has('down')).toBe(true)
  })

  it('treats a receipt for a root other than the bytes sent as a lie: corruption scored, the spare shard absorbs it', async () => {
    // Its offer would be fine: only the receipt's root gives it away.
    const net = new FakeNetwork()
      .add('liar', { pricePerMiB: 1n }, { kind: 'wrong-receipt' })
      .add('a', { pricePerMiB: 2n })
      .add('b', { pricePerMiB: 3n })
    const opts = options(net)
    const result = await streamSegment(net, 3, 2, opts)
    expect(result.status).toBe('fulfilled')
    expect(
      (result as PromiseFulfilledResult<Awaited<SegmentUpload['done']>>).value.map((p) => p.provider).sort()
    ).toEqual(['a', 'b'])
    expect(net.scores.record('liar').corrupt).toBe(1)
    expect(opts.avoid.has('liar')).toBe(true)
  })

  it(`cancels an upload more than ${LANE_QUEUE_STRIPES} stripes behind while enough others keep up, instead of waiting for it`, async () => {
    const net = new FakeNetwork()
      .add('stuck', { pricePerMiB: 1n }, { kind: 'hangs' })
      .add('a', { pricePerMiB: 2n })
      .add('b', { pricePerMiB: 3n })
    const opts = options(net)
    const result = await streamSegment(net, 3, 2, opts)
    expect(result.status).toBe('fulfilled')
    expect(
      (result as PromiseFulfilledResult<Awaited<SegmentUpload['done']>>).value.map((p) => p.provider).sort()
    ).toEqual(['a', 'b'])
    expect(net.aborted).toEqual(['stuck'])
    expect(net.abortReasons).toEqual([expect.stringContaining('straggler')])
    // Cancelled while the stripes were still coming, before any upload could finish.
    const cancelledAt = opts.events.findIndex((e) => e.type === 'put:upload-cancelled' && e.provider === 'stuck')
    expect(cancelledAt).toBeGreaterThanOrEqual(0)
    expect(cancelledAt).toBeLessThan(opts.events.findIndex((e) => e.type === 'put:shard-stored'))
  })

  it('fails with ShardPlacementError once too few uploads are left to reach `keep`', async () => {
    const net = new FakeNetwork().add('liar1', {}, { kind: 'lies' }).add('liar2', {}, { kind: 'lies' }).add('a')
    const result = await streamSegment(net, 3, 2, options(net))
    expect(result.status).toBe('rejected')
    expect((result as PromiseRejectedResult).reason).toBeInstanceOf(ShardPlacementError)
  })
})

// rankProviders with a fake provider directory (the one part of the client context it reads): who is usable for a
// shard, and in which order placement tries them.
import { describe, expect, it } from 'vitest'
import { dealCollateral, rankProviders } from '../src/context.js'
import type { ClientContext, StakeCheck } from '../src/context.js'
import type { KnownProvider } from '../src/providers.js'

const BYTES = 4 * 2 ** 20

function provider(peerId: string, over: Partial<KnownProvider> = {}): KnownProvider {
  return {
    peerId,
    chainAddress: `0x${'0'.repeat(39)}${peerId.length % 10}`,
    addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${peerId}`],
    pricePerMiB: 10n,
    freeBytes: 64 * 2 ** 20,
    registered: true,
    fresh: true,
    score: 0.5,
    ...over
  }
}

/** A client context whose directory lists `providers` (rankProviders reads nothing else). */
function contextOf(providers: KnownProvider[]): ClientContext {
  const directory = { list: (): KnownProvider[] => providers.map((p) => ({ ...p })) }
  return { directory } as unknown as ClientContext
}

const ids = (list: readonly KnownProvider[]): string[] => list.map((p) => p.peerId)
const noLoad = new Map<string, number>()

describe('rankProviders', () => {
  it('keeps only providers registered, dialable, with a chain address and room for the shard, not excluded, within the price cap', () => {
    const ctx = contextOf([
      provider('good'),
      provider('unregistered', { registered: false }),
      provider('no-addrs', { addrs: [] }),
      provider('no-chain-address', { chainAddress: undefined }),
      provider('excluded'),
      provider('full', { freeBytes: BYTES - 1 }),
      provider('never-announced', { freeBytes: undefined }),
      provider('exactly-room', { freeBytes: BYTES }),
      provider('too-dear', { pricePerMiB: 11n })
    ])
    expect(ids(rankProviders(ctx, BYTES, new Set(['excluded']), noLoad, 10n)).sort()).toEqual(['exactly-room', 'good'])
    // Without a cap the dear one is usable (last: it is the dearest).
    expect(ids(rankProviders(ctx, BYTES, new Set(['excluded']), noLoad))).toEqual(['good', 'exactly-room', 'too-dear'])
  })

  it('with a stake check, leaves out a provider whose free stake, less what this operation gave it, cannot back the collateral, or whose term limit is too short', () => {
    const stake: StakeCheck = { periods: 6, collateralBps: 5_000n, committed: new Map([['committed', 1n]]) }
    const needed = dealCollateral(BYTES, 10n, 6, 5_000n)
    expect(needed).toBe(120n) // 4 MiB × 10 per MiB = 40 per period, × 6 periods × 50 %
    const ctx = contextOf([
      provider('backs', { freeStake: needed }),
      provider('short', { freeStake: needed - 1n }),
      provider('committed', { freeStake: needed }),
      provider('unknown-stake'),
      provider('short-term', { freeStake: 10n ** 18n, maxTermPeriods: 5 }),
      provider('term-fits', { freeStake: 10n ** 18n, maxTermPeriods: 6 })
    ])
    expect(ids(rankProviders(ctx, BYTES, new Set(), noLoad, undefined, stake)).sort()).toEqual([
      'backs',
      'term-fits',
      'unknown-stake'
    ])
    // The stake check is what filters them: without it all six are usable.
    expect(rankProviders(ctx, BYTES, new Set(), noLoad)).toHaveLength(6)
  })

  it('orders by score × price factor (cheapest = 1) × freshness (stale halves) ÷ (1 + 0.1 × shards already given)', () => {
    // rank: cheap 0.5 × 1 = 0.5; trusted 0.9 × (10+1)/(20+1) ≈ 0.471; stale 0.9 × 1 × 0.5 = 0.45;
    // loaded 0.6 × 1 ÷ 1.3 ≈ 0.462; poor 0.2 × 1 = 0.2.
    const ctx = contextOf([
      provider('poor', { score: 0.2 }),
      provider('stale', { score: 0.9, fresh: false }),
      provider('trusted', { score: 0.9, pricePerMiB: 20n }),
      provider('loaded', { score: 0.6 }),
      provider('cheap', { score: 0.5 })
    ])
    const load = new Map([['loaded', 3]])
    expect(ids(rankProviders(ctx, BYTES, new Set(), load))).toEqual(['cheap', 'trusted', 'loaded', 'stale', 'poor'])
    // With no load on it, 'loaded' (0.6) leads.
    expect(ids(rankProviders(ctx, BYTES, new Set(), noLoad))[0]).toBe('loaded')
  })

  it('spreads a put: each shard given to the leader lowers it until another leads', () => {
    // a: 0.54, then 0.54 / 1.1 ≈ 0.491 (b leads with 0.5), then b 0.5 / 1.1 ≈ 0.455 (a leads), then a 0.54 / 1.2 = 0.45.
    const ctx = contextOf([provider('a', { score: 0.54 }), provider('b', { score: 0.5 })])
    const load = new Map<string, number>()
    const picks: string[] = []
    for (let i = 0; i < 4; i++) {
      const [best] = rankProviders(ctx, BYTES, new Set(), load)
      picks.push(best!.peerId)
      load.set(best!.peerId, (load.get(best!.peerId) ?? 0) + 1)
    }
    expect(picks).toEqual(['a', 'b', 'a', 'b'])
  })

  it('returns nothing when no provider is usable', () => {
    expect(rankProviders(contextOf([]), BYTES, new Set(), noLoad)).toEqual([])
    expect(rankProviders(contextOf([provider('full', { freeBytes: 0 })]), BYTES, new Set(), noLoad)).toEqual([])
  })
})

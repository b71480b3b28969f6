import type { MarketClient } from '@sherd/contracts'
import type { Account, Address, Chain, PublicClient, Transport, WalletClient } from 'viem'
import { ClientConfigError, ClientNotStartedError } from './errors.js'
import type { ClientHost } from './host.js'
import type { ManifestCache } from './manifest-cache.js'
import type { KnownProvider, ProviderDirectory } from './providers.js'
import type { PutJournal } from './journal.js'
import type { ProviderScores } from './scores.js'

/** Defaults a client applies to every put (each overridable per call). */
export interface ClientDefaults {
  k?: number
  m?: number
  segmentSize?: number
  periods: number
  extraUploads: number
  manifestReplicas: number
  waitForActivation: boolean
  activationTimeoutMs: number
  maxPricePerMiB?: bigint
  pollingIntervalMs: number
  /** How long a put or repair waits for enough providers to be known before NotEnoughProvidersError. */
  discoveryTimeoutMs: number
}

/** Everything the actions share; built by `createClient` and filled in by `start()`. */
export interface ClientContext {
  host: ClientHost
  directory: ProviderDirectory
  scores: ProviderScores
  defaults: ClientDefaults
  /** Where puts record their keys, offers and deals before spending (none: in memory only). */
  journal?: PutJournal
  publicClient?: PublicClient
  walletClient?: WalletClient<Transport, Chain | undefined, Account>
  market?: MarketClient
  chainId?: number
  /** The client's chain address (pays escrow, opens deals). */
  account?: Address
  /** Sealed manifests kept locally (read before asking providers, written on every put, repair and fetch). */
  manifestCache?: ManifestCache
}

/** The context once the client runs. */
export function running(ctx: ClientContext | undefined): ClientContext {
  if (ctx === undefined) throw new ClientNotStartedError()
  return ctx
}

export interface ChainContext extends ClientContext {
  marketAddress: Address
  market: MarketClient & { walletClient: WalletClient<Transport, Chain | undefined, Account> }
  publicClient: PublicClient
  walletClient: WalletClient<Transport, Chain | undefined, Account>
  chainId: number
  account: Address
  client: Address
}

/** The context of an action that sends transactions (put, repair, extend, delete). */
export function withChain(ctx: ClientContext, action: string): ChainContext {
  if (ctx.market === undefined || ctx.publicClient === undefined || ctx.chainId === undefined) {
    throw new ClientConfigError(
      `${action} needs the chain: pass rpcUrl (or publicClient) and contract (the market address)`
    )
  }
  if (ctx.walletClient === undefined || ctx.account === undefined) {
    throw new ClientConfigError(
      `${action} sends transactions: pass account (a private key) or a walletClient with an account`
    )
  }
  return {
    ...ctx,
    market: { ...ctx.market, walletClient: ctx.walletClient },
    marketAddress: ctx.market.market,
    publicClient: ctx.publicClient,
    walletClient: ctx.walletClient,
    chainId: ctx.chainId,
    account: ctx.account,
    client: ctx.account
  } as ChainContext
}

const MIB = 2n ** 20n
const BPS = 10_000n

/** A shard's price per period at `pricePerMiB`: its MiB rounded up, as providers price their offers. */
export function pricePerPeriodFor(bytes: number, pricePerMiB: bigint): bigint {
  return (BigInt(bytes) * pricePerMiB + MIB - 1n) / MIB
}

/** What the market locks from a provider's stake for one deal: its escrow × collateralBps / 10,000 (as the contract rounds). */
export function dealCollateral(bytes: number, pricePerMiB: bigint, periods: number, collateralBps: bigint): bigint {
  return (pricePerPeriodFor(bytes, pricePerMiB) * BigInt(periods) * collateralBps) / BPS
}

/**
 * What one operation asks of each provider's stake. The registry's free stake (stake − lockedStake) must back the
 * collateral of every shard the operation gives the provider, or the provider refuses the offer
 * (InsufficientStakeError) and the shard's upload is wasted.
 */
export interface StakeCheck {
  readonly periods: number
  readonly collateralBps: bigint
  /** Collateral of the shards already given to each provider in this operation (peer id → base units). */
  readonly committed: ReadonlyMap<string, bigint>
}

/** True when `p`'s free stake, less what this operation already gave it, backs one more deal of `bytes`. */
export function stakeBacks(p: KnownProvider, bytes: number, stake: StakeCheck): boolean {
  if (p.freeStake === undefined) return true
  const needed = dealCollateral(bytes, p.pricePerMiB ?? 0n, stake.periods, stake.collateralBps)
  return p.freeStake - (stake.committed.get(p.peerId) ?? 0n) >= needed
}

/** True unless `p`'s term limit (maxTermPeriods on chain) is shorter than `periods`: the market would refuse the deal. */
export function termFits(p: KnownProvider, periods: number): boolean {
  return p.maxTermPeriods === undefined || p.maxTermPeriods >= periods
}

/**
 * Providers able to take a shard of `bytes`, best first. Usable: registered on the market, dialable, enough free
 * space, within the price cap, enough free stake for the deal's collateral and a term limit at least the deal's
 * term (when `stake` is given), not excluded. Rank = score × price factor (cheapest = 1) × freshness (an
 * announcement in the last 90 s counts fully, an older one half) ÷ (1 + 0.1 × shards already given to it in this
 * operation, so a put spreads over the providers it has).
 */
export function rankProviders(
  ctx: ClientContext,
  bytes: number,
  exclude: ReadonlySet<string>,
  load: ReadonlyMap<string, number>,
  maxPricePerMiB?: bigint,
  stake?: StakeCheck
): KnownProvider[] {
  const usable = ctx.directory
    .list()
    .filter(
      (p) =>
        p.registered &&
        p.addrs.length > 0 &&
        p.chainAddress !== undefined &&
        !exclude.has(p.peerId) &&
        (p.freeBytes ?? 0) >= bytes &&
        (maxPricePerMiB === undefined || (p.pricePerMiB ?? 0n) <= maxPricePerMiB) &&
        (stake === undefined || (stakeBacks(p, bytes, stake) && termFits(p, stake.periods)))
    )
  if (usable.length === 0) return []
  const minPrice = usable.reduce(
    (min, p) => ((p.pricePerMiB ?? 0n) < min ? (p.pricePerMiB ?? 0n) : min),
    usable[0]!.pricePerMiB ?? 0n
  )
  const rank = (p: KnownProvider): number => {
    const priceFactor = Number(minPrice + 1n) / Number((p.pricePerMiB ?? 0n) + 1n)
    return (p.score * priceFactor * (p.fresh ? 1 : 0.5)) / (1 + 0.1 * (load.get(p.peerId) ?? 0))
  }
  return usable
    .map((p) => ({ p, r: rank(p) }))
    .sort((a, b) => b.r - a.r)
    .map((x) => x.p)
}

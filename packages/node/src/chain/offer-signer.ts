import { getProofSetParams, getProofSetProvider, proofSetMarketAbi, signProofSetOffer } from '@sherd/contracts'
import type { MarketClient, ProofSetOffer, TokenInfo } from '@sherd/contracts'
import { offerToWire } from '@sherd/protocol'
import type { OfferRequest } from '@sherd/protocol'
import type { Address } from 'viem'
import { tokens } from './amounts.js'
import {
  InsufficientStakeError,
  NotAcceptingOffersError,
  NotFoundError,
  ShardSizeMismatchError,
  TermTooLongError,
  UnknownShardError
} from '../errors.js'
import type { OfferSigner } from '../network/shard-service.js'
import type { ShardStore } from '../storage/store.js'
import { hex } from '../storage/store.js'

/** Offers stay valid this long: enough for a client to open the deal, short enough to re-price. */
export const OFFER_TTL_SECONDS = 3600
/** Nonces are handed out in blocks of this many, the block recorded before its first nonce is used (one bitmap word on chain). */
export const NONCE_BLOCK = 256n
const MIB = 1024n * 1024n

/** What the nonce counter needs of a LevelDB sublevel (JSON values). */
export interface NonceDb {
  get: (key: string) => Promise<unknown>
  put: (key: string, value: unknown, options?: { sync?: boolean }) => Promise<void>
}

/**
 * Sequential offer nonces that survive restarts: ProofSetMarket keeps used nonces in a bitmap, so consecutive ones
 * share a storage slot and make openings cheaper than random ones. Before a block of NONCE_BLOCK nonces is used its
 * end is written (synced); after a crash the counter resumes past it, so no nonce is signed twice.
 */
export class SequentialNonces {
  private next: bigint | undefined
  private reservedUntil = 0n
  private queue: Promise<unknown> = Promise.resolve()

  constructor(private readonly db: () => NonceDb) {}

  async take(): Promise<bigint> {
    const taken = this.queue.then(async () => {
      if (this.next === undefined) {
        const stored = (await this.db().get('next')) as string | undefined
        this.next = stored === undefined ? 0n : BigInt(stored)
        this.reservedUntil = this.next
      }
      if (this.next >= this.reservedUntil) {
        this.reservedUntil = this.next + NONCE_BLOCK
        await this.db().put('next', this.reservedUntil.toString(), { sync: true })
      }
      return this.next++
    })
    this.queue = taken.catch(() => {})
    return await taken
  }
}

export interface OfferSignerInit {
  /** Token base units per MiB per period. */
  pricePerMiB: bigint
  /** Longest term signed (the provider's consent on chain, `maxTermPeriods`); undefined: any. */
  maxTermPeriods?: () => number | undefined
  ttlSeconds?: number
  /** False while the provider is leaving the market: no new offers. */
  accepting?: () => boolean | Promise<boolean>
}

export interface OfferSignerComponents {
  /** ProofSetMarket with the provider's wallet. */
  mc: MarketClient
  address: Address
  chainId: number
  token: TokenInfo
  store: Pick<ShardStore, 'getInfo' | 'noteOffered'>
  nonces: Pick<SequentialNonces, 'take'>
}

/**
 * Signs ProofSetMarket offers, only for a shard the store holds whole and verified (its metadata is written only
 * after the bytes hashed to the root) with exactly the requested byte length: a client can then open a deal on a
 * root only when the provider has its bytes. Price per period = ceil(size × pricePerMiB / MiB), a sequential nonce,
 * expiry `ttlSeconds` ahead. Refuses when the free stake cannot back the collateral of this offer plus the offers
 * signed and not yet opened or expired (InsufficientStakeError): a client asks for all of a put's offers before it
 * opens any, and without the count a burst of offers would promise more stake than there is.
 */
export function proofSetOfferSigner(components: OfferSignerComponents, init: OfferSignerInit): OfferSigner {
  const { mc, address, store, token } = components
  const promised = new Map<bigint, { collateral: bigint; expiry: bigint }>()
  let collateralBps: bigint | undefined
  // One offer at a time: the stake check and the promise it makes must not interleave with another's.
  let queue: Promise<unknown> = Promise.resolve()

  async function reserveStake(nonce: bigint, collateral: bigint, expiry: bigint): Promise<void> {
    const info = await getProofSetProvider(mc, address)
    const free = info.stake > info.locked ? info.stake - info.locked : 0n
    const now = BigInt(Math.floor(Date.now() / 1000))
    let pending = 0n
    for (const [n, o] of promised) {
      if (o.expiry < now) promised.delete(n)
      else pending += o.collateral
    }
    if (collateral + pending > free) {
      // Offers already opened are in `locked` now: ask the chain which ones, once, before refusing.
      for (const n of [...promised.keys()]) {
        const used = await mc.publicClient.readContract({
          address: mc.market,
          abi: proofSetMarketAbi,
          functionName: 'nonceUsed',
          args: [address, n]
        })
        if (used) {
          pending -= promised.get(n)!.collateral
          promised.delete(n)
        }
      }
    }
    if (collateral + pending > free) {
      throw new InsufficientStakeError(
        `this provider's free stake (${tokens(free, token)}) cannot back another deal's collateral of ${tokens(collateral, token)} ` +
          `(${tokens(pending, token)} is promised to offers not yet opened): try another provider, or a shorter term; its operator can add stake`
      )
    }
    promised.set(nonce, { collateral, expiry })
  }

  return async (request: OfferRequest, options) => {
    if (init.accepting !== undefined && !(await init.accepting())) {
      throw new NotAcceptingOffersError(
        'this provider is leaving the market and signs no new offers: try another provider'
      )
    }
    const { root, byteLength, periods, client } = request
    let stored
    try {
      stored = await store.getInfo(root)
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw new UnknownShardError(
          `no complete, verified shard with root ${hex(root)} is stored here: store it (store-shard) before asking for its offer`
        )
      }
      throw err
    }
    if (stored.byteLength !== byteLength) {
      throw new ShardSizeMismatchError(
        `the shard with root ${hex(root)} stored here is ${stored.byteLength} bytes, not ${byteLength}: ask with its stored size`
      )
    }
    const maxTerm = init.maxTermPeriods?.()
    if (maxTerm !== undefined && periods > maxTerm) {
      throw new TermTooLongError(
        `this provider signs terms of at most ${maxTerm} periods, not ${periods}: ask for a shorter term and extend it later, or try another provider`
      )
    }
    options.signal?.throwIfAborted()
    const size = BigInt(byteLength)
    const pricePerPeriod = (size * init.pricePerMiB + MIB - 1n) / MIB
    collateralBps ??= BigInt((await getProofSetParams(mc)).collateralBps)
    const collateral = (pricePerPeriod * BigInt(periods) * collateralBps) / 10_000n
    const expiry = BigInt(Math.floor(Date.now() / 1000) + (init.ttlSeconds ?? OFFER_TTL_SECONDS))
    const offer: ProofSetOffer = {
      provider: address,
      client,
      root: `0x${hex(root)}`,
      size,
      pricePerPeriod,
      periods,
      nonce: 0n,
      expiry
    }
    const reserved = queue.then(async () => {
      offer.nonce = await components.nonces.take()
      await reserveStake(offer.nonce, collateral, expiry)
    })
    queue = reserved.catch(() => {})
    await reserved
    const signature = await signProofSetOffer(mc.walletClient!, {
      market: mc.market,
      offer,
      chainId: components.chainId
    })
    // The deal may be opened until the offer expires: the collector keeps the shard at least that long.
    store.noteOffered(root)
    return { offer: offerToWire(offer), signature: Uint8Array.from(Buffer.from(signature.slice(2), 'hex')) }
  }
}

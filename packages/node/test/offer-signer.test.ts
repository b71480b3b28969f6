import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  getProofSetDeal,
  openProofSetDeals,
  PROOF_SET_OFFER_TYPES,
  proofSetOfferDomain,
  readTokenInfo
} from '@sherd/contracts'
import type { ProofSetOffer, TokenInfo } from '@sherd/contracts'
import { offerFromWire } from '@sherd/protocol'
import { recoverTypedDataAddress } from 'viem'
import type { Hex } from 'viem'
import { TOKEN } from '@sherd/test-support'
import { proofSetOfferSigner, SequentialNonces, NONCE_BLOCK } from '../src/index.js'
import type { NonceDb, OfferSigner } from '../src/index.js'
import { PsProvider, startPsChain } from './proof-set-helpers.js'
import type { PsChain } from './proof-set-helpers.js'

let c: PsChain
let provider: PsProvider
let token: TokenInfo
const CLIENT = 2

beforeAll(async () => {
  c = await startPsChain({ accounts: 3 })
  // 100 tokens of stake: collateral is 100 % of escrow at the devnet parameters.
  provider = await new PsProvider(c, 1).setUp(100n * TOKEN)
  token = await readTokenInfo(c.publicClient, c.market.token)
}, 120_000)

afterAll(async () => {
  await provider?.tearDown()
  await c?.anvil.stop()
})

function signer(
  over: Partial<Parameters<typeof proofSetOfferSigner>[1]> = {},
  nonces = new SequentialNonces(() => provider.store.sublevel('offer-nonces') as unknown as NonceDb)
): OfferSigner {
  return proofSetOfferSigner(
    { mc: provider.mc, address: provider.address, chainId: c.anvil.chainId, token, store: provider.store, nonces },
    { pricePerMiB: 10n * TOKEN, ...over }
  )
}

function typedOffer(offer: ProofSetOffer) {
  return {
    domain: proofSetOfferDomain(c.anvil.chainId, c.market.market),
    types: PROOF_SET_OFFER_TYPES,
    primaryType: 'Offer',
    message: offer
  } as const
}

const rootBytes = (root: Hex): Uint8Array => Uint8Array.from(Buffer.from(root.slice(2), 'hex'))

describe('the offer signer (ProofSetMarket)', () => {
  it('signs only for a shard stored whole with that root and size, and the offer opens a deal', async () => {
    const sign = signer()
    const client = c.accounts[CLIENT]!.address
    const { root: unknown } = { root: `0x${'ab'.repeat(32)}` as Hex }
    await expect(sign({ root: rootBytes(unknown), byteLength: 1000, periods: 2, client }, {})).rejects.toMatchObject({
      name: 'UnknownShardError'
    })
    const shard = await provider.putShard(1024 * 1024)
    await expect(
      sign({ root: rootBytes(shard.root), byteLength: 1024 * 1024 - 1, periods: 2, client }, {})
    ).rejects.toMatchObject({ name: 'ShardSizeMismatchError' })
    expect(provider.store.claimedAtMs(rootBytes(shard.root))).toBeUndefined()

    const { offer: fields, signature } = await sign(
      { root: rootBytes(shard.root), byteLength: 1024 * 1024, periods: 2, client },
      {}
    )
    const offer = offerFromWire(fields)
    expect(offer).toMatchObject({
      provider: provider.address,
      client,
      root: shard.root,
      size: 1024n * 1024n,
      pricePerPeriod: 10n * TOKEN,
      periods: 2
    })
    const sig = `0x${Buffer.from(signature).toString('hex')}` as Hex
    expect(await recoverTypedDataAddress({ ...typedOffer(offer), signature: sig })).toBe(provider.address)
    // The collector keeps an offered shard while its offer may still be opened.
    expect(provider.store.claimedAtMs(rootBytes(shard.root))).toBeGreaterThan(Date.now() - 60_000)
    const { dealIds } = await openProofSetDeals(c.as(CLIENT), { offers: [{ offer, signature: sig }] })
    const deal = await getProofSetDeal(c.as(0), dealIds[0]!)
    expect({ root: deal.root, state: deal.state, provider: deal.provider }).toEqual({
      root: shard.root,
      state: 'live',
      provider: provider.address
    })
  })

  it('refuses offers its free stake cannot back, counting those signed and not yet opened', async () => {
    const sign = signer()
    const client = c.accounts[CLIENT]!.address
    // 20 tokens of collateral are locked by the first test's deal: 80 free; each 1 MiB offer for 3 periods needs 30.
    const shards = [
      await provider.putShard(1024 * 1024),
      await provider.putShard(1024 * 1024),
      await provider.putShard(1024 * 1024)
    ]
    const first = await sign({ root: rootBytes(shards[0]!.root), byteLength: 1024 * 1024, periods: 3, client }, {})
    await sign({ root: rootBytes(shards[1]!.root), byteLength: 1024 * 1024, periods: 3, client }, {})
    await expect(
      sign({ root: rootBytes(shards[2]!.root), byteLength: 1024 * 1024, periods: 3, client }, {})
    ).rejects.toMatchObject({
      name: 'InsufficientStakeError',
      message: expect.stringMatching(/free stake \(80 SHERD\).*30 SHERD.*60 SHERD is promised/)
    })
    // Once an offer is opened its collateral is locked on chain, not promised twice: the next offer is still refused
    // (80 − 30 locked = 50 free, 30 promised), a smaller one fits.
    const offer = offerFromWire(first.offer)
    await openProofSetDeals(c.as(CLIENT), {
      offers: [{ offer, signature: `0x${Buffer.from(first.signature).toString('hex')}` }]
    })
    await expect(
      sign({ root: rootBytes(shards[2]!.root), byteLength: 1024 * 1024, periods: 3, client }, {})
    ).rejects.toMatchObject({ name: 'InsufficientStakeError' })
    await expect(
      sign({ root: rootBytes(shards[2]!.root), byteLength: 1024 * 1024, periods: 2, client }, {})
    ).resolves.toBeDefined()
  })

  it('refuses a term above maxTermPeriods and signs nothing while exiting', async () => {
    const shard = await provider.putShard(4096)
    const request = { root: rootBytes(shard.root), byteLength: 4096, periods: 5, client: c.accounts[CLIENT]!.address }
    await expect(signer({ maxTermPeriods: () => 4 })(request, {})).rejects.toMatchObject({ name: 'TermTooLongError' })
    await expect(signer({ accepting: () => false })(request, {})).rejects.toMatchObject({
      name: 'NotAcceptingOffersError'
    })
  })

  it('hands out sequential nonces and never repeats one after a restart', async () => {
    const db = provider.store.sublevel('nonce-test') as unknown as NonceDb
    const a = new SequentialNonces(() => db)
    const taken = await Promise.all([a.take(), a.take(), a.take()])
    expect(taken).toEqual([0n, 1n, 2n])
    const b = new SequentialNonces(() => db)
    expect(await b.take()).toBe(NONCE_BLOCK)
  })
})

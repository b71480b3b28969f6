import { bytesToHex, erc20Abi, hexToBytes, parseEventLogs } from 'viem'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  activateDeal, addStake, cancelOffer, encodeProof, endDeal, exitProvider, expireDeal, extendDeal, getDeal,
  getPeriodInfo, getPeriodStatus, getProvider, getWithdrawable, hashOffer, InvalidOfferError, listProviders,
  markMissed, openDeal, proveChallenges, registerProvider, signOffer, storageMarketAbi, submitProofs,
  updateProvider, verifyOffer, withdraw, deriveChallengeSeed, getChallengeSeed, watchMarketEvents
} from '../src/index.js'
import {
  activationProof, activeDeals, deployMarket, enterProofWindow, expectRevert, mineTo, offerFor, openTestDeal,
  proofFor, proveAll, randomShard, signedOffer, startChain, TOKEN
} from './helpers.js'
import type { Chainside, Market, TestDeal } from './helpers.js'

const BURN = '0x000000000000000000000000000000000000dEaD'
const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'
const STAKE = 10_000n * TOKEN
const PROVIDER = 1
const PROVIDER_B = 3
const CLIENT = 2
const OTHER = 4

let c: Chainside
beforeAll(async () => { c = await startChain() })
afterAll(async () => { await c?.anvil.stop() })

const addr = (i: number) => c.accounts[i]!.address

async function balance (m: Market, who: Hex): Promise<bigint> {
  return await c.publicClient.readContract({ address: m.token, abi: erc20Abi, functionName: 'balanceOf', args: [who] })
}

async function marketWithProvider (params = {}): Promise<Market> {
  const m = await deployMarket(c, params)
  await registerProvider(m.as(PROVIDER), { stake: STAKE, pricePerMiB: 3n, capacity: 1n << 32n, peerId: PEER })
  return m
}

describe('provider registry', () => {
  test('register, read, update, top up, exit', async () => {
    const m = await marketWithProvider()
    const before = await balance(m, addr(PROVIDER))
    expect(await getProvider(m.as(0), addr(PROVIDER))).toMatchObject({
      account: addr(PROVIDER), stake: STAKE, lockedStake: 0n, pricePerMiB: 3n, capacity: 1n << 32n, usedBytes: 0n, openDeals: 0, peerId: PEER
    })
    await registerProvider(m.as(PROVIDER_B), { stake: 0n, pricePerMiB: 1n, capacity: 1000n, peerId: 'b' })
    await registerProvider(m.as(OTHER), { stake: 5n, pricePerMiB: 1n, capacity: 1000n, peerId: 'c' })
    expect((await listProviders(m.as(0))).map((p) => p.account)).toEqual([addr(PROVIDER), addr(PROVIDER_B), addr(OTHER)])

    await expectRevert(registerProvider(m.as(PROVIDER), { stake: 1n, pricePerMiB: 1n, capacity: 1n, peerId: PEER }), 'AlreadyRegistered', [addr(PROVIDER)])
    await expectRevert(updateProvider(m.as(PROVIDER), { pricePerMiB: 1n, capacity: 1n, peerId: '' }), 'InvalidPeerId', [0n])
    await expectRevert(updateProvider(m.as(PROVIDER), { pricePerMiB: 1n, capacity: 1n, peerId: 'x'.repeat(129) }), 'InvalidPeerId', [129n])
    await expectRevert(updateProvider(m.as(5), { pricePerMiB: 1n, capacity: 1n, peerId: 'x' }), 'NotRegistered', [addr(5)])

    const r = await updateProvider(m.as(PROVIDER), { pricePerMiB: 7n, capacity: 99n, peerId: 'new' })
    expect(parseEventLogs({ abi: storageMarketAbi, logs: r.logs, eventName: 'ProviderUpdated' })[0]?.args).toEqual({ provider: addr(PROVIDER), pricePerMiB: 7n, capacity: 99n, peerId: 'new' })
    await addStake(m.as(PROVIDER), 5n * TOKEN)
    expect((await getProvider(m.as(0), addr(PROVIDER))).stake).toBe(STAKE + 5n * TOKEN)
    expect(await balance(m, addr(PROVIDER))).toBe(before - 5n * TOKEN)

    // Exit swaps the last provider into the leaver's slot; the stake becomes withdrawable, not transferred.
    await exitProvider(m.as(PROVIDER))
    expect((await listProviders(m.as(0))).map((p) => p.account)).toEqual([addr(OTHER), addr(PROVIDER_B)])
    await expectRevert(getProvider(m.as(0), addr(PROVIDER)), 'NotRegistered')
    expect(await getWithdrawable(m.as(0), addr(PROVIDER))).toBe(STAKE + 5n * TOKEN)
    expect((await withdraw(m.as(PROVIDER))).amount).toBe(STAKE + 5n * TOKEN)
    expect(await balance(m, addr(PROVIDER))).toBe(before + STAKE)
    // Registering again after exit works.
    await registerProvider(m.as(PROVIDER), { stake: 1n, pricePerMiB: 1n, capacity: 1n, peerId: PEER })
  })

  test('exit is refused while a deal is open', async () => {
    const m = await marketWithProvider()
    await openTestDeal(m, PROVIDER, CLIENT, 1000)
    await expectRevert(exitProvider(m.as(PROVIDER)), 'ProviderHasOpenDeals', [addr(PROVIDER), 1n])
  })
})

describe('offers', () => {
  test('sign and verify; the contract computes the same digest', async () => {
    const m = await marketWithProvider()
    const offer = offerFor(addr(PROVIDER), addr(CLIENT), randomShard(100).root, 100)
    const signature = await signOffer(m.as(PROVIDER).walletClient!, { market: m.market, offer })
    await verifyOffer({ offer, signature, market: m.market, chainId: c.chain.id, client: addr(CLIENT) })
    expect(await c.publicClient.readContract({ address: m.market, abi: storageMarketAbi, functionName: 'hashOffer', args: [offer] }))
      .toBe(hashOffer(offer, c.chain.id, m.market))

    const bad = async (p: Promise<void>, match: RegExp) => { await expect(p).rejects.toThrow(InvalidOfferError); await expect(p).rejects.toThrow(match) }
    await bad(verifyOffer({ offer: { ...offer, pricePerPeriod: 1n }, signature, market: m.market, chainId: c.chain.id }), /not by its provider/)
    await bad(verifyOffer({ offer, signature, market: addr(9), chainId: c.chain.id }), /not by its provider/)
    await bad(verifyOffer({ offer, signature, market: m.market, chainId: 1 }), /not by its provider/)
    await bad(verifyOffer({ offer, signature, market: m.market, chainId: c.chain.id, client: addr(OTHER) }), /is for client/)
    await bad(verifyOffer({ offer, signature, market: m.market, chainId: c.chain.id, now: offer.expiry + 1n }), /expired/)
    await expect(signOffer(m.as(CLIENT).walletClient!, { market: m.market, offer })).rejects.toThrow(InvalidOfferError)
  })

  test('openDeal refuses bad offers and keeps the books unchanged', async () => {
    const m = await marketWithProvider()
    const s = randomShard(1000)
    const offer = offerFor(addr(PROVIDER), addr(CLIENT), s.root, 1000)
    const signature = await signedOffer(m, PROVIDER, offer)
    await expectRevert(openDeal(m.as(OTHER), { offer, signature }), 'NotClient', [0n, addr(OTHER)])
    const forged = await signOffer(m.as(PROVIDER_B).walletClient!, { market: m.market, offer: { ...offer, provider: addr(PROVIDER_B) } })
    await expectRevert(openDeal(m.as(CLIENT), { offer, signature: forged }), 'InvalidSignature', [addr(PROVIDER)])
    await expectRevert(openDeal(m.as(CLIENT), { offer: { ...offer, pricePerPeriod: 1n }, signature }), 'InvalidSignature')
    const expired = { ...offer, expiry: 1n }
    await expectRevert(openDeal(m.as(CLIENT), { offer: expired, signature: await signedOffer(m, PROVIDER, expired) }), 'OfferExpired')
    const unregistered = offerFor(addr(PROVIDER_B), addr(CLIENT), s.root, 1000)
    await expectRevert(openDeal(m.as(CLIENT), { offer: unregistered, signature: await signedOffer(m, PROVIDER_B, unregistered) }), 'NotRegistered')
    const big = { ...offer, size: 1n << 33n }
    await expectRevert(openDeal(m.as(CLIENT), { offer: big, signature: await signedOffer(m, PROVIDER, big) }), 'InsufficientCapacity')
    const rich = { ...offer, pricePerPeriod: STAKE }
    await expectRevert(openDeal(m.as(CLIENT), { offer: rich, signature: await signedOffer(m, PROVIDER, rich) }), 'InsufficientStake')
    const zero = { ...offer, size: 0n }
    await expectRevert(openDeal(m.as(CLIENT), { offer: zero, signature: await signedOffer(m, PROVIDER, zero) }), 'InvalidOffer')

    const { dealId } = await openDeal(m.as(CLIENT), { offer, signature })
    expect(dealId).toBe(1n)
    await expectRevert(openDeal(m.as(CLIENT), { offer, signature }), 'NonceUsed', [addr(PROVIDER), offer.nonce])
    const revoked = offerFor(addr(PROVIDER), addr(CLIENT), s.root, 1000)
    await cancelOffer(m.as(PROVIDER), revoked.nonce)
    await expectRevert(openDeal(m.as(CLIENT), { offer: revoked, signature: await signedOffer(m, PROVIDER, revoked) }), 'NonceUsed')

    // A provider winding down (capacity 0) takes no new deal; a pending deal can be extended up to maxPeriods.
    await updateProvider(m.as(PROVIDER), { pricePerMiB: 3n, capacity: 0n, peerId: PEER })
    const late = offerFor(addr(PROVIDER), addr(CLIENT), s.root, 1000)
    await expectRevert(openDeal(m.as(CLIENT), { offer: late, signature: await signedOffer(m, PROVIDER, late) }), 'InsufficientCapacity', [addr(PROVIDER), 1000n, 0n])
    await extendDeal(m.as(CLIENT), { dealId, addedPeriods: 1 })
    await expectRevert(extendDeal(m.as(CLIENT), { dealId, addedPeriods: 4 }), 'ExtensionTooLong', [dealId, 9n, 8n])
    const deal = await getDeal(m.as(0), dealId)
    expect(deal).toMatchObject({ periods: 5, state: 'pending', client: addr(CLIENT), provider: addr(PROVIDER), size: 1000n, leafCount: 16n, depth: 4, escrow: 50n * TOKEN, collateral: 50n * TOKEN })
    expect(await getProvider(m.as(0), addr(PROVIDER))).toMatchObject({ lockedStake: 50n * TOKEN, usedBytes: 1000n, openDeals: 1 })
    expect(await balance(m, m.market)).toBe(STAKE + 50n * TOKEN)
  })
})

describe('activation', () => {
  test('activates with a first proof; start is the next period', async () => {
    const m = await marketWithProvider()
    const d = await openTestDeal(m, PROVIDER, CLIENT, 5000)
    const proof = await activationProof(c, m, d.dealId, d.tree)
    await expectRevert(activateDeal(m.as(OTHER), { dealId: d.dealId, proof }), 'NotProvider', [d.dealId, addr(OTHER)])
    const forged = hexToBytes(proof); forged[5]! ^= 1
    await expectRevert(activateDeal(m.as(PROVIDER), { dealId: d.dealId, proof: bytesToHex(forged) }), 'InvalidProof', [d.dealId, 0n])
    const r = await activateDeal(m.as(PROVIDER), { dealId: d.dealId, proof })
    const current = (await getPeriodInfo(m.as(0))).period
    const deal = await getDeal(m.as(0), d.dealId)
    expect(deal.state).toBe('active')
    expect(deal.startPeriod).toBe(current + 1n)
    expect(parseEventLogs({ abi: storageMarketAbi, logs: r.logs, eventName: 'DealActivated' })[0]?.args)
      .toEqual({ dealId: d.dealId, provider: addr(PROVIDER), startPeriod: current + 1n, endPeriod: current + 5n })
    await expectRevert(activateDeal(m.as(PROVIDER), { dealId: d.dealId, proof }), 'WrongDealState', [d.dealId, 2])
  })

  test('after the deadline activation fails and the escrow returns', async () => {
    const m = await marketWithProvider()
    const d = await openTestDeal(m, PROVIDER, CLIENT, 5000)
    const proof = await activationProof(c, m, d.dealId, d.tree)
    const deadline = (await getDeal(m.as(0), d.dealId)).openedBlock + BigInt(m.params.activationBlocks)
    await expectRevert(expireDeal(m.as(OTHER), d.dealId), 'ActivationPending', [d.dealId, deadline])
    await mineTo(c, deadline + 1n)
    await expectRevert(activateDeal(m.as(PROVIDER), { dealId: d.dealId, proof }), 'ActivationDeadlinePassed', [d.dealId, deadline])
    await expireDeal(m.as(OTHER), d.dealId)
    expect((await getDeal(m.as(0), d.dealId)).state).toBe('expired')
    expect(await getWithdrawable(m.as(0), addr(CLIENT))).toBe(40n * TOKEN)
    expect(await getProvider(m.as(0), addr(PROVIDER))).toMatchObject({ lockedStake: 0n, usedBytes: 0n, openDeals: 0, stake: STAKE })
    await expectRevert(expireDeal(m.as(OTHER), d.dealId), 'WrongDealState')
  })
})

describe('proofs', () => {
  test('a batch proves many deals of different shapes; payments are credited once', async () => {
    const m = await marketWithProvider()
    // 1 leaf (depth 0), a partial last leaf, an exact power of two, a non-power-of-two count of leaves.
    const { deals, period } = await activeDeals(c, m, PROVIDER, CLIENT, [10, 64, 100, 4096, 3 * 64 * 7 + 5])
    const r = await proveAll(c, m, PROVIDER, period, deals)
    const proven = parseEventLogs({ abi: storageMarketAbi, logs: r.logs, eventName: 'PeriodProven' })
    expect(proven.map((l) => [l.args.dealId, l.args.period])).toEqual(deals.map((d) => [d.dealId, period]))
    for (const d of deals) {
      expect(await getPeriodStatus(m.as(0), d.dealId, period)).toBe('proven')
      expect(await getDeal(m.as(0), d.dealId)).toMatchObject({ provenPeriods: 1, escrow: 30n * TOKEN })
    }
    expect(await getWithdrawable(m.as(0), addr(PROVIDER))).toBe(50n * TOKEN)
    const before = await balance(m, addr(PROVIDER))
    await withdraw(m.as(PROVIDER))
    expect(await balance(m, addr(PROVIDER))).toBe(before + 50n * TOKEN)
    await expectRevert(withdraw(m.as(PROVIDER)), 'NothingToWithdraw', [addr(PROVIDER)])
  })

  test('invalid proofs are rejected with the deal named', async () => {
    const m = await marketWithProvider()
    await registerProvider(m.as(PROVIDER_B), { stake: STAKE, pricePerMiB: 3n, capacity: 1n << 32n, peerId: PEER })
    const { deals: [a, b], period: pA } = await activeDeals(c, m, PROVIDER, CLIENT, [4096, 4096])
    const { deals: [foreign], period: pF } = await activeDeals(c, m, PROVIDER_B, CLIENT, [4096])
    const period = pA > pF ? pA : pF
    const { blockHash, info } = await enterProofWindow(c, m, period)
    const good = (d: TestDeal) => proofFor(m, d!, blockHash, period)
    const submit = (items: Array<{ dealId: bigint, proof: Hex }>, by = PROVIDER, p = period) => submitProofs(m.as(by), { period: p, items })
    const depth = a!.tree.depth
    // The seed derived locally from the block hash is the contract's.
    expect(deriveChallengeSeed(blockHash, a!.dealId, period)).toBe(await getChallengeSeed(m.as(0), a!.dealId, period))
    const itemsOf = (d: TestDeal) => {
      const bytes = hexToBytes(good(d))
      const n = 64 + 32 * depth
      return Array.from({ length: m.params.challengeCount }, (_, j) => ({ leaf: bytes.slice(j * n, j * n + 64), path: Array.from({ length: depth }, (_, k) => bytes.slice(j * n + 64 + 32 * k, j * n + 96 + 32 * k)) }))
    }

    // Forged leaf: one bit of the first challenged leaf flipped.
    const forged = hexToBytes(good(b!)); forged[0]! ^= 0x80
    await expectRevert(submit([{ dealId: a!.dealId, proof: good(a!) }, { dealId: b!.dealId, proof: bytesToHex(forged) }]), 'InvalidProof', [b!.dealId, 0n])
    // Forged sibling in the last challenge.
    const lastSibling = hexToBytes(good(a!)); lastSibling[lastSibling.length - 1]! ^= 1
    await expectRevert(submit([{ dealId: a!.dealId, proof: bytesToHex(lastSibling) }]), 'InvalidProof', [a!.dealId, BigInt(m.params.challengeCount - 1)])
    // One sibling short and one sibling long per item.
    const expected = BigInt(m.params.challengeCount * (64 + 32 * depth))
    const short = itemsOf(a!).map((i) => ({ leaf: i.leaf, path: i.path.slice(0, -1) }))
    await expectRevert(submit([{ dealId: a!.dealId, proof: encodeProof(short, depth - 1) }]), 'BadProofLength', [a!.dealId, expected, expected - 320n])
    const long = itemsOf(a!).map((i) => ({ leaf: i.leaf, path: [...i.path, new Uint8Array(32)] }))
    await expectRevert(submit([{ dealId: a!.dealId, proof: encodeProof(long, depth + 1) }]), 'BadProofLength', [a!.dealId, expected, expected + 320n])
    // A single extra or missing byte.
    await expectRevert(submit([{ dealId: a!.dealId, proof: `${good(a!)}00` }]), 'BadProofLength')
    // Proof of deal b's challenges submitted for deal a (same size, same depth).
    await expectRevert(submit([{ dealId: a!.dealId, proof: good(b!) }]), 'InvalidProof', [a!.dealId, 0n])
    // Proof built for the next period's seed (same block hash, wrong period number).
    const wrongPeriod = proveChallenges(a!.tree, deriveChallengeSeed(blockHash, a!.dealId, period + 1n), m.params.challengeCount)
    await expectRevert(submit([{ dealId: a!.dealId, proof: wrongPeriod }]), 'InvalidProof', [a!.dealId, 0n])
    // From a non-provider, and a deal of another provider in the batch.
    await expectRevert(submit([{ dealId: a!.dealId, proof: good(a!) }], OTHER), 'NotProvider', [a!.dealId, addr(OTHER)])
    await expectRevert(submit([{ dealId: a!.dealId, proof: good(a!) }, { dealId: foreign!.dealId, proof: good(foreign!) }]), 'NotProvider', [foreign!.dealId, addr(PROVIDER)])
    // Unknown deal, mismatched arrays, period outside the window.
    await expectRevert(submit([{ dealId: 999n, proof: good(a!) }]), 'UnknownDeal', [999n])
    await expectRevert(c.publicClient.simulateContract({ address: m.market, abi: storageMarketAbi, functionName: 'submitProofs', args: [period, [a!.dealId], []], account: c.accounts[PROVIDER]!, blockTag: 'pending' }), 'BatchLengthMismatch', [1n, 0n])
    await expectRevert(submit([{ dealId: a!.dealId, proof: good(a!) }], PROVIDER, period + 1n), 'ProofWindowClosed', [period + 1n, info.endBlock + 2n, info.endBlock + BigInt(m.params.periodBlocks) - 1n])

    // The valid batch goes through; replaying it (or any part) is refused.
    await submit([{ dealId: a!.dealId, proof: good(a!) }, { dealId: b!.dealId, proof: good(b!) }])
    await expectRevert(submit([{ dealId: a!.dealId, proof: good(a!) }]), 'PeriodAlreadyProven', [a!.dealId, period])
    await expectRevert(submit([{ dealId: a!.dealId, proof: good(a!) }, { dealId: a!.dealId, proof: good(a!) }]), 'PeriodAlreadyProven')
    // The foreign deal's provider can still prove in the window, then the window closes: a late proof fails.
    await submitProofs(m.as(PROVIDER_B), { period, items: [{ dealId: foreign!.dealId, proof: good(foreign!) }] })
    await mineTo(c, info.endBlock)
    const { blockHash: next } = await enterProofWindow(c, m, period + 1n)
    await expectRevert(submitProofs(m.as(PROVIDER), { period, items: [{ dealId: a!.dealId, proof: good(a!) }] }), 'ProofWindowClosed', [period, info.firstProofBlock, info.lastProofBlock])
    expect(await getPeriodStatus(m.as(0), a!.dealId, period)).toBe('proven')
    expect(await getWithdrawable(m.as(0), addr(PROVIDER))).toBe(20n * TOKEN)
    // Before the challenge block has passed, the window is not open yet.
    const info2 = await getPeriodInfo(m.as(0), period + 2n)
    await mineTo(c, info2.startBlock + 1n)
    await expectRevert(submitProofs(m.as(PROVIDER), { period: period + 2n, items: [{ dealId: a!.dealId, proof: proofFor(m, a!, next, period + 1n) }] }), 'ProofWindowClosed')
  })

  test('a period outside the deal term is refused', async () => {
    const m = await marketWithProvider()
    const { deals: [a], period } = await activeDeals(c, m, PROVIDER, CLIENT, [640], { periods: 1, maxPeriods: 1 })
    await mineTo(c, (await getPeriodInfo(m.as(0), period)).endBlock)
    const { blockHash } = await enterProofWindow(c, m, period + 1n)
    await expectRevert(submitProofs(m.as(PROVIDER), { period: period + 1n, items: [{ dealId: a!.dealId, proof: proofFor(m, a!, blockHash, period + 1n) }] }), 'PeriodOutsideDeal', [a!.dealId, period + 1n])
  })
})

describe('missed periods, failure, end, extension', () => {
  test('marking: only closed, unproven, unmarked periods; slash split between reporter and burn', async () => {
    const m = await marketWithProvider()
    const { deals: [a], period } = await activeDeals(c, m, PROVIDER, CLIENT, [4096])
    const deal = await getDeal(m.as(0), a!.dealId)
    const info = await getPeriodInfo(m.as(0), period)
    await proveAll(c, m, PROVIDER, period, [a!])
    await expectRevert(markMissed(m.as(OTHER), { dealId: a!.dealId, period: period + 1n }), 'PeriodNotClosed', [a!.dealId, period + 1n, info.endBlock + BigInt(m.params.periodBlocks)])
    await mineTo(c, info.endBlock + BigInt(m.params.periodBlocks))
    await expectRevert(markMissed(m.as(OTHER), { dealId: a!.dealId, period }), 'PeriodAlreadyProven', [a!.dealId, period])
    await expectRevert(markMissed(m.as(OTHER), { dealId: a!.dealId, period: period - 1n }), 'PeriodOutsideDeal')
    const burnedBefore = await balance(m, BURN)
    const r = await markMissed(m.as(OTHER), { dealId: a!.dealId, period: period + 1n })
    const slash = deal.collateral * BigInt(m.params.slashBps) / 10_000n
    const reward = slash * BigInt(m.params.reporterBps) / 10_000n
    expect(parseEventLogs({ abi: storageMarketAbi, logs: r.logs, eventName: 'PeriodMissed' })[0]?.args)
      .toEqual({ dealId: a!.dealId, period: period + 1n, reporter: addr(OTHER), slashed: slash, reward })
    expect(await getWithdrawable(m.as(0), addr(OTHER))).toBe(reward)
    expect(await balance(m, BURN)).toBe(burnedBefore + slash - reward)
    expect(await getProvider(m.as(0), addr(PROVIDER))).toMatchObject({ stake: STAKE - slash, lockedStake: deal.collateral - slash })
    expect(await getPeriodStatus(m.as(0), a!.dealId, period + 1n)).toBe('missed')
    await expectRevert(markMissed(m.as(OTHER), { dealId: a!.dealId, period: period + 1n }), 'PeriodAlreadyMissed', [a!.dealId, period + 1n])
  })

  test('F misses fail the deal and return the unspent escrow', async () => {
    const m = await marketWithProvider()
    const { deals: [a], period } = await activeDeals(c, m, PROVIDER, CLIENT, [4096], { periods: 6, maxPeriods: 6 })
    await proveAll(c, m, PROVIDER, period, [a!])
    const after = await getPeriodInfo(m.as(0), period + 3n)
    await mineTo(c, after.endBlock)
    await markMissed(m.as(OTHER), { dealId: a!.dealId, period: period + 1n })
    await markMissed(m.as(OTHER), { dealId: a!.dealId, period: period + 3n })
    const r = await markMissed(m.as(OTHER), { dealId: a!.dealId, period: period + 2n })
    const failed = parseEventLogs({ abi: storageMarketAbi, logs: r.logs, eventName: 'DealFailed' })
    expect(failed[0]?.args).toEqual({ dealId: a!.dealId, client: addr(CLIENT), provider: addr(PROVIDER), refund: 50n * TOKEN })
    const deal = await getDeal(m.as(0), a!.dealId)
    expect(deal).toMatchObject({ state: 'failed', escrow: 0n, missedPeriods: 3, provenPeriods: 1 })
    expect(await getWithdrawable(m.as(0), addr(CLIENT))).toBe(50n * TOKEN)
    expect(await getProvider(m.as(0), addr(PROVIDER))).toMatchObject({ lockedStake: 0n, usedBytes: 0n, openDeals: 0, stake: STAKE - deal.slashed })
    expect(deal.slashed).toBe(3n * 60n * TOKEN / 10n)
    await expectRevert(markMissed(m.as(OTHER), { dealId: a!.dealId, period: period + 4n }), 'WrongDealState', [a!.dealId, 4])
    await exitProvider(m.as(PROVIDER))
  })

  test('end: all proven; unmarked periods slashed at the end; extension', async () => {
    const m = await marketWithProvider()
    const { deals: [a, b], period } = await activeDeals(c, m, PROVIDER, CLIENT, [2048, 2048], { periods: 2, maxPeriods: 3 })
    await expectRevert(extendDeal(m.as(OTHER), { dealId: a!.dealId, addedPeriods: 1 }), 'NotClient', [a!.dealId, addr(OTHER)])
    await expectRevert(extendDeal(m.as(CLIENT), { dealId: a!.dealId, addedPeriods: 2 }), 'ExtensionTooLong', [a!.dealId, 4n, 3n])
    const ext = await extendDeal(m.as(CLIENT), { dealId: b!.dealId, addedPeriods: 1 })
    expect(parseEventLogs({ abi: storageMarketAbi, logs: ext.logs, eventName: 'DealExtended' })[0]?.args).toEqual({ dealId: b!.dealId, client: addr(CLIENT), addedPeriods: 1, periods: 3 })
    expect(await getDeal(m.as(0), b!.dealId)).toMatchObject({ periods: 3, escrow: 30n * TOKEN, collateral: 30n * TOKEN })
    await proveAll(c, m, PROVIDER, period, [a!, b!])
    await proveAll(c, m, PROVIDER, period + 1n, [a!, b!])
    const end = await getPeriodInfo(m.as(0), period + 1n)
    await expectRevert(endDeal(m.as(OTHER), a!.dealId), 'DealNotOver', [a!.dealId, end.endBlock])
    await mineTo(c, end.endBlock)
    const r = await endDeal(m.as(OTHER), a!.dealId)
    expect(parseEventLogs({ abi: storageMarketAbi, logs: r.logs, eventName: 'DealEnded' })[0]?.args)
      .toEqual({ dealId: a!.dealId, client: addr(CLIENT), provider: addr(PROVIDER), provenPeriods: 2, missedPeriods: 0, refund: 0n })
    await expectRevert(extendDeal(m.as(CLIENT), { dealId: a!.dealId, addedPeriods: 1 }), 'WrongDealState')
    // Deal b runs one more period (the extension), which nobody proves or marks: endDeal slashes it.
    const endB = await getPeriodInfo(m.as(0), period + 2n)
    await mineTo(c, endB.endBlock)
    const rb = await endDeal(m.as(OTHER), b!.dealId)
    expect(parseEventLogs({ abi: storageMarketAbi, logs: rb.logs, eventName: 'DealEnded' })[0]?.args)
      .toMatchObject({ provenPeriods: 2, missedPeriods: 1, refund: 10n * TOKEN })
    expect(await getProvider(m.as(0), addr(PROVIDER))).toMatchObject({ lockedStake: 0n, usedBytes: 0n, openDeals: 0, stake: STAKE - 3n * TOKEN })
    expect(await getWithdrawable(m.as(0), addr(OTHER))).toBe(3n * TOKEN * 2n / 10n)
    expect(await getWithdrawable(m.as(0), addr(PROVIDER))).toBe(40n * TOKEN)
    await exitProvider(m.as(PROVIDER))
    expect(await getWithdrawable(m.as(0), addr(PROVIDER))).toBe(40n * TOKEN + STAKE - 3n * TOKEN)
  })
})

describe('events', () => {
  test('watchMarketEvents delivers typed logs filtered on indexed arguments', async () => {
    const m = await marketWithProvider()
    await registerProvider(m.as(PROVIDER_B), { stake: STAKE, pricePerMiB: 3n, capacity: 1n << 32n, peerId: PEER })
    const seen: Array<{ dealId: bigint, provider: Hex }> = []
    const errors: Error[] = []
    const unwatch = watchMarketEvents(m.as(0), {
      eventName: 'DealOpened',
      args: { provider: addr(PROVIDER) },
      onLogs: (logs) => { for (const l of logs) seen.push({ dealId: l.args.dealId, provider: l.args.provider }) },
      onError: (e) => { errors.push(e) },
      pollingInterval: 50
    })
    try {
      await new Promise((resolve) => setTimeout(resolve, 200))
      const a = await openTestDeal(m, PROVIDER, CLIENT, 100)
      await openTestDeal(m, PROVIDER_B, CLIENT, 100)
      const b = await openTestDeal(m, PROVIDER, CLIENT, 100)
      const deadline = Date.now() + 10_000
      while (seen.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(seen).toEqual([{ dealId: a.dealId, provider: addr(PROVIDER) }, { dealId: b.dealId, provider: addr(PROVIDER) }])
      expect(errors).toEqual([])
    } finally {
      unwatch()
    }
  })
})

describe('reentrancy through a hostile ERC-20', () => {
  test('a re-entrant withdraw reverts; a swallowed one pays once', async () => {
    const { hostileTokenAbi, hostileTokenBytecode, reentrancyAttackerAbi, reentrancyAttackerBytecode } = await import('./generated/test-contracts.js')
    const { deploy } = await import('../src/index.js')
    const w = c.wallets[0]!
    const deployed = async (abi: any, bytecode: Hex, args: unknown[]) => {
      const hash = await w.deployContract({ abi, bytecode, args })
      return (await c.publicClient.waitForTransactionReceipt({ hash })).contractAddress!
    }
    const token = await deployed(hostileTokenAbi, hostileTokenBytecode, [])
    const { market } = await deploy(w, { publicClient: c.publicClient, token, params: { periodBlocks: 8, challengeDelayBlocks: 1, activationBlocks: 2 } })
    const attacker = await deployed(reentrancyAttackerAbi, reentrancyAttackerBytecode, [market, token])
    const write = async (address: Hex, abi: any, functionName: string, args: unknown[], i = 0) => {
      const hash = await c.wallets[i]!.writeContract({ address, abi, functionName, args } as never)
      const receipt = await c.publicClient.waitForTransactionReceipt({ hash })
      if (receipt.status !== 'success') throw new Error(`${functionName} reverted`)
    }
    const bal = async (who: Hex) => await c.publicClient.readContract({ address: token, abi: erc20Abi, functionName: 'balanceOf', args: [who] })
    await write(token, hostileTokenAbi, 'mint', [addr(PROVIDER), 1000n * TOKEN])
    await write(token, hostileTokenAbi, 'mint', [attacker, 1000n * TOKEN])
    const mc = { market, publicClient: c.publicClient, walletClient: c.wallets[PROVIDER]! }
    await registerProvider(mc, { stake: 500n * TOKEN, pricePerMiB: 1n, capacity: 1n << 30n, peerId: PEER })
    // The attacker opens two deals that are never activated, so both escrows come back to it.
    for (let k = 0; k < 2; k++) {
      const offer = offerFor(addr(PROVIDER), attacker, randomShard(64).root, 64)
      const signature = await signOffer(c.wallets[PROVIDER]!, { market, offer })
      await write(attacker, reentrancyAttackerAbi, 'openDeal', [offer, signature])
    }
    await c.testClient.mine({ blocks: 3 })
    await expireDeal({ ...mc, walletClient: c.wallets[OTHER]! }, 1n)
    await expireDeal({ ...mc, walletClient: c.wallets[OTHER]! }, 2n)
    expect(await getWithdrawable(mc, attacker)).toBe(80n * TOKEN)
    const before = await bal(attacker)
    // Strict re-entry: the inner withdraw hits the guard, the whole call reverts, nothing moves.
    await expectRevert(c.publicClient.simulateContract({ address: attacker, abi: [...reentrancyAttackerAbi, ...storageMarketAbi.filter((x) => x.type === 'error')], functionName: 'attack', args: [false], account: c.accounts[0]! }), 'ReentrancyGuardReentrantCall')
    await expect(write(attacker, reentrancyAttackerAbi, 'attack', [false])).rejects.toThrow()
    expect(await bal(attacker)).toBe(before)
    expect(await getWithdrawable(mc, attacker)).toBe(80n * TOKEN)
    // Swallowed re-entry: the outer withdraw completes and pays exactly once.
    await write(attacker, reentrancyAttackerAbi, 'attack', [true])
    expect(await c.publicClient.readContract({ address: attacker, abi: reentrancyAttackerAbi, functionName: 'reentries' })).toBe(1n)
    expect(await bal(attacker)).toBe(before + 80n * TOKEN)
    expect(await getWithdrawable(mc, attacker)).toBe(0n)
    expect(await bal(market)).toBe(500n * TOKEN)
  })
})

// ProofSetMarket's migration API on anvil (newest hardfork): the provider's term limit (register, setMaxTerm,
// TermTooLong), extendDeals (payment, collateral, refusals, and claims that pay the extended periods exactly),
// the provider listing from logs, the paged event reader, and revert decoding by error name.
import { BaseError, createPublicClient, custom, parseEventLogs } from 'viem'
import type { PublicClient } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  addProofSetStake,
  cancelProofSetOffer,
  claimProofSetDeals,
  declareProofSetLost,
  extendProofSetDeals,
  getProofSetDeal,
  getProofSetProvider,
  getProofSetWithdrawable,
  isProofSetRevert,
  listProofSetProviders,
  proofSetMarketAbi,
  proofSetRevertName,
  readProofSetEvents,
  registerProofSetProvider,
  setProofSetMaxTerm
} from '../src/index.js'
import { startTestChain, TOKEN } from '@sherd/test-support'
import type { TestChain } from '@sherd/test-support'
import { expectRevert } from './helpers.js'
import {
  balanceOf,
  deployPs,
  enterPeriod,
  enterProofWindow,
  expectAllTransactionsBounded,
  NEWEST_HARDFORK,
  openPs,
  proveDue
} from './proof-set-helpers.js'
import type { PsMarket } from './proof-set-helpers.js'

let c: TestChain
beforeAll(async () => {
  c = await startTestChain({ hardfork: NEWEST_HARDFORK })
})
afterAll(async () => {
  if (c !== undefined) await expectAllTransactionsBounded(c)
  await c?.anvil.stop()
})

const PEER = '12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf'
const PRICE = 10n * TOKEN
// DealState as the contract numbers it.
const LIVE = 1
const DECLARED = 2
const FAULTED = 3
const FAILED = 4

async function market(providers: Array<{ index: number; stake?: bigint; maxTermPeriods?: number }>): Promise<PsMarket> {
  const m = await deployPs(c)
  for (const p of providers)
    await registerProofSetProvider(m.as(p.index), {
      stake: p.stake ?? 10_000n * TOKEN,
      peerId: PEER,
      maxTermPeriods: p.maxTermPeriods ?? 10
    })
  return m
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (err) {
    return err
  }
  throw new Error('expected the call to fail')
}

describe('the provider term limit', () => {
  test('register records it, setMaxTerm changes it, an offer longer than it is refused', async () => {
    const m = await market([
      { index: 1, maxTermPeriods: 6 },
      { index: 2, maxTermPeriods: 0 }
    ])
    const p1 = c.accounts[1]!.address
    expect((await getProofSetProvider(m.as(0), p1)).maxTermPeriods).toBe(6)
    await openPs(c, m, 4, [{ provider: 1, over: { periods: 6 } }])
    await expectRevert(openPs(c, m, 4, [{ provider: 1, over: { periods: 7 } }]), 'TermTooLong', [7n, 6n])
    // 0 accepts no term at all.
    await expectRevert(openPs(c, m, 4, [{ provider: 2, over: { periods: 1 } }]), 'TermTooLong', [1n, 0n])
    const r = await setProofSetMaxTerm(m.as(1), 8)
    expect(parseEventLogs({ abi: proofSetMarketAbi, logs: r.logs, eventName: 'MaxTermSet' })[0]!.args).toEqual({
      provider: p1,
      maxTermPeriods: 8
    })
    expect((await getProofSetProvider(m.as(0), p1)).maxTermPeriods).toBe(8)
    await openPs(c, m, 4, [{ provider: 1, over: { periods: 8 } }])
    await expectRevert(setProofSetMaxTerm(m.as(3), 5), 'NotRegistered')
  })

  test('listProofSetProviders finds every provider from its logs, with its current state', async () => {
    const m = await market([
      { index: 1, maxTermPeriods: 6 },
      { index: 2, stake: 500n * TOKEN, maxTermPeriods: 3 }
    ])
    await setProofSetMaxTerm(m.as(2), 4)
    const listed = await listProofSetProviders(m.as(0), { fromBlock: m.genesisBlock, pageBlocks: 2n })
    expect(listed.map((p) => [p.address, p.id, p.stake, p.maxTermPeriods, p.peerId])).toEqual([
      [c.accounts[1]!.address, 1, 10_000n * TOKEN, 6, PEER],
      [c.accounts[2]!.address, 2, 500n * TOKEN, 4, PEER]
    ])
    // Scanning from after the registrations finds none.
    const latest = await c.publicClient.getBlockNumber({ cacheTime: 0 })
    expect(await listProofSetProviders(m.as(0), { fromBlock: latest })).toEqual([])
  })
})

describe('extendDeals', () => {
  test('the client pays price × added in one transfer; the end, escrow and collateral grow; the term limit holds', async () => {
    const m = await market([
      { index: 1, maxTermPeriods: 10 },
      { index: 2, maxTermPeriods: 10 }
    ])
    const { deals } = await openPs(c, m, 4, [{ provider: 1 }, { provider: 2, over: { pricePerPeriod: 3n * TOKEN } }])
    const ids = deals.map((d) => d.dealId)
    const before = await Promise.all(ids.map(async (id) => await getProofSetDeal(m.as(0), id)))
    const locked = await Promise.all(
      [1, 2].map(async (i) => (await getProofSetProvider(m.as(0), c.accounts[i]!.address)).locked)
    )
    const client = c.accounts[4]!.address
    const balance = await balanceOf(c, m.token, client)
    const { endPeriods, receipt } = await extendProofSetDeals(m.as(4), { dealIds: ids, addedPeriods: 4 })
    expect(endPeriods).toEqual(before.map((d) => d.endPeriod + 4n))
    expect(balance - (await balanceOf(c, m.token, client))).toBe(4n * (PRICE + 3n * TOKEN))
    expect(receipt.logs.filter((l) => l.address.toLowerCase() === m.token.toLowerCase())).toHaveLength(1)
    const events = parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs, eventName: 'DealExtended' })
    expect(events.map((e) => e.args)).toEqual([
      {
        dealId: ids[0],
        provider: c.accounts[1]!.address,
        endPeriod: Number(before[0]!.endPeriod + 4n),
        escrow: 4n * PRICE,
        collateral: 4n * PRICE
      },
      {
        dealId: ids[1],
        provider: c.accounts[2]!.address,
        endPeriod: Number(before[1]!.endPeriod + 4n),
        escrow: 12n * TOKEN,
        collateral: 12n * TOKEN
      }
    ])
    for (const [i, id] of ids.entries()) {
      const d = await getProofSetDeal(m.as(0), id)
      expect(d.endPeriod).toBe(before[i]!.endPeriod + 4n)
      expect(d.voidFrom).toBe(d.endPeriod)
      expect(d.rangeStart).toBe(before[i]!.rangeStart)
      expect(d.escrow).toBe(before[i]!.escrow + 4n * d.pricePerPeriod)
      expect(d.collateral).toBe(before[i]!.collateral + 4n * d.pricePerPeriod)
      expect((await getProofSetProvider(m.as(0), d.provider)).locked).toBe(locked[i]! + 4n * d.pricePerPeriod)
    }
    // 6 + 4 = 10 is the limit: one more period is refused for the whole batch, and nothing changes.
    await expectRevert(extendProofSetDeals(m.as(4), { dealIds: ids, addedPeriods: 1 }), 'TermTooLong', [11n, 10n])
    await setProofSetMaxTerm(m.as(2), 12)
    await expectRevert(extendProofSetDeals(m.as(4), { dealIds: ids, addedPeriods: 1 }), 'TermTooLong', [11n, 10n])
    await extendProofSetDeals(m.as(4), { dealIds: [ids[1]!], addedPeriods: 2 })
    expect((await getProofSetDeal(m.as(0), ids[1]!)).endPeriod).toBe(before[1]!.endPeriod + 6n)
    // Lowering the limit below a deal's term leaves the deal as it is and refuses only more periods.
    await setProofSetMaxTerm(m.as(2), 3)
    expect((await getProofSetDeal(m.as(0), ids[1]!)).state).toBe('live')
    await expectRevert(extendProofSetDeals(m.as(4), { dealIds: [ids[1]!], addedPeriods: 1 }), 'TermTooLong', [13n, 3n])
    await expectRevert(extendProofSetDeals(m.as(5), { dealIds: [ids[1]!], addedPeriods: 1 }), 'NotClient', [
      ids[1],
      c.accounts[5]!.address
    ])
    await expectRevert(extendProofSetDeals(m.as(4), { dealIds: [], addedPeriods: 1 }), 'EmptyBatch')
    await expectRevert(extendProofSetDeals(m.as(4), { dealIds: [ids[1]!], addedPeriods: 0 }), 'InvalidOfferPeriods')
    await expectRevert(extendProofSetDeals(m.as(4), { dealIds: [999n], addedPeriods: 1 }), 'UnknownDeal', [999n])
  })

  test('a claim after an extension pays every extended period exactly once and then closes the deal', async () => {
    const m = await market([{ index: 1 }])
    const provider = c.accounts[1]!.address
    const { deals } = await openPs(c, m, 4, [{ provider: 1, over: { periods: 2 } }])
    const id = deals[0]!.dealId
    const q = (await getProofSetDeal(m.as(0), id)).startPeriod
    const paid = await getProofSetWithdrawable(m.as(0), provider)
    const refunded = await getProofSetWithdrawable(m.as(0), c.accounts[4]!.address)
    await enterProofWindow(c, m, q)
    await proveDue(m, c, 1, deals)
    // Extended in the last period of its term: periods q + 2 and q + 3 are added. The extension settles q first.
    await enterPeriod(c, m, q + 1n)
    await extendProofSetDeals(m.as(4), { dealIds: [id], addedPeriods: 2 })
    expect((await getProofSetWithdrawable(m.as(0), provider)) - paid).toBe(PRICE)
    for (const period of [q + 1n, q + 2n, q + 3n]) {
      await enterProofWindow(c, m, period)
      const proved = await proveDue(m, c, 1, deals)
      // The range is challengeable in the extended periods: real proofs, not void hints.
      expect(proved.chunks[0]!.challenges.every((x) => x.kind === 'proof')).toBe(true)
    }
    await enterPeriod(c, m, q + 4n)
    await claimProofSetDeals(m.as(4), [id])
    await claimProofSetDeals(m.as(4), [id])
    expect((await getProofSetWithdrawable(m.as(0), provider)) - paid).toBe(4n * PRICE)
    expect((await getProofSetWithdrawable(m.as(0), c.accounts[4]!.address)) - refunded).toBe(0n)
    const d = await getProofSetDeal(m.as(0), id)
    expect(d.state).toBe('ended')
    expect(d.settled).toBe(true)
    expect((await getProofSetProvider(m.as(0), provider)).locked).toBe(0n)
    // Over: it cannot be extended again.
    await expectRevert(extendProofSetDeals(m.as(4), { dealIds: [id], addedPeriods: 1 }), 'WrongDealState')
  })

  test('a deal whose term is over, faulted, declared or failed is refused', async () => {
    const m = await market([{ index: 1 }, { index: 2 }, { index: 3 }])
    const { deals } = await openPs(c, m, 4, [
      { provider: 1, over: { periods: 1 } },
      { provider: 2 },
      { provider: 3 },
      { provider: 1, over: { periods: 8 } }
    ])
    const [short, faulting, declaring, failing] = deals as [
      (typeof deals)[0],
      (typeof deals)[0],
      (typeof deals)[0],
      (typeof deals)[0]
    ]
    const q = (await getProofSetDeal(m.as(0), short.dealId)).startPeriod
    await enterPeriod(c, m, q)
    await declareProofSetLost(m.as(3), [declaring.dealId])
    await expectRevert(
      extendProofSetDeals(m.as(4), { dealIds: [declaring.dealId], addedPeriods: 1 }),
      'WrongDealState',
      [declaring.dealId, DECLARED]
    )
    await enterProofWindow(c, m, q)
    await proveDue(m, c, 2, [{ ...faulting, tree: undefined }])
    await expectRevert(
      extendProofSetDeals(m.as(4), { dealIds: [faulting.dealId], addedPeriods: 1 }),
      'WrongDealState',
      [faulting.dealId, FAULTED]
    )
    // The short deal's only period is q; in q + 1 its term is over, proven or not.
    await enterPeriod(c, m, q + 1n)
    await expectRevert(extendProofSetDeals(m.as(4), { dealIds: [short.dealId], addedPeriods: 1 }), 'WrongDealState', [
      short.dealId,
      LIVE
    ])
    // Provider 1 never proves: three closed periods fail `failing` at the extension's own settlement, though
    // no one has claimed or marked anything. The revert leaves it as it was.
    await enterPeriod(c, m, q + 3n)
    expect((await getProofSetDeal(m.as(0), failing.dealId)).state).toBe('live')
    await expectRevert(extendProofSetDeals(m.as(4), { dealIds: [failing.dealId], addedPeriods: 1 }), 'WrongDealState', [
      failing.dealId,
      FAILED
    ])
    expect((await getProofSetDeal(m.as(0), failing.dealId)).state).toBe('live')
  })

  test("the added collateral must come from the provider's free stake", async () => {
    // Exactly the collateral of one 6-period deal at 10 per period (collateralBps 10,000).
    const m = await market([{ index: 1, stake: 60n * TOKEN }])
    const { deals } = await openPs(c, m, 4, [{ provider: 1 }])
    const provider = c.accounts[1]!.address
    await expectRevert(
      extendProofSetDeals(m.as(4), { dealIds: [deals[0]!.dealId], addedPeriods: 1 }),
      'InsufficientStake',
      [provider, PRICE, 0n]
    )
    await addProofSetStake(m.as(1), PRICE)
    await extendProofSetDeals(m.as(4), { dealIds: [deals[0]!.dealId], addedPeriods: 1 })
    const p = await getProofSetProvider(m.as(0), provider)
    expect(p.locked).toBe(p.stake)
  })
})

test("extending 50 deals is one transfer and ~20 k gas a deal, far inside a real chain's limits", async () => {
  const m = await market([
    { index: 1, maxTermPeriods: 100 },
    { index: 2, maxTermPeriods: 100 }
  ])
  const { deals } = await openPs(
    c,
    m,
    4,
    Array.from({ length: 50 }, (_, i) => ({ provider: 1 + (i % 2) }))
  )
  const q = (await getProofSetDeal(m.as(0), deals[0]!.dealId)).startPeriod
  // Settling closed periods is part of an extension's cost: extend once a period of the term has closed.
  await enterProofWindow(c, m, q)
  await proveDue(m, c, 1, deals)
  await proveDue(m, c, 2, deals)
  await enterPeriod(c, m, q + 1n)
  const { receipt } = await extendProofSetDeals(m.as(4), { dealIds: deals.map((d) => d.dealId), addedPeriods: 12 })
  expect(receipt.logs.filter((l) => l.address.toLowerCase() === m.token.toLowerCase())).toHaveLength(1)
  const perDeal = Number(receipt.gasUsed) / 50
  process.stdout.write(
    `extendDeals, 50 deals of 2 providers, one closed period each: ${receipt.gasUsed} gas (${Math.round(perDeal)} per deal)\n`
  )
  expect(perDeal).toBeLessThan(40_000)
})

describe('revert names', () => {
  test('proofSetRevertName decodes the custom error; isProofSetRevert checks it; other failures give undefined', async () => {
    const m = await market([{ index: 1, maxTermPeriods: 2 }])
    const long = await caught(openPs(c, m, 4, [{ provider: 1, over: { periods: 3 } }]))
    expect(proofSetRevertName(long)).toBe('TermTooLong')
    expect(isProofSetRevert(long, 'TermTooLong')).toBe(true)
    expect(isProofSetRevert(long, 'NonceUsed')).toBe(false)
    const { deals } = await openPs(c, m, 4, [{ provider: 1, over: { periods: 2 } }])
    const reused = await caught(openPs(c, m, 4, [{ provider: 1, over: { periods: 2, nonce: deals[0]!.offer.nonce } }]))
    expect(proofSetRevertName(reused)).toBe('NonceUsed')
    const notClient = await caught(extendProofSetDeals(m.as(5), { dealIds: [deals[0]!.dealId], addedPeriods: 1 }))
    expect(isProofSetRevert(notClient, 'NotClient')).toBe(true)
    const again = await caught(registerProofSetProvider(m.as(1), { stake: 0n, peerId: PEER }))
    expect(proofSetRevertName(again)).toBe('AlreadyRegistered')
    // Raw revert data (a call that bypassed the typed ABI) decodes too.
    const raw = await caught(c.publicClient.call({ to: m.market, data: '0x3ccfd60b', account: c.accounts[6]!.address })) // withdraw()
    expect(raw).toBeInstanceOf(BaseError)
    expect(proofSetRevertName(raw)).toBe('NothingToWithdraw')
    expect(proofSetRevertName(new Error('TermTooLong'))).toBeUndefined()
    expect(proofSetRevertName(undefined)).toBeUndefined()
    const offline = await caught(
      getProofSetProvider(
        {
          market: m.market,
          publicClient: (await import('viem')).createPublicClient({
            transport: (await import('viem')).http('http://127.0.0.1:1', { retryCount: 0 })
          })
        },
        c.accounts[1]!.address
      )
    )
    expect(proofSetRevertName(offline)).toBeUndefined()
  })
})

describe('readProofSetEvents', () => {
  test('over many small pages returns every log once, oldest first, typed and filtered like one big query', async () => {
    const m = await market([{ index: 1 }, { index: 2 }])
    const from = m.genesisBlock
    // Cancellations spread over ~60 blocks, some sharing a block with a page boundary on either side.
    for (let i = 0; i < 24; i++) {
      await cancelProofSetOffer(m.as(1 + (i % 2)), BigInt(1000 + i))
      if (i % 3 === 0) await c.testClient.mine({ blocks: 1 + (i % 5) })
    }
    const to = await c.publicClient.getBlockNumber({ cacheTime: 0 })
    const key = (l: { blockNumber: bigint; logIndex: number }): string => `${l.blockNumber}:${l.logIndex}`
    const whole = await c.publicClient.getContractEvents({
      address: m.market,
      abi: proofSetMarketAbi,
      fromBlock: from,
      toBlock: to,
      strict: true
    })
    expect(whole.filter((l) => l.eventName === 'OfferCancelled')).toHaveLength(24)
    for (const pageBlocks of [1n, 2n, 3n, 7n, 1000n]) {
      const all = await readProofSetEvents(m.as(0), { fromBlock: from, toBlock: to, pageBlocks })
      expect(all.map(key), `pageBlocks ${pageBlocks}`).toEqual(whole.map(key))
      expect(new Set(all.map(key)).size).toBe(all.length)
    }
    const cancelled = await readProofSetEvents(m.as(0), {
      eventName: 'OfferCancelled',
      args: { provider: c.accounts[2]!.address },
      fromBlock: from,
      toBlock: to,
      pageBlocks: 4n
    })
    // args typed from the ABI: nonce is a bigint, provider an address.
    expect(cancelled.map((l) => l.args.nonce)).toEqual(Array.from({ length: 12 }, (_, i) => BigInt(1001 + 2 * i)))
    expect(cancelled.every((l) => l.args.provider === c.accounts[2]!.address)).toBe(true)
    // Without toBlock it reads to the latest block.
    expect(
      (await readProofSetEvents(m.as(0), { eventName: 'OfferCancelled', fromBlock: from, pageBlocks: 5n })).length
    ).toBe(24)
    // An endpoint that refuses ranges over 5 blocks (-32005, as public endpoints do): pages shrink until they pass.
    let refused = 0
    let requests = 0
    const limited = (refuse: (blocks: bigint) => number | undefined): PublicClient =>
      createPublicClient({
        chain: c.chain,
        transport: custom(
          {
            async request({ method, params }: { method: string; params?: unknown }) {
              if (method === 'eth_getLogs' && Array.isArray(params)) {
                requests++
                const filter: unknown = params[0]
                if (typeof filter === 'object' && filter !== null && 'fromBlock' in filter && 'toBlock' in filter) {
                  const code = refuse(BigInt(String(filter.toBlock)) - BigInt(String(filter.fromBlock)) + 1n)
                  if (code !== undefined) {
                    refused++
                    throw Object.assign(new Error('block range too large'), { code })
                  }
                }
              }
              const res = await fetch(c.anvil.url, {
                method: 'POST',
                headers: { 'content-type': 'application/json' },
                body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params })
              })
              const body = (await res.json()) as { result?: unknown; error?: { code: number; message: string } }
              if (body.error !== undefined) throw Object.assign(new Error(body.error.message), body.error)
              return body.result
            }
          },
          { retryCount: 0 }
        )
      })
    const small = { market: m.market, publicClient: limited((blocks) => (blocks > 5n ? -32005 : undefined)) }
    const paged = await readProofSetEvents(small, { fromBlock: from, toBlock: to, pageBlocks: 64n })
    expect(paged.map(key)).toEqual(whole.map(key))
    expect(refused).toBeGreaterThan(0)
    // Any other failure is not a size problem: it is thrown at once, not retried smaller.
    requests = 0
    const broken = { market: m.market, publicClient: limited(() => -32601) }
    await expect(readProofSetEvents(broken, { fromBlock: from, toBlock: to, pageBlocks: 64n })).rejects.toThrow(
      BaseError
    )
    expect(requests).toBe(1)
    const aborted = new AbortController()
    aborted.abort()
    await expect(readProofSetEvents(m.as(0), { fromBlock: from, signal: aborted.signal })).rejects.toThrow(/abort/i)
    await expect(readProofSetEvents(m.as(0), { fromBlock: from, pageBlocks: 0n })).rejects.toThrow(RangeError)
  })
})

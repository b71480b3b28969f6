// ProofSetMarket on anvil (newest hardfork): batch opening, per-provider proofs with snapshot, carry-over and
// per-deal faults, declarations, audits, lazy claims, dilution, and the size bounds of every transaction.
import { buildTree } from '@sherd/proofs'
import { randomBytes } from 'node:crypto'
import { bytesToHex, keccak256, parseEventLogs, toHex } from 'viem'
import type { Hex } from 'viem'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import {
  answerProofSetAudit,
  claimProofSetDeals,
  commitProofSetSeed,
  declareProofSetLost,
  failProofSetAudit,
  getProofSetAudit,
  getProofSetAuditSeed,
  getProofSetChallenges,
  getProofSetDeal,
  getProofSetPeriod,
  getProofSetPeriodStatus,
  getProofSetProvider,
  getProofSetSeed,
  getProofSetSnapshotWeight,
  getProofSetWithdrawable,
  markProofSetMissed,
  PeriodicTree,
  PROOF_SET_AUDIT_CHALLENGES,
  PROOF_SET_LAMBDA,
  PROOF_SET_MIN_WEIGHT,
  PROOF_SET_TIB_LEAVES,
  proofSetChallengeCount,
  proofSetChallengeIndex,
  proofSetMarketAbi,
  proofSetWeight,
  proveChallenges,
  ProviderSuperTree,
  registerProofSetProvider,
  requestProofSetAudit,
  submitProofSetChunk,
  superDepth,
  superLeaf,
  withdrawProofSet,
  buildProofSetChunk,
  getProofSetSuperRoot
} from '../src/index.js'
import { startTestChain, TOKEN } from '@sherd/test-support'
import type { TestChain } from '@sherd/test-support'
import { expectRevert, mineTo } from './helpers.js'
import {
  buildDueChunks,
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

async function market(providers: number[] = [1, 2], params: Parameters<typeof deployPs>[1] = {}): Promise<PsMarket> {
  const m = await deployPs(c, params)
  for (const p of providers) await registerProofSetProvider(m.as(p), { stake: 10_000n * TOKEN, peerId: PEER })
  return m
}

describe('the challenge rule', () => {
  test('TypeScript and contract agree on indices and K; the periodic tree is the real tree', async () => {
    const m = await deployPs(c, {}, [])
    const provider = c.accounts[3]!.address
    for (let i = 0; i < 20; i++) {
      const seed = keccak256(toHex(`seed ${i}`))
      const weight = BigInt(1 + i) * 3_000_017n ** BigInt(1 + (i % 3))
      const onChain = await c.publicClient.readContract({
        address: m.market,
        abi: proofSetMarketAbi,
        functionName: 'challengeIndex',
        args: [seed, provider, BigInt(i), weight]
      })
      expect(proofSetChallengeIndex(seed, provider, BigInt(i), weight)).toBe(onChain)
      const k = await c.publicClient.readContract({
        address: m.market,
        abi: proofSetMarketAbi,
        functionName: 'challengeCountFor',
        args: [weight * 1000n]
      })
      expect(proofSetChallengeCount(weight * 1000n)).toBe(k)
    }
    expect(proofSetChallengeCount(PROOF_SET_TIB_LEAVES)).toBe(4n)
    expect(proofSetChallengeCount(PROOF_SET_TIB_LEAVES * 100n)).toBe(400n)
    expect(proofSetChallengeCount(1n)).toBe(4n)
    // 4 KiB block repeated 8 times then padding to 16 copies' width: the whole real tree must agree.
    const block = new Uint8Array(randomBytes(4096))
    const data = new Uint8Array(4096 * 12)
    for (let i = 0; i < 12; i++) data.set(block, i * 4096)
    const real = buildTree(data)
    const periodic = new PeriodicTree(block, 64 * 12)
    expect(bytesToHex(periodic.root)).toBe(bytesToHex(real.root))
    expect(periodic.depth).toBe(real.depth)
    for (const i of [0, 5, 64, 300, 767])
      expect(periodic.prove(i).path.map((h) => bytesToHex(h))).toEqual(real.prove(i).path.map((h) => bytesToHex(h)))
  })
})

describe('deals and proofs', () => {
  test('a batch opens in one transaction; deals join at the next boundary; a proven period pays once', async () => {
    const m = await market([1])
    const provider = c.accounts[1]!.address
    const { deals, receipt } = await openPs(c, m, 4, [
      { provider: 1 },
      { provider: 1, size: 100 },
      { provider: 1, size: 70_000 }
    ])
    // One token transfer for the whole batch.
    expect(receipt.logs.filter((l) => l.address.toLowerCase() === m.token.toLowerCase())).toHaveLength(1)
    const start = (await getProofSetDeal(m.as(0), deals[0]!.dealId)).startPeriod
    const openedIn = (await getProofSetPeriod(m.as(0), start)).startBlock
    expect(receipt.blockNumber).toBeLessThan(openedIn)
    expect(await getProofSetSnapshotWeight(m.as(0), provider, start - 1n)).toBe(0n)
    expect(await getProofSetSnapshotWeight(m.as(0), provider, start)).toBe(3n * PROOF_SET_MIN_WEIGHT)
    for (const d of deals) expect((await getProofSetDeal(m.as(0), d.dealId)).state).toBe('live')

    await enterProofWindow(c, m, start)
    const proved = await proveDue(m, c, 1, deals)
    expect(proved.period).toBe(start)
    expect(proved.chunks[0]!.challenges).toHaveLength(4)
    // The contract's view of the challenges is the prover's.
    expect(await getProofSetChallenges(m.as(0), { provider, period: start, count: 10n })).toEqual(
      proved.chunks[0]!.challenges.map((x) => x.index)
    )
    expect(await getProofSetPeriodStatus(m.as(0), provider, start)).toBe('proven')
    await expectRevert(
      submitProofSetChunk(m.as(1), { period: start, chunk: 0, proof: proved.chunks[0]!.proof }),
      'NotDuePeriod',
      [start, start + 1n]
    )

    await enterPeriod(c, m, start + 1n)
    const before = await getProofSetWithdrawable(m.as(0), provider)
    await claimProofSetDeals(
      m.as(5),
      deals.map((d) => d.dealId)
    )
    expect((await getProofSetWithdrawable(m.as(0), provider)) - before).toBe(3n * 10n * TOKEN)
    await claimProofSetDeals(
      m.as(5),
      deals.map((d) => d.dealId)
    )
    expect((await getProofSetWithdrawable(m.as(0), provider)) - before).toBe(3n * 10n * TOKEN)
    expect((await getProofSetDeal(m.as(0), deals[0]!.dealId)).escrow).toBe(5n * 10n * TOKEN)
  })

  test('snapshot: a deal opened during a period is not challenged in it; a wrong hint or proof is refused', async () => {
    const m = await market([1])
    const provider = c.accounts[1]!.address
    const a = await openPs(c, m, 4, [{ provider: 1 }])
    const start = (await getProofSetDeal(m.as(0), a.deals[0]!.dealId)).startPeriod
    await enterPeriod(c, m, start)
    const b = await openPs(c, m, 4, [{ provider: 1 }])
    expect((await getProofSetDeal(m.as(0), b.deals[0]!.dealId)).startPeriod).toBe(start + 1n)
    expect(await getProofSetSnapshotWeight(m.as(0), provider, start)).toBe(PROOF_SET_MIN_WEIGHT)
    expect(await getProofSetSnapshotWeight(m.as(0), provider, start + 1n)).toBe(2n * PROOF_SET_MIN_WEIGHT)
    await enterProofWindow(c, m, start)
    // B is not in the snapshot: proving without its tree works, and a hint naming B is out of range.
    const built = await buildDueChunks(m, c, 1, a.deals)
    const forged = `0x${b.deals[0]!.dealId.toString(16).padStart(8, '0')}${built.chunks[0]!.proof.slice(10)}` as Hex
    await expectRevert(submitProofSetChunk(m.as(1), { period: start, chunk: 0, proof: forged }), 'HintOutOfRange')
    const bytes = built.chunks[0]!.proof.slice(2)
    const flipped = `0x${bytes.slice(0, 20)}${bytes[20] === '0' ? '1' : '0'}${bytes.slice(21)}` as Hex
    await expectRevert(submitProofSetChunk(m.as(1), { period: start, chunk: 0, proof: flipped }), 'InvalidProof')
    await submitProofSetChunk(m.as(1), { period: start, chunk: 0, proof: built.chunks[0]!.proof })
    await enterProofWindow(c, m, start + 1n)
    const next = await proveDue(m, c, 1, [...a.deals, ...b.deals])
    expect(next.weight).toBe(2n * PROOF_SET_MIN_WEIGHT)
  })

  test('carry-over: a skipped period stays due with its own seed, is not paid, and can be marked missed', async () => {
    const m = await market([1])
    const provider = c.accounts[1]!.address
    const { deals } = await openPs(c, m, 4, [{ provider: 1 }, { provider: 1 }])
    const q = (await getProofSetDeal(m.as(0), deals[0]!.dealId)).startPeriod
    // Skip q entirely; in q + 1 the provider must still answer q first.
    await enterProofWindow(c, m, q + 1n)
    const seedQ = await getProofSetSeed(m.as(0), q)
    const seedNext = await getProofSetSeed(m.as(0), q + 1n)
    expect(seedQ).not.toBe(seedNext)
    const cb = (await getProofSetPeriod(m.as(0), q)).challengeBlock
    const blockHash = (await c.publicClient.getBlock({ blockNumber: cb })).hash
    expect(BigInt(seedQ) >> 32n).toBe(
      BigInt(keccak256(`0x${blockHash.slice(2)}${q.toString(16).padStart(64, '0')}`)) >> 32n
    )
    await expectRevert(submitProofSetChunk(m.as(1), { period: q + 1n, chunk: 0, proof: '0x' }), 'NotDuePeriod', [
      q + 1n,
      q
    ])
    // A proof drawn with the fresh seed does not answer q.
    const fresh = await buildDueChunks(m, c, 1, deals, seedNext)
    await expect(submitProofSetChunk(m.as(1), { period: q, chunk: 0, proof: fresh.chunks[0]!.proof })).rejects.toThrow()
    await commitProofSetSeed(m.as(7), q)
    await markProofSetMissed(m.as(7), { provider, period: q })
    expect(await getProofSetWithdrawable(m.as(0), c.accounts[7]!.address)).toBeGreaterThan(0n)
    const late = await proveDue(m, c, 1, deals)
    expect(late.period).toBe(q)
    const events = parseEventLogs({
      abi: proofSetMarketAbi,
      logs: late.receipts.at(-1)!.logs,
      eventName: 'PeriodProven'
    })
    expect(events[0]!.args.onTime).toBe(false)
    expect(await getProofSetPeriodStatus(m.as(0), provider, q)).toBe('missed')
    await proveDue(m, c, 1, deals)
    expect(await getProofSetPeriodStatus(m.as(0), provider, q + 1n)).toBe('proven')
    await enterPeriod(c, m, q + 2n)
    const before = await getProofSetWithdrawable(m.as(0), provider)
    const clientBefore = await getProofSetWithdrawable(m.as(0), c.accounts[4]!.address)
    await claimProofSetDeals(
      m.as(4),
      deals.map((d) => d.dealId)
    )
    expect((await getProofSetWithdrawable(m.as(0), provider)) - before).toBe(2n * 10n * TOKEN) // q + 1 only
    expect((await getProofSetWithdrawable(m.as(0), c.accounts[4]!.address)) - clientBefore).toBe(2n * 10n * TOKEN) // q refunded
    expect((await getProofSetDeal(m.as(0), deals[0]!.dealId)).missed).toBe(1)
  })

  test('commitSeed keeps the seed of a period for a late answer; a seed nobody stored within 256 blocks is gone', async () => {
    const m = await market([1])
    const { deals } = await openPs(c, m, 4, [{ provider: 1 }])
    const q = (await getProofSetDeal(m.as(0), deals[0]!.dealId)).startPeriod
    await enterProofWindow(c, m, q)
    await commitProofSetSeed(m.as(7), q)
    const seed = await getProofSetSeed(m.as(0), q)
    await mineTo(c, (await getProofSetPeriod(m.as(0), q)).challengeBlock + 300n)
    expect(await getProofSetSeed(m.as(0), q)).toBe(seed)
    await proveDue(m, c, 1, deals)
    // q + 1 was never seeded and its challenge block is out of BLOCKHASH's reach.
    await expectRevert(submitProofSetChunk(m.as(1), { period: q + 1n, chunk: 0, proof: '0x' }), 'SeedUnavailable')
  })
})

describe('super-root', () => {
  test('TypeScript and contract agree on the super-root as deals join in uneven batches (1 … 9 deals)', async () => {
    const m = await market([1])
    const provider = c.accounts[1]!.address
    const tree = new ProviderSuperTree()
    let slots = 0
    for (const batch of [1, 1, 1, 2, 3, 1]) {
      const { deals } = await openPs(
        c,
        m,
        4,
        Array.from({ length: batch }, () => ({ provider: 1 }))
      )
      for (const d of deals) {
        expect(d.slot).toBe(slots++)
        tree.set(d.slot, d.dealId, d.offer.root)
      }
      // The snapshot still open (the next period's) is the whole tree so far.
      const next = (await getProofSetPeriod(m.as(0))).period + 1n
      const chain = await getProofSetSuperRoot(m.as(0), provider, next)
      expect(chain.slots).toBe(slots)
      expect(chain.root).toBe(bytesToHex(tree.snapshot(slots).root))
      if (slots === 1) expect(chain.root).toBe(bytesToHex(superLeaf(deals[0]!.dealId, deals[0]!.offer.root)))
    }
    expect(superDepth(9)).toBe(4)
  })

  test("a period keeps its snapshot's super-root after later deals join, so a late answer still verifies", async () => {
    const m = await market([1])
    const provider = c.accounts[1]!.address
    const a = await openPs(c, m, 4, [{ provider: 1 }, { provider: 1 }, { provider: 1 }])
    const q = (await getProofSetDeal(m.as(0), a.deals[0]!.dealId)).startPeriod
    await enterPeriod(c, m, q)
    const frozen = await getProofSetSuperRoot(m.as(0), provider, q)
    expect(frozen.slots).toBe(3)
    // Deals joining at q + 1 and q + 2 while q is still unanswered.
    const b = await openPs(c, m, 4, [{ provider: 1 }, { provider: 1 }])
    expect(await getProofSetSuperRoot(m.as(0), provider, q)).toEqual(frozen)
    await enterPeriod(c, m, q + 1n)
    const d = await openPs(c, m, 4, [{ provider: 1 }])
    expect(await getProofSetSuperRoot(m.as(0), provider, q)).toEqual(frozen)
    expect((await getProofSetSuperRoot(m.as(0), provider, q + 1n)).slots).toBe(5)
    expect((await getProofSetSuperRoot(m.as(0), provider, q + 2n)).slots).toBe(6)
    const all = [...a.deals, ...b.deals, ...d.deals]
    await enterProofWindow(c, m, q + 2n)
    // q and q + 1 answered late, each against its own snapshot, then q + 2 on time.
    for (const [period, slots] of [
      [q, 3],
      [q + 1n, 5],
      [q + 2n, 6]
    ] as const) {
      const proved = await proveDue(m, c, 1, all)
      expect(proved.period).toBe(period)
      expect(proved.superTree.slots).toBe(slots)
    }
    expect(await getProofSetPeriodStatus(m.as(0), provider, q + 2n)).toBe('proven')
  })

  test("a deal's data cannot answer another deal's challenge, nor a deal a slot not its own", async () => {
    const m = await market([1])
    const address = c.accounts[1]!.address
    // Two deals of one size (the same depth): only the super-leaf's deal id tells their paths apart.
    const { deals } = await openPs(c, m, 4, [
      { provider: 1, size: 4096 },
      { provider: 1, size: 4096 }
    ])
    const [a, b] = deals as [(typeof deals)[0], (typeof deals)[0]]
    const q = (await getProofSetDeal(m.as(0), a.dealId)).startPeriod
    await enterProofWindow(c, m, q)
    const weight = await getProofSetSnapshotWeight(m.as(0), address, q)
    const seed = await getProofSetSeed(m.as(0), q)
    const tree = new ProviderSuperTree()
    for (const d of deals) tree.set(d.slot, d.dealId, d.offer.root)
    const superTree = tree.snapshot(2)
    const chunk = (swap: { trees: boolean; slots: boolean }) =>
      buildProofSetChunk({
        seed,
        provider: address,
        period: q,
        weight,
        chunk: 0,
        superTree,
        deals: [
          [a, b],
          [b, a]
        ].map(([d, other]) => ({
          dealId: d!.dealId,
          slot: swap.slots ? other!.slot : d!.slot,
          rangeStart: BigInt(d!.slot) * PROOF_SET_MIN_WEIGHT,
          leafCount: 64n,
          voidFrom: q + 6n,
          tree: swap.trees ? other!.tree : d!.tree
        }))
      }).proof
    // The other deal's leaf, path and slot: a valid path to the super-root, but through the other deal's leaf.
    await expectRevert(
      submitProofSetChunk(m.as(1), { period: q, chunk: 0, proof: chunk({ trees: true, slots: true }) }),
      'InvalidProof'
    )
    // The deal's own leaf and path, placed at the other slot.
    await expectRevert(
      submitProofSetChunk(m.as(1), { period: q, chunk: 0, proof: chunk({ trees: false, slots: true }) }),
      'InvalidProof'
    )
    await submitProofSetChunk(m.as(1), { period: q, chunk: 0, proof: chunk({ trees: false, slots: false }) })
    expect(await getProofSetPeriodStatus(m.as(0), address, q)).toBe('proven')
  })
})

describe('faults', () => {
  test('declared loss slashes 25 %, a detected one 100 %; both refund the client and void the deal', async () => {
    const m = await market([1, 2])
    const both = await openPs(c, m, 5, [{ provider: 1 }, { provider: 2 }])
    const declared = { deals: [both.deals[0]!] }
    const detected = { deals: [both.deals[1]!] }
    const start = (await getProofSetDeal(m.as(0), detected.deals[0]!.dealId)).startPeriod
    const collateral = (await getProofSetDeal(m.as(0), declared.deals[0]!.dealId)).collateral
    await enterPeriod(c, m, start)
    const stake1 = (await getProofSetProvider(m.as(0), c.accounts[1]!.address)).stake
    await declareProofSetLost(m.as(1), [declared.deals[0]!.dealId])
    expect(stake1 - (await getProofSetProvider(m.as(0), c.accounts[1]!.address)).stake).toBe(collateral / 4n)
    expect((await getProofSetDeal(m.as(0), declared.deals[0]!.dealId)).state).toBe('declared')
    // Too late for a declaration once the challenge block is mined.
    await enterProofWindow(c, m, start)
    await expectRevert(declareProofSetLost(m.as(2), [detected.deals[0]!.dealId]), 'DeclarationTooLate')
    // Provider 1's only deal is void now: its answers are hints alone.
    const p1 = await proveDue(
      m,
      c,
      1,
      declared.deals.map((d) => ({ ...d, tree: undefined }))
    )
    expect(p1.chunks[0]!.challenges.every((x) => x.kind === 'void')).toBe(true)
    // Provider 2 lost its deal's data and answers with faults.
    const stake2 = (await getProofSetProvider(m.as(0), c.accounts[2]!.address)).stake
    const client5 = await getProofSetWithdrawable(m.as(0), c.accounts[5]!.address)
    const p2 = await proveDue(
      m,
      c,
      2,
      detected.deals.map((d) => ({ ...d, tree: undefined }))
    )
    expect(p2.chunks[0]!.challenges[0]!.kind).toBe('fault')
    const faulted = parseEventLogs({ abi: proofSetMarketAbi, logs: p2.receipts[0]!.logs, eventName: 'DealFaulted' })
    expect(faulted).toHaveLength(1)
    expect(stake2 - (await getProofSetProvider(m.as(0), c.accounts[2]!.address)).stake).toBe(collateral)
    const deal = await getProofSetDeal(m.as(0), detected.deals[0]!.dealId)
    expect(deal.state).toBe('faulted')
    expect(deal.settled).toBe(true)
    expect((await getProofSetWithdrawable(m.as(0), c.accounts[5]!.address)) - client5).toBe(6n * 10n * TOKEN)
    expect((await getProofSetProvider(m.as(0), c.accounts[2]!.address)).locked).toBe(0n)
  })

  test('an answered audit pays the bond to the provider; an unanswered one faults the deal and rewards the client', async () => {
    // A late challenge block leaves room for the requests and the refused declaration before it.
    const m = await market([1], { periodBlocks: 16, challengeDelayBlocks: 8 })
    const { deals } = await openPs(c, m, 4, [{ provider: 1 }, { provider: 1 }])
    const [kept, dropped] = deals as [(typeof deals)[0], (typeof deals)[0]]
    const start = (await getProofSetDeal(m.as(0), kept.dealId)).startPeriod
    await enterPeriod(c, m, start)
    await requestProofSetAudit(m.as(4), kept.dealId)
    await requestProofSetAudit(m.as(4), dropped.dealId)
    const audit = await getProofSetAudit(m.as(0), kept.dealId)
    expect(audit?.period).toBe(start + 1n)
    await expectRevert(declareProofSetLost(m.as(1), [dropped.dealId]), 'AuditOpen')
    await enterProofWindow(c, m, start)
    await proveDue(m, c, 1, deals)
    await enterProofWindow(c, m, start + 1n)
    const seed = await getProofSetAuditSeed(m.as(0), kept.dealId, start + 1n)
    const provider = c.accounts[1]!.address
    const before = await getProofSetWithdrawable(m.as(0), provider)
    await answerProofSetAudit(m.as(1), {
      dealId: kept.dealId,
      proof: proveChallenges(kept.tree!, seed, PROOF_SET_AUDIT_CHALLENGES)
    })
    expect((await getProofSetWithdrawable(m.as(0), provider)) - before).toBe(m.params.auditBond)
    expect(await getProofSetAudit(m.as(0), kept.dealId)).toBeUndefined()
    await expectRevert(failProofSetAudit(m.as(4), dropped.dealId), 'AuditNotExpired')
    await proveDue(m, c, 1, deals)
    await enterPeriod(c, m, start + 2n)
    const collateral = (await getProofSetDeal(m.as(0), dropped.dealId)).collateral
    const client = await getProofSetWithdrawable(m.as(0), c.accounts[4]!.address)
    const stake = (await getProofSetProvider(m.as(0), provider)).stake
    await failProofSetAudit(m.as(4), dropped.dealId)
    expect(stake - (await getProofSetProvider(m.as(0), provider)).stake).toBe(collateral)
    const reward = (collateral * BigInt(m.params.reporterBps)) / 10_000n
    const refund = 10n * TOKEN * 4n // periods start + 2 .. start + 5 refunded; start, start + 1 paid to the provider
    const d = await getProofSetDeal(m.as(0), dropped.dealId)
    expect(d.state).toBe('faulted')
    expect((await getProofSetWithdrawable(m.as(0), c.accounts[4]!.address)) - client).toBe(
      m.params.auditBond + reward + refund
    )
  })

  test('maxMissedPeriods misses in a term fail the deal; an ended deal unlocks its collateral', async () => {
    const m = await market([1])
    const provider = c.accounts[1]!.address
    const { deals } = await openPs(c, m, 4, [{ provider: 1, over: { periods: 2 } }])
    const q = (await getProofSetDeal(m.as(0), deals[0]!.dealId)).startPeriod
    await enterProofWindow(c, m, q)
    await proveDue(m, c, 1, deals)
    await enterProofWindow(c, m, q + 1n)
    await proveDue(m, c, 1, deals)
    await enterPeriod(c, m, q + 2n)
    await claimProofSetDeals(m.as(4), [deals[0]!.dealId])
    const ended = await getProofSetDeal(m.as(0), deals[0]!.dealId)
    expect(ended.state).toBe('ended')
    expect(ended.settled).toBe(true)
    expect((await getProofSetProvider(m.as(0), provider)).locked).toBe(0n)

    const failing = await openPs(c, m, 4, [{ provider: 1, over: { periods: 5 } }])
    const r = (await getProofSetDeal(m.as(0), failing.deals[0]!.dealId)).startPeriod
    await enterPeriod(c, m, r + 3n)
    for (const p of [r, r + 1n, r + 2n]) await markProofSetMissed(m.as(7), { provider, period: p })
    await claimProofSetDeals(m.as(4), [failing.deals[0]!.dealId])
    const failed = await getProofSetDeal(m.as(0), failing.deals[0]!.dealId)
    expect(failed.state).toBe('failed')
    expect(failed.missed).toBe(3)
    expect(failed.escrow).toBe(0n)
  })
})

describe('dilution', () => {
  test('a huge self-deal over zero data does not lower the challenge rate of a real deal below λ per TiB', async () => {
    const m = await market([1])
    const provider = c.accounts[1]!.address
    // A real 256 GiB deal (real depth-32 tree of a repeated random block) from a client.
    const realTree = new PeriodicTree(new Uint8Array(randomBytes(4096)), 2 ** 32)
    const real = await openPs(c, m, 4, [{ provider: 1, tree: realTree, over: { pricePerPeriod: TOKEN / 1000n } }])
    const start = (await getProofSetDeal(m.as(0), real.deals[0]!.dealId)).startPeriod
    await enterPeriod(c, m, start)
    // The provider, as its own client, adds ten 1 TiB deals of zeros: a tree it can compute without storing anything.
    const zeroTree = new PeriodicTree(new Uint8Array(4096), 2 ** 34)
    const self = await openPs(
      c,
      m,
      1,
      Array.from({ length: 10 }, () => ({ provider: 1, tree: zeroTree, over: { pricePerPeriod: 1n } }))
    )
    const w = proofSetWeight(2n ** 32n)
    const alone = await getProofSetSnapshotWeight(m.as(0), provider, start)
    const diluted = await getProofSetSnapshotWeight(m.as(0), provider, start + 1n)
    expect(alone).toBe(w)
    expect(diluted).toBe(w + 10n * 2n ** 34n)
    const guaranteed = Number(PROOF_SET_LAMBDA * w) / Number(PROOF_SET_TIB_LEAVES) // 1 challenge per period
    for (const weight of [alone, diluted]) {
      const k = proofSetChallengeCount(weight)
      expect((Number(k) * Number(w)) / Number(weight)).toBeGreaterThanOrEqual(guaranteed)
      // Count hits on the real range under 2,000 fixed seeds with the (contract-checked) rule.
      let hits = 0
      for (let s = 0; s < 2000; s++) {
        const seed = keccak256(toHex(`dilution ${s}`))
        for (let i = 0n; i < k; i++) if (proofSetChallengeIndex(seed, provider, i, weight) < w) hits++
      }
      expect(hits / 2000).toBeGreaterThan(0.9 * guaranteed)
    }
    // Both periods are provable on chain with real depth-32 and depth-34 paths.
    await enterProofWindow(c, m, start)
    await proveDue(m, c, 1, real.deals)
    await enterProofWindow(c, m, start + 1n)
    const second = await proveDue(m, c, 1, [...real.deals, ...self.deals])
    expect(second.chunks[0]!.challenges).toHaveLength(Number(proofSetChallengeCount(diluted)))
  }, 120_000)
})

test('K above one chunk: chunks in any order, each once, the period proven by the last', async () => {
  const m = await market([1])
  const provider = c.accounts[1]!.address
  // 25 deals of 1 TiB: W = 25 TiB, K = 100, two chunks (64 + 36) of paths 34 + 5 levels long.
  const tree = new PeriodicTree(new Uint8Array(randomBytes(4096)), 2 ** 34)
  const { deals } = await openPs(
    c,
    m,
    4,
    Array.from({ length: 25 }, () => ({ provider: 1, tree, over: { pricePerPeriod: 1n } }))
  )
  const start = (await getProofSetDeal(m.as(0), deals[0]!.dealId)).startPeriod
  await enterProofWindow(c, m, start)
  const built = await buildDueChunks(m, c, 1, deals)
  expect(built.chunks.map((ch) => ch.challenges.length)).toEqual([64, 36])
  const second = await submitProofSetChunk(m.as(1), { period: start, chunk: 1, proof: built.chunks[1]!.proof })
  expect(parseEventLogs({ abi: proofSetMarketAbi, logs: second.logs, eventName: 'ChunkProven' })).toHaveLength(1)
  await expectRevert(
    submitProofSetChunk(m.as(1), { period: start, chunk: 1, proof: built.chunks[1]!.proof }),
    'ChunkAlreadyProven',
    [start, 1n]
  )
  await expectRevert(submitProofSetChunk(m.as(1), { period: start, chunk: 2, proof: '0x' }), 'BadChunk', [2n, 2n])
  expect(await getProofSetPeriodStatus(m.as(0), provider, start)).toBe('open')
  const first = await submitProofSetChunk(m.as(1), { period: start, chunk: 0, proof: built.chunks[0]!.proof })
  expect(parseEventLogs({ abi: proofSetMarketAbi, logs: first.logs, eventName: 'PeriodProven' })[0]!.args.onTime).toBe(
    true
  )
  expect(await getProofSetPeriodStatus(m.as(0), provider, start)).toBe('proven')
  expect((await getProofSetProvider(m.as(0), provider)).due).toBe(start + 1n)
}, 120_000)

test("deals without collateral (price 0 or collateralBps 0) keep their provider's due period", async () => {
  // `locked` is 0 here although deals are live: opening another during a period must not skip the period.
  const m = await market([1], { collateralBps: 0 })
  const provider = c.accounts[1]!.address
  const a = await openPs(c, m, 4, [{ provider: 1 }, { provider: 1, over: { pricePerPeriod: 0n } }])
  const q = (await getProofSetDeal(m.as(0), a.deals[0]!.dealId)).startPeriod
  await enterPeriod(c, m, q)
  const b = await openPs(c, m, 4, [{ provider: 1 }])
  const info = await getProofSetProvider(m.as(0), provider)
  expect(info.locked).toBe(0n)
  expect(info.unsettledDeals).toBe(3)
  expect(info.due).toBe(q)
  await enterProofWindow(c, m, q)
  await proveDue(m, c, 1, [...a.deals, ...b.deals])
  await enterProofWindow(c, m, q + 1n)
  await proveDue(m, c, 1, [...a.deals, ...b.deals])
  await enterPeriod(c, m, q + 2n)
  await claimProofSetDeals(
    m.as(4),
    a.deals.map((d) => d.dealId)
  )
  for (const d of a.deals) expect((await getProofSetDeal(m.as(0), d.dealId)).missed).toBe(0)
  expect(await getProofSetWithdrawable(m.as(0), provider)).toBe(2n * 10n * TOKEN)
})

test('withdraw moves the whole balance', async () => {
  const m = await market([1])
  const { deals } = await openPs(c, m, 4, [{ provider: 1 }])
  const start = (await getProofSetDeal(m.as(0), deals[0]!.dealId)).startPeriod
  await enterProofWindow(c, m, start)
  await proveDue(m, c, 1, deals)
  await enterPeriod(c, m, start + 1n)
  await claimProofSetDeals(m.as(1), [deals[0]!.dealId])
  const { amount } = await withdrawProofSet(m.as(1))
  expect(amount).toBe(10n * TOKEN)
  await expectRevert(withdrawProofSet(m.as(1)), 'NothingToWithdraw')
})

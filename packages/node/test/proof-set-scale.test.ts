// A provider with 10,000 deals: the ledger folds them, each period is answered within its window (K = 10 for
// 10,000 × 2^22 leaves of weight, one chunk), and a claim round pays all of them exactly, in bounded transactions.
// Deals share 20 small shards (the contract does not require distinct roots), so the store stays small.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { erc20Abi, maxUint256, parseEventLogs } from 'viem'
import {
  getProofSetPeriod,
  getProofSetSnapshotWeight,
  proofSetChallengeCount,
  proofSetMarketAbi,
  signProofSetOffer
} from '@sherd/contracts'
import type { SignedProofSetOffer } from '@sherd/contracts'
import type { Hex } from 'viem'
import { waitFor } from '@sherd/test-support'
import type { ClaimRound, ProvenChunk } from '../src/index.js'
import {
  balanceOf,
  expectSentTransactionsBounded,
  offerFor,
  periodStatus,
  PsProvider,
  startPsChain
} from './proof-set-helpers.js'
import type { PsChain } from './proof-set-helpers.js'

const DEALS = 10_000
const SHARDS = 20
/** Offers per openDeals transaction: ~75k gas each keeps a batch under the 2^24 cap. */
const OPEN_BATCH = 150
const PRICE = 1_000n
const PERIODS = 40
const CLIENT = 4
const PARAMS = { periodBlocks: 12, challengeDelayBlocks: 4 }

let c: PsChain
let p: PsProvider

beforeAll(async () => {
  c = await startPsChain({ params: PARAMS, gasLimit: 2_000_000_000n })
  p = await new PsProvider(c, 1).setUp()
}, 60_000)

afterAll(async () => {
  await p?.tearDown()
  await c?.anvil.stop()
})

describe('ProofSetProver at 10,000 deals', () => {
  it('folds 10,000 deals, proves every period on time and claims them all exactly', async () => {
    const t0 = performance.now()
    const shards = []
    for (let i = 0; i < SHARDS; i++) shards.push(await p.putShard(4096 + i))
    const provider = c.wallets[1]!
    const signed: SignedProofSetOffer[] = []
    for (let i = 0; i < DEALS; i++) {
      const offer = offerFor(c, 1, CLIENT, shards[i % SHARDS]!, { pricePerPeriod: PRICE, periods: PERIODS })
      signed.push({
        offer,
        signature: await signProofSetOffer(provider, { market: c.market.market, offer, chainId: c.chain.id })
      })
    }
    const tSigned = performance.now()
    const client = c.wallets[CLIENT]!
    const approve = await client.writeContract({
      address: c.market.token,
      abi: erc20Abi,
      functionName: 'approve',
      args: [c.market.market, maxUint256]
    })
    await c.publicClient.waitForTransactionReceipt({ hash: approve })
    // All openings in one block, so every deal joins in the same period and none waits through unproven periods.
    const batches: SignedProofSetOffer[][] = []
    for (let i = 0; i < DEALS; i += OPEN_BATCH) batches.push(signed.slice(i, i + OPEN_BATCH))
    const argsOf = (b: SignedProofSetOffer[]) => [b.map((o) => o.offer), b.map((o) => o.signature)] as const
    const gas = await c.publicClient.estimateContractGas({
      address: c.market.market,
      abi: proofSetMarketAbi,
      functionName: 'openDeals',
      args: argsOf(batches[0]!),
      account: client.account
    })
    expect(gas).toBeLessThan(16_777_216n)
    await c.testClient.setAutomine(false)
    let nonce = await c.publicClient.getTransactionCount({ address: client.account.address, blockTag: 'pending' })
    const hashes: Hex[] = []
    for (const b of batches) {
      hashes.push(
        await client.writeContract({
          address: c.market.market,
          abi: proofSetMarketAbi,
          functionName: 'openDeals',
          args: argsOf(b),
          gas: gas + gas / 10n,
          nonce: nonce++
        })
      )
    }
    await c.testClient.mine({ blocks: 1 })
    let openGas = 0n
    let lastStart = 0n
    for (const hash of hashes) {
      const receipt = await c.publicClient.waitForTransactionReceipt({ hash })
      expect(receipt.status).toBe('success')
      openGas += receipt.gasUsed
      const [first] = parseEventLogs({ abi: proofSetMarketAbi, logs: receipt.logs, eventName: 'DealOpened' })
      lastStart = BigInt(first!.args.startPeriod)
    }
    const tOpened = performance.now()

    const prover = await p.startProver({ claimEveryPeriods: 1_000_000, pollIntervalMs: 200 })
    const chunks: ProvenChunk[] = []
    prover.events.addEventListener('chunk', (e) => {
      chunks.push((e as CustomEvent<ProvenChunk>).detail)
    })
    await waitFor('the ledger to fold every deal', () => prover.ledger.size === DEALS, 120_000)
    const tFolded = performance.now()
    await c.testClient.setIntervalMining({ interval: 1 })

    const weight = await getProofSetSnapshotWeight(c.as(0), p.address, lastStart)
    expect(weight).toBe(BigInt(DEALS) << 22n)
    const k = proofSetChallengeCount(weight)
    // Two full periods with every deal in the snapshot, each proven on time.
    const target = lastStart + 1n
    await waitFor('two periods proven with all deals', () => chunks.some((ch) => ch.period === target), 180_000)
    for (let q = lastStart; q <= target; q++) expect(await periodStatus(c, p.address, q), `period ${q}`).toBe('proven')
    const full = chunks.filter((ch) => ch.period >= lastStart)
    expect(
      full.length,
      `chunks of periods ${chunks.map((ch) => ch.period).join(',')} from ${lastStart}`
    ).toBeGreaterThanOrEqual(2)
    const blocksAfterChallenge: bigint[] = []
    for (const ch of full) {
      expect(ch.challenges).toHaveLength(Number(k))
      expect(ch.challenges.every((x) => x.kind === 'proof')).toBe(true)
      const window = await getProofSetPeriod(c.as(0), ch.period)
      expect(ch.receipt.blockNumber).toBeGreaterThan(window.challengeBlock)
      expect(ch.receipt.blockNumber).toBeLessThanOrEqual(window.lastOnTimeBlock)
      blocksAfterChallenge.push(ch.receipt.blockNumber - window.challengeBlock)
    }

    // One claim round for everything proven so far.
    const before = await balanceOf(c, p.address)
    const tClaim = performance.now()
    const round: ClaimRound = (await prover.claimNow())!
    const tClaimed = performance.now()
    expect(round.dealIds).toHaveLength(DEALS)
    const claimed = parseEventLogs({
      abi: proofSetMarketAbi,
      logs: round.receipts.flatMap((r) => r.logs),
      eventName: 'Claimed'
    })
    expect(claimed).toHaveLength(DEALS)
    let expected = 0n
    const starts = new Map(prover.ledger.sorted().map((d) => [BigInt(d.id), BigInt(d.startPeriod)]))
    for (const l of claimed) {
      const start = starts.get(l.args.dealId)!
      const provenPeriods = BigInt(l.args.paidFrom) - start
      for (let q = start; q < BigInt(l.args.paidFrom); q++)
        if (q < lastStart) expect(await periodStatusCached(q)).toBe('proven')
      expect(l.args.paid).toBe(PRICE * provenPeriods)
      expect(l.args.refunded).toBe(0n)
      expected += PRICE * provenPeriods
    }
    await waitFor('the withdrawal', async () => (await balanceOf(c, p.address)) - before === expected, 60_000)
    const claimGas = round.receipts.reduce((n, r) => n + r.gasUsed, 0n)

    const bounded = await expectSentTransactionsBounded(c, p.address)
    const proofGas = full.map((ch) => ch.receipt.gasUsed)
    console.log(
      [
        `10,000 deals on ${SHARDS} shards: K = ${k} challenges per period, ${full[0]!.chunks} chunk(s)`,
        `setup: signing ${((tSigned - t0) / 1000).toFixed(1)} s, opening ${((tOpened - tSigned) / 1000).toFixed(1)} s (${Math.ceil(DEALS / OPEN_BATCH)} txs, ${openGas} gas, ${openGas / BigInt(DEALS)} per deal)`,
        `ledger fold of 10,000 DealOpened: ${((tFolded - tOpened) / 1000).toFixed(1)} s`,
        `per period: proof gas ${proofGas.join(', ')}; calldata ${full.map((ch) => ch.calldataBytes).join(', ')} bytes; built in ${full.map((ch) => ch.buildMs.toFixed(0)).join(', ')} ms; included ${blocksAfterChallenge.join(', ')} block(s) after the challenge block`,
        `claim round: ${round.receipts.length} txs, ${claimGas} gas (${claimGas / BigInt(DEALS)} per deal), ${((tClaimed - tClaim) / 1000).toFixed(1)} s, paid ${expected}`,
        `prover transactions: ${bounded.count}, max ${bounded.maxBytes} bytes, max ${bounded.maxGas} gas`
      ].join('\n')
    )
  }, 600_000)
})

const statusCache = new Map<bigint, string>()
async function periodStatusCached(q: bigint): Promise<string> {
  let s = statusCache.get(q)
  if (s === undefined) {
    s = await periodStatus(c, p.address, q)
    statusCache.set(q, s)
  }
  return s
}

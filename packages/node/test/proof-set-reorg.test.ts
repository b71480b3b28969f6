// The ProofSetProver across reorgs made by anvil itself (`anvil_reorg`: the last `depth` blocks replaced by new
// empty ones): one that drops a DealOpened the ledger had folded, one that drops the prover's submitted proof.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { getProofSetDeal, proofSetMarketAbi } from '@sherd/contracts'
import { waitFor } from '@sherd/test-support'
import type { ProvenChunk } from '../src/index.js'
import {
  expectLedgerMatchesChain,
  head,
  offerFor,
  openDeals,
  periodStatus,
  PsProvider,
  startPsChain
} from './proof-set-helpers.js'
import type { PsChain } from './proof-set-helpers.js'

/** 24-block periods of 12 s: a reorg of a few blocks right after a proof stays inside the period. */
const PARAMS = { periodBlocks: 24, challengeDelayBlocks: 4 }
const CLIENT = 4

let c: PsChain
let p: PsProvider

async function reorg(depth: bigint): Promise<void> {
  const res = await fetch(c.anvil.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'anvil_reorg', params: [Number(depth), []] })
  })
  const body = (await res.json()) as { error?: { message: string } }
  if (body.error !== undefined) throw new Error(`anvil_reorg: ${body.error.message}`)
}

async function dealCount(): Promise<bigint> {
  return await c.publicClient.readContract({
    address: c.market.market,
    abi: proofSetMarketAbi,
    functionName: 'dealCount'
  })
}

beforeAll(async () => {
  c = await startPsChain({ blockTime: 0.5, params: PARAMS })
  p = await new PsProvider(c, 1).setUp()
}, 60_000)

afterAll(async () => {
  await p?.tearDown()
  await c?.anvil.stop()
})

describe('ProofSetProver across reorgs', () => {
  it('forgets a deal whose DealOpened a reorg dropped, folds the deal that replaced it, and keeps proving', async () => {
    const first = await openDeals(c, CLIENT, [offerFor(c, 1, CLIENT, await p.putShard(50_000), { periods: 40 })])
    const start = (await getProofSetDeal(c.as(0), first.dealIds[0]!)).startPeriod
    const prover = await p.startProver()
    await waitFor('the first period proven', async () => (await periodStatus(c, p.address, start)) === 'proven', 60_000)

    const dropped = await openDeals(c, CLIENT, [offerFor(c, 1, CLIENT, await p.putShard(20_000), { periods: 40 })])
    const id = dropped.dealIds[0]!
    await waitFor('the ledger to fold the new deal', () => prover.ledger.deal(id) !== undefined)
    const droppedRoot = prover.ledger.deal(id)!.root
    await reorg((await head(c)) - dropped.receipt.blockNumber + 1n)
    expect(await dealCount()).toBe(id - 1n)
    await waitFor('the ledger to undo the dropped deal', () => prover.ledger.deal(id) === undefined, 30_000)
    expect(prover.ledger.meta.reorgs).toBeGreaterThanOrEqual(1)

    // The same id now names another shard: the ledger must hold this one, not the dropped one.
    const replacement = await openDeals(c, CLIENT, [offerFor(c, 1, CLIENT, await p.putShard(33_000), { periods: 40 })])
    expect(replacement.dealIds[0]).toBe(id)
    const joined = (await getProofSetDeal(c.as(0), id)).startPeriod
    await waitFor(
      'the period the replacement joins proven',
      async () => (await periodStatus(c, p.address, joined)) === 'proven',
      90_000
    )
    expect(prover.ledger.deal(id)!.root).not.toBe(droppedRoot)
    await expectLedgerMatchesChain(c, p)
  }, 240_000)

  it('proves a period again when a reorg drops its proof, and counts it once', async () => {
    const prover = p.prover!
    const chunks: ProvenChunk[] = []
    prover.events.addEventListener('chunk', (e) => {
      chunks.push((e as CustomEvent<ProvenChunk>).detail)
    })
    const proven = await waitFor('a proof', () => chunks[0], 60_000)
    const q = proven.period
    expect(await periodStatus(c, p.address, q)).toBe('proven')
    // Let the ledger fold the proof first, so the reorg has a PeriodProven to undo.
    await waitFor(
      'the ledger to fold the proof',
      () => BigInt(prover.ledger.meta.cursor ?? -1) >= proven.receipt.blockNumber
    )
    await reorg((await head(c)) - proven.receipt.blockNumber + 1n)
    // The proof's block is gone (anvil does not put the dropped transactions back).
    expect(
      await c.publicClient.getTransactionReceipt({ hash: proven.receipt.transactionHash }).catch(() => undefined)
    ).toBeUndefined()
    await waitFor(
      'the period proven again',
      async () =>
        (await periodStatus(c, p.address, q)) === 'proven' && chunks.some((ch) => ch.period === q && ch !== proven),
      60_000
    )
    const again = chunks.find((ch) => ch.period === q && ch !== proven)!
    expect(again.receipt.transactionHash).not.toBe(proven.receipt.transactionHash)
    expect(await c.publicClient.getTransactionReceipt({ hash: again.receipt.transactionHash })).toMatchObject({
      status: 'success'
    })

    // The ledger counts each period proven on the chain once: the dropped PeriodProven was undone.
    await waitFor('the next period proven', async () => (await periodStatus(c, p.address, q + 1n)) === 'proven', 60_000)
    const h = await head(c)
    await waitFor('the ledger at the head', () => BigInt(prover.ledger.meta.cursor ?? -1) >= h)
    const cursor = BigInt(prover.ledger.meta.cursor!)
    const counted = prover.ledger.meta.periodsProven
    const logs = await c.publicClient.getContractEvents({
      address: c.market.market,
      abi: proofSetMarketAbi,
      eventName: 'PeriodProven',
      args: { provider: p.address },
      fromBlock: 0n,
      toBlock: cursor,
      strict: true
    })
    expect(counted).toBe(logs.filter((l) => l.args.onTime).length)
    expect(logs.filter((l) => l.args.period === q)).toHaveLength(1)
    expect(prover.ledger.meta.reorgs).toBeGreaterThanOrEqual(2)
    await expectLedgerMatchesChain(c, p)
  }, 240_000)
})

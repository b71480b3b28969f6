// The ProofSetProver against a real chain: anvil (osaka) mining every 0.5 s, ProofSetMarket with 12-block periods
// (challenge block 4 blocks in: a 6 s period, 2 s to declare a loss), real ShardStores with real shards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { createPublicClient, createWalletClient, http, keccak256, parseEventLogs } from 'viem'
import type { Hex, PublicClient } from 'viem'
import {
  extendProofSetDeals,
  getProofSetAudit,
  getProofSetChallenges,
  getProofSetDeal,
  getProofSetPeriod,
  getProofSetProvider,
  getProofSetWithdrawable,
  proofSetChallengeCount,
  proofSetMarketAbi,
  requestProofSetAudit,
  getProofSetSnapshotWeight
} from '@sherd/contracts'
import { waitFor } from '@sherd/test-support'
import { ProofSetProver } from '../src/index.js'
import type { ProvenChunk } from '../src/index.js'
import {
  balanceOf,
  currentPeriod,
  expectLedgerMatchesChain,
  expectSentTransactionsBounded,
  head,
  offerFor,
  openDeals,
  periodStatus,
  PRICE,
  PsProvider,
  startPsChain
} from './proof-set-helpers.js'
import type { PsChain } from './proof-set-helpers.js'

const PARAMS = { periodBlocks: 12, challengeDelayBlocks: 4 }
const CLIENT = 4

let c: PsChain
const providers: PsProvider[] = []

beforeAll(async () => {
  c = await startPsChain({ blockTime: 0.5, params: PARAMS, accounts: 8 })
}, 60_000)

afterAll(async () => {
  for (const p of providers) await p.tearDown()
  await c?.anvil.stop()
})

function collectChunks(p: PsProvider, prover = () => p.prover!): ProvenChunk[] {
  const chunks: ProvenChunk[] = []
  prover().events.addEventListener('chunk', (e) => {
    chunks.push((e as CustomEvent<ProvenChunk>).detail)
  })
  return chunks
}

/** A JSON-RPC relay to anvil that answers the next `dropSends` eth_sendRawTransaction with the hash and drops them. */
class DroppingRpc {
  private server: Server | undefined
  dropSends = 0
  readonly dropped: Hex[] = []
  url = ''

  constructor(private readonly upstream: string) {}

  async up(): Promise<void> {
    const server = createServer((req, res) => {
      void (async () => {
        const parts: Buffer[] = []
        for await (const part of req) parts.push(part as Buffer)
        const body = Buffer.concat(parts).toString()
        const message = JSON.parse(body) as { id: number; method: string; params: unknown[] }
        if (message.method === 'eth_sendRawTransaction' && this.dropSends > 0) {
          this.dropSends--
          const hash = keccak256(message.params[0] as Hex)
          this.dropped.push(hash)
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ jsonrpc: '2.0', id: message.id, result: hash }))
          return
        }
        const answer = await fetch(this.upstream, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body
        })
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text())
      })().catch(() => {
        res.destroy()
      })
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => {
        resolve()
      })
    })
    this.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    this.server = server
  }

  async down(): Promise<void> {
    const server = this.server
    this.server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>((resolve) => {
      server.close(() => {
        resolve()
      })
    })
  }
}

async function dealState(id: bigint): Promise<string> {
  return (await getProofSetDeal(c.as(0), id)).state
}

describe('ProofSetProver on anvil', () => {
  it('proves several deals every period, answers an audit, and its claims pay exactly the proven periods', async () => {
    const a = await new PsProvider(c, 1).setUp()
    providers.push(a)
    const shards = [await a.putShard(200_000), await a.putShard(1024 * 1024 + 100), await a.putShard(3000)]
    const before = await balanceOf(c, a.address)
    const clientBefore = await balanceOf(c, c.accounts[CLIENT]!.address)
    const { dealIds } = await openDeals(
      c,
      CLIENT,
      shards.map((s) => offerFor(c, 1, CLIENT, s, { periods: 3 }))
    )
    await a.startProver({ claimEveryPeriods: 2 })
    const chunks = collectChunks(a)
    const first = await getProofSetDeal(c.as(0), dealIds[0]!)
    const start = first.startPeriod
    const end = first.endPeriod

    await waitFor('the first period of the term', async () => (await currentPeriod(c)) >= start)
    await requestProofSetAudit(c.as(CLIENT), dealIds[1]!)
    const auditBond = await c.publicClient.readContract({
      address: c.market.market,
      abi: proofSetMarketAbi,
      functionName: 'auditBond'
    })
    await waitFor(
      'the audit answered',
      async () => (await getProofSetAudit(c.as(0), dealIds[1]!)) === undefined,
      60_000
    )

    await waitFor(
      'every deal settled',
      async () => {
        for (const id of dealIds) if (!(await getProofSetDeal(c.as(0), id)).settled) return false
        return true
      },
      120_000
    )
    const expected = BigInt(dealIds.length) * (end - start) * PRICE + auditBond
    await waitFor(
      'the earnings withdrawn',
      async () =>
        (await balanceOf(c, a.address)) - before === expected &&
        (await getProofSetWithdrawable(c.as(0), a.address)) === 0n,
      60_000
    )
    for (let q = start; q < end; q++) expect(await periodStatus(c, a.address, q), `period ${q}`).toBe('proven')
    for (const id of dealIds) expect(await dealState(id)).toBe('ended')
    // The client paid exactly the proven periods plus the bond, and has nothing to be refunded.
    expect(clientBefore - (await balanceOf(c, c.accounts[CLIENT]!.address))).toBe(
      BigInt(dealIds.length) * (end - start) * PRICE + auditBond
    )
    expect(await getProofSetWithdrawable(c.as(0), c.accounts[CLIENT]!.address)).toBe(0n)

    // The prover's challenges are the contract's: same indices, from the stored seed and the frozen weight.
    const periods = [...new Set(chunks.map((ch) => ch.period))]
    expect(periods.length).toBeGreaterThanOrEqual(Number(end - start))
    for (const q of periods) {
      const weight = await getProofSetSnapshotWeight(c.as(0), a.address, q)
      const k = proofSetChallengeCount(weight)
      const fromContract = await getProofSetChallenges(c.as(0), { provider: a.address, period: q, count: k })
      const fromProver = chunks.filter((ch) => ch.period === q).flatMap((ch) => ch.challenges.map((x) => x.index))
      expect(fromProver).toEqual(fromContract)
      expect(
        chunks
          .filter((ch) => ch.period === q)
          .flatMap((ch) => ch.challenges)
          .every((x) => x.kind === 'proof')
      ).toBe(true)
    }
    await expectLedgerMatchesChain(c, a)
    expect(a.prover!.ledger.meta.periodsProven).toBeGreaterThanOrEqual(Number(end - start))
    // With every deal settled and nothing locked, it stops proving: no gas on periods nothing depends on.
    expect((await getProofSetProvider(c.as(0), a.address)).locked).toBe(0n)
  }, 240_000)

  it('keeps proving a deal its client extended, through the new end, and is paid for every period of it', async () => {
    const a = await new PsProvider(c, 7).setUp()
    providers.push(a)
    const shard = await a.putShard(100_000)
    const { dealIds } = await openDeals(c, CLIENT, [offerFor(c, 7, CLIENT, shard, { periods: 2 })])
    const id = dealIds[0]!
    await a.startProver({ claimEveryPeriods: 1 })
    const { startPeriod: start, endPeriod: oldEnd } = await getProofSetDeal(c.as(0), id)
    await waitFor('the first period of the term', async () => (await currentPeriod(c)) >= start)
    const { endPeriods } = await extendProofSetDeals(c.as(CLIENT), { dealIds: [id], addedPeriods: 2 })
    expect(endPeriods).toEqual([oldEnd + 2n])
    await waitFor('the extended deal settled', async () => (await getProofSetDeal(c.as(0), id)).settled, 120_000)
    // Had the ledger kept the old end, the periods after it would be answered as void ranges: reverted, then missed.
    for (let q = start; q < oldEnd + 2n; q++) expect(await periodStatus(c, a.address, q), `period ${q}`).toBe('proven')
    expect(await dealState(id)).toBe('ended')
    expect(a.prover!.ledger.deal(id)?.endPeriod).toBe((oldEnd + 2n).toString())
    await expectLedgerMatchesChain(c, a)
  }, 180_000)

  it('declares a deal lost before the challenge block once its shard leaves the store; the other deals keep being proven', async () => {
    const b = await new PsProvider(c, 2).setUp()
    providers.push(b)
    const shards = [await b.putShard(70_000), await b.putShard(5000), await b.putShard(130_000)]
    const { dealIds } = await openDeals(
      c,
      CLIENT,
      shards.map((s) => offerFor(c, 2, CLIENT, s, { periods: 20 }))
    )
    const start = (await getProofSetDeal(c.as(0), dealIds[0]!)).startPeriod
    await b.startProver()
    await waitFor('the first period proven', async () => (await periodStatus(c, b.address, start)) === 'proven', 60_000)
    const lost = dealIds[1]!
    await b.store.deleteShard(Buffer.from(shards[1]!.root.slice(2), 'hex'))
    const declared = await waitFor(
      'the declaration',
      async () => {
        const logs = await c.publicClient.getContractEvents({
          address: c.market.market,
          abi: proofSetMarketAbi,
          eventName: 'DealDeclaredLost',
          args: { dealId: lost },
          fromBlock: 0n,
          strict: true
        })
        return logs[0]
      },
      60_000
    )
    const q = declared.args.period
    expect(declared.blockNumber).toBeLessThanOrEqual((await getProofSetPeriod(c.as(0), q)).challengeBlock)
    expect(q).toBeGreaterThan(start)
    await waitFor(
      'two more periods proven',
      async () => (await periodStatus(c, b.address, q + 1n)) === 'proven',
      60_000
    )
    for (let p = start; p <= q + 1n; p++) expect(await periodStatus(c, b.address, p), `period ${p}`).toBe('proven')
    expect(await dealState(lost)).toBe('declared')
    expect(await dealState(dealIds[0]!)).toBe('live')
    expect(await dealState(dealIds[2]!)).toBe('live')
    await waitFor('the ledger to fold the declaration', () => b.prover!.ledger.deal(lost)?.state === 'declared')
    await expectLedgerMatchesChain(c, b)
  }, 180_000)

  it('restarted mid-period with its store reopened, it answers that period on time; a challenged deal whose shard is gone is flagged and fails alone', async () => {
    const p = await new PsProvider(c, 3).setUp()
    providers.push(p)
    const shards = [await p.putShard(9000), await p.putShard(66_000)]
    const { dealIds } = await openDeals(
      c,
      CLIENT,
      shards.map((s) => offerFor(c, 3, CLIENT, s, { periods: 20 }))
    )
    const start = (await getProofSetDeal(c.as(0), dealIds[0]!)).startPeriod
    await p.startProver()
    await waitFor('the first period proven', async () => (await periodStatus(c, p.address, start)) === 'proven', 60_000)
    await p.stopProver()
    await p.store.stop()
    await p.openStore()
    // Restart after the next period's challenge block, too late to declare: its challenges must be answered.
    const q = start + 1n
    const window = await getProofSetPeriod(c.as(0), q)
    await waitFor(
      'the challenge block of the next period',
      async () => (await head(c)) >= window.challengeBlock,
      60_000
    )
    expect((await getProofSetProvider(c.as(0), p.address)).due).toBe(q)
    const weight = await getProofSetSnapshotWeight(c.as(0), p.address, q)
    const challenges = await getProofSetChallenges(c.as(0), {
      provider: p.address,
      period: q,
      count: proofSetChallengeCount(weight)
    })
    // Lose the data of a deal the period's challenges land on (the contract's own draw).
    const deals = await Promise.all(dealIds.map(async (id) => ({ id, ...(await getProofSetDeal(c.as(0), id)) })))
    const hit = deals.findIndex((d) => d.rangeStart <= challenges[0]! && challenges[0]! < d.rangeStart + d.weight)
    const lost = dealIds[hit]!
    const kept = dealIds[1 - hit]!
    await p.store.deleteShard(Buffer.from(shards[hit]!.root.slice(2), 'hex'))
    await p.startProver()
    const chunks = collectChunks(p)
    await waitFor('the restarted prover to answer the period', () => chunks.find((ch) => ch.period === q), 60_000)
    expect(await periodStatus(c, p.address, q)).toBe('proven')
    const flagged = chunks.flatMap((ch) => ch.challenges).filter((x) => x.kind === 'fault')
    expect(flagged.length).toBeGreaterThan(0)
    expect(flagged.every((x) => x.dealId === lost)).toBe(true)
    const faulted = parseEventLogs({
      abi: proofSetMarketAbi,
      logs: chunks.flatMap((ch) => ch.receipt.logs),
      eventName: 'DealFaulted'
    })
    expect(faulted.map((l) => [l.args.dealId, l.args.period])).toEqual([[lost, q]])
    expect(await dealState(lost)).toBe('faulted')
    await waitFor(
      'the period after proven',
      async () => (await periodStatus(c, p.address, q + 1n)) === 'proven',
      60_000
    )
    expect(await dealState(kept)).toBe('live')
    await waitFor('the ledger to fold the fault', () => p.prover!.ledger.deal(lost)?.state !== 'live')
    await expectLedgerMatchesChain(c, p)
  }, 180_000)

  it('sends a proof again when the first one is dropped before reaching the chain, within the period', async () => {
    const d = await new PsProvider(c, 5).setUp()
    providers.push(d)
    const { dealIds } = await openDeals(c, CLIENT, [offerFor(c, 5, CLIENT, await d.putShard(12_000), { periods: 20 })])
    const start = (await getProofSetDeal(c.as(0), dealIds[0]!)).startPeriod
    const proxy = new DroppingRpc(c.anvil.url)
    await proxy.up()
    try {
      const transport = http(proxy.url)
      const mc = {
        market: c.market.market,
        publicClient: createPublicClient({ chain: c.chain, transport, pollingInterval: 50 }) as PublicClient,
        walletClient: createWalletClient({ account: c.accounts[5]!, chain: c.chain, transport })
      }
      d.prover = new ProofSetProver(
        { store: d.store, db: d.store.sublevel('proof-set'), mc },
        { pollIntervalMs: 100, retryMaxBackoffMs: 300, txTimeoutMs: 1_000 }
      )
      const chunks = collectChunks(d, () => d.prover!)
      proxy.dropSends = 1
      await d.prover.start()
      await waitFor('the first period proven', () => chunks.find((ch) => ch.period === start), 60_000)
      expect(proxy.dropped).toHaveLength(1)
      expect(await periodStatus(c, d.address, start)).toBe('proven')
      // The dropped hash may still land: a resend of the very same signed transaction (same nonce, same fees) has
      // the same hash. What matters is that the period was proven once the send was lost.
    } finally {
      await d.stopProver()
      await proxy.down()
    }
  }, 120_000)

  it('answers a period of two chunks (K > 64) and declares at scale: 25 deals of 1 TiB it never held, 2 it holds', async () => {
    const e = await new PsProvider(c, 6).setUp()
    providers.push(e)
    const held = [await e.putShard(8000), await e.putShard(100_000)]
    const unheld = Array.from({ length: 25 }, (_, i) => ({
      root: `0x${(i + 1).toString(16).padStart(64, 'f')}` as Hex,
      size: 1n << 40n
    }))
    const { dealIds } = await openDeals(
      c,
      CLIENT,
      [...held, ...unheld].map((s) => offerFor(c, 6, CLIENT, s, { periods: 10, pricePerPeriod: 1000n }))
    )
    const start = (await getProofSetDeal(c.as(0), dealIds[0]!)).startPeriod
    await e.startProver()
    const chunks = collectChunks(e)
    const weight = await getProofSetSnapshotWeight(c.as(0), e.address, start)
    const k = proofSetChallengeCount(weight)
    expect(k).toBe(101n)
    await waitFor(
      'two periods of two chunks each',
      () => chunks.filter((ch) => ch.period === start + 1n).length === 2,
      90_000
    )
    for (const q of [start, start + 1n]) {
      expect(await periodStatus(c, e.address, q)).toBe('proven')
      const ofPeriod = chunks.filter((ch) => ch.period === q)
      expect(ofPeriod.map((ch) => ch.chunk).sort()).toEqual([0, 1])
      expect(ofPeriod.flatMap((ch) => ch.challenges.map((x) => x.index))).toEqual(
        await getProofSetChallenges(c.as(0), { provider: e.address, period: q, count: k })
      )
      // Only the two held deals are answered with data; the others are void from their start once declared (or
      // flagged, should the 2-s declaration window pass on a loaded machine before the prover sees it).
      for (const x of ofPeriod.flatMap((ch) => ch.challenges)) {
        if (dealIds.indexOf(x.dealId) < 2) expect(x.kind).toBe('proof')
        else expect(['void', 'fault']).toContain(x.kind)
      }
    }
    for (const id of dealIds.slice(2)) expect(['declared', 'faulted']).toContain(await dealState(id))
    for (const id of dealIds.slice(0, 2)) expect(await dealState(id)).toBe('live')
    await expectLedgerMatchesChain(c, e)
  }, 180_000)

  it('sent only transactions within 128 KiB of calldata and 2^24 gas, none reverted', async () => {
    for (const p of providers) {
      const { count } = await expectSentTransactionsBounded(c, p.address)
      expect(count).toBeGreaterThan(0)
    }
  }, 120_000)
})
